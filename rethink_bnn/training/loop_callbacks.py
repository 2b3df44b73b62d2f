"""Callbacks of the training loop. Their state lives in `LoopState`, which is saved in
every checkpoint, so a resumed run continues exactly where it stopped."""

import os
import re
import shutil
from pathlib import Path

import h5py
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management

from rethink_bnn.callbacks import _find_bops
from rethink_bnn.training.run_folder import (
    DamagedRunFolder,
    _short,
    read_csv,
    write_csv_atomically,
)

__all__ = [
    "BestWeights",
    "EpochCheckpoint",
    "EpochLog",
    "EpochTensorBoard",
    "HyperparameterLogger",
    "LoopState",
    "StopWhenNoFlips",
    "newest_readable",
    "restore_newest",
]


class LoopState(tf.Module):
    """Epochs done, best validation loss and its epoch, epochs in a row without flips.

    Read them with `.numpy()`: under a distribution strategy they are mirrored variables,
    which `int()` does not take."""

    def __init__(self):
        super().__init__(name="loop_state")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_val_loss = tf.Variable(float("inf"), dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False)
        self.flipless_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)


class HyperparameterLogger(tf.keras.callbacks.Callback):
    """Adds the optimizer `step` at the end of the epoch (what per-step logs are plotted
    against), the current `learning_rate` (the non-binary optimizer's) and Bop's `gamma`
    and `threshold` to the epoch logs, for the CSV log and TensorBoard."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        logs["step"] = int(optimizer.iterations.numpy())
        logs["learning_rate"] = float(tf.convert_to_tensor(optimizer.learning_rate))
        for bop in _find_bops(optimizer)[:1]:
            logs["gamma"] = float(tf.convert_to_tensor(bop.gamma))
            logs["threshold"] = float(tf.convert_to_tensor(bop.threshold))


class EpochLog(tf.keras.callbacks.Callback):
    """One CSV row per epoch: `epoch` (1-based: the row of the Nth epoch says N, as the
    console, the checkpoints and summary.json do) and the epoch logs (put it after the
    callbacks that add to them).

    Unlike Keras' CSVLogger, every epoch rewrites the file (write-then-rename), so a kill
    never leaves half a row; and a run resumed by a version that logs other values gets
    the union of the columns, not values shifted under the old header.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: _plain(v) for k, v in sorted((logs or {}).items())}}
        write_csv_atomically(self.path, one_based(read_csv(self.path)) + [row])


def one_based(rows):
    """Log rows with 1-based epochs: a log written before they were (its first row says
    epoch 0) is renumbered, so a resumed old run keeps one convention."""
    if rows and str(rows[0].get("epoch")) == "0":
        return [{**row, "epoch": int(row["epoch"]) + 1} for row in rows]
    return rows


