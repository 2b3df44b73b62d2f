"""The Keras 3 front end's tests. In this process Keras 3 runs on the backend
KERAS_BACKEND names; by default TensorFlow where it is installed (beside tf-keras, which
the suite's set-up imports with Keras 2), else JAX (./setup.sh keras3: no TensorFlow).
Other backends run in fresh processes (`run_under`). Tests that compare with the
tf-keras front end are skipped where it is not installed, and those that use
TensorFlow's own API where Keras 3 does not run on TensorFlow."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rethink_bnn._keras2 import tf_keras_refusal

TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
os.environ.setdefault("KERAS_BACKEND", "tensorflow" if TENSORFLOW else "jax")  # before Keras

REPO = Path(__file__).resolve().parents[2]

TF_KERAS = tf_keras_refusal() is None  # tensorflow, tf_keras and larq installed
_NO_TF_KERAS = ('compares with the tf-keras front end, not installed here '
                '(pip install "rethink_bnn[tf]")')
# A test comparing the Keras 3 front end with the tf-keras one (`rethink_bnn as rb`).
needs_tf_keras = pytest.mark.skipif(not TF_KERAS, reason=_NO_TF_KERAS)
# A test of TensorFlow's own API (tf.GradientTape, tf.distribute) on Keras 3's backend.
needs_tensorflow_backend = pytest.mark.skipif(
    os.environ["KERAS_BACKEND"] != "tensorflow",
    reason=f"TensorFlow's own API: Keras 3 runs on {os.environ['KERAS_BACKEND']} here")


# A test of steps_per_execution > 1: Keras 3 refuses it on PyTorch ("must be 1 with the
# PyTorch backend"), where every step is its own call, so there is nothing to compare.
several_steps_per_execution = pytest.mark.skipif(
    os.environ["KERAS_BACKEND"] == "torch",
    reason="Keras 3 runs one step per call on PyTorch: steps_per_execution must be 1 there")


def require_tf_keras():
    """Skip the calling test module where the tf-keras front end is not installed."""
    if not TF_KERAS:
        pytest.skip(_NO_TF_KERAS, allow_module_level=True)


def run_under(backend, *arguments, timeout=300, cwd=REPO, **env):
    """`python *arguments` from the repository under KERAS_BACKEND=backend (and `env`);
    the completed process (its return code checked by the caller)."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", **env)
    return subprocess.run([sys.executable, *map(str, arguments)], capture_output=True,
                          text=True, env=environment, cwd=cwd, timeout=timeout)


def backends(*names):
    """pytest params for backends run in fresh processes, each only where installed
    (`./setup.sh` installs TensorFlow and PyTorch's CPU build, `./setup.sh keras3` JAX
    and PyTorch, the core environment TensorFlow and JAX)."""
    return [pytest.param(name, marks=pytest.mark.skipif(
        importlib.util.find_spec(name) is None,
        reason=f"{name} is not installed here")) for name in names]
