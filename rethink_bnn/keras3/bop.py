"""Bop for Keras 3 (any backend): the rule of the tf-keras `rethink_bnn.optimizers.Bop`."""

import keras
from keras import ops

from rethink_bnn.declarations import BOP
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["Bop", "bop_rule"]

_TINY = 1.1754943508222875e-38  # float32's smallest normal: see the tf-keras bop_update


def bop_rule(weight, gradient, m, gamma, threshold):
    r"""One Bop step (equations 3 and 4 of the paper), as new values:

        m_t = (1 - γ) m_{t-1} + γ g_t
        w_t = -w_{t-1}   if |m_t| >= τ and sign(m_t) == sign(w_{t-1})
        w_t =  w_{t-1}   otherwise

    `m_t` is computed as `m - γ (m - g)` and the flip condition as `w m - max(τ, tiny)
    >= 0`: the float32 arithmetic of the tf-keras `bop_update` (and of Larq's Bop), so
    that both give the same averages and flips.

    Returns:
        (m_t, flip): the new average and a bool tensor, True where the weight flips.
    """
    m = ops.subtract(m, ops.multiply(gamma, ops.subtract(m, gradient)))
    floor = ops.maximum(threshold, ops.cast(_TINY, threshold.dtype))
    return m, ops.greater_equal(ops.subtract(ops.multiply(weight, m), floor), 0)


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class Bop(BinaryOptimizer):
    """Binary optimizer (Bop) for Keras 3: flips a ±1 weight when the moving average of
    its gradient is at least τ and has the weight's sign (`bop_rule`). No latent
    weights; one float of state per binary weight. γ is Keras' learning rate, so
    learning-rate schedules and callbacks act on it. Route binary kernels to it with
    `keras.optimizers.MultiOptimizer(rethink_bnn.keras3.BinaryOptimizerMap(Bop(), Adam()))`."""

    RULE = BOP

    def __init__(self, threshold=1e-8, gamma=1e-4, name="Bop", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, name=name, **kwargs)

    def rule(self, weight, gradient, state, hyperparameters):
        m, flip = bop_rule(weight, gradient, state["m"], **hyperparameters)
        return (m,), flip
