"""Writing files whole or not at all: the one write-then-rename of the package.

A kill, a full disk or an exception mid-write leaves the previous file (or none) in
place, never half of a new one, and no temporary file behind.
"""

import contextlib
import os
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomically"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` to write to; on success it replaces `path`
    (an atomic rename on one filesystem), on failure it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomically(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)
