"""Bop for Keras 3 (any backend): the rule of the tf-keras `rethink_bnn.optimizers.Bop`."""

import keras
from keras import ops

from rethink_bnn.core import rules
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["Bop", "bop_rule"]


def bop_rule(weight, gradient, m, gamma, threshold):
    """One Bop step (`rethink_bnn.core.rules.bop`, equations 3 and 4 of the paper) in
    `keras.ops`, as new values: `(m_t, flip)`, the new average and a bool tensor, True
    where the weight flips.

    Examples:
        >>> from keras import ops
        >>> from rethink_bnn.keras3 import bop_rule
        >>> w, g, m = ops.array([1.0, -1.0]), ops.array([2.0, 2.0]), ops.zeros(2)
        >>> m, flip = bop_rule(w, g, m, gamma=ops.array(0.5), threshold=ops.array(0.5))
        >>> ops.convert_to_numpy(m).tolist(), ops.convert_to_numpy(flip).tolist()
        ([1.0, 1.0], [True, False])

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, Algorithm 1 (Bop).
    """
    state, flip = rules.bop(ops, weight, gradient, {"m": m},
                            {"gamma": gamma, "threshold": threshold})
    return state["m"], flip


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class Bop(BinaryOptimizer):
    """Binary optimizer (Bop) for Keras 3: flips a ±1 weight when the moving average of
    its gradient is at least τ and has the weight's sign (`bop_rule`). No latent
    weights; one float of state per binary weight. γ is Keras' learning rate, so
    learning-rate schedules and callbacks act on it. Route binary kernels to it with
    `keras.optimizers.MultiOptimizer(rethink_bnn.keras3.BinaryOptimizerMap(Bop(), Adam()))`.

    One step by hand: with γ = 1 the average is the gradient, and a weight flips where
    the average has the weight's sign and reaches τ (Helwegen et al., NeurIPS 2019,
    Algorithm 1):

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import Bop
        >>> w = keras.Variable([1.0, -1.0, 1.0])
        >>> bop = Bop(threshold=0.5, gamma=1.0)
        >>> _ = bop.apply_gradients([(keras.ops.convert_to_tensor([1.0, 1.0, -1.0]), w)])
        >>> keras.ops.convert_to_numpy(w).tolist()
        [-1.0, -1.0, 1.0]
        >>> keras.ops.convert_to_numpy(bop.flip_counts).tolist()
        [1]
    """

    RULE = rules.BOP

    def __init__(self, threshold=1e-8, gamma=1e-4, name="Bop", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, name=name, **kwargs)
