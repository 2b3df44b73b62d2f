"""The docstrings' examples (`>>>`) of the tf-keras front end, the data, the figures and
the export run as doctests, each as a reader runs it (it imports what it uses), so that
what the API reference shows is what the code does; and every public class and function
shows one. The Keras 3 front end's: tests/keras3/test_doctests.py, on each backend."""

import pytest

from tests.doctests import run_examples, without_examples
from tests.test_docs import PUBLIC

# module -> how many of its docstrings hold examples at least
MODULES = {
    "rethink_bnn.callbacks": 3,
    "rethink_bnn.data.digits": 1,
    "rethink_bnn.events": 1,
    "rethink_bnn.initializers": 4,
    "rethink_bnn.models.imagenet": 1,
    "rethink_bnn.models.kernels": 2,
    "rethink_bnn.models.networks": 3,
    "rethink_bnn.optimizers.binary": 1,
    "rethink_bnn.optimizers.bop": 2,
    "rethink_bnn.optimizers.bop2ndorder": 2,
    "rethink_bnn.optimizers.case": 1,
    "rethink_bnn.optimizers.cema": 2,
    "rethink_bnn.optimizers.finite": 1,
    "rethink_bnn.optimizers.predicates": 1,
    "rethink_bnn.optimizers.schedules": 1,
    "rethink_bnn.optimizers.walk": 4,
    "rethink_bnn.export.exporter": 2,
    "rethink_bnn.export.flatbuffer": 1,
    "rethink_bnn.export.lce": 1,
    "rethink_bnn.export.rewrite": 1,
    "rethink_bnn.export.runs": 1,
    "rethink_bnn.plot.figures": 4,
    "rethink_bnn.plot.runs": 2,
    "rethink_bnn.plot.theory_figures": 3,
}
# The figures, the export and the ImageNet networks need the experiments extra (the
# export LCE too, the networks larq-zoo).
EXPERIMENTS = ("rethink_bnn.plot", "rethink_bnn.export", "rethink_bnn.models.imagenet")

# Public classes and functions that show no example, each with why.
NO_EXAMPLE = {
    "rethink_bnn.export.export_run": "needs a trained run folder: a training and an LCE "
                                     "conversion, 4 CPU-seconds; tests/test_export.py "
                                     "exports real runs (the module docstring shows the call)",
    "rethink_bnn.export.summary_lines": "formats the report of export_run (see there)",
}


def _params(names):
    return [pytest.param(name, marks=pytest.mark.experiments) if name.startswith(EXPERIMENTS)
            else name for name in names]


@pytest.mark.parametrize("name", _params(MODULES))
def test_the_docstring_examples_run_as_written(name, tmp_path):
    if name.startswith("rethink_bnn.export"):
        pytest.importorskip("larq_compute_engine", reason="the export needs LCE")
    run_examples(name, MODULES[name], tmp_path)


@pytest.mark.parametrize("name", _params(m for m in PUBLIC
                                         if not m.startswith("rethink_bnn.keras3")))
def test_every_public_class_and_function_shows_an_example_that_runs(name):
    missing, not_run = without_examples([name], MODULES, NO_EXAMPLE)
    assert not missing, f"give {missing} an Examples: section (or say why not in NO_EXAMPLE)"
    assert not not_run, f"add their modules to MODULES: {not_run}"
