"""The Keras 3 front end's docstring examples (`>>>`) run as doctests on the backend
this process runs (CI: JAX and PyTorch; the README's suite: TensorFlow)."""

import doctest
import importlib

import pytest

MODULES = {"rethink_bnn.keras3.bop": 1, "rethink_bnn.keras3.layers": 1,
           "rethink_bnn.keras3.schedules": 1}


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_run_as_written(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= MODULES[name]
