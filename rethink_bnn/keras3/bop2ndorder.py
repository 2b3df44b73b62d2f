"""Bop2ndOrder for Keras 3 (any backend): the rule of the tf-keras
`rethink_bnn.optimizers.Bop2ndOrder`."""

import keras
from keras import ops

from rethink_bnn.declarations import BOP2NDORDER, BOP2NDORDER_EPSILON
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["Bop2ndOrder", "bop2ndorder_rule"]


def bop2ndorder_rule(weight, gradient, m, v, gamma, sigma, threshold, unbiased=False):
    r"""One Bop2ndOrder step, as new values:

        m_t = m_{t-1} + γ (g_t − m_{t-1})
        v_t = v_{t-1} + σ (g_t² − v_{t-1})
        flip w  when  w · m_t / (√v_t + 1e-10) ≥ τ
        (unbiased: w · (m_t / γ) / (√(v_t / σ) + 1e-10) ≥ τ, with this step's γ and σ)

    The expressions of the tf-keras `bop2ndorder_update`, in its order.

    Returns:
        (m_t, v_t, flip).
    """
    m = ops.add(m, ops.multiply(gamma, ops.subtract(gradient, m)))
    v = ops.add(v, ops.multiply(sigma, ops.subtract(ops.square(gradient), v)))
    m_t, v_t = m, v
    if unbiased:
        one = ops.ones_like(gamma)
        # γ = σ = 0 only in a step that changes nothing: divide by 1 there, not 0.
        m_t = ops.divide(m_t, ops.where(gamma > 0, gamma, one))
        v_t = ops.divide(v_t, ops.where(sigma > 0, sigma, one))
    ratio = ops.divide(m_t, ops.add(ops.sqrt(v_t), BOP2NDORDER_EPSILON))
    return m, v, ops.greater_equal(ops.multiply(weight, ratio), threshold)


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class Bop2ndOrder(BinaryOptimizer):
    """Bop2ndOrder for Keras 3: flips a ±1 weight when its average gradient is strong
    relative to the gradient's spread, m / √v ≥ τ (`bop2ndorder_rule`); two floats of
    state per binary weight. γ is Keras' learning rate."""

    RULE = BOP2NDORDER

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, unbiased=False,
                 name="Bop2ndOrder", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, sigma=sigma, unbiased=unbiased,
                         name=name, **kwargs)

    def rule(self, weight, gradient, state, hyperparameters):
        m, v, flip = bop2ndorder_rule(weight, gradient, state["m"], state["v"],
                                      unbiased=self.unbiased, **hyperparameters)
        return (m, v), flip
