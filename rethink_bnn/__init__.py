"""rethink_bnn: train binarized neural networks with Bop (Helwegen et al., NeurIPS 2019).

Two front ends to the same optimizers:

- the tf-keras library, built on Larq (`pip install "rethink_bnn[tf]"`):
  `rethink_bnn.Bop`, `rethink_bnn.optimizers`, the callbacks and networks (the paper's
  tasks, on it, are `rethink_bnn.experiments`). Importing this package makes `tf.keras` resolve to Keras 2 (tf-keras), which
  Larq needs: import it before TensorFlow, or set TF_USE_LEGACY_KERAS=1 yourself. A
  TF_USE_LEGACY_KERAS you set is left as it is (0 keeps Keras 3, and the tf-keras
  names then say so in one line). To load a saved model that names our classes,
  `import rethink_bnn.tf_keras` first (it registers them with tf-keras).
- `rethink_bnn.keras3`: Bop and its successors for Keras 3 on any backend (JAX,
  TensorFlow, PyTorch), which loads neither TensorFlow nor Larq.

This top level imports neither: the tf-keras names load `rethink_bnn.tf_keras` on
first use.
"""

import importlib

from rethink_bnn._keras2 import select_keras2, tf_keras_refusal

__version__ = "0.3.0"

select_keras2()

# The tf-keras front end's names, loaded on first use (rethink_bnn.tf_keras).
_TF_KERAS_NAMES = (
    "BatchMetricLogger",
    "Bop",
    "CaseOptimizer",
    "FlipLogger",
    "SkippedStepLogger",
    "callbacks",
    "initializers",
    "is_binary_variable",
    "optimizers",
)
__all__ = list(_TF_KERAS_NAMES)


def __getattr__(name):
    if name in _TF_KERAS_NAMES:
        refusal = tf_keras_refusal(f"rethink_bnn.{name}")  # without the `tf` extra
        if refusal:
            raise ImportError(refusal)
        return getattr(importlib.import_module("rethink_bnn.tf_keras"), name)
    raise AttributeError(f"module 'rethink_bnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TF_KERAS_NAMES))
