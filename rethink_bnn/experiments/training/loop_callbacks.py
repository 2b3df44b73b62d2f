"""Callbacks of the tf-keras front end's training loop. Their state lives in
`LoopState`, which is saved in every checkpoint, so a resumed run continues exactly
where it stopped. What the log, the console and the stopping rules do is `loop_logic`'s,
which the Keras 3 front end shares."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import os
from pathlib import Path

import h5py

from rethink_bnn.optimizers.walk import binary_optimizers
from rethink_bnn.experiments.runs.checkpoints import unreadable
from rethink_bnn.experiments.runs.folder import short_reason
from rethink_bnn.experiments.training.loop_logic import LOOP_STATE, EpochLogging, FliplessStopping

import tensorflow as tf  # noqa: E402  (after the optimizers: Keras 2 selected)

__all__ = [
    "BestWeights",
    "EpochCheckpoint",
    "EpochLog",
    "EpochTensorBoard",
    "HyperparameterLogger",
    "LoopState",
    "StopWhenNoFlips",
]


class LoopState(tf.Module):
    """Epochs done, best validation loss and its epoch, epochs in a row without flips.

    Read them with `.numpy()`: under a distribution strategy they are mirrored variables,
    which `int()` does not take."""

    def __init__(self):
        super().__init__(name="loop_state")
        for name, initial in LOOP_STATE.items():
            setattr(self, name, tf.Variable(initial, trainable=False,
                                            dtype=tf.float64 if isinstance(initial, float)
                                            else tf.int64))

    def get(self, name):
        """The value of `name` (one of `loop_logic.LOOP_STATE`) as a Python number."""
        value = getattr(self, name).numpy()
        return float(value) if isinstance(LOOP_STATE[name], float) else int(value)

    def set(self, name, value):
        getattr(self, name).assign(value)


class HyperparameterLogger(tf.keras.callbacks.Callback):
    """Adds the optimizer `step` at the end of the epoch (what per-step logs are plotted
    against), the `learning_rate` (the non-binary optimizer's) and the binary optimizer's
    hyperparameters (Bop's `gamma` and `threshold`) to the epoch logs, for the CSV log and
    TensorBoard: each the value the epoch's last step used."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        logs["step"] = int(optimizer.iterations.numpy())
        logs["learning_rate"] = float(tf.convert_to_tensor(optimizer.learning_rate))
        for binary in binary_optimizers(optimizer)[:1]:
            logs.update(binary.hyperparameters)


class EpochLog(EpochLogging, tf.keras.callbacks.Callback):
    __doc__ = EpochLogging.__doc__


class EpochTensorBoard(tf.keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with epoch scalars at the 1-based epoch, as log.csv and
    the console number them (Keras writes them at the 0-based index)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class StopWhenNoFlips(FliplessStopping, tf.keras.callbacks.Callback):
    __doc__ = FliplessStopping.__doc__


# The attribute of a best weights file that says which epoch's weights it holds (0-based).
EPOCH_ATTRIBUTE = "rethink_bnn_epoch"


class BestWeights(tf.keras.callbacks.Callback):
    """Keeps the model's layer weights of the lowest validation loss so far in `path`.

    `path` ends in ".h5": layer weights only, not the optimizer, whose state must not
    go back with them. A new best is written to `<stem>.epoch-N.h5` and renamed to
    `path` by `commit`, after the checkpoint that records epoch N as the best is
    saved. So `path` always holds the weights of the best epoch of the last complete
    checkpoint, wherever a run is killed: a pending file whose checkpoint was saved is
    committed on resume, any other is deleted. Each file records its epoch, which
    `load` checks (a resume from an older checkpoint, when the newest cannot be read,
    may find the best weights of a later epoch).
    """

    def __init__(self, state, path):
        super().__init__()
        self.state, self.path = state, Path(path)

    def _pending(self, epoch):
        return self.path.with_name(f"{self.path.stem}.epoch-{epoch}{self.path.suffix}")

    def on_epoch_end(self, epoch, logs=None):
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and val_loss < float(self.state.best_val_loss.numpy()):
            self._save(self.model, self._pending(epoch), epoch)
            self.state.best_val_loss.assign(val_loss)
            self.state.best_epoch.assign(epoch)

    def load(self, model, checkpoints, heal=True):
        """Load the best epoch's weights into `model`, from `path`, or, if that cannot
        be read, from the best epoch's checkpoint in `checkpoints` if it is still kept
        (`heal`: then write `path` again). Failing both, `model` keeps its last weights.

        Returns:
            (which weights `model` has, "best" or "last"; None, or a warning saying
            what went wrong and what was done).
        """
        best = int(self.state.best_epoch.numpy()) + 1  # epochs done at the best epoch's end
        before = model.get_weights()  # a file that fails half-way loads some layers
        try:
            with h5py.File(self.path, "r") as f:
                held = f.attrs.get(EPOCH_ATTRIBUTE)  # None in an earlier version's file
            if held is not None and int(held) + 1 != best:
                raise ValueError(f"it holds epoch {int(held) + 1}'s weights, not the best "
                                 f"epoch's, {best}")
            model.load_weights(str(self.path))
            return "best", None
        except Exception as error:  # h5py's OSError, Keras' ValueError, ...
            model.set_weights(before)
            problem = (f"{self.path} is missing" if not self.path.exists() else
                       f"{self.path} cannot be read ({short_reason(error)})")
        prefix = Path(checkpoints) / f"ckpt-{best}"
        if unreadable(prefix) is None:
            tf.train.Checkpoint(model=model).restore(str(prefix)).expect_partial()
            done = ""
            if heal:
                pending = self._pending(best - 1)
                try:
                    self._save(model, pending, best - 1)
                    os.replace(pending, self.path)
                    done = " and wrote it again"
                except OSError as error:  # e.g. a folder in its place
                    done = f" (could not write it again: {short_reason(error)})"
            return "best", (f"{problem}: took the best epoch's weights (epoch {best}) from "
                            f"{prefix}{done}.")
        return "last", (f"{problem} and the best epoch's checkpoint ({prefix.name}) is no "
                        "longer kept: the test accuracy is of the last weights.")

    @staticmethod
    def _save(model, path, epoch):
        model.save_weights(str(path))
        with h5py.File(path, "a") as f:
            f.attrs[EPOCH_ATTRIBUTE] = epoch

    def commit(self):
        """Make the best epoch's pending file `path`; delete every other pending file."""
        pending = self._pending(int(self.state.best_epoch.numpy()))
        if pending.is_file():
            os.replace(pending, self.path)
        for stale in self.path.parent.glob(f"{self.path.stem}.epoch-*{self.path.suffix}"):
            stale.unlink()


class EpochCheckpoint(tf.keras.callbacks.Callback):
    """After every epoch: record it as done, save model, optimizer and loop state, then
    run `after_save` (e.g. `BestWeights.commit`).

    `tf.train.CheckpointManager` writes a checkpoint's files first and then names it in
    its state file (a write-then-rename), so a kill at any moment leaves the state file
    naming the last complete checkpoint, which is what a resumed run restores.
    """

    def __init__(self, state, manager, after_save=()):
        super().__init__()
        self.state, self.manager, self.after_save = state, manager, list(after_save)

    def on_epoch_end(self, epoch, logs=None):
        self.state.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
        for callback in self.after_save:
            callback()
