"""Optimizers for binary networks on the current `tf.keras.optimizers.Optimizer` API."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

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

# Spelled out, so that the docs read it without importing TensorFlow.
__all__ = ["BinaryOptimizer", "Bop", "Bop2ndOrder", "CEMA", "CaseOptimizer", "SkipNonFinite",
           "binary_optimizers", "bop2ndorder_update", "bop_update", "cema_update",
           "is_binary_variable", "leaf_optimizers", "skipping_wrappers", "wrappers"]
