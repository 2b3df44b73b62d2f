"""CEMA for Keras 3 (any backend): the rule of the tf-keras `rethink_bnn.optimizers.CEMA`."""

import keras
from keras import ops

from rethink_bnn.declarations import CEMA as RULE
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["CEMA", "cema_rule"]


def cema_rule(weight, gradient, a, i, gamma, alpha):
    r"""One CEMA step, as new values:

        a_t = (1 − γ) a_{t-1} + γ g_t
        i_t = (1 − α) i_{t-1} + α a_t
        flip w  when  i_t · w > 0

    computed as written (the tf-keras `cema_update`); α = 0 flips nothing.

    Returns:
        (a_t, i_t, flip).
    """
    a = ops.add(ops.multiply(ops.subtract(1, gamma), a), ops.multiply(gamma, gradient))
    i = ops.add(ops.multiply(ops.subtract(1, alpha), i), ops.multiply(alpha, a))
    return a, i, ops.logical_and(ops.multiply(i, weight) > 0, alpha > 0)


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class CEMA(BinaryOptimizer):
    """CEMA for Keras 3: flips a ±1 weight when the average ("inertia") of its filtered
    gradient agrees with it in sign (`cema_rule`); two floats of state per binary
    weight. α is Keras' learning rate."""

    RULE = RULE

    def __init__(self, gamma=1e-1, alpha=1e-3, name="CEMA", **kwargs):
        super().__init__(gamma=gamma, alpha=alpha, name=name, **kwargs)

    def rule(self, weight, gradient, state, hyperparameters):
        a, i, flip = cema_rule(weight, gradient, state["a"], state["i"], **hyperparameters)
        return (a, i), flip
