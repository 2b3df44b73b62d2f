"""Checkpoints as numpy archives, for the Keras 3 front end (no TensorFlow): one
`ckpt-N.npz` per epoch N in the run's `checkpoints/` folder, each written whole or not
at all (a temporary file, flushed to disk, renamed), the two newest kept.

A checkpoint is a flat {name: array} dict. Reading one reads every array, so a
truncated or corrupted file (a zip member's CRC) shows at once; a run then resumes from
the newest one that reads, says which, and never starts over silently.
"""

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from rethink_bnn.experiments.runs.files import atomic_path
from rethink_bnn.experiments.runs.folder import DamagedRunFolder, short_reason

__all__ = ["CheckpointWriter", "checkpoint_numbers", "newest_readable", "read",
           "read_newest"]

_NAME = re.compile(r"ckpt-(\d+)\.npz")


def checkpoint_numbers(directory):
    """The N of every `ckpt-N.npz` in `directory`, in ascending order."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for p in directory.iterdir()
                  if (m := _NAME.fullmatch(p.name)))


def read(directory, number):
    """{name: array} of checkpoint `number`, every array read (numpy raises for a file
    that is not whole: BadZipFile, a CRC error, EOFError, ValueError, OSError)."""
    with np.load(Path(directory) / f"ckpt-{number}.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def newest_readable(directory):
    """The newest checkpoint in `directory` that reads whole. Changes nothing.

    Returns:
        (its number or None if there is none, the numbers of the newer ones that could
        not be read, [what could not be read, and why]).
    Raises:
        DamagedRunFolder: there are checkpoints, and none can be read.
    """
    number, _, unread, problems = read_newest(directory)
    return number, unread, problems


def read_newest(directory):
    """`newest_readable`, with what it read: (number, {name: array} or None, unread
    numbers, problems)."""
    unread = []
    for number in reversed(checkpoint_numbers(directory)):
        try:
            arrays = read(directory, number)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            unread.append((number, short_reason(error) or type(error).__name__))
            continue
        return number, arrays, [n for n, _ in unread], [
            f"ckpt-{n}.npz could not be read: {why}" for n, why in unread]
    if not unread:
        return None, None, [], []
    causes = "; ".join(f"ckpt-{n}.npz: {why}" for n, why in unread[:3])
    raise DamagedRunFolder(
        f"no checkpoint in {directory} can be read ({causes}): to train again from epoch "
        f"0, move {directory} aside (the log's rows of its epochs are then dropped).")


def remove_unreadable(directory, numbers):
    """Delete the checkpoints `numbers` (found unreadable) and any write cut short."""
    directory = Path(directory)
    for number in numbers:
        (directory / f"ckpt-{number}.npz").unlink(missing_ok=True)
    for leftover in directory.glob(".ckpt-*.npz.tmp"):
        leftover.unlink(missing_ok=True)


class CheckpointWriter:
    """Saves checkpoint N as `directory/ckpt-N.npz`, atomically, keeping the `keep`
    newest (older ones are deleted only after the new one is in place)."""

    def __init__(self, directory, keep=2):
        self.directory, self.keep = Path(directory), keep

    def save(self, number, arrays):
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"ckpt-{number}.npz"
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())  # on disk before the rename makes it the newest
        for old in checkpoint_numbers(self.directory)[:-self.keep]:
            (self.directory / f"ckpt-{old}.npz").unlink(missing_ok=True)
        return path
