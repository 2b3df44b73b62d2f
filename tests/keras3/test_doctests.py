"""The Keras 3 front end's docstring examples (`>>>`) run as doctests on the backend
this process runs (CI: JAX and PyTorch; the README's suite: TensorFlow), each as a reader
runs it; and every public class and function of it shows one."""

import keras
import pytest

from tests.doctests import run_examples, without_examples
from tests.test_docs import PUBLIC

# module -> how many of its docstrings hold examples at least
MODULES = {
    "rethink_bnn.keras3.augmentation": 3,
    "rethink_bnn.keras3.binary": 1,
    "rethink_bnn.keras3.bop": 2,
    "rethink_bnn.keras3.bop2ndorder": 2,
    "rethink_bnn.keras3.callbacks": 2,
    "rethink_bnn.keras3.cema": 2,
    "rethink_bnn.keras3.finite": 1,
    "rethink_bnn.keras3.initializers": 3,
    "rethink_bnn.keras3.layers": 2,
    "rethink_bnn.keras3.networks": 4,
    "rethink_bnn.keras3.quantizers": 4,
    "rethink_bnn.keras3.routing": 1,
    "rethink_bnn.keras3.schedules": 1,
    "rethink_bnn.keras3.step_metrics": 1,
}
# On JAX every initializer of a new shape compiles: building BinaryNet and the MNIST net
# layer by layer takes 8 CPU-seconds there (under 1 on TensorFlow and PyTorch), and
# tests/keras3/test_networks.py builds them on JAX already.
NOT_ON_JAX = ("rethink_bnn.keras3.networks",)


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_run_as_written(name, tmp_path):
    if name in NOT_ON_JAX and keras.backend.backend() == "jax":
        pytest.skip("builds whole networks: 8 CPU-seconds on JAX (NOT_ON_JAX)")
    run_examples(name, MODULES[name], tmp_path)


@pytest.mark.parametrize("name", [m for m in PUBLIC if m.startswith("rethink_bnn.keras3")])
def test_every_public_class_and_function_shows_an_example_that_runs(name):
    missing, not_run = without_examples([name], MODULES)
    assert not missing, f"give {missing} an Examples: section"
    assert not not_run, f"add their modules to MODULES: {not_run}"
