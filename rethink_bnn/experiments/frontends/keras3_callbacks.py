"""The Keras 3 front end's loop callbacks: the log, the console and the stopping rules
of `training.loop_logic` on Keras 3's `Callback`, and what this front end does its own
way: epoch scalars to TensorBoard without TensorFlow, the best weights kept in the
checkpoint, and the checkpoint itself (`runs.array_checkpoints`)."""

import os

import keras
import numpy as np

from rethink_bnn.events import ScalarWriter
from rethink_bnn.experiments.training.loop_logic import (LOOP_STATE, ConsolePrinting,
                                                         EpochLogging, FliplessStopping,
                                                         TerminationChecking)
from rethink_bnn.keras3 import binary_optimizers
from rethink_bnn.keras3.finite import SkipNonFinite

__all__ = ["BestWeights", "Console", "EpochCheckpoint", "EpochLog", "EpochTensorBoard",
           "LoopState", "OptimizerLogger", "StopWhenNoFlips", "StopWhenTerminated"]


class LoopState:
    """`loop_logic.LOOP_STATE` as Python numbers, saved in every checkpoint as arrays."""

    def __init__(self):
        self._values = dict(LOOP_STATE)

    def get(self, name):
        return self._values[name]

    def set(self, name, value):
        kind = type(LOOP_STATE[name])
        self._values[name] = kind(value)

    def arrays(self):
        return {f"state/{name}": np.asarray(value) for name, value in self._values.items()}

    def load(self, arrays):
        for name in LOOP_STATE:
            self.set(name, arrays[f"state/{name}"].item())


class StopWhenTerminated(TerminationChecking, keras.callbacks.Callback):
    __doc__ = TerminationChecking.__doc__


class Console(ConsolePrinting, keras.callbacks.Callback):
    __doc__ = ConsolePrinting.__doc__
    progress_bar = keras.utils.Progbar


class EpochLog(EpochLogging, keras.callbacks.Callback):
    __doc__ = EpochLogging.__doc__


class StopWhenNoFlips(FliplessStopping, keras.callbacks.Callback):
    __doc__ = FliplessStopping.__doc__


def _number(value):
    return int(keras.ops.convert_to_numpy(value))


def _real_optimizer(optimizer):
    """The optimizer of the real variables (Adam) inside a SkipNonFinite and a
    MultiOptimizer: the innermost one that is not a binary optimizer."""
    inner = getattr(optimizer, "optimizers", None) or [getattr(optimizer, "inner_optimizer",
                                                               None)]
    for candidate in inner:
        if candidate is not None and candidate is not optimizer:
            found = _real_optimizer(candidate)
            if found is not None:
                return found
    return None if binary_optimizers(optimizer) else optimizer


class OptimizerLogger(keras.callbacks.Callback):
    """Adds to the epoch logs the optimizer `step` at the epoch's end, Adam's
    `learning_rate`, the binary optimizer's hyperparameters (each the value the epoch's
    last step used), and the epoch's `skipped_steps` (SkipNonFinite) and
    `invalid_hyperparameter_steps`: the columns the tf-keras front end logs."""

    def _counts(self):
        optimizer = self.model.optimizer
        skipped = getattr(optimizer, "skipped_steps", None) if isinstance(
            optimizer, SkipNonFinite) else None
        invalid = [b.invalid_hyperparameter_steps for b in binary_optimizers(optimizer)]
        return (None if skipped is None else _number(skipped),
                sum(_number(v) for v in invalid if v is not None) if invalid else None)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._counts()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        logs["step"] = _number(optimizer.iterations)
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(
            _real_optimizer(optimizer).learning_rate))
        binaries = binary_optimizers(optimizer)
        for binary in binaries[:1]:
            for h in binary.RULE.hyperparameters:
                logs[h.name] = float(keras.ops.convert_to_numpy(binary.hyperparameter(h.name)))
        for key, now, then in zip(("skipped_steps", "invalid_hyperparameter_steps"),
                                  self._counts(), getattr(self, "_start", (None, None))):
            if now is not None:
                logs[key] = now - (then or 0)


class EpochTensorBoard(keras.callbacks.Callback):
    """Every epoch's logs as TensorBoard scalars at the 1-based epoch, as Keras'
    TensorBoard callback names them (`train/epoch_loss`, `validation/epoch_loss`, ...),
    written with tensorboard's writer: no TensorFlow."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir, self._writers = log_dir, {}

    def _writer(self, kind):
        if kind not in self._writers:
            self._writers[kind] = ScalarWriter(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_epoch_end(self, epoch, logs=None):
        train, validation = {}, {}
        for key, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if key.startswith("val_"):
                validation["epoch_" + key[4:]] = value
            else:
                train["epoch_" + key] = value
        for kind, values in (("train", train), ("validation", validation)):
            if values:
                self._writer(kind).add(epoch + 1, values)
                self._writer(kind).flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class BestWeights(keras.callbacks.Callback):
    """Keeps the model's weights of the lowest validation loss so far, in memory and in
    every checkpoint (`arrays`), so the best epoch's weights are as safe as the
    checkpoint that records it as the best: no separate file to keep in step."""

    def __init__(self, state):
        super().__init__()
        self.state, self.weights = state, None

    def on_epoch_end(self, epoch, logs=None):
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and val_loss < self.state.get("best_val_loss"):
            self.weights = [np.array(keras.ops.convert_to_numpy(v)) for v in self.model.weights]
            self.state.set("best_val_loss", val_loss)
            self.state.set("best_epoch", epoch)

    def commit(self):
        """Nothing to do: the checkpoint holds the best weights."""

    def arrays(self):
        return {f"best/{i}": w for i, w in enumerate(self.weights or [])}

    def load_arrays(self, arrays):
        found = sorted((int(k.split("/")[1]), v) for k, v in arrays.items()
                       if k.startswith("best/"))
        self.weights = [v for _, v in found] or None


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: record it as done and save the checkpoint (`save(number)` of
    the front end: model, optimizer, loop state and best weights)."""

    def __init__(self, state, save):
        super().__init__()
        self.state, self.save = state, save

    def on_epoch_end(self, epoch, logs=None):
        self.model  # noqa: B018  (on JAX, reading it syncs the training state into the variables)
        self.state.set("epoch", epoch + 1)
        self.save(epoch + 1)
