"""The layout of a run folder, declared once: what each task and tool writes in it, and
the paths of a run's files. Runs (`runs/folder.py`: overwrite, damage checks),
the plots and the export all read it from here.

    run_dir/
      .rethink_bnn_run.json  the marker: this folder is a run folder (written on claim)
      .rethink_bnn_run.lock  locked (flock) by the one run that uses the folder
      ENTRIES below, each written by the task or tool it names
"""

import fnmatch
import json
import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["ENTRIES", "EXPORT_FOLDER", "FIGURES_FOLDER", "FILES", "FOLDERS", "LOCK", "MARKER",
           "RUN_ENTRIES", "RUN_FILES_INSIDE", "RunPaths", "enclosing_run", "in_tool_folder",
           "is_run_entry", "is_run_folder", "written_inside"]

MARKER = ".rethink_bnn_run.json"
LOCK = ".rethink_bnn_run.lock"
# The folders of a run folder that tools other than the run write into: there (and only
# there) they replace a file of theirs without --force, and `overwrite` empties them.
EXPORT_FOLDER, FIGURES_FOLDER = "export", "figures"


class Entry(NamedTuple):
    """A file or folder at the top of a run folder (`name` may be an fnmatch pattern)."""

    name: str
    folder: bool
    written_by: str  # a task's kind of run ("training": every training task), or a tool
    about: str


ENTRIES = (
    Entry("config.json", False, "every task", "the resolved task configuration, at the start"),
    Entry("summary.json", False, "every task", "written when the run finishes"),
    Entry("log.csv", False, "training", "one row per epoch (rewritten whole every epoch)"),
    Entry("checkpoints", True, "training", "model, optimizer and loop state after every epoch "
          "(front_end=keras3: ckpt-N.npz, with the best-validation weights)"),
    Entry("tensorboard", True, "training", "TensorBoard event files"),
    Entry("best_weights.h5", False, "training", "the layer weights with the best validation "
          "loss so far (front_end=tf_keras)"),
    Entry("best_weights.epoch-*.h5", False, "training", "a new best, until its checkpoint is "
          "saved"),
    Entry("per_seed.csv", False, "approximation_viewpoint", "one row per seed"),
    Entry("seeds", True, "approximation_viewpoint", "each seed's logs"),
    Entry("table.csv", False, "approximation_viewpoint", "the report's table"),
    Entry("table.json", False, "approximation_viewpoint", "the report's table"),
    Entry("table.md", False, "approximation_viewpoint", "the report's table"),
    Entry("configs", True, "arbitrary_lr", "each configuration's logs and signs"),
    Entry("identity.csv", False, "arbitrary_lr", "configurations 2 and 3 compared"),
    Entry(FIGURES_FOLDER, True, "python -m rethink_bnn.plot", "its default output"),
    Entry(EXPORT_FOLDER, True, "python -m rethink_bnn.export", "its default output"),
)

# Everything runs write at the top of a run folder (fnmatch patterns; each file also as
# "<name>.tmp", left by a write-then-rename cut short): what `overwrite` deletes.
RUN_ENTRIES = tuple(e.name for e in ENTRIES)
# What a resumed run reads or writes as a folder, and as a file.
FOLDERS = tuple(e.name for e in ENTRIES if e.folder)
FILES = tuple(e.name for e in ENTRIES if not e.folder and "*" not in e.name)

# The files runs and tools write inside those folders (checkpoints/, tensorboard/,
# seeds/, ...), by name ("FOLDER/PATTERN": only somewhere under that top folder):
# `overwrite` leaves any other file there, and a folder that still holds one.
RUN_FILES_INSIDE = ("checkpoint", "checkpoint.tmp*", "ckpt-*", "events.out.tfevents.*",
                    "*.profile-empty", "*.csv", "*.npz", "*.h5", "*.png", "*.svg", "*.pdf",
                    "*.tmp", "figures/*.md",  # the approximation figure's table
                    "export/*.tflite", "export/report.json", "export/*.report.json")


class RunPaths:
    """The paths of a run folder's files, by what they hold."""

    def __init__(self, path):
        self.path = Path(path)
        self.marker = self.path / MARKER
        self.lock_file = self.path / LOCK
        self.config_file = self.path / "config.json"
        self.summary_file = self.path / "summary.json"
        self.checkpoints = self.path / "checkpoints"
        # Keras' legacy ".h5" weights format: layer weights only. (".weights.h5" and TF
        # checkpoints of a compiled model hold its optimizer too, which must not go back.)
        self.best_weights = self.path / "best_weights.h5"
        self.csv_log = self.path / "log.csv"
        self.tensorboard = self.path / "tensorboard"
        self.configs = self.path / "configs"  # arbitrary_lr's, one folder each
        self.per_seed = self.path / "per_seed.csv"
        self.identity = self.path / "identity.csv"
        self.sweep_summary = self.path / "sweep.json"
        self.export = self.path / EXPORT_FOLDER
        self.figures = self.path / FIGURES_FOLDER


def is_run_entry(name):
    """Whether a run writes a file or folder of this name at the top of its folder
    (a write cut short leaves `NAME.tmp`, or `.NAME.tmp` from rethink_bnn.experiments.runs.files)."""
    base = name[:-len(".tmp")] if name.endswith(".tmp") else name
    names = {base, base[1:]} if base.startswith(".") and base != name else {base}
    return any(n in (MARKER, LOCK) or any(fnmatch.fnmatchcase(n, p) for p in RUN_ENTRIES)
               for n in names)


def written_inside(relative):
    """Whether runs or tools write a file at `relative` (a path inside a run folder,
    below one of its top folders)."""
    relative = Path(relative)
    for pattern in RUN_FILES_INSIDE:
        folder, _, name = pattern.rpartition("/")
        if (not folder or relative.parts[0] == folder) and fnmatch.fnmatchcase(relative.name,
                                                                               name):
            return True
    return False


def is_run_folder(folder):
    """Whether `folder` is a run's or a sweep's (never written into but by its run)."""
    if (folder / MARKER).is_file() or (folder / "sweep.json").is_file():
        return True
    try:  # a copied run keeps its config.json, which names its task: never write into it
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "task" in config


def enclosing_run(path):
    """(the run folder that a write to `path` lands in, the path there), real paths, or
    (None, that path): the nearest folder above it that is marked, is a sweep's
    (sweep.json) or holds a run's config.json. Writing replaces `path` itself, a link
    too, so only the folders above it are resolved."""
    path = Path(os.path.abspath(path))
    where = Path(os.path.realpath(path.parent)) / path.name
    return next((f for f in where.parents if is_run_folder(f)), None), where


def in_tool_folder(path, folder, run=None):
    """Whether `path` lies in the `folder` (EXPORT_FOLDER, FIGURES_FOLDER) of a run
    folder (of `run` only, if given), that folder no link to elsewhere."""
    found, where = enclosing_run(path)
    if found is None or (run is not None and found != Path(os.path.realpath(run))):
        return False
    return where.relative_to(found).parts[0] == folder and where.parent != found
