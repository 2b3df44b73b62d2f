"""Bop2ndOrder for Keras 3 (any backend): the rule of the tf-keras
`rethink_bnn.optimizers.Bop2ndOrder`."""

import keras
from keras import ops

from rethink_bnn.core import rules
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["Bop2ndOrder", "bop2ndorder_rule"]


def bop2ndorder_rule(weight, gradient, m, v, gamma, sigma, threshold, unbiased=False):
    """One Bop2ndOrder step (`rethink_bnn.core.rules.bop2ndorder`) in `keras.ops`, as
    new values: `(m_t, v_t, flip)`.

    Examples:
        >>> from keras import ops
        >>> from rethink_bnn.keras3 import bop2ndorder_rule
        >>> w, g, zeros, half = ops.array([1.0, 1.0]), ops.array([1.0, -1.0]), ops.zeros(2), 0.5
        >>> m, v, flip = bop2ndorder_rule(w, g, zeros, zeros, ops.array(half), ops.array(half),
        ...                               threshold=ops.array(half))  # w m / √v = ±0.71
        >>> [ops.convert_to_numpy(x).tolist() for x in (m, v, flip)]
        [[0.5, -0.5], [0.5, 0.5], [True, False]]

    Reference:
        Suarez-Ramirez, Gonzalez-Mendoza, Chang-Fernandez, "Bop and Beyond: A Second Order
        Optimizer for Binarized Neural Networks", CVPR Workshops 2021.
    """
    state, flip = rules.bop2ndorder(ops, weight, gradient, {"m": m, "v": v},
                                    {"gamma": gamma, "sigma": sigma, "threshold": threshold},
                                    unbiased=unbiased)
    return state["m"], state["v"], flip


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class Bop2ndOrder(BinaryOptimizer):
    """Bop2ndOrder for Keras 3: flips a ±1 weight when its average gradient is strong
    relative to the gradient's spread, m / √v ≥ τ (`bop2ndorder_rule`); two floats of
    state per binary weight. γ is Keras' learning rate.

    One step by hand: with γ = σ = 1, m / √v is the gradient's sign, so a weight flips
    where the gradient has the weight's sign:

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import Bop2ndOrder
        >>> w = keras.Variable([1.0, -1.0, 1.0])
        >>> optimizer = Bop2ndOrder(threshold=0.5, gamma=1.0, sigma=1.0)
        >>> _ = optimizer.apply_gradients([(keras.ops.convert_to_tensor([3.0, 3.0, -3.0]), w)])
        >>> keras.ops.convert_to_numpy(w).tolist()
        [-1.0, -1.0, 1.0]
    """

    RULE = rules.BOP2NDORDER

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, unbiased=False,
                 name="Bop2ndOrder", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, sigma=sigma, unbiased=unbiased,
                         name=name, **kwargs)
