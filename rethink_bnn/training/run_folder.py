"""A run folder: its config, checkpoints, logs and summary, and what may be done to it.

    run_dir/
      config.json      the resolved task configuration (written when the run starts)
      checkpoints/     model, optimizer and loop state after every epoch
      best_weights.h5  the layer weights with the best validation loss so far (a new best
                       waits as best_weights.epoch-N.h5 until its checkpoint is saved)
      log.csv          one row per epoch (rewritten whole every epoch)
      tensorboard/     TensorBoard event files
      summary.json     written when the run finishes
"""

import csv
import json
import os
import shutil
from pathlib import Path

__all__ = ["RunFolder", "RunFolderConflict", "read_csv", "write_csv_atomically",
           "write_json_atomically"]

# Fields that say where, how verbosely or how often to log, not what to compute: a run
# may resume with other values.
NOT_COMPARED = ("run_dir", "overwrite", "verbose", "flip_log_freq", "step_log_freq",
                "distribution")


# Fields added since runs were first written, with the value that computes what those
# runs did: a stored config without one compares as if it had that value.
ADDED_FIELDS = {"precision": "float32"}


class RunFolderConflict(RuntimeError):
    """The run folder holds a run of another configuration."""


def write_json_atomically(path, data):
    """Write-then-rename, so a crash never leaves a half-written file behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


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
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)
        self.config_file = self.path / "config.json"
        self.summary_file = self.path / "summary.json"
        self.checkpoints = self.path / "checkpoints"
        # Keras' legacy ".h5" weights format: layer weights only. (".weights.h5" and TF
        # checkpoints of a compiled model hold its optimizer too, which must not go back.)
        self.best_weights = self.path / "best_weights.h5"
        self.csv_log = self.path / "log.csv"
        self.tensorboard = self.path / "tensorboard"

    @property
    def finished(self):
        return self.summary_file.is_file()

    def summary(self):
        return json.loads(self.summary_file.read_text())

    def check(self, config, overwrite=False, ignore=()):
        """Whether this run may use the folder: new, or the same configuration (resume).
        Changes nothing.

        `ignore` names fields that may differ (e.g. a number of seeds that only adds
        work to a folder).

        Returns:
            True if the folder holds another configuration that `overwrite` allows
            `claim` to delete.
        Raises:
            RunFolderConflict: it holds another configuration and `overwrite` is False.
        """
        if not self.config_file.is_file():
            return False
        stored = json.loads(self.config_file.read_text())
        stored.update({k: v for k, v in ADDED_FIELDS.items() if k in config and k not in stored})
        differences = _differences(_comparable(stored, ignore), _comparable(config, ignore))
        if differences and not overwrite:
            state = "a finished run" if self.finished else "an unfinished run"
            raise RunFolderConflict(
                f"{self.path} holds {state} with a different configuration "
                f"({'; '.join(differences[:3])}): choose another run_dir=..., or pass "
                "overwrite=True to delete it and start again."
            )
        return bool(differences)

    def claim(self, config, overwrite=False, ignore=()):
        """Make the folder this run's (see `check`), deleting another run if allowed."""
        if self.check(config, overwrite, ignore):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.config_file, config)

    def truncate_log(self, epochs):
        """Keep only the CSV rows of the first `epochs` epochs (those checkpointed)."""
        if not self.csv_log.is_file():
            return
        lines = self.csv_log.read_text().splitlines(keepends=True)
        # rows are 1-based since epoch numbers were unified; a log whose first row says
        # epoch 0 was written before (EpochLog renumbers it on its next write)
        offset = 1 if len(lines) > 1 and lines[1].split(",", 1)[0] == "0" else 0
        kept = lines[:1] + [line for line in lines[1:]
                            if int(line.split(",", 1)[0]) + offset <= epochs]
        if len(kept) != len(lines):
            tmp = self.csv_log.with_name(self.csv_log.name + ".tmp")
            tmp.write_text("".join(kept))
            os.replace(tmp, self.csv_log)

    def write_summary(self, summary):
        write_json_atomically(self.summary_file, summary)


def _comparable(config, ignore=()):
    return {k: v for k, v in json.loads(json.dumps(config, default=str)).items()
            if k not in NOT_COMPARED and k not in ignore}


def _differences(stored, current, prefix=""):
    found = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "<unset>"), current.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} there, {b!r} now")
    return found
