"""The Keras 3 front end of the training loop: our Keras 3 networks and optimizers
(`rethink_bnn.keras3`) on the backend KERAS_BACKEND names, the dataset as numpy arrays
(no TensorFlow), the preprocessing as layers at the network's input (on the device,
inside the compiled step), and numpy checkpoints (`runs.array_checkpoints`).

The order of the training examples is a function of the seed and the pass over the
data: pass k is `numpy.random.default_rng([seed, k]).permutation(n)`, and the batches run
through the passes back to back (every batch full, as the tf-keras stream's), so a
resumed run sees the same batches (`keras3_data`; on JAX the training set stays on the
device when it fits); the augmentation's random stream is a model variable, saved in
every checkpoint. Resumed on CPU, a run is bit-identical to one that
was never stopped.
"""

import contextlib
import os

import numpy as np

import rethink_bnn.keras3 as rk  # before keras: Keras 3 selected
from rethink_bnn.keras3 import keras_internals  # noqa: E402
import keras  # noqa: E402

from rethink_bnn.experiments.config.zookeeper_internals import base_getattr  # noqa: E402
from rethink_bnn.experiments.frontends.keras3_callbacks import (  # noqa: E402
    BestWeights,
    Console,
    EpochCheckpoint,
    EpochLog,
    EpochTensorBoard,
    LoopState,
    OptimizerLogger,
    StopWhenNoFlips,
    StopWhenTerminated,
)
from rethink_bnn.experiments.frontends.keras3_data import batches, gatherer  # noqa: E402
from rethink_bnn.experiments.runs import array_checkpoints  # noqa: E402
from rethink_bnn.experiments.runs.folder import DamagedRunFolder  # noqa: E402
from rethink_bnn.experiments.data.bases import Preprocessing  # noqa: E402
from rethink_bnn.experiments.training.checks import devices_untouched, require  # noqa: E402
from rethink_bnn.experiments.training.loop_logic import console_verbosity  # noqa: E402
from rethink_bnn.experiments.training.metrics import accuracy  # noqa: E402

__all__ = ["FrontEnd", "batches"]

# What this front end cannot run yet, each refused before anything loads. Distribution:
# "auto" is keras.distribution.DataParallel over every visible device on JAX when there
# are several (else one device), "default" one device.
PRECISIONS = ("float32", "mixed_bfloat16")
BACKENDS = ("jax", "tensorflow", "torch")
DISTRIBUTIONS = ("auto", "default")


def evaluate_split_evenly(model, images, labels, task, replicas):
    """(loss, accuracy) of `model` on every example, under DataParallel: its batches must
    split evenly over the devices, so the last is padded with repeats of the first
    examples, whose predictions are dropped before the loss and the accuracy."""
    n = len(labels)
    padded = images[np.arange(n + -n % replicas) % n]  # a multiple of the devices
    predicted = model.predict(padded, batch_size=task.batch_size, verbose=0)[:n]
    loss = keras.losses.get(task.loss)(labels, predicted)
    metric = accuracy(task.loss, keras)
    metric = keras.metrics.get(metric) if isinstance(metric, str) else metric
    metric.update_state(labels, predicted)
    return (float(np.mean(keras.ops.convert_to_numpy(loss))),
            float(keras.ops.convert_to_numpy(metric.result())))


class Validation(keras.callbacks.Callback):
    """`val_loss` and `val_accuracy` in the epoch logs, on every validation example,
    under DataParallel (`evaluate_split_evenly`)."""

    def __init__(self, data, task, replicas):
        super().__init__()
        self.data, self.task, self.replicas = data, task, replicas

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_loss"], logs["val_accuracy"] = evaluate_split_evenly(
                self.model, *self.data, self.task, self.replicas)


def _device_kinds():
    """The kinds of device Keras 3 trains on here ("cpu", "gpu", "tpu"): JAX's, or
    TensorFlow's."""
    if keras.backend.backend() == "jax":
        return {d.split(":")[0] for d in keras.distribution.list_devices()}
    import tensorflow as tf

    return {"cpu"} | ({"gpu"} if tf.config.list_logical_devices("GPU") else set())


def _accelerated():
    return bool(_device_kinds() - {"cpu"})


