"""A run folder and what may be done to it: claim (lock, mark, write config.json),
check (new, ours, same configuration, readable), overwrite, the log and the summary.
The layout (what each task writes, the paths) is declared in `rethink_bnn.experiments.runs.layout`.

A folder is used only if it is new, empty or marked as a run folder: `overwrite` can then
delete only what runs write (`RUN_ENTRIES`), never a user's files.
"""

import csv
import fnmatch
import json
import os
import shutil
import time
from pathlib import Path

from rethink_bnn.experiments.runs.files import (  # noqa: F401  (read_csv & co: imported from here too)
    atomic_path,
    json_text,
    read_csv,
    write_csv_atomically,
    write_json_atomically,
)
from rethink_bnn.experiments.runs.layout import (
    FILES,
    FOLDERS,
    LOCK,
    MARKER,
    RUN_ENTRIES,
    RUN_FILES_INSIDE,
    RunPaths,
    is_run_entry,
    written_inside,
)
from rethink_bnn.experiments.runs.lock import acquire, in_use_by, release

__all__ = ["DamagedRunFolder", "NotARunFolder", "RunFolder", "RunFolderBusy",
           "RunFolderConflict", "RunFolderError", "read_csv", "release", "write_csv_atomically",
           "write_json_atomically"]

# Fields that say where, how verbosely or how often to log, not what to compute: a run
# may resume with other values.
NOT_COMPARED = ("run_dir", "overwrite", "verbose", "flip_log_freq", "step_log_freq",
                "steps_per_execution",
                "distribution", "kind")  # kind: follows from the task

