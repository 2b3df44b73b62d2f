"""What every task field means, for `python -m rethink_bnn.train TASK --help`, and the
check of a value's type in words a user reads.

A meaning is looked up as "ClassName.field" along the component's class hierarchy
first (a field whose meaning depends on the task), then as the bare field name. A test
checks that every field of every task has one, so a new field cannot go undocumented.
"""

import typing

from rethink_bnn.experiments.config.zookeeper_internals import base_getattr, is_component_instance

__all__ = ["FIELD_HELP", "check_types", "describe_fields", "field_meaning", "type_in_words"]

FIELD_HELP = {
    # the task
    "dataset": "the dataset (a component: set its own fields as dataset.KEY=VALUE)",
    "preprocessing": "the input pipeline (a component: preprocessing.KEY=VALUE)",
    "model": "the network (a component: model.KEY=VALUE)",
    "input_shape": "height, width and channels of the network's input, e.g. (28,28,1)",
    "num_classes": "classes of the dataset: the width of the softmax",
    "weight_kind": "the kind of binary kernels: 'bop': they hold ±1 and Bop flips them; "
                   "'latent': real latent weights binarized by ste_sign and clipped to "
                   "[-1, 1], trained by Adam; 'latent_unclipped': neither clipped nor cut "
                   "off (this field was named weights until 0.1)",
    "seed": "random seed: initial weights, data order and augmentation",
    "epochs": "epochs to train (an epoch is one pass over the training split)",
    "batch_size": "examples per training step (the global batch, over all replicas)",
    "loss": "Keras loss, by name",
    "stop_after_flipless_epochs": "stop after this many epochs in a row without a single "
                                  "flip (0: never)",
    "flip_log_freq": "write Bop's flips (per layer, π) to TensorBoard every N steps; "
                     "'epoch': per epoch only",
    "step_log_freq": "write each training batch's own loss and accuracy to TensorBoard every "
                     "N steps; 'epoch': not at all",
    "jit_compile": "compile the training step with XLA",
    "precision": "float32, mixed_float16 (with loss scaling) or mixed_bfloat16; variables, "
                 "±1 kernels and Bop's averages stay float32",
    "distribution": "auto (several workers in TF_CONFIG: multi_worker; several GPUs: "
                    "mirrored; else one device), default, mirrored, multi_worker or tpu; "
                    "front_end=keras3: auto (DataParallel over every device, on JAX) or "
                    "default (one device)",
    "deterministic": "deterministic kernels: two runs with the same seed are bit-identical "
                     "(slower on a GPU)",
    "shuffle_buffer": "examples in the shuffle buffer",
    "steps_per_execution": "training steps per call of the compiled step function; auto: 1 "
                           "on a CPU, 32 on a GPU or TPU (front_end=keras3: the largest "
                           "divisor of an epoch's steps up to 32); per-step logs keep every "
                           "step",
    "front_end": "tf_keras (Larq layers, our tf-keras optimizers: the paper's) or keras3 "
                 "(our Keras 3 layers and optimizers on the backend KERAS_BACKEND names)",
    "run_dir": "the run folder: config, checkpoints, logs, summary; the same command "
               "again resumes it",
    "overwrite": "replace a run of another configuration in run_dir (only the files a run "
                 "writes are removed)",
    "verbose": "console output: 0 silent, 1 progress bar, 2 one line per epoch; None: 1 on "
               "a terminal, else 2",
    "binary_optimizer": "the optimizer of the binary kernels, by name (Bop, or any binary "
                        "optimizer rethink_bnn.optimizers exports; a component: "
                        "binary_optimizer.KEY=VALUE)",
    "learning_rate": "Adam's learning rate for the non-binary variables (BatchNorm, real "
                     "layers)",
    "LatentTraining.learning_rate": "Adam's learning rate for every variable, latent "
                                    "weights included",
    "learning_rate_schedule": "how Adam's learning rate moves over the run: Constant, Linear "
                              "(.end) or StepDecay (.factor, .every_epochs)",
    # the schedules (training/schedules.py)
    "end": "the value at the end of the run (linear from the start value)",
    "factor": "multiply the value by this every every_epochs epochs",
    "every_epochs": "epochs between two decays",
    # the sweep
    "point": "the task each sweep point runs (configure it as point.KEY=VALUE)",
    "grid": "the (γ, τ, Adam learning rate) grid: 'authors' or 'report'",
    "vary": "instead of the grid, vary the point's number fields one at a time around "
            "their values: KEY=V1,V2[;KEY=...] (e.g. 'binary_optimizer.gamma=1e-4,1e-3;"
            "learning_rate=1e-3,1e-2')",
    "processes": "sweep points trained at the same time (one GPU each when GPUs exist)",
    # the theory tasks
    "evaluation_batch_size": "batch size for evaluation only",
    "seeds": "number of seeds (each a full training run)",
    "first_seed": "the first seed; seeds first_seed, first_seed + 1, ... are run",
    "exact": "Theorem 1's exact form (scale 2**-7, no clipping, no STE cut-off, "
             "deterministic) instead of the report's",
    "scale": "the learning-rate and initialization scale s of configurations 1, 3, 4",
    "batch_norm_learning_rate": "Adam's learning rate for BatchNorm in every configuration",
    "compare_every_step": "also compare configurations 2 and 3 after every step (slower)",
    "ApproximationViewpoint.epochs": "epochs of latent-weight training, and again of "
                                     "BatchNorm retraining",
    "ApproximationViewpoint.learning_rate": "Adam's learning rate",
    "_TheoryTask.validation_fraction": "the last fraction of the training set held out "
                                       "(the report's code: 0, train on all of it)",
    # datasets
    "name": "the tensorflow-datasets name",
    "archive_dir": "folder with the dataset's standard archive files, read offline "
                   "(default: $RETHINK_BNN_ARCHIVE_DIR)",
    "data_dir": "tensorflow-datasets' data folder (default ~/tensorflow_datasets)",
    "download": "let tensorflow-datasets download and prepare the data (needs network); "
                "False on an offline machine",
    "manual_dir": "folder with ImageNet's manually downloaded ILSVRC2012 tar files",
    "validation_fraction": "the last fraction of the training set held out for validation "
                           "(0: none; the last weights then give the test accuracy)",
    "train_limit": "train on the first N training examples only (None: all)",
    "test_limit": "test on the first N test examples only (None: all)",
    "test_fraction": "the fraction of the digits kept for testing",
    "Digits.seed": "seed of the one-time shuffle that splits the digits",
    # preprocessing
    "decoders": "unused; kept so that the config.json of earlier runs stays the same",
    "padding": "zero padding before the random crop (training only)",
    "central_fraction": "the central part of the image kept for evaluation",
    # networks
    "units": "widths of the hidden binary dense layers",
}