def _variables(model):
    """What a checkpoint holds of `model`, by kind (the best weights: `best/`)."""
    return {"model": model.variables, "optimizer": model.optimizer.variables}


def _mismatch(arrays, model):
    """Why the checkpoint `arrays` cannot be restored into `model` (None if it can):
    the first variable whose shape differs, or a count that differs."""
    kinds = {**_variables(model), "best": model.weights}
    for kind, variables in kinds.items():
        held = sorted((int(k.split("/")[1]), v) for k, v in arrays.items()
                      if k.startswith(kind + "/"))
        if kind == "best" and not held:
            continue  # no best epoch yet
        if len(held) != len(variables):
            return f"it holds {len(held)} {kind} variables, this run has {len(variables)}"
        for (i, value), variable in zip(held, variables):
            if tuple(value.shape) != tuple(variable.shape):
                return (f"{kind}/{i} ({variable.path}) is {tuple(value.shape)} there, "
                        f"{tuple(variable.shape)} here")
    missing = [k for k in LoopState().arrays() if k not in arrays]
    return f"it lacks {', '.join(missing)}" if missing else None


class FrontEnd:
    """The Keras 3 front end (see `rethink_bnn.experiments.frontends`)."""

    name = "keras3"

    def __init__(self):
        self._writer = self._best = None
        self._distribution = None  # keras.distribution.DataParallel, or None: one device

    @staticmethod
    def keras():
        return keras

    @staticmethod
    def weight_kinds():
        return rk.networks.WEIGHT_KINDS

    @staticmethod
    def packages():
        backend = keras.backend.backend()
        return ("keras", {"tensorflow": "tensorflow", "torch": "torch"}.get(backend, backend))

    def check(self, task):
        """ConfigError, before anything loads, for what the fields ask of this front end
        that it cannot run."""
        where = "on front_end=keras3"
        backend = keras.backend.backend()
        require(backend in BACKENDS, f"KERAS_BACKEND={backend} cannot train: {where} set "
                f"KERAS_BACKEND to {', '.join(BACKENDS)}.")
        untouched = devices_untouched()  # (listing JAX's devices starts them)
        require(untouched or not (
                    task.deterministic and backend == "jax" and "gpu" in _device_kinds()
                    and "--xla_gpu_deterministic_ops=true" not in os.environ.get("XLA_FLAGS", "")),
                "deterministic=True on a GPU under JAX needs XLA's deterministic kernels, "
                "chosen before JAX starts: set XLA_FLAGS=--xla_gpu_deterministic_ops=true.")
        require(task.precision in PRECISIONS, f"precision={task.precision} is not available "
                f"{where}: use {' or '.join(PRECISIONS)} (or front_end=tf_keras).")
        require(task.distribution in DISTRIBUTIONS, f"distribution={task.distribution} is "
                f"a tf.distribute strategy: {where} use distribution=auto (every device "
                "of this machine, on JAX) or default (one device).")
        network = base_getattr(task, "model")
        require("keras3" in getattr(network, "builders", {}), f"model="
                f"{type(network).__name__} has no Keras 3 network: choose front_end=tf_keras.")
        preprocessing = task.preprocessing
        if untouched:  # building the layers may make a variable (a seed generator)
            require(type(preprocessing).keras3_layers is not Preprocessing.keras3_layers,
                    f"preprocessing={type(preprocessing).__name__} has no Keras 3 layers: "
                    "it runs on front_end=tf_keras only.")
        else:
            try:
                preprocessing.keras3_layers(seed=0)
            except ValueError as error:
                require(False, str(error))
        require(hasattr(task.dataset, "arrays") and getattr(task.dataset, "cacheable", True),
                f"dataset={type(task.dataset).__name__} is read through tensorflow-datasets "
                f"only: {where} choose a dataset with an archive (or front_end=tf_keras).")

    def steps_per_execution(self, task, steps_per_epoch):
        """Keras 3 runs whole executions of steps_per_execution steps: an epoch must be
        a whole number of them, or epochs would run over and resumes see other batches.
        "auto": on a GPU or TPU the largest divisor of the epoch's steps up to 32 (on
        PyTorch, and on a CPU, 1). ConfigError for a value that does not divide."""
        spe = task.steps_per_execution
        if spe == "auto":
            accelerated = keras.backend.backend() != "torch" and _accelerated()
            spe = max(d for d in range(1, (32 if accelerated else 1) + 1)
                      if steps_per_epoch % d == 0)
        fits = [d for d in range(1, spe + 1) if steps_per_epoch % d == 0]
        require(steps_per_epoch % spe == 0, f"steps_per_execution={spe} does not divide "
                f"the {steps_per_epoch} steps of an epoch: on front_end=keras3 use one that "
                f"does, e.g. steps_per_execution={fits[-1]}.")
        return spe

    def prepare(self, task):
        """DataParallel over every device for distribution=auto on JAX with several
        (the global batch split over them), else one device; the replicas."""
        if task.distribution != "auto" or keras.backend.backend() != "jax":
            return 1
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            self._distribution = keras.distribution.DataParallel(devices=devices)
        return len(devices)

    @contextlib.contextmanager
    def scope(self, task):
        previous = keras.config.dtype_policy(), keras.distribution.distribution()
        keras.config.set_dtype_policy(task.precision)  # for the model built
        keras.distribution.set_distribution(self._distribution)  # its variables laid out
        try:
            yield
        finally:
            keras.config.set_dtype_policy(previous[0])
            keras.distribution.set_distribution(previous[1])

    def replicas(self):
        return 1 if self._distribution is None else len(self._distribution.device_mesh.devices)

    @staticmethod
    def is_chief():
        return True

    @staticmethod
    def newest_readable(directory):
        return array_checkpoints.newest_readable(directory)

    @staticmethod
    def seed(seed, deterministic):
        """Seeds; deterministic kernels: TensorFlow's and PyTorch's switches (JAX on a CPU
        is deterministic, on a GPU by XLA_FLAGS, which `check` asks for)."""
        keras_internals.set_random_seed(seed)  # (no TensorFlow import on JAX or PyTorch)
        if deterministic and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        elif deterministic and keras.backend.backend() == "torch":
            import torch

            torch.use_deterministic_algorithms(True)

    @staticmethod
    def split(task, name):
        images, labels = task.dataset.arrays(name)
        return (images, labels), len(labels)

    @staticmethod
    def model(task):
        """The network with the preprocessing's layers in front: uint8 images in."""
        inputs = keras.Input(tuple(task.input_shape), dtype="uint8", name="images")
        x = inputs
        for layer in task.preprocessing.keras3_layers(seed=task.seed):
            x = layer(x)
        network = base_getattr(task, "model").network("keras3")
        return keras.Model(inputs, network(x), name=network.name)

    @staticmethod
    def optimizer(adam_rate, binary):
        adam = keras.optimizers.Adam(adam_rate)
        if binary is None:
            return rk.SkipNonFinite(adam)
        return rk.SkipNonFinite(keras.optimizers.MultiOptimizer(
            rk.BinaryOptimizerMap(binary, adam)))

    @staticmethod
    def compile(task, session):
        session.model.compile(session.optimizer, loss=task.loss,
                              metrics=[accuracy(task.loss, keras)],
                              jit_compile=True if task.jit_compile else "auto",
                              steps_per_execution=session.steps_per_execution)
        session.optimizer.build(session.model.trainable_variables)  # its state, to restore

    def loop_state(self):
        return LoopState()

    def _arrays(self, session):
        """What a checkpoint holds: every model variable (the augmentation's random
        state too), every optimizer variable, the loop state and the best weights."""
        arrays = {f"{kind}/{i}": keras.ops.convert_to_numpy(v)
                  for kind, variables in _variables(session.model).items()
                  for i, v in enumerate(variables)}
        arrays.update(session.state.arrays())
        if self._best is not None:
            arrays.update(self._best.arrays())
        return arrays

    def restore(self, session, owner):
        directory = session.run.checkpoints
        number, arrays, unread, problems = array_checkpoints.read_newest(directory)
        if owner:
            array_checkpoints.remove_unreadable(directory, unread)
        if number is None:
            return None, problems
        path = directory / f"ckpt-{number}.npz"
        mismatch = _mismatch(arrays, session.model)
        if mismatch:  # another model's or optimizer's: nothing assigned
            raise DamagedRunFolder(f"{path} does not fit this run's model and optimizer "
                                   f"({mismatch}): move {directory} aside to train again "
                                   "from epoch 0.")
        for kind, variables in _variables(session.model).items():
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"{kind}/{i}"])
        session.state.load(arrays)
        self._restored_best = arrays
        return path, problems

    def checkpoint_writer(self, session):
        self._writer = array_checkpoints.CheckpointWriter(session.folder.checkpoints)
        return self._writer

    def best_weights(self, session):
        self._best = BestWeights(session.state)
        self._best.load_arrays(getattr(self, "_restored_best", {}))
        return self._best

    def load_best(self, session):
        if self._best is None or self._best.weights is None:
            return "last", ("the best epoch's weights are not in the checkpoint: the test "
                            "accuracy is of the last weights.")
        for variable, value in zip(session.model.weights, self._best.weights):
            variable.assign(value)
        return "best", None

    def callbacks(self, task, session):
        """The run's callbacks, in order (those of the tf-keras front end, on Keras 3)."""
        folder, state, optimizer = session.folder, session.state, session.optimizer
        uses_bop = bool(rk.binary_optimizers(optimizer))
        callbacks = []
        if uses_bop:
            callbacks.append(rk.FlipLogger(str(folder.tensorboard),
                                           update_freq=task.flip_log_freq))
        if task.step_log_freq != "epoch":
            callbacks.append(rk.BatchMetricLogger(str(folder.tensorboard), task.step_log_freq))
        callbacks.append(OptimizerLogger())
        if uses_bop and task.stop_after_flipless_epochs:
            callbacks.append(StopWhenNoFlips(state, task.stop_after_flipless_epochs))
        if session.validation:
            callbacks.append(session.best)
        if session.validation and self._distribution is not None:
            # first: the others read val_loss
            callbacks.insert(0, Validation(session.validation[0], task, self.replicas()))
        save = lambda number: self._writer.save(number, self._arrays(session))  # noqa: E731
        return callbacks + [
            StopWhenTerminated(),
            Console(console_verbosity(task.verbose)),
            EpochLog(folder.csv_log),
            EpochTensorBoard(str(folder.tensorboard)),
            EpochCheckpoint(state, save),  # last: saves what the others updated
        ]

    def fit(self, task, session, callbacks):
        initial = session.initial_epoch
        images, labels = session.train
        start = initial * session.steps_per_epoch * task.batch_size
        validation = session.validation
        gather = gatherer(images, labels, keras.backend.backend())
        return session.model.fit(
            batches(images, labels, task.batch_size, task.seed, start, gather),
            epochs=initial if task.stopped_without_flips(session.state) else task.epochs,
            initial_epoch=initial,
            steps_per_epoch=session.steps_per_epoch,
            # (several devices: the Validation callback, which splits any size evenly)
            validation_data=validation[0] if validation and not self._distribution else None,
            validation_batch_size=task.batch_size,
            shuffle=False,  # the batches come in the order of `batches`
            callbacks=callbacks,
            verbose=0,  # the Console callback prints
        )

    def evaluate(self, task, session):
        images, labels = session.test
        if self._distribution is not None:
            return evaluate_split_evenly(session.model, images, labels, task, self.replicas())
        return session.model.evaluate(images, labels, batch_size=task.batch_size, verbose=0)

    @staticmethod
    def optimizer_counts(session):
        optimizer, binaries = session.optimizer, rk.binary_optimizers(session.optimizer)

        def total(values):
            return sum(int(np.sum(keras.ops.convert_to_numpy(v))) for v in values
                       if v is not None)

        return {
            "skipped_steps": total([optimizer.skipped_steps]),
            "invalid_hyperparameter_steps": total(
                [b.invalid_hyperparameter_steps for b in binaries]) if binaries else None,
            "flips_total": total([b.flip_counts for b in binaries]) if binaries else None,
            "binary_weights": sum(int(np.prod(v.shape)) for v in session.model.trainable_variables
                                  if rk.is_binary_variable(v)),
        }
