"""The paper's figures, drawn from run folders (the theory's, and the report's table:
`theory_figures`).

Each function takes run folders and returns a `matplotlib.figure.Figure` (no pyplot, no
global state); `save` writes one to PNG, SVG or PDF.
"""

import json
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator
from scipy.ndimage import gaussian_filter1d

from rethink_bnn.plot.runs import (
    BOP_RUN,
    LATENT_RUN,
    WrongRunError,
    bop_runs,
    epoch_log,
    read_scalars,
    require,
    run_title,
)
from rethink_bnn.experiments.runs.files import atomic_path
from rethink_bnn.plot.sweep_panels import numbers, sweep_panels
from rethink_bnn.experiments.runs.layout import RunPaths

__all__ = [
    "FORMATS",
    "figure_format",
    "save",
    "smooth",
    "sweep_figure",
    "training_figure",
]

FORMATS = ("png", "svg", "pdf")
"""The file formats `save` writes, chosen by the file name's suffix."""
SWEEP_FIGURE, TRAINING_FIGURE = "sec 5.1 figure", "sec 5.2 figure"
PI_LABEL = r"$\pi_t = \ln(\mathrm{flips}_t / n + 10^{-9})$"


def smooth(values, sigma, spacing=1.0):
    """`values` smoothed by a Gaussian of standard deviation `sigma` steps, for values
    `spacing` steps apart (the report: σ = 100 steps). σ = 0 leaves them as they are.

    Examples:
        >>> from rethink_bnn.plot import smooth
        >>> smooth([0.0, 0.0, 4.0, 0.0, 0.0], sigma=1).round(2).tolist()  # the sum stays
        [0.22, 0.97, 1.6, 0.97, 0.22]
        >>> smooth([0.0, 4.0], sigma=0).tolist()
        [0.0, 4.0]

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 4.2
        (Figure 2: a Gaussian filter of standard deviation 100 steps).
    """
    values = np.asarray(values, np.float64)
    if sigma <= 0 or len(values) < 2:
        return values
    return gaussian_filter1d(values, sigma / spacing, mode="nearest")


def sweep_figure(folders, sigma=100.0):
    """Sec 5.1: training accuracy (solid, Gaussian-smoothed by `sigma` steps), validation
    accuracy (dashed, per epoch) and π_t (smoothed alike) against the step, one column
    per swept hyperparameter (γ and τ in the paper; any number field the points differ
    in, e.g. another optimizer's σ): the points that vary it while the others keep the
    sweep's most common value (`sweep_panels`).

    Args:
        folders: `bop_sweep` folders and/or run folders of binary optimizers, trained with
            per-step logging (`flip_log_freq` and `step_log_freq` not "epoch").
        sigma: the smoothing's standard deviation in steps (0: none).

    A run folder with per-step logs, as training writes it (one run: one panel, of γ):

    Examples:
        >>> import json, pathlib, tempfile
        >>> from rethink_bnn import plot
        >>> from rethink_bnn.events import ScalarWriter
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (run / "config.json").write_text(json.dumps({"task": "demo", "kind": "bop",
        ...     "binary_optimizer": {"class": "Bop", "gamma": 1e-3, "threshold": 1e-6}}))
        >>> _ = (run / "log.csv").write_text("epoch,step,accuracy,val_accuracy\\n1,2,0.5,0.5\\n")
        >>> for folder, tag in (("steps", "batch_accuracy"), ("flips", "batch_pi")):
        ...     writer = ScalarWriter(run / "tensorboard" / folder)
        ...     for step, value in ((1, 0.25), (2, 0.75)):
        ...         writer.add(step, {tag: value})
        ...     writer.close()
        >>> figure = plot.sweep_figure([run], sigma=0)
        >>> figure.axes[0].get_title(), figure.axes[0].lines[0].get_ydata().tolist()
        ('τ = 1e-06, γ varies', [0.25, 0.75])

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, sec 5.1; drawn as Figure 2 of Vaessen, Mastnak,
        Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        optimisation", NeurIPS 2019 Reproducibility Challenge, sec 4.2.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 (0: no smoothing), got {sigma}.")
    runs = bop_runs(folders, SWEEP_FIGURE)
    if not runs:
        raise WrongRunError(f"{', '.join(map(str, folders))}: no Bop run with a config.json "
                            f"inside yet, so there is nothing to draw in the {SWEEP_FIGURE}.")
    points = [_sweep_point(run) for run in runs]
    panels = sweep_panels(points)
    figure = Figure(figsize=(6.5 * len(panels), 7.5), layout="constrained")
    axes = figure.subplots(2, len(panels), sharex="col", squeeze=False)
    for column, panel in enumerate(panels):
        _sweep_column(axes[0, column], axes[1, column], panel, sigma)
    names = " and ".join(symbol for _, symbol, _, _ in panels)
    figure.suptitle(f"{names} (sec 5.1): Gaussian smoothing σ = {sigma:g} steps")
    return figure


def _sweep_column(top, bottom, panel, sigma):
    """One swept hyperparameter's points: accuracy (top) and π_t (bottom)."""
    title, symbol, key, members = panel
    for index, point in enumerate(members):
        color = f"C{index}"
        label = f"{symbol} = {point['values'][key]:g}"
        steps, accuracy = point["accuracy"]
        top.plot(steps, smooth(accuracy, sigma, _spacing(steps)), color=color, label=label)
        if point["validation"] is not None:
            top.plot(*point["validation"], color=color, linestyle="--", marker="o",
                     markersize=3)
        steps, pi = point["pi"]
        bottom.plot(steps, smooth(pi, sigma, _spacing(steps)), color=color, label=label)
    top.set_title(title)
    top.set_ylabel("accuracy (train —, validation --)")
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    bottom.set_ylabel(PI_LABEL)
    bottom.set_xlabel("training step")
    bottom.grid(alpha=0.3)