class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked; the message says why and what to do."""


class RunFolderConflict(RunFolderError):
    """The run folder holds a run of another configuration."""


class RunFolderBusy(RunFolderError):
    """Another run (a live process) uses the run folder."""


class NotARunFolder(RunFolderError):
    """The folder holds files that no run wrote: it is not ours to use or delete."""


class DamagedRunFolder(RunFolderError):
    """A file of the run folder cannot be read."""


class RunFolder(RunPaths):
    """The run folder at `path`, as a run uses it (its paths: `RunPaths`)."""

    @property
    def finished(self):
        return self.summary_file.is_file()

    def summary(self):
        """summary.json; DamagedRunFolder if it is not a run's summary."""
        if not self.finished:
            raise RunFolderError(f"{self.path} has no summary.json: its run has not finished "
                                 "(its command, run again, finishes it).")
        try:
            summary = json.loads(self.summary_file.read_text())
            reason = "not a run's summary"
        except ValueError as error:  # not JSON, or not UTF-8
            summary, reason = None, f"not valid JSON: {short_reason(error)}"
        if not isinstance(summary, dict) or "config" not in summary:
            raise DamagedRunFolder(
                f"{self.summary_file} is damaged ({reason}): delete it and rerun the same "
                "command, which finishes the run again from its last checkpoint.")
        return summary

    def check(self, config, overwrite=False, ignore=(), probe_lock=True):
        """Whether this run may use the folder: new, empty, or a run folder of the same
        configuration (resume). Changes nothing.

        `ignore` names fields that may differ (e.g. a number of seeds that only adds
        work to a folder). `probe_lock`: refuse a folder another run holds now,
        before the data loads (`claim` locks it, or refuses, in any case).

        Returns:
            True if the folder holds another configuration (or a damaged config.json)
            whose files `overwrite` allows `claim` to delete.
        Raises:
            RunFolderError: the folder cannot be used; the message says why and what
            to do (RunFolderConflict: another configuration, and `overwrite` is False).
        """
        try:
            return self._check(config, overwrite, ignore, probe_lock)
        except OSError as error:  # e.g. a name too long, a folder that cannot be listed
            raise RunFolderError(f"run_dir {self.path} cannot be used ({short_reason(error)}): "
                                 "choose another run_dir=...") from error

    def holds_results(self):
        """Whether a run in this folder finished anything: an epoch's checkpoint, a
        summary, a theory task's seed or configuration."""
        return (self.finished or any(self.checkpoints.glob("ckpt-*.index"))
                or any(self.checkpoints.glob("ckpt-*.npz"))
                or (self.path / "per_seed.csv").is_file()
                or any(self.path.glob("configs/*/signs.npz")))

    def _check(self, config, overwrite, ignore, probe_lock):
        if not self.path.exists():
            self._check_creatable()
            return False
        if not self.path.is_dir():
            raise RunFolderError(f"run_dir {self.path} is a file, not a folder: choose "
                                 "another run_dir=...")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise RunFolderError(f"run_dir {self.path} is not writable: choose another "
                                 "run_dir=..., or make it writable.")
        stored, damage = self._ours()
        if probe_lock:
            self._refuse_if_in_use()
        if stored is None and damage is None:  # new or empty: nothing to compare
            return False
        if damage is not None:
            if overwrite:
                return True
            raise DamagedRunFolder(f"{self.config_file} is damaged ({damage}): restore it, "
                                   "or pass overwrite=True to delete this run's files (no "
                                   "others) and start again.")
        differences = _differences(_comparable(stored, ignore), _comparable(config, ignore))
        if differences and not self.holds_results():
            # A run that stopped before its first epoch (a value that failed only once
            # training began, Ctrl-C) leaves nothing to keep: the corrected command
            # takes the folder over.
            return True
        if differences and not overwrite:
            state = "a finished run" if self.finished else "an unfinished run"
            raise RunFolderConflict(
                f"{self.path} holds {state} with a different configuration "
                f"({'; '.join(differences[:3])}): choose another run_dir=..., or pass "
                "overwrite=True to delete that run's files (no others) and start again."
            )
        if not differences:  # resumed or reported: what is read later must be readable
            for name in FOLDERS + FILES:
                path = self.path / name
                if path.exists() and path.is_dir() != (name in FOLDERS):
                    kind = "folder" if name in FOLDERS else "file"
                    raise DamagedRunFolder(f"{path} is not a {kind}: move it out of the run "
                                           "folder (the run writes it again) and rerun.")
            if self.finished:
                self.summary()
            self._log_rows()
        return bool(differences)

    def _check_creatable(self):
        parent = self.path.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise RunFolderError(f"run_dir {self.path} cannot be created: {parent} is a "
                                 "file: choose another run_dir=...")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RunFolderError(f"run_dir {self.path} cannot be created: {parent} is not "
                                 "writable: choose another run_dir=...")

    def _ours(self):
        """(the stored config or None, why config.json cannot be read or None) of a run
        folder; NotARunFolder if the folder holds anything that is not ours."""
        entries = sorted(os.listdir(self.path))
        if not [e for e in entries if e != LOCK]:
            return None, None
        stored, damage = None, None
        if self.config_file.exists():
            try:
                stored = json.loads(self.config_file.read_text())
                if not isinstance(stored, dict) or "task" not in stored:
                    stored, damage = None, "not a run's configuration"
            except ValueError as error:  # not JSON, or not UTF-8
                damage = f"not valid JSON: {short_reason(error)}"
        if self.marker.exists():
            return stored, damage
        # No marker: not ours, whatever it holds (a config.json may be a user's).
        shown = [e for e in entries if e != LOCK]
        raise NotARunFolder(
            f"{self.path} is not a rethink_bnn run folder (it holds "
            f"{', '.join(shown[:3])}{', ...' if len(shown) > 3 else ''} and no "
            f"{MARKER}): choose an empty or new run_dir=...; overwrite=True never deletes "
            "files a run did not write.")

    def _refuse_if_in_use(self):
        """RunFolderBusy if another run holds the folder's lock. Changes nothing."""
        holder = in_use_by(self.path)
        if holder is not None:
            raise RunFolderBusy(self._busy(holder))

    def _lock(self):
        holder = acquire(self.path)
        if holder is not None:
            raise RunFolderBusy(self._busy(holder))

    def _busy(self, holder):
        if "pid" in holder and "since" in holder:
            who = f" (pid {holder['pid']}, since {holder['since']})"
        else:
            who = ""
        return (f"{self.path} is in use by another run{who}: wait for it to finish or "
                "choose another run_dir=...")

    def claim(self, config, overwrite=False, ignore=()):
        """Make the folder this run's (see `check`): lock it for this process (until
        `release` or the process ends), mark it as a run folder, delete another
        configuration's run files if `overwrite` allows, and write config.json.

        Raises:
            RunFolderError: see `check`; RunFolderBusy if another run holds the folder.
        """
        self.check(config, overwrite, ignore, probe_lock=False)  # before writing anything
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as error:  # e.g. under /proc, a read-only or full file system
            raise RunFolderError(f"run_dir {self.path} cannot be written ({short_reason(error)}): "
                                 "choose another run_dir=...") from error
        try:
            # Again under the lock: another run may have claimed the folder meanwhile.
            replacing = self.check(config, overwrite, ignore, probe_lock=False)
            if replacing:
                why = ("overwrite=True" if overwrite else "the run there had not finished an "
                       "epoch")
                deleted = self._delete_run_files()
                print(f"{why}: deleted the previous run's files in {self.path} "
                      f"({', '.join(deleted)}); any other files there are kept.", flush=True)
            if replacing or not self.marker.exists():
                import rethink_bnn

                write_json_atomically(self.marker, {
                    "what": "a rethink_bnn run folder; overwrite=True deletes only `writes`",
                    "task": config.get("task"), "rethink_bnn": rethink_bnn.__version__,
                    "claimed": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "writes": list(RUN_ENTRIES), "writes_inside": list(RUN_FILES_INSIDE)})
            # (Rewritten only if it changes: a resumed run leaves the file as it was.)
            if json_text(config) != (self.config_file.read_text()
                                      if self.config_file.is_file() else None):
                write_json_atomically(self.config_file, config)
        except OSError as error:
            self.release()
            raise RunFolderError(f"run_dir {self.path} cannot be written ({short_reason(error)}): "
                                 "free space or choose another run_dir=...") from error
        except BaseException:
            self.release()
            raise

    def release(self):
        """Let another run use the folder (the lock also goes when the process ends)."""
        release(self.path)

    def _delete_run_files(self):
        """Delete what runs write, and nothing else; returns the entries deleted from."""
        deleted = []
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
            if entry.name not in (MARKER, LOCK) and is_run_entry(entry.name):
                _delete_written(Path(entry.path))
                deleted.append(entry.name)
        return deleted

    def _log_rows(self):
        """(header line, [(epoch, line)]) of log.csv; DamagedRunFolder at a line that is
        not a row of it (blank lines are dropped)."""
        if not self.csv_log.is_file():
            return None, []
        try:
            lines = self.csv_log.read_text().splitlines(keepends=True)
        except ValueError as error:  # not UTF-8
            raise DamagedRunFolder(f"{self.csv_log} is not a text file ({short_reason(error)}): "
                                   "restore it, or delete it to keep no log of the epochs "
                                   "done.") from error
        lines = [line for line in lines if line.strip()]
        if not lines:
            return None, []
        header, rows = _csv_fields(lines[0]), []
        if header[:1] != ["epoch"]:
            raise self._bad_log_line(1, lines[0])
        for number, line in enumerate(lines[1:], start=2):
            fields = _csv_fields(line)
            if len(fields) != len(header) or not (fields[0].isascii() and fields[0].isdigit()):
                raise self._bad_log_line(number, line)
            rows.append((int(fields[0]), line))
        return lines[0], rows

    def _bad_log_line(self, number, line):
        return DamagedRunFolder(
            f"{self.csv_log} line {number} is not a row of this run's log "
            f"({line.strip()[:40]!r}): delete that line (or restore the file) and rerun "
            "the same command.")

    def truncate_log(self, epochs):
        """Keep only the CSV rows of the first `epochs` epochs (those checkpointed);
        returns the number of rows dropped."""
        header, rows = self._log_rows()
        if header is None:
            return 0
        kept = [line for epoch, line in rows if epoch <= epochs]  # epochs count from 1
        if len(kept) != len(rows) or "".join([header, *kept]) != self.csv_log.read_text():
            with atomic_path(self.csv_log) as tmp:
                tmp.write_text("".join([header, *kept]))
        return len(rows) - len(kept)

    def write_summary(self, summary):
        write_json_atomically(self.summary_file, summary)