def field_meaning(component_class, field):
    """The one-line meaning of `field` of `component_class` (None if undocumented): a
    component made from declarations (a binary optimizer's) brings its own."""
    own = getattr(component_class, "field_help", {}).get(field)
    if own is not None:
        return own
    for cls in component_class.__mro__:
        meaning = FIELD_HELP.get(f"{cls.__name__}.{field}")
        if meaning is not None:
            return meaning
    return FIELD_HELP.get(field)


def describe_fields(instance, prefix="", inherited=()):
    """(key, default, meaning) for every field of a configured component, nested
    components' fields as `component.field`, in declaration order. A nested field that
    takes its value from a field of the same name above it (zookeeper passes those
    down: `model.seed` is the task's `seed`) is listed once, where it is set."""
    rows = []
    fields = instance.__component_fields__
    for name in fields:
        if name in inherited:
            continue
        value = base_getattr(instance, name)
        key = prefix + name
        if is_component_instance(value):
            rows.append((key, type(value).__name__, field_meaning(type(instance), name)))
            rows += describe_fields(value, key + ".", set(inherited) | set(fields))
        else:
            rows.append((key, _shown(value), field_meaning(type(instance), name)))
    return rows


def _shown(value):
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(map(str, value)) + ")"
    return str(value)


def type_in_words(annotation):
    """'an integer', 'a tuple of 3 integers', 'an integer or None', ... for an annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        words = [type_in_words(a) for a in args if a is not type(None)]
        return " or ".join(words) + (" or None" if type(None) in args else "")
    if origin in (tuple, typing.Tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple of {_plural(args[0])}"
        kinds = {type_in_words(a) for a in args}
        if len(kinds) == 1:
            return f"a tuple of {len(args)} {_plural(args[0])}"
        return "a tuple (" + ", ".join(type_in_words(a) for a in args) + ")"
    return {int: "an integer", float: "a number", bool: "True or False",
            str: "a string"}.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _plural(annotation):
    return {int: "integers", float: "numbers", str: "strings"}.get(
        annotation, type_in_words(annotation))


def check_types(instance, typed=(), prefix=""):
    """Read every field of a configured component (zookeeper type-checks on read) and
    refuse a bool for a number field: zookeeper takes True for an int (bool is an int in
    Python), so `batch_size=True` would train with batch 1.

    Args:
        typed: the keys the user gave, so an error names the key as typed.
    Raises:
        TypeError: a field's value has the wrong type (zookeeper's message, or ours).
    """
    for name, field in instance.__component_fields__.items():
        key = prefix + name
        value = base_getattr(instance, name)
        if is_component_instance(value):
            check_types(value, typed, key + ".")
            continue
        allowed = typing.get_args(field.type) or (field.type,)
        if isinstance(value, bool) and bool not in allowed and (int in allowed
                                                                or float in allowed):
            shown = key if key in typed or name not in typed else name
            raise TypeError(f"{shown} must be {type_in_words(field.type)}, got {value}.")