class EpochTensorBoard(tf.keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with epoch scalars at the 1-based epoch, as log.csv and
    the console number them (Keras writes them at the 0-based index)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


def _plain(value):
    if isinstance(value, (int, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class StopWhenNoFlips(tf.keras.callbacks.Callback):
    """Stops training after `patience` epochs in a row in which no weight flipped (the
    report's stopping rule for sec 5.2). Reads `flips` from FlipLogger's epoch logs."""

    def __init__(self, state, patience):
        super().__init__()
        self.state, self.patience = state, patience

    def on_epoch_end(self, epoch, logs=None):
        flipless = logs is not None and logs.get("flips") == 0
        self.state.flipless_epochs.assign(self.state.flipless_epochs + 1 if flipless else 0)
        if int(self.state.flipless_epochs.numpy()) >= self.patience:
            self.model.stop_training = True


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
                       f"{self.path} cannot be read ({_short(error)})")
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
                    done = f" (could not write it again: {_short(error)})"
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


def unreadable(prefix):
    """Why the checkpoint at `prefix` cannot be read whole, or None if it can. Reads every
    tensor, so that a missing, truncated or corrupted file (TensorFlow checks each
    tensor's checksum) shows now, not half-way through a restore."""
    prefix = Path(prefix)
    if not prefix.with_name(prefix.name + ".index").is_file():
        return "its .index file is missing"
    if not list(prefix.parent.glob(f"{prefix.name}.data-*")):
        return "its .data file is missing"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # OpError, or IndexError for a truncated .data file
        return _short(str(error).replace(f"{prefix.parent}{os.sep}", ""))
    return None


def newest_readable(directory):
    """The newest checkpoint in `directory` that reads whole. Changes nothing.

    The state file's choice comes first: `tf.train.CheckpointManager` names a checkpoint
    there once its files are complete, so a newer one it does not name was cut short.
    Then every older `ckpt-N`, newest first; without a readable state file, every
    `ckpt-N`.

    Returns:
        (its number or None if there is no checkpoint, the numbers of the newer ones
        that could not be read, [what could not be read, and why]).
    Raises:
        DamagedRunFolder: there are checkpoints (or a state file), and none can be read.
    """
    directory = Path(directory)
    numbers = _numbers(path.name for path in directory.glob("ckpt-*"))
    state_file, problems = directory / "checkpoint", []
    try:
        state = tf.train.get_checkpoint_state(str(directory))  # None if it cannot parse
        chosen = _numbers([os.path.basename(state.model_checkpoint_path)])
    except Exception:  # not UTF-8, no checkpoint named, ...
        chosen = None
    if chosen:
        recorded = _numbers(os.path.basename(p) for p in state.all_model_checkpoint_paths)
        numbers = {n for n in numbers | recorded if n <= max(chosen)} | chosen
    elif state_file.exists():
        problems.append("the state file checkpoints/checkpoint could not be read")
    if not numbers and not state_file.exists():
        return None, [], problems
    unread = []
    for number in sorted(numbers, reverse=True):
        reason = unreadable(directory / f"ckpt-{number}")
        if reason is None:
            return number, [n for n, _ in unread], problems + [
                f"ckpt-{n} could not be read: {why}" for n, why in unread]
        unread.append((number, reason))
    causes = "; ".join([f"ckpt-{n}: {why}" for n, why in unread[:3]] + problems)
    raise DamagedRunFolder(
        f"no checkpoint in {directory} can be read ({causes}): to train again from epoch "
        f"0, move {directory} aside (the log's rows of its epochs are then dropped).")


def _numbers(names):
    """The N of every `ckpt-N`, `ckpt-N.index` or `ckpt-N.data-*` among `names`."""
    return {int(m.group(1)) for name in names
            if (m := re.fullmatch(r"ckpt-(\d+)(\.index|\.data-.*)?", name))}


def restore_newest(checkpoint, directory, owner=True):
    """Restore into `checkpoint` the newest checkpoint in `directory` that reads whole
    (see `newest_readable`).

    The `owner` of the folder (not a worker reading the chief's) also deletes the
    leftovers of a save cut short (`ckpt-N_temp/`) and the unreadable checkpoints newer
    than the one restored, and names that one in the state file, for the manager.

    Returns:
        (the restored checkpoint's path, or None if there is none; [what could not be
        read, and why]).
    Raises:
        DamagedRunFolder: there are checkpoints, and none can be read.
    """
    directory = Path(directory)
    if owner:
        for temp in directory.glob("ckpt-*_temp"):
            shutil.rmtree(temp, ignore_errors=True)
    number, unread, problems = newest_readable(directory)
    if number is None:
        return None, problems
    prefix = directory / f"ckpt-{number}"
    try:
        checkpoint.restore(str(prefix)).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:  # another model's
        raise DamagedRunFolder(
            f"{prefix} does not fit this run's model and optimizer ({_short(error)}): move "
            f"{directory} aside to train again from epoch 0.") from error
    if owner and (unread or problems or not (directory / "checkpoint").exists()):
        for newer in unread:  # never to be read again: the next saves replace them
            for path in directory.glob(f"ckpt-{newer}.*"):
                path.unlink()
        kept = sorted(_numbers(p.name for p in directory.glob("ckpt-*.index")))
        checkpoint_management.update_checkpoint_state_internal(
            str(directory), prefix.name, [f"ckpt-{n}" for n in kept if n <= number],
            save_relative_paths=True)
    return prefix, problems