def _delete_written(path, relative=None):
    """Delete `path` (at `relative` inside a run's folder: only a file runs or tools
    write there, see `written_inside`); in a folder, what they write, then the folder if
    nothing else is left in it."""
    if path.is_dir() and not path.is_symlink():
        if relative is not None and fnmatch.fnmatchcase(path.name, "ckpt-*_temp"):
            shutil.rmtree(path)  # a checkpoint save cut short
            return
        here = Path(path.name) if relative is None else relative
        for child in path.iterdir():
            _delete_written(child, here / child.name)
        if not any(path.iterdir()):
            path.rmdir()
    elif relative is None or written_inside(relative):
        path.unlink()


def _csv_fields(line):
    try:
        return next(csv.reader([line]), [])
    except csv.Error:  # e.g. a NUL byte
        return []


def short_reason(error):
    """An error's message on one short line."""
    text = " ".join(str(getattr(error, "strerror", None) or error).split())
    return text if len(text) <= 100 else text[:99] + "…"


def _comparable(config, ignore=()):
    return {k: v for k, v in json.loads(json.dumps(config, default=str)).items()
            if k not in NOT_COMPARED and k not in ignore}


# Fields added since runs were first written, with the value a config.json without them
# means (a run folder of an earlier version resumes).
ADDED_FIELDS = {"front_end": "tf_keras"}


def _differences(stored, current, prefix=""):
    found = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "<unset>"), current.get(key, "<unset>")
        if a == "<unset>" and key in ADDED_FIELDS and ("task" in current or "class" in current):
            a = ADDED_FIELDS[key]
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} there, {b!r} now")
    return found
