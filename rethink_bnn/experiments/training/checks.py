"""Checking a training task's fields before anything loads or is written: one line that
says what is wrong and how to fix it (`ConfigError`)."""

import contextlib
import math

from rethink_bnn.experiments.config.zookeeper_internals import base_getattr
from rethink_bnn.experiments.training.distribution import check_strategy_name
from rethink_bnn.experiments.training.fields import check_types

__all__ = ["ConfigError", "PRECISIONS", "check_fields", "check_split_sizes",
           "devices_untouched", "require", "without_devices"]

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class ConfigError(ValueError):
    """A task's fields do not make a valid run; the message says which and how to fix it."""


def require(condition, message):
    """ConfigError(message) unless `condition`."""
    if not condition:
        raise ConfigError(message)


_UNTOUCHED = []  # one entry per `without_devices` block entered and not yet left


@contextlib.contextmanager
def without_devices():
    """Checks made inside start no device: they make no optimizer, layer or other
    variable and list no device. A first variable makes TensorFlow map nearly all of
    every visible GPU's memory, and JAX preallocate most of its GPUs': a sweep's own
    process, which trains nothing, checks its points so, and each point checks all in
    its own process, on the GPU it is given."""
    _UNTOUCHED.append(True)
    try:
        yield
    finally:
        _UNTOUCHED.pop()


def devices_untouched():
    """Whether the checks running now must start no device (`without_devices`)."""
    return bool(_UNTOUCHED)


def check_fields(task, replicas=1):
    """Every check of `TrainingTask.validate`: types, ranges, the data and the network
    agreeing, what the front end can run, the batch splitting over the `replicas`, and
    the optimizers' fields."""
    try:
        check_types(task)  # reads every field: a value of the wrong type raises
    except TypeError as error:
        raise ConfigError(str(error).strip().splitlines()[0]) from error
    try:
        check_strategy_name(task.distribution)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    _check_loop_fields(task)
    check_data_and_network(task)
    task.front.check(task)
    require(task.batch_size % replicas == 0,
            f"batch_size={task.batch_size} is the global batch and must split evenly over "
            f"the {replicas} replicas: use a multiple of {replicas}, e.g. "
            f"batch_size={replicas * max(1, round(task.batch_size / replicas))}.")
    checks = [
        getattr(task.dataset, "validate", lambda: None),
        lambda: _check_network_fields(task),
        task.check_optimizer_fields,
    ]
    for check in checks:
        try:
            check()
        except (ValueError, TypeError) as error:
            raise ConfigError(str(error)) from error


def _check_loop_fields(task):
    front = task.front  # ConfigError for an unknown front_end
    require(task.epochs >= 1, f"epochs must be at least 1, got {task.epochs}.")
    require(task.batch_size >= 1, f"batch_size must be at least 1, got {task.batch_size}.")
    spe = task.steps_per_execution
    require(spe == "auto" or (isinstance(spe, int) and not isinstance(spe, bool) and spe >= 1),
            "steps_per_execution must be a positive integer (training steps per call of the "
            f"step function) or 'auto' (1 on a CPU, 32 on a GPU or TPU), got {spe!r}.")
    require(0 <= task.seed < 2**31, f"seed must be in [0, 2**31), got {task.seed}.")
    kinds = front.weight_kinds()
    require(task.weight_kind in kinds, f"weight_kind must be one of {kinds} on "
            f"front_end={task.front_end}, got {task.weight_kind!r}.")
    require(task.verbose in (None, 0, 1, 2), "verbose must be 0 (silent), 1 (progress "
            f"bar), 2 (a line per epoch) or None (1 on a terminal), got {task.verbose}.")
    for name in ("flip_log_freq", "step_log_freq"):
        value = getattr(task, name)
        require(value == "epoch" or (isinstance(value, int) and not isinstance(value, bool)
                                     and value > 0),
                f"{name} must be a positive integer (log every N steps) or 'epoch', got "
                f"{value!r}.")
    require(bool(str(task.run_dir).strip()), "run_dir must name a folder, got an empty "
            "string (the default is runs/<task>).")
    try:
        front.keras().losses.get(task.loss)
    except ValueError:
        raise ConfigError(f"loss must be a Keras loss name such as "
                          f"sparse_categorical_crossentropy, got {task.loss!r}.") from None
    require(str(task.loss).startswith("sparse_"), f"loss={task.loss} takes one-hot labels, "
            "and the datasets' labels are class indices: use a sparse loss, e.g. "
            "loss=sparse_categorical_crossentropy.")
    require(task.precision in PRECISIONS, f"precision must be one of "
            f"{', '.join(PRECISIONS)}, got {task.precision!r}.")
    require(task.shuffle_buffer >= 1,
            f"shuffle_buffer must be at least 1, got {task.shuffle_buffer}.")
    require(task.stop_after_flipless_epochs >= 0, "stop_after_flipless_epochs must be "
            f">= 0 (0: never stop), got {task.stop_after_flipless_epochs}.")


def _check_network_fields(task):
    """The network's own fields (e.g. the binary MLP's widths)."""
    units = getattr(base_getattr(task, "model"), "units", None)
    if units is not None and not all(isinstance(u, int) and u >= 1 for u in units):
        raise ValueError(f"model.units must be widths of at least 1, got {tuple(units)}.")


def check_data_and_network(task):
    """The shape and classes the network is built for must be the dataset's."""
    dataset = task.dataset
    classes, shape = dataset.num_classes, dataset.image_shape
    require(task.num_classes >= 2, f"num_classes must be at least 2, got "
            f"{task.num_classes}.")
    require(classes is None or task.num_classes == classes,
            f"num_classes={task.num_classes} does not match {type(dataset).__name__}, "
            f"which has {classes} classes: leave num_classes at {classes}.")
    require(len(task.input_shape) == 3 and all(d >= 1 for d in task.input_shape),
            f"input_shape must be (height, width, channels), got "
            f"{tuple(task.input_shape)}.")
    require(shape is None or tuple(task.input_shape) == shape,
            f"input_shape={tuple(task.input_shape)} does not match "
            f"{type(dataset).__name__}'s images of shape {shape}: leave input_shape "
            f"at {shape}.")
    require(math.isfinite(task.learning_rate),
            f"learning_rate must be a finite number, got {task.learning_rate}.")


def check_split_sizes(task, n_train, validation, n_test):
    """Each split holds examples, and the training split at least one batch."""
    fix = ("dataset.validation_fraction, dataset.test_fraction or dataset.train_limit "
           "leave more examples there")
    require(n_train >= 1, f"the training split of {type(task.dataset).__name__} is "
            f"empty: {fix}.")
    require(validation is None or validation[1] >= 1, "the validation split is empty: "
            f"{fix}, or dataset.validation_fraction=0 trains without one.")
    require(n_test >= 1, f"the test split is empty: {fix}.")
    require(task.batch_size <= n_train, f"batch_size={task.batch_size} is larger than "
            f"the {n_train} training examples: use at most batch_size={n_train}.")
