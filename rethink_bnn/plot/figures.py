"""The paper's figures and the report's table, drawn from run folders.

Each function takes run folders and returns a `matplotlib.figure.Figure` (no pyplot, no
global state); `save` writes one to PNG, SVG or PDF.
"""

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator
from scipy.ndimage import gaussian_filter1d

from rethink_bnn.plot.runs import (
    APPROXIMATION,
    ARBITRARY_LR,
    BOP_RUN,
    LATENT_RUN,
    WrongRunError,
    bop_runs,
    epoch_log,
    read_scalars,
    require,
)
from rethink_bnn.experiments.runs.files import atomic_path, read_csv
from rethink_bnn.plot.sweep_panels import numbers, sweep_panels
from rethink_bnn.experiments.runs.files import markdown_table
from rethink_bnn.experiments.tasks.sec3_1_theory import default_scale
from rethink_bnn.experiments.runs.layout import RunPaths

__all__ = [
    "FORMATS",
    "approximation_figure",
    "approximation_markdown",
    "arbitrary_lr_figure",
    "figure_format",
    "save",
    "smooth",
    "sweep_figure",
    "training_figure",
]

FORMATS = ("png", "svg", "pdf")
"""The file formats `save` writes, chosen by the file name's suffix."""
SWEEP_FIGURE, TRAINING_FIGURE = "sec 5.1 figure", "sec 5.2 figure"
APPROXIMATION_FIGURE, ARBITRARY_LR_FIGURE = "approximation table", "arbitrary-lr figure"
PI_LABEL = r"$\pi_t = \ln(\mathrm{flips}_t / n + 10^{-9})$"


def smooth(values, sigma, spacing=1.0):
    """`values` smoothed by a Gaussian of standard deviation `sigma` steps, for values
    `spacing` steps apart (the report: σ = 100 steps). σ = 0 leaves them as they are."""
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
    for column, (title, symbol, key, members) in enumerate(panels):
        top, bottom = axes[0, column], axes[1, column]
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
    names = " and ".join(symbol for _, symbol, _, _ in panels)
    figure.suptitle(f"{names} (sec 5.1): Gaussian smoothing σ = {sigma:g} steps")
    return figure


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
    where γ changes. Latent-weight runs add their accuracy (they have no flips)."""
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
            ratio = np.array([row["flip_ratio"] for row in log])
            right.plot(epochs[ratio > 0], ratio[ratio > 0], color=color, marker=".",
                       label=name.rstrip(": ") or "flip ratio")
            if np.any(ratio == 0):  # no flip at all: a mark on the axis (log scale)
                right.plot(epochs[ratio == 0], np.zeros(np.sum(ratio == 0)), color=color,
                           marker="v", linestyle="none", clip_on=False,
                           transform=right.get_xaxis_transform(), label=f"{name}no flips")
        _mark_test_accuracy(left, run, color, name)
        gamma = [row.get("gamma", math.nan) for row in log]
        for i in range(1, len(log)):
            if gamma[i] != gamma[i - 1] and not math.isnan(gamma[i]):
                for ax in (left, right):
                    ax.axvline(epochs[i] - 0.5, color=color, linestyle=":", alpha=0.7)
                if (epochs[i], gamma[i]) not in marked:
                    marked.add((epochs[i], gamma[i]))
                    right.annotate(f"γ → {gamma[i]:g}", (epochs[i] - 0.5, 1), rotation=90,
                                   xycoords=("data", "axes fraction"), va="top", ha="right",
                                   fontsize=8, color=color)
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
    figure.suptitle("Training with Bop (sec 5.2)" + (": " + _title(runs[0][1])
                                                     if len(runs) == 1 else ""))
    return figure


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


def approximation_markdown(folders):
    """The approximation-viewpoint table in Markdown: mean (standard deviation) per row,
    one column per run folder, and each run's one-way ANOVA across the rows."""
    from rethink_bnn.experiments.tasks.theory import ROWS  # TensorFlow: theory runs only

    results = _approximation_results(folders)
    header = ["model"] + [f"{label} ({table['rows'][0]['n']} seeds)"
                          for label, table, _ in results]
    rows = [[row] + [_mean_sd(table["rows"][i]) for _, table, _ in results]
            for i, row in enumerate(ROWS)]
    lines = ["# Approximation viewpoint: test accuracy, mean (standard deviation)", "",
             markdown_table(header, rows)]
    anova = [f"{label}: F = {table['anova']['F']:.4g}, p = {table['anova']['p']:.3g}"
             for label, table, _ in results if table["anova"]]
    if anova:
        lines += ["", "One-way ANOVA across the rows: " + "; ".join(anova) + "."]
    return "\n".join(lines) + "\n"