def _sweep_point(run):
    config = require(run, (BOP_RUN,), SWEEP_FIGURE)
    log = epoch_log(run, ("step",), SWEEP_FIGURE)
    accuracy = _step_series(run, "steps", "batch_accuracy", "step_log_freq", config)
    pi = _step_series(run, "flips", "batch_pi", "flip_log_freq", config)
    validation = None
    if "val_accuracy" in log[0]:
        validation = (np.array([row["step"] for row in log]),
                      np.array([row["val_accuracy"] for row in log]))
    return {"config": config, "values": numbers(config), "accuracy": accuracy, "pi": pi,
            "validation": validation}


def _step_series(run, subfolder, tag, field, config):
    folder = RunPaths(run).tensorboard / subfolder
    steps, values = read_scalars(folder, [tag])[tag]
    if len(steps):
        return steps, values
    if config.get(field, 1) == "epoch" or not list(folder.glob("events.out.tfevents.*")):
        raise WrongRunError(f"{run} logged no per-step {tag} (tensorboard/{subfolder}): the "
                            f"{SWEEP_FIGURE} needs a run trained with {field}=1 (or any N).")
    raise WrongRunError(f"{folder} has event files but no readable {tag} in them (cut short "
                        "or damaged): the run folder is damaged; rerun its training command "
                        "into a new run_dir.")


def _spacing(steps):
    return float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0


def training_figure(folders):
    """Sec 5.2: training and validation accuracy (left) and the flip ratio, flips per
    binary weight in the epoch (right, log scale), against the epoch; dotted lines mark
    where γ changes. Latent-weight runs add their accuracy (they have no flips).

    A run folder's config.json and log.csv, as training writes them:

    Examples:
        >>> import json, pathlib, tempfile
        >>> from rethink_bnn import plot
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (run / "config.json").write_text(json.dumps({"task": "demo", "kind": "bop"}))
        >>> _ = (run / "log.csv").write_text(
        ...     "epoch,accuracy,flip_ratio,gamma\\n1,0.6,0.02,1e-4\\n2,0.8,0.004,1e-5\\n")
        >>> figure = plot.training_figure([run])
        >>> [text.get_text() for text in figure.axes[1].texts]  # where γ changed
        ['γ → 1e-05']

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, sec 5.2.
    """
    runs = [(Path(f), require(f, (BOP_RUN, LATENT_RUN), TRAINING_FIGURE)) for f in folders]
    if not runs:
        raise ValueError(f"the {TRAINING_FIGURE} needs at least one run folder.")
    figure = Figure(figsize=(13, 5), layout="constrained")
    left, right = figure.subplots(1, 2, sharex=True)
    marked = set()
    for index, (run, config) in enumerate(runs):
        color, name = f"C{index}", _name(run, runs)
        log = epoch_log(run, ("accuracy",), TRAINING_FIGURE)
        epochs = np.array([row["epoch"] for row in log])
        left.plot(epochs, [row["accuracy"] for row in log], color=color, label=f"{name}train")
        if "val_accuracy" in log[0]:
            left.plot(epochs, [row["val_accuracy"] for row in log], color=color,
                      linestyle="--", label=f"{name}validation")
        if "flip_ratio" in log[0]:
            _flip_ratio(right, epochs, np.array([row["flip_ratio"] for row in log]), color,
                        name)
        _mark_test_accuracy(left, run, color, name)
        _mark_gamma_changes(left, right, epochs, [row.get("gamma", math.nan) for row in log],
                            color, marked)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylabel("accuracy")
    left.set_xlabel("epoch")
    left.legend(loc="lower right")
    left.grid(alpha=0.3)
    right.set_yscale("log")
    _whole_decades(right)
    right.set_ylabel("flip ratio (flips / binary weights, per epoch)")
    right.set_xlabel("epoch")
    right.grid(alpha=0.3, which="both")
    if right.lines:
        right.legend(loc="best")  # where it hides the fewest points
    figure.suptitle("Training with Bop (sec 5.2)" + (": " + run_title(runs[0][1])
                                                     if len(runs) == 1 else ""))
    return figure


