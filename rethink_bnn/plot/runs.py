"""What the figures read from run folders: which kind of run a folder holds, its CSV logs,
and its per-step TensorBoard scalars.

Kinds of run folder (what `python -m rethink_bnn.train` writes):

- a binary-optimizer training run (`cifar10_bop`, `cifar10_bop_study`, `demo`, ...):
  config.json with its `binary_optimizer`, log.csv, tensorboard/{flips,steps};
- a latent-weight training run (`cifar10_latent_adam`, ...): config.json, log.csv;
- a sweep (`bop_sweep`): one Bop run folder per grid point inside (and sweep.json);
- `approximation_viewpoint`: per_seed.csv (and table.*);
- `arbitrary_lr`: configs/<configuration>/log.csv and identity.csv.
"""

import csv
import json
import math
from pathlib import Path

from rethink_bnn.experiments.config.stored import StoredConfigError, check_stored_config
from rethink_bnn.events import read_scalars  # noqa: F401  (the figures read it here)
from rethink_bnn.experiments.runs.files import read_csv
from rethink_bnn.experiments.runs.layout import RunPaths

__all__ = [
    "WrongRunError",
    "bop_runs",
    "epoch_log",
    "kind_of",
    "read_scalars",
    "require",
    "run_title",
]

BOP_RUN, LATENT_RUN, SWEEP = "a Bop training run", "a latent-weight training run", "a bop_sweep"
APPROXIMATION, ARBITRARY_LR = "an approximation_viewpoint run", "an arbitrary_lr run"

# config.json's "kind" -> the kind of run folder.
KINDS = {"bop": BOP_RUN, "latent": LATENT_RUN, "approximation_viewpoint": APPROXIMATION,
         "arbitrary_lr": ARBITRARY_LR}
# The plot command that draws each kind.
FIGURE_OF = {BOP_RUN: "training", LATENT_RUN: "training", SWEEP: "sweep",
             APPROXIMATION: "approximation", ARBITRARY_LR: "arbitrary_lr"}


class WrongRunError(ValueError):
    """A folder holds no run of the kind a figure needs; the message says what it holds
    and which figure draws that.

    Examples:
        >>> import tempfile
        >>> from rethink_bnn import plot
        >>> try:
        ...     plot.training_figure([tempfile.mkdtemp()])  # an empty folder
        ... except plot.WrongRunError as error:  # a ValueError
        ...     print(str(error).split(": ", 1)[1])
        the sec 5.2 figure needs a Bop training run or a latent-weight training run.
    """


def kind_of(folder):
    """The kind of run `folder` holds (one of FIGURE_OF's keys), or None.

    Examples:
        >>> import json, pathlib, tempfile
        >>> from rethink_bnn.plot import kind_of
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> print(kind_of(run))
        None
        >>> _ = (run / "config.json").write_text(json.dumps({"task": "demo", "kind": "bop"}))
        >>> kind_of(run)
        'a Bop training run'
    """
    folder = Path(folder)
    config = _config(folder)
    if config is None:
        return SWEEP if RunPaths(folder).sweep_summary.is_file() or _bop_subfolders(folder) else None
    return KINDS.get(config.get("kind"))  # every run writes its kind


def require(folder, kinds, figure):
    """`folder`'s config, if it holds a run of one of `kinds`; else WrongRunError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WrongRunError(f"{folder} does not exist or is not a folder: give the run_dir "
                            "of a run (the folder with its config.json).")
    kind = kind_of(folder)
    if kind in kinds:
        return _config(folder) or {}
    wanted = " or ".join(kinds)
    if kind is None:
        raise WrongRunError(f"{folder} holds no run (no config.json, no sweep.json, no run "
                            f"folders inside): the {figure} needs {wanted}.")
    raise WrongRunError(f"{folder} holds {kind}, not {wanted}: the {figure} cannot "
                        f"draw it; `python -m rethink_bnn.plot {FIGURE_OF[kind]} {folder}` "
                        "does.")


def bop_runs(folders, figure):
    """The Bop run folders given, sweep folders expanded into their points (sorted)."""
    runs = []
    for folder in map(Path, folders):
        require(folder, (BOP_RUN, SWEEP), figure)
        runs += [folder] if kind_of(folder) == BOP_RUN else _bop_subfolders(folder)
    return runs


def epoch_log(folder, columns=(), figure="figure"):
    """The run's log.csv rows with floats (empty cells as NaN), epochs numbered from 1;
    WrongRunError when it has no epoch yet or lacks one of the `columns` the `figure`
    needs."""
    folder = Path(folder)
    path = RunPaths(folder).csv_log
    try:
        rows = read_csv(path)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise WrongRunError(f"{path} cannot be read ({_reason(error)}): the run folder is "
                            "damaged; restore the file from a copy.") from error
    if not rows:
        raise WrongRunError(f"{folder} has not logged an epoch yet (no rows in log.csv): "
                            "plot it after its first epoch.")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise WrongRunError(f"{folder}/log.csv has no {', '.join(missing)} column, which the "
                            f"{figure} needs: it was written by another task or an older "
                            "rethink_bnn; train the run with this version.")
    for index, row in enumerate(rows, start=2):  # line 1 is the header
        damaged = [k for k, v in row.items() if k is None or v is None
                   or (v and not isinstance(_number(v), float))]
        if damaged:
            raise WrongRunError(f"{path} is damaged at line {index} (a row cut short or not "
                                "numbers): the figure would be wrong; restore the file from "
                                "a copy, or delete that line.")
    rows = [{k: _number(v) for k, v in row.items()} for row in rows]
    if rows[0].get("epoch") == 0:  # written before epochs were numbered from 1
        rows = [{**row, "epoch": row["epoch"] + 1} for row in rows]
    return rows


def run_title(config):
    """A run's dataset and epochs, from its config, for a figure's title."""
    dataset = config.get("dataset", {}).get("class", "?")
    return f"{dataset}, {config.get('epochs', '?')} epochs"


def _config(folder):
    path = RunPaths(folder).config_file
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise WrongRunError(f"{path} cannot be read ({_reason(error)}): the run folder is "
                            "damaged.") from error
    if not isinstance(config, dict):
        raise WrongRunError(f"{path} holds no run configuration (a JSON object): the run "
                            "folder is damaged.")
    try:  # the fields; the kind is the run's own word on what it is (`kind_of`)
        check_stored_config({k: v for k, v in config.items() if k != "kind"})
    except StoredConfigError as error:
        raise WrongRunError(f"{path} is not a run's configuration ({error}): the run folder "
                            "is damaged.") from None
    return config


def _reason(error):
    return str(getattr(error, "strerror", None) or error).splitlines()[0][:120]


def _bop_subfolders(folder):
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_dir() and kind_of(p) == BOP_RUN) if Path(folder).is_dir() else []


def _number(text):
    if text in ("", "NA", None):
        return math.nan
    try:
        return float(text)
    except ValueError:
        return text
