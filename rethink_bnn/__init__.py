"""rethink_bnn: train binarized neural networks with Bop (Helwegen et al., NeurIPS 2019).

Importing this package selects Keras 2 (tf-keras) for TensorFlow, which Larq needs:
import it before TensorFlow, or set TF_USE_LEGACY_KERAS=1 yourself.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2()

# Larq registers its layers and quantizers with Keras on import: a saved rethink_bnn
# model then loads after `import rethink_bnn` alone.
import larq  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

from rethink_bnn import callbacks, initializers, optimizers  # noqa: E402
from rethink_bnn.callbacks import BatchMetricLogger, FlipLogger, SkippedStepLogger  # noqa: E402
from rethink_bnn.optimizers import Bop, CaseOptimizer, is_binary_variable  # noqa: E402

__version__ = "0.2.0"


def _register_plain_names():
    """Also register our objects under their plain names, as Larq registers its own.

    The h5 and SavedModel formats look custom objects up by class name alone (e.g.
    `BinaryHeNormal`), the `.keras` format by registered name (`rethink_bnn>...`).
    """
    custom_objects = tf.keras.utils.get_custom_objects()
    for obj in (
        initializers.SignOf,
        initializers.BinaryHeNormal,
        initializers.BinaryGlorotUniform,
        initializers.Scaled,
        is_binary_variable,
    ):
        custom_objects[obj.__name__] = obj


_register_plain_names()

__all__ = [
    "BatchMetricLogger",
    "Bop",
    "CaseOptimizer",
    "FlipLogger",
    "SkippedStepLogger",
    "callbacks",
    "initializers",
    "is_binary_variable",
    "optimizers",
]
