"""Optimizers for binary networks on the current `tf.keras.optimizers.Optimizer` API."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import sys as _sys

from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.optimizers.bop import Bop, bop_update
from rethink_bnn.optimizers.bop2ndorder import Bop2ndOrder, bop2ndorder_update
from rethink_bnn.optimizers.case import CaseOptimizer
from rethink_bnn.optimizers.cema import CEMA, cema_update
from rethink_bnn.optimizers.finite import SkipNonFinite
from rethink_bnn.optimizers.predicates import is_binary_variable
from rethink_bnn.optimizers.walk import (
    binary_optimizers,
    leaf_optimizers,
    skipping_wrappers,
    wrappers,
)

# Everything imported above (a new optimizer: one import line).
__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and not isinstance(value, type(_sys)))
