"""rethink_bnn: train binarized neural networks with Bop (Helwegen et al., NeurIPS 2019).

Importing this package selects Keras 2 (tf-keras) for TensorFlow, which Larq needs:
import it before TensorFlow, or set TF_USE_LEGACY_KERAS=1 yourself.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2()

from rethink_bnn import callbacks, initializers, optimizers  # noqa: E402
from rethink_bnn.callbacks import BatchMetricLogger, FlipLogger, SkippedStepLogger  # noqa: E402
from rethink_bnn.optimizers import Bop, CaseOptimizer, is_binary_variable  # noqa: E402

__version__ = "0.1.0"

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
