"""CEMA for Keras 3 (any backend): the rule of the tf-keras `rethink_bnn.optimizers.CEMA`."""

import keras
from keras import ops

from rethink_bnn.core import rules
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["CEMA", "cema_rule"]


def cema_rule(weight, gradient, a, i, gamma, alpha):
    """One CEMA step (`rethink_bnn.core.rules.cema`) in `keras.ops`, as new values:
    `(a_t, i_t, flip)`."""
    state, flip = rules.cema(ops, weight, gradient, {"a": a, "i": i},
                             {"gamma": gamma, "alpha": alpha})
    return state["a"], state["i"], flip


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class CEMA(BinaryOptimizer):
    """CEMA for Keras 3: flips a ±1 weight when the average ("inertia") of its filtered
    gradient agrees with it in sign (`cema_rule`); two floats of state per binary
    weight. α is Keras' learning rate."""

    RULE = rules.CEMA

    def __init__(self, gamma=1e-1, alpha=1e-3, name="CEMA", **kwargs):
        super().__init__(gamma=gamma, alpha=alpha, name=name, **kwargs)
