"""The Keras 3 front end's tests. In this process Keras 3 runs on TensorFlow beside
tf-keras (TensorFlow is imported with Keras 2 by the suite's set-up); other backends run
in fresh processes (`run_under`)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"  # this process's Keras 3, before it loads

REPO = Path(__file__).resolve().parents[2]


def run_under(backend, *arguments, timeout=300, cwd=REPO):
    """`python *arguments` from the repository under KERAS_BACKEND=backend; the
    completed process (its return code checked by the caller)."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, *map(str, arguments)], capture_output=True,
                          text=True, env=environment, cwd=cwd, timeout=timeout)


def backends(*names):
    """pytest params for backends run in fresh processes; PyTorch only where installed
    (`./setup.sh` installs its CPU build; the core environment has none)."""
    import pytest

    return [pytest.param(name, marks=pytest.mark.skipif(
        importlib.util.find_spec(name) is None,
        reason=f"{name} is not installed here (./setup.sh installs it)")) for name in names]