def _flip_ratio(ax, epochs, ratio, color, name):
    """The flip ratio per epoch on a log scale; an epoch without flips as a mark on the
    axis."""
    ax.plot(epochs[ratio > 0], ratio[ratio > 0], color=color, marker=".",
            label=name.rstrip(": ") or "flip ratio")
    if np.any(ratio == 0):  # no flip at all: a mark on the axis (log scale)
        ax.plot(epochs[ratio == 0], np.zeros(np.sum(ratio == 0)), color=color, marker="v",
                linestyle="none", clip_on=False, transform=ax.get_xaxis_transform(),
                label=f"{name}no flips")


def _mark_gamma_changes(left, right, epochs, gamma, color, marked):
    """A dotted line on both axes where γ changes, annotated once per (epoch, γ) in
    `marked` (shared by the runs of one figure)."""
    for i in range(1, len(gamma)):
        if gamma[i] != gamma[i - 1] and not math.isnan(gamma[i]):
            for ax in (left, right):
                ax.axvline(epochs[i] - 0.5, color=color, linestyle=":", alpha=0.7)
            if (epochs[i], gamma[i]) not in marked:
                marked.add((epochs[i], gamma[i]))
                right.annotate(f"γ → {gamma[i]:g}", (epochs[i] - 0.5, 1), rotation=90,
                               xycoords=("data", "axes fraction"), va="top", ha="right",
                               fontsize=8, color=color)


def _mark_test_accuracy(ax, run, color, name):
    """A star at the epoch whose weights gave the test accuracy (the best validation
    epoch, else the last), labelled with it: the number the run reports."""
    summary_file = RunPaths(run).summary_file
    if not summary_file.is_file():
        return  # not finished: no test accuracy yet
    try:
        summary = json.loads(summary_file.read_text())
        accuracy = float(summary["test_accuracy"])
        epoch = summary.get("best_epoch") or summary["epochs_run"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise WrongRunError(f"{summary_file} cannot be read ({error}): the run folder is "
                            "damaged.") from error
    ax.plot([epoch], [accuracy], marker="*", markersize=12, color=color, linestyle="none",
            label=f"{name}test {accuracy:.4f} (epoch {epoch} weights)")


def _whole_decades(ax):
    """Log-axis limits on whole decades around the data, so every point lies between
    two labelled ticks (matplotlib's own limits can leave the top point unlabelled)."""
    values = np.concatenate([line.get_ydata()[np.asarray(line.get_ydata()) > 0]
                             for line in ax.lines if line.get_transform() == ax.transData]
                            or [np.array([])])
    if len(values):
        ax.set_ylim(10 ** math.floor(math.log10(values.min())),
                    10 ** math.ceil(math.log10(values.max())))
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))


def _name(run, runs):
    return f"{run.name}: " if len(runs) > 1 else ""


def figure_format(path):
    """The format a figure at `path` is written in ("png", "svg" or "pdf"), from its
    suffix; ValueError for any other name, so no other kind of file is overwritten."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot write a figure to {path}: the name must end in "
                         f"{', '.join('.' + f for f in FORMATS[:-1])} or .{FORMATS[-1]}.")
    return fmt


def save(figure, path, dpi=150):
    """Write `figure` to `path` (.png, .svg or .pdf), creating its folder; the file
    appears whole or not at all.

    Examples:
        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> from rethink_bnn.plot import save
        >>> path = save(Figure(figsize=(1, 1)), f"{tempfile.mkdtemp()}/figures/empty.svg")
        >>> path.name, path.read_text().startswith("<?xml")
        ('empty.svg', True)
    """
    path = Path(path)
    fmt = figure_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=fmt, dpi=dpi)
    return path
