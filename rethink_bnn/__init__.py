"""rethink_bnn: train binarized neural networks with Bop (Helwegen et al., NeurIPS 2019).

Two front ends to the same optimizers:

- the tf-keras library, built on Larq (`pip install "rethink_bnn[tf]"`):
  `rethink_bnn.Bop`, `rethink_bnn.optimizers`, the callbacks, models, datasets and
  tasks. Importing this package makes `tf.keras` resolve to Keras 2 (tf-keras), which
  Larq needs: import it before TensorFlow, or set TF_USE_LEGACY_KERAS=1 yourself. A
  TF_USE_LEGACY_KERAS you set is left as it is (0 keeps Keras 3, and the tf-keras
  names then say so in one line).
- `rethink_bnn.keras3`: Bop and its successors for Keras 3 on any backend (JAX,
  TensorFlow, PyTorch), which loads neither TensorFlow nor Larq.

This top level imports neither: the tf-keras names load on first use, and as soon as
tf-keras is imported our objects are registered with it (`rethink_bnn.tf_keras_api`).
"""

import importlib
import sys

from rethink_bnn._keras2 import (register_when_loaded, select_keras2, tensorflow_uses_keras2,
                                 tf_keras_refusal)

__version__ = "0.3.0"

select_keras2()

# The tf-keras front end's names, loaded on first use (rethink_bnn.tf_keras_api).
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
        return getattr(importlib.import_module("rethink_bnn.tf_keras_api"), name)
    raise AttributeError(f"module 'rethink_bnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TF_KERAS_NAMES))


def _is_tf_keras_module(name):
    """Our modules but the Keras 3 front end and the plain-Python ones."""
    return name.startswith("rethink_bnn.") and name not in _PLAIN and not name.startswith(
        ("rethink_bnn.keras3", "rethink_bnn.core"))


_PLAIN = ("rethink_bnn._keras2", "rethink_bnn.declarations", "rethink_bnn.core")


def _register():
    tf = sys.modules.get("tensorflow")
    if tf is not None and not tensorflow_uses_keras2(tf):
        return  # a TensorFlow wired to Keras 3: the tf-keras front end is not in use
    try:
        importlib.import_module("rethink_bnn.tf_keras_api")
    except ImportError:
        return  # not installed beside it (tf-keras, Larq): the front end says so when used


# Once tf-keras is loaded, everything of ours a saved model may name is registered with
# it, whichever way it got loaded (not while Keras 3 imports TensorFlow as its backend).
register_when_loaded(_register, ("tensorflow", "tf_keras", "larq"), _is_tf_keras_module)
