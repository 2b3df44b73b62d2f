"""Writing files whole or not at all: the one write-then-rename of the package (and
the one Markdown table renderer).

A kill, a full disk or an exception mid-write leaves the previous file (or none) in
place, never half of a new one, and no temporary file behind.
"""

import contextlib
import csv
import json
import os
from pathlib import Path

__all__ = ["atomic_path", "json_text", "markdown_table", "read_csv", "refuse_to_replace",
           "write_csv_atomically", "write_json_atomically", "write_text_atomically"]


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


def refuse_to_replace(path, owned=False, force=False, choose="-o FILE", own="its own files"):
    """Why a command may not write `path`, in one line, or None if it may: a new path;
    an existing plain file that is the tool's own (`owned`: in a folder of a run folder
    that the tool writes, `own` says which); with `force`, any other file or link (the
    write replaces the link itself, never what it points to). A folder never."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        return f"{path} is a folder: name a file with {choose}."
    if not os.path.lexists(path) or force or (owned and path.is_file() and not path.is_symlink()):
        return None
    kind = "a link" if path.is_symlink() else "a file" if path.is_file() else "not a file"
    return (f"{path} already exists ({kind}; without --force only {own} are replaced): "
            f"choose another {choose}, or pass --force to replace it.")


def write_text_atomically(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def json_text(data):
    """Indented JSON with sorted keys and a final newline, as the run files are written."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def write_json_atomically(path, data):
    """Written whole or not at all, keys sorted."""
    with atomic_path(path) as tmp:
        tmp.write_text(json_text(data))


def read_csv(path):
    """The rows of a CSV file as dicts; [] if there is no file."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv_atomically(path, rows):
    """Write-then-rename; the columns are every row's keys in order of appearance (a row
    without one leaves it empty)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(header, rows):
    """A GitHub Markdown table (the theory tasks' table.md, the plot CLI's approximation
    table): `header` a list of column titles, `rows` lists of cells (anything `str()`
    renders), one line each."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
