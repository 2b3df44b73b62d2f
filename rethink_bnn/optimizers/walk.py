"""Walking an optimizer: the optimizers inside a LossScaleOptimizer and a CaseOptimizer.

Callbacks, the training loop and tests find Bop (its flip counts, its averages) and the
step-skipping counters through these functions, whatever wraps them.
"""

from rethink_bnn.optimizers.bop import Bop
from rethink_bnn.optimizers.case import CaseOptimizer

__all__ = ["binary_optimizers", "leaf_optimizers", "skip_counters"]


def _unwrapped(optimizer):
    inner = getattr(optimizer, "inner_optimizer", None)  # LossScaleOptimizer
    return optimizer if inner is None else _unwrapped(inner)


def leaf_optimizers(optimizer):
    """The optimizers that update variables, in routing order: a CaseOptimizer's
    sub-optimizers (the default last), through any LossScaleOptimizer."""
    optimizer = _unwrapped(optimizer)
    if isinstance(optimizer, CaseOptimizer):
        return [leaf for sub in optimizer.optimizers for leaf in leaf_optimizers(sub)]
    return [optimizer]


def binary_optimizers(optimizer):
    """The Bop optimizers among `leaf_optimizers(optimizer)`."""
    return [leaf for leaf in leaf_optimizers(optimizer) if isinstance(leaf, Bop)]


def skip_counters(optimizer):
    """The `skipped_steps` counters of the optimizers that check gradients for non-finite
    values (a CaseOptimizer that checks does so for all its sub-optimizers)."""
    optimizer = _unwrapped(optimizer)
    if getattr(optimizer, "skip_non_finite", False):
        return [optimizer.skipped_steps]
    if isinstance(optimizer, CaseOptimizer):
        return [c for sub in optimizer.optimizers for c in skip_counters(sub)]
    return []
