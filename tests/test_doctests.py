"""The docstrings' examples (`>>>`) of the tf-keras front end, the data and the export
run as doctests, so that what the API reference shows is what the code does. The Keras 3
front end's: tests/keras3/test_doctests.py, on each backend."""

import doctest
import importlib

import pytest

# module -> how many examples it holds at least (a doctest deleted by mistake fails here)
MODULES = {
    "rethink_bnn.optimizers.bop": 1,
    "rethink_bnn.optimizers.schedules": 1,
    "rethink_bnn.initializers": 1,
    "rethink_bnn.data.digits": 1,
    "rethink_bnn.export.flatbuffer": 1,
    "rethink_bnn.export.rewrite": 1,
}


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_run_as_written(name):
    if name.startswith("rethink_bnn.export"):
        pytest.importorskip("larq_compute_engine", reason="the export needs LCE")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= MODULES[name]
