"""The figures of the paper's theory as the reproducibility report tested it (sec 3.1):
the approximation-viewpoint table and chart, and Theorem 1's arbitrary learning rate;
each drawn from run folders as `figures` draws the experiments'."""

import math
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rethink_bnn.experiments.runs.files import markdown_table, read_csv
from rethink_bnn.experiments.runs.layout import RunPaths
from rethink_bnn.experiments.tasks.sec3_1_theory import default_scale
from rethink_bnn.plot.runs import (APPROXIMATION, ARBITRARY_LR, WrongRunError, epoch_log,
                                   require, run_title)

__all__ = ["approximation_figure", "approximation_markdown", "arbitrary_lr_figure"]

APPROXIMATION_FIGURE, ARBITRARY_LR_FIGURE = "approximation table", "arbitrary-lr figure"


def approximation_markdown(folders):
    """The approximation-viewpoint table in Markdown: mean (standard deviation) per row,
    one column per run folder, and each run's one-way ANOVA across the rows.

    A run folder's config.json and per_seed.csv, as the task writes them:

    Examples:
        >>> import json, pathlib, tempfile
        >>> from rethink_bnn import plot
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (run / "config.json").write_text(json.dumps({"task": "approximation_viewpoint",
        ...     "kind": "approximation_viewpoint", "epochs": 6, "dataset": {"class": "Mnist"}}))
        >>> _ = (run / "per_seed.csv").write_text(
        ...     "seed,binary,latent,latent+retrained BN\\n0,0.95,0.10,0.98\\n1,0.97,0.11,0.98\\n")
        >>> print(plot.approximation_markdown([run]).splitlines()[4])
        | binary | 0.9600 (0.0141) |

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.1.1 and
        4.1.1.
    """
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
    error bars of one standard deviation, each seed as a dot, chance as a dotted line.

    Examples:
        >>> import json, pathlib, tempfile
        >>> from rethink_bnn import plot
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (run / "config.json").write_text(json.dumps(
        ...     {"task": "approximation_viewpoint", "kind": "approximation_viewpoint"}))
        >>> _ = (run / "per_seed.csv").write_text(
        ...     "seed,binary,latent,latent+retrained BN\\n0,0.5,0.25,0.75\\n1,0.5,0.25,0.75\\n")
        >>> [bar.get_height() for bar in plot.approximation_figure([run]).axes[0].patches]
        [0.5, 0.25, 0.75]

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.1.1 and
        4.1.1.
    """
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
        results.append((run_title(config), approximation_table(per_seed), config))
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
    says they coincide (the title gives identity.csv's count of differing weights).

    A run folder with two configurations' logs, as the task writes them:

    Examples:
        >>> import json, pathlib, tempfile
        >>> from rethink_bnn import plot
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (run / "config.json").write_text(json.dumps({"task": "arbitrary_lr",
        ...                                                  "kind": "arbitrary_lr"}))
        >>> for name in ("glorot_sgd_1", "scaled_glorot_sgd_scale"):
        ...     (run / "configs" / name).mkdir(parents=True)
        ...     _ = (run / "configs" / name / "log.csv").write_text(
        ...         "epoch,accuracy,val_accuracy\\n1,0.8,0.7\\n")
        >>> figure = plot.arbitrary_lr_figure([run])
        >>> [line.get_label() for line in figure.axes[0].lines]
        ['2: Glorot, SGD 1', '3: Glorot × $2^{-7}$, SGD $2^{-7}$']

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, Theorem 1; tested as in Vaessen, Mastnak, Budaraju,
        "[Re] Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.1.2 and 4.1.2.
    """
    runs = [(Path(f), require(f, (ARBITRARY_LR,), ARBITRARY_LR_FIGURE)) for f in folders]
    if not runs:
        raise ValueError(f"the {ARBITRARY_LR_FIGURE} needs at least one run folder.")
    figure = Figure(figsize=(13, 4.5 * len(runs)), layout="constrained")
    axes = figure.subplots(len(runs), 2, squeeze=False)
    for (run, config), (train_ax, test_ax) in zip(runs, axes):
        scale = config.get("scale", default_scale(config.get("exact", True)))
        if not _configurations(run, scale, train_ax, test_ax):
            raise WrongRunError(f"{run} has no configuration with a logged epoch yet: plot it "
                                "after the first configuration's first epoch.")
        form = "exact form" if config.get("exact", True) else "report form"
        title = f"{run_title(config)}, {form}"
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


def _configurations(run, scale, train_ax, test_ax):
    """Draw each configuration's train and test accuracy that has a logged epoch; return
    how many."""
    from rethink_bnn.experiments.tasks.theory import (CONFIGURATION_LABELS,
                                                      arbitrary_lr_configurations)

    drawn = 0
    for index, (name, _, _) in enumerate(arbitrary_lr_configurations(scale)):
        configuration = RunPaths(RunPaths(run).configs / name)  # a run folder each
        if not configuration.csv_log.is_file():
            continue  # not trained yet
        log = epoch_log(configuration.path, ("accuracy", "val_accuracy"), ARBITRARY_LR_FIGURE)
        epochs = np.array([row["epoch"] for row in log])
        style = dict(color=f"C{index}", label=CONFIGURATION_LABELS[name].format(
            s=_power_of_two(scale)), linestyle="--" if index == 2 else "-",
            linewidth=2.5 if index == 1 else 1.5)
        train_ax.plot(epochs, [row["accuracy"] for row in log], **style)
        test_ax.plot(epochs, [row["val_accuracy"] for row in log], **style)
        drawn += 1
    return drawn


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
