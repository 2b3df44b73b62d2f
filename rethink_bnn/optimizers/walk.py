"""Walking an optimizer: what is inside a LossScaleOptimizer, SkipNonFinite and CaseOptimizer.

Callbacks, the training loop and tests find the binary optimizers (their flip counts,
their state) and the skipped-step counters through these functions, whatever wraps them.
"""

from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.optimizers.case import CaseOptimizer
from rethink_bnn.optimizers.finite import SkipNonFinite

__all__ = ["binary_optimizers", "leaf_optimizers", "skipping_wrappers", "wrappers"]


def wrappers(optimizer):
    """`optimizer` and each optimizer it wraps (LossScaleOptimizer, SkipNonFinite), outermost
    first, down to the first that wraps nothing.

    Examples:
        >>> from rethink_bnn.optimizers import Bop, SkipNonFinite, wrappers
        >>> [type(o).__name__ for o in wrappers(SkipNonFinite(Bop()))]
        ['SkipNonFinite', 'Bop']
    """
    chain = [optimizer]
    while getattr(chain[-1], "inner_optimizer", None) is not None:
        chain.append(chain[-1].inner_optimizer)
    return chain


def leaf_optimizers(optimizer):
    """The optimizers that update variables, in routing order: a CaseOptimizer's
    sub-optimizers (the default last), through any wrapper.

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import Bop, CaseOptimizer, SkipNonFinite, leaf_optimizers
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> case = CaseOptimizer((is_binary_variable, Bop()),
        ...                      default_optimizer=tf.keras.optimizers.Adam())
        >>> [type(o).__name__ for o in leaf_optimizers(SkipNonFinite(case))]
        ['Bop', 'Adam']
    """
    optimizer = wrappers(optimizer)[-1]
    if isinstance(optimizer, CaseOptimizer):
        return [leaf for sub in optimizer.optimizers for leaf in leaf_optimizers(sub)]
    return [optimizer]


def binary_optimizers(optimizer):
    """The binary optimizers (Bop and its successors) among `leaf_optimizers(optimizer)`.

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import Bop, CaseOptimizer, SkipNonFinite, binary_optimizers
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> case = CaseOptimizer((is_binary_variable, Bop()),
        ...                      default_optimizer=tf.keras.optimizers.Adam())
        >>> [type(o).__name__ for o in binary_optimizers(SkipNonFinite(case))]
        ['Bop']
    """
    return [leaf for leaf in leaf_optimizers(optimizer) if isinstance(leaf, BinaryOptimizer)]


def skipping_wrappers(optimizer):
    """The `SkipNonFinite` wrappers in `optimizer` (around it, or around a
    CaseOptimizer's sub-optimizer), outermost first: none if nothing checks gradients
    for non-finite values. Each one's `skipped_steps` is its count when read.

    Examples:
        >>> from rethink_bnn.optimizers import Bop, SkipNonFinite, skipping_wrappers
        >>> optimizer = SkipNonFinite(Bop())
        >>> skipping_wrappers(optimizer) == [optimizer], skipping_wrappers(Bop())
        (True, [])
    """
    found = [w for w in wrappers(optimizer) if isinstance(w, SkipNonFinite)]
    inner = wrappers(optimizer)[-1]
    if isinstance(inner, CaseOptimizer):
        found += [w for sub in inner.optimizers for w in wrappers(sub)
                  if isinstance(w, SkipNonFinite)]
    return found
