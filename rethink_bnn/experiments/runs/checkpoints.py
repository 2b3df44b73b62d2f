"""Finding and restoring the newest checkpoint of a run that reads whole.

A kill, a full disk or a damaged file can leave the newest checkpoint unreadable (a
missing state file or `.index`, a truncated `.data`): a run then resumes from the newest
one that reads, says which, and never starts over silently.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import json
import os
import re
import shutil
from pathlib import Path

import tensorflow as tf

from rethink_bnn.experiments.runs.files import write_text_atomically
from rethink_bnn.experiments.runs.folder import DamagedRunFolder, short_reason

__all__ = ["newest_readable", "restore_newest", "unreadable"]


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
        return short_reason(str(error).replace(f"{prefix.parent}{os.sep}", ""))
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
            f"{prefix} does not fit this run's model and optimizer ({short_reason(error)}): move "
            f"{directory} aside to train again from epoch 0.") from error
    if owner and (unread or problems or not (directory / "checkpoint").exists()):
        for newer in unread:  # never to be read again: the next saves replace them
            for path in directory.glob(f"ckpt-{newer}.*"):
                path.unlink()
        kept = sorted(_numbers(p.name for p in directory.glob("ckpt-*.index")))
        write_checkpoint_state(directory, [f"ckpt-{n}" for n in kept if n <= number])
    return prefix, problems


def write_checkpoint_state(directory, names):
    """Write `directory/checkpoint`, the state file `tf.train.CheckpointManager` and
    `tf.train.latest_checkpoint` read (a text CheckpointState): `names` oldest first,
    the last the latest, relative to the folder as the manager writes them. Each is
    stamped with its index file's time, so that the manager deletes it in its turn."""
    directory = Path(directory)
    stamps = [(directory / f"{name}.index").stat().st_mtime for name in names]
    lines = [f"model_checkpoint_path: {json.dumps(names[-1])}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(name)}" for name in names]
    lines += [f"all_model_checkpoint_timestamps: {stamp!r}" for stamp in stamps]
    lines.append(f"last_preserved_timestamp: {min(stamps) - 1!r}")
    write_text_atomically(directory / "checkpoint", "\n".join(lines) + "\n")