def approximation_figure(folders):
    """The approximation-viewpoint table as a bar chart: mean test accuracy per row,
    error bars of one standard deviation, each seed as a dot, chance as a dotted line."""
    from rethink_bnn.experiments.tasks.theory import ROWS  # TensorFlow: theory runs only

    results = _approximation_results(folders)
    figure = Figure(figsize=(3 + 2.2 * len(results), 4.5), layout="constrained")
    ax = figure.subplots()
    width = 0.8 / len(results)
    for index, (label, table, config) in enumerate(results):
        x = np.arange(len(ROWS)) + (index - (len(results) - 1) / 2) * width
        means = [r["mean"] for r in table["rows"]]
        errors = [0 if math.isnan(r["std"]) else r["std"] for r in table["rows"]]
        ax.bar(x, means, width * 0.9, yerr=errors, capsize=4, color=f"C{index}", alpha=0.8,
               label=label)
        for i, row in enumerate(ROWS):
            values = [seed[row] for seed in table["per_seed"]]
            ax.plot(np.full(len(values), x[i]), values, "k.", markersize=4)
    chances = sorted({1 / config.get("num_classes", 10) for _, _, config in results})
    for chance in chances:
        ax.axhline(chance, color="gray", linestyle=":", linewidth=1,
                   label="chance" if chance == chances[0] else None)
    ax.set_xticks(np.arange(len(ROWS)), ROWS)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper center", fontsize=8)
    ax.set_title("Approximation viewpoint\nmean ± one standard deviation; dots: seeds")
    return figure


def _approximation_results(folders):
    from rethink_bnn.experiments.tasks.theory import approximation_table

    results = []
    for folder in map(Path, folders):
        config = require(folder, (APPROXIMATION,), APPROXIMATION_FIGURE)
        per_seed = [{k: (int(v) if k == "seed" else float(v)) for k, v in row.items()}
                    for row in read_csv(RunPaths(folder).per_seed)]
        if not per_seed:
            raise WrongRunError(f"{folder} has no finished seed yet (per_seed.csv is missing "
                                "or empty): plot it after its first seed.")
        results.append((_title(config), approximation_table(per_seed), config))
    if not results:
        raise ValueError(f"the {APPROXIMATION_FIGURE} needs at least one run folder.")
    labels = Counter(label for label, _, _ in results)
    return [(f"{label} [{Path(f).name}]" if labels[label] > 1 else label, table, config)
            for f, (label, table, config) in zip(folders, results)]


def _mean_sd(row):
    sd = "–" if math.isnan(row["std"]) else f"{row['std']:.4f}"
    return f"{row['mean']:.4f} ({sd})"


def arbitrary_lr_figure(folders):
    """Theorem 1: train and test accuracy against the epoch for the five configurations,
    one row per run folder. Configuration 3 is dashed over configuration 2: Theorem 1
    says they coincide (the title gives identity.csv's count of differing weights)."""
    from rethink_bnn.experiments.tasks.theory import (CONFIGURATION_LABELS,
                                                      arbitrary_lr_configurations)

    runs = [(Path(f), require(f, (ARBITRARY_LR,), ARBITRARY_LR_FIGURE)) for f in folders]
    if not runs:
        raise ValueError(f"the {ARBITRARY_LR_FIGURE} needs at least one run folder.")
    figure = Figure(figsize=(13, 4.5 * len(runs)), layout="constrained")
    axes = figure.subplots(len(runs), 2, squeeze=False)
    for (run, config), (train_ax, test_ax) in zip(runs, axes):
        scale = config.get("scale", default_scale(config.get("exact", True)))
        drawn = 0
        for index, (name, _, _) in enumerate(arbitrary_lr_configurations(scale)):
            configuration = RunPaths(RunPaths(run).configs / name)  # a run folder each
            if not configuration.csv_log.is_file():
                continue  # not trained yet
            log = epoch_log(configuration.path, ("accuracy", "val_accuracy"),
                            ARBITRARY_LR_FIGURE)
            epochs = np.array([row["epoch"] for row in log])
            style = dict(color=f"C{index}", label=CONFIGURATION_LABELS[name].format(
                s=_power_of_two(scale)), linestyle="--" if index == 2 else "-",
                linewidth=2.5 if index == 1 else 1.5)
            train_ax.plot(epochs, [row["accuracy"] for row in log], **style)
            test_ax.plot(epochs, [row["val_accuracy"] for row in log], **style)
            drawn += 1
        if not drawn:
            raise WrongRunError(f"{run} has no configuration with a logged epoch yet: plot it "
                                "after the first configuration's first epoch.")
        title = f"{_title(config)}, {'exact form' if config.get('exact', True) else 'report form'}"
        train_ax.set_title(f"{title}: train accuracy")
        test_ax.set_title(f"test accuracy ({_identity(run)})", fontsize=10)
        for ax in (train_ax, test_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy")
            ax.grid(alpha=0.3)
        train_ax.legend(loc="best", fontsize=8)
    figure.suptitle("Arbitrary learning rate (Theorem 1): initialization × learning rate")
    return figure


def _identity(run):
    rows = read_csv(RunPaths(run).identity)
    if not rows:
        return "identity of 2 and 3 not yet counted"
    differ = max(int(r["differ_2_3"]) for r in rows)
    return (f"configurations 2 and 3 differ in {differ} binary weights"
            f"{' at every epoch' if differ == 0 else ' at most'}")


def _power_of_two(value):
    exponent = math.log2(value) if value > 0 else 0.5
    return f"$2^{{{int(exponent)}}}$" if exponent == int(exponent) and value < 1 else f"{value:g}"


def _title(config):
    dataset = config.get("dataset", {}).get("class", "?")
    return f"{dataset}, {config.get('epochs', '?')} epochs"


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
    appears whole or not at all."""
    path = Path(path)
    fmt = figure_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=fmt, dpi=dpi)
    return path
