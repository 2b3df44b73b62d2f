"""CEMA for Keras 3 (any backend): the rule of the tf-keras `rethink_bnn.optimizers.CEMA`."""

import keras
from keras import ops

from rethink_bnn.core import rules
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["CEMA", "cema_rule"]


def cema_rule(weight, gradient, a, i, gamma, alpha):
    """One CEMA step (`rethink_bnn.core.rules.cema`) in `keras.ops`, as new values:
    `(a_t, i_t, flip)`.

    Examples:
        >>> from keras import ops
        >>> from rethink_bnn.keras3 import cema_rule
        >>> w, g, zeros = ops.array([1.0, 1.0]), ops.array([4.0, -4.0]), ops.zeros(2)
        >>> a, i, flip = cema_rule(w, g, zeros, zeros, gamma=ops.array(0.5), alpha=ops.array(0.5))
        >>> [ops.convert_to_numpy(x).tolist() for x in (a, i, flip)]
        [[2.0, -2.0], [1.0, -1.0], [True, False]]

    Reference:
        Quist, Li, van Gemert, "Understanding weight-magnitude hyperparameters in training
        binary networks", ICLR 2023.
    """
    state, flip = rules.cema(ops, weight, gradient, {"a": a, "i": i},
                             {"gamma": gamma, "alpha": alpha})
    return state["a"], state["i"], flip


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class CEMA(BinaryOptimizer):
    """CEMA for Keras 3: flips a ±1 weight when the average ("inertia") of its filtered
    gradient agrees with it in sign (`cema_rule`); two floats of state per binary
    weight. α is Keras' learning rate.

    One step by hand: with γ = α = 1 the inertia is the gradient, and a weight flips
    where the gradient has the weight's sign:

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import CEMA
        >>> w = keras.Variable([1.0, -1.0, 1.0])
        >>> optimizer = CEMA(gamma=1.0, alpha=1.0)
        >>> _ = optimizer.apply_gradients([(keras.ops.convert_to_tensor([3.0, 3.0, -3.0]), w)])
        >>> keras.ops.convert_to_numpy(w).tolist()
        [-1.0, -1.0, 1.0]
    """

    RULE = rules.CEMA

    def __init__(self, gamma=1e-1, alpha=1e-3, name="CEMA", **kwargs):
        super().__init__(gamma=gamma, alpha=alpha, name=name, **kwargs)
