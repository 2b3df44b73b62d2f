"""Test set-up: Keras 2, two logical CPU devices (for MirroredStrategy), quiet logs."""

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
