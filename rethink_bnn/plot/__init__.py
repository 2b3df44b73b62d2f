"""The paper's figures and tables from run folders: `python -m rethink_bnn.plot FIGURE RUN_DIR`.

    from rethink_bnn import plot
    figure = plot.sweep_figure(["runs/bop_sweep"], sigma=100)    # sec 5.1
    plot.save(figure, "sweep.png")
    plot.training_figure(["runs/cifar10_bop"])                    # sec 5.2
    print(plot.approximation_markdown(["runs/approximation_viewpoint"]))
    plot.approximation_figure(["runs/approximation_viewpoint"])
    plot.arbitrary_lr_figure(["runs/arbitrary_lr"])

A folder holding no run of the kind a figure needs raises `WrongRunError` (a
`ValueError`) that says what it holds and which figure draws it.
"""

from rethink_bnn.experiments.extra import PLOT_MODULES, require_experiments

require_experiments("rethink_bnn.plot", PLOT_MODULES)  # no TensorFlow: either front end's runs

from rethink_bnn.plot.figures import (  # noqa: E402
    FORMATS,
    save,
    smooth,
    sweep_figure,
    training_figure,
)
from rethink_bnn.plot.runs import WrongRunError, kind_of, read_scalars  # noqa: E402
from rethink_bnn.plot.theory_figures import (  # noqa: E402
    approximation_figure,
    approximation_markdown,
    arbitrary_lr_figure,
)

__all__ = [
    "FORMATS",
    "WrongRunError",
    "approximation_figure",
    "approximation_markdown",
    "arbitrary_lr_figure",
    "kind_of",
    "read_scalars",
    "save",
    "smooth",
    "sweep_figure",
    "training_figure",
]
