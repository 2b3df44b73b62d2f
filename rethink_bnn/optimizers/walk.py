"""Walking an optimizer: what is inside a LossScaleOptimizer, SkipNonFinite and CaseOptimizer.

Callbacks, the training loop and tests find the binary optimizers (their flip counts,
their state) and the skipped-step counters through these functions, whatever wraps them.
"""

import tensorflow as tf

from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.optimizers.case import CaseOptimizer
from rethink_bnn.optimizers.finite import SkipNonFinite

__all__ = ["SkipCounter", "binary_optimizers", "leaf_optimizers", "skip_counters",
           "wrappers"]


def wrappers(optimizer):
    """`optimizer` and each optimizer it wraps (LossScaleOptimizer, SkipNonFinite), outermost
    first, down to the first that wraps nothing."""
    chain = [optimizer]
    while getattr(chain[-1], "inner_optimizer", None) is not None:
        chain.append(chain[-1].inner_optimizer)
    return chain


def leaf_optimizers(optimizer):
    """The optimizers that update variables, in routing order: a CaseOptimizer's
    sub-optimizers (the default last), through any wrapper."""
    optimizer = wrappers(optimizer)[-1]
    if isinstance(optimizer, CaseOptimizer):
        return [leaf for sub in optimizer.optimizers for leaf in leaf_optimizers(sub)]
    return [optimizer]


def binary_optimizers(optimizer):
    """The binary optimizers (Bop and its successors) among `leaf_optimizers(optimizer)`."""
    return [leaf for leaf in leaf_optimizers(optimizer) if isinstance(leaf, BinaryOptimizer)]


class SkipCounter:
    """The `skipped_steps` of one `SkipNonFinite`, read anew at every use.

    `skipped_steps` is computed when read (iterations - applied steps), so in eager mode
    the tensor it returns holds the count of that moment; a caller that keeps a counter
    and reads it every epoch (`SkippedStepLogger`) needs this view instead. `numpy()`,
    `int()` and `tf.convert_to_tensor` (so any TF op) give the current int64 count.
    """

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def read_value(self):
        """The current count, an int64 scalar tensor (0 until the wrapper is built)."""
        return self.wrapper.skipped_steps

    def numpy(self):
        return self.read_value().numpy()

    def __int__(self):
        return int(self.numpy())

    def __repr__(self):
        return f"<SkipCounter of SkipNonFinite({self.wrapper.name}): {int(self)}>"


tf.register_tensor_conversion_function(
    SkipCounter,
    lambda value, dtype=None, name=None, as_ref=False: tf.convert_to_tensor(
        value.read_value(), dtype=dtype, name=name))


def skip_counters(optimizer):
    """The skipped-step counts of the `SkipNonFinite` wrappers in `optimizer`, each a
    `SkipCounter` (a live view of its `skipped_steps`): none if nothing checks
    gradients for non-finite values."""
    found = [w for w in wrappers(optimizer) if isinstance(w, SkipNonFinite)]
    inner = wrappers(optimizer)[-1]
    if isinstance(inner, CaseOptimizer):
        found += [w for sub in inner.optimizers for w in wrappers(sub)
                  if isinstance(w, SkipNonFinite)]
    return [SkipCounter(w) for w in found]
