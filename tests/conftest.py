"""Test set-up: Keras 2, two logical CPU devices (for MirroredStrategy), quiet logs; small
real run folders of every kind the figures read, made once per session when asked for."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import rethink_bnn  # noqa: E402,F401  (selects Keras 2 before TensorFlow loads)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow initializes its devices, i.e. before any op runs.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    yield

# Bit-for-bit comparisons between runs need deterministic kernels.
tf.config.experimental.enable_op_determinism()

# After the device set-up: these import the package's models and tasks.
from tests.data.test_archives import needs_fashion  # noqa: E402
from tests.test_experiments import run_task  # noqa: E402


# --- run folders (tests/plot, and the sweep in tests/test_experiments.py) ---------------

# Digits at batch 32: 320 examples make 10 steps per epoch.
DIGITS = {"dataset.train_limit": 320, "batch_size": 32}


@pytest.fixture(scope="session")
def sweep_run(tmp_path_factory):
    """bop_sweep over the authors' grid with `demo` points, 3 epochs each, per-step logs."""
    folder = tmp_path_factory.mktemp("bop_sweep")
    run_task("bop_sweep", point="Demo", run_dir=str(folder), processes=2,
             **{"point.epochs": 3, "point.flip_log_freq": 1, "point.step_log_freq": 1,
                **{f"point.{k}": v for k, v in DIGITS.items()}})
    return folder


@pytest.fixture(scope="session")
def training_run(tmp_path_factory):
    """`demo` for 5 epochs with γ × 0.1 every 2 epochs: γ changes after epochs 2 and 4."""
    folder = tmp_path_factory.mktemp("training") / "demo"
    run_task("demo", epochs=5, gamma_decay_epochs=2, run_dir=str(folder), **DIGITS)
    return folder


def _on_fashion_mnist(tmp_path_factory, task, **config):
    skip, reason = needs_fashion.mark.args[0], needs_fashion.mark.kwargs["reason"]
    if skip:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp(task)
    run_task(task, dataset="FashionMnist", run_dir=str(folder), **config)
    return folder


@pytest.fixture(scope="session")
def approximation_run(tmp_path_factory):
    """approximation_viewpoint on Fashion-MNIST: 2 seeds, 1 epoch, 2000 examples."""
    return _on_fashion_mnist(tmp_path_factory, "approximation_viewpoint", epochs=1, seeds=2,
                             **{"dataset.train_limit": 2000})


@pytest.fixture(scope="session")
def arbitrary_lr_run(tmp_path_factory):
    """arbitrary_lr (exact form) on Fashion-MNIST: 2 epochs of 50 steps, every step's
    weights of configurations 1, 2 and 3 compared (tests/test_theory.py)."""
    return _on_fashion_mnist(tmp_path_factory, "arbitrary_lr", epochs=2, batch_size=10,
                             compare_every_step=True, **{"dataset.train_limit": 500})


class _Runs:
    """The run folders by kind, each made (or skipped for lack of Fashion-MNIST) only when
    a test reads it: a test that uses digits runs only needs no Fashion-MNIST."""

    KINDS = ("sweep", "training", "approximation", "arbitrary_lr")

    def __init__(self, request):
        self._request = request

    def __getitem__(self, kind):
        return self._request.getfixturevalue(f"{kind}_run")


@pytest.fixture
def all_runs(request):
    return _Runs(request)
