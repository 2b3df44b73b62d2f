"""Bop2ndOrder: Bop with a second moving average, of the squared gradient (Suarez-Ramirez et al.)."""

import tensorflow as tf

from rethink_bnn.declarations import BOP2NDORDER as RULE, BOP2NDORDER_EPSILON as EPSILON
from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.optimizers.flips import flip_where

__all__ = ["Bop2ndOrder", "bop2ndorder_update"]


def bop2ndorder_update(weight, m, v, gradient, gamma, sigma, threshold, unbiased=False):
    r"""Apply one Bop2ndOrder step in place to a ±1 `weight` and its averages `m`, `v`.

        m_t = m_{t-1} + γ (g_t − m_{t-1})
        v_t = v_{t-1} + σ (g_t² − v_{t-1})
        flip w  when  w · m_t / (√v_t + 1e-10) ≥ τ
        (unbiased: w · (m_t / γ) / (√(v_t / σ) + 1e-10) ≥ τ, with this step's γ and σ)

    The float32 expressions of its authors' code, in their order (`m + γ (g − m)` by an
    in-place add); `m`, `v` and the comparison run in `m`'s dtype (float32 for float16
    and bfloat16 weights), the weight in its own.

    Args:
        weight: variable holding exactly ±1.
        m, v: variables of the weight's shape: the averages of the gradient and of its
            square.
        gradient: dense gradient of the loss with respect to `weight`.
        gamma, sigma, threshold: scalar tensors of `m`'s dtype. γ = σ = 0 and τ = ∞
            change nothing (what an invalid step gets).
        unbiased: the bias-corrected form.

    Returns:
        The number of weights flipped (int64 scalar tensor).
    """
    gradient = tf.cast(gradient, m.dtype)
    m.assign_add(gamma * (gradient - m))
    v.assign_add(sigma * (tf.math.square(gradient) - v))
    m_t, v_t = tf.convert_to_tensor(m), tf.convert_to_tensor(v)
    if unbiased:
        one = tf.ones_like(gamma)
        # γ = σ = 0 only in a step that changes nothing: divide by 1 there, not 0.
        m_t = m_t / tf.where(gamma > 0, gamma, one)
        v_t = v_t / tf.where(sigma > 0, sigma, one)
    w = tf.cast(tf.convert_to_tensor(weight), m.dtype)
    flip = w * (m_t / (tf.math.sqrt(v_t) + EPSILON)) >= threshold
    return flip_where(weight, flip, m.dtype)


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Bop2ndOrder(BinaryOptimizer):
    r"""Bop2ndOrder: flips a weight when its average gradient is strong *relative to the
    gradient's spread* (`bop2ndorder_update`).

    Besides Bop's average m of the gradient (rate γ) it keeps an average v of the
    squared gradient (rate σ) and compares m / √v, a signal-to-noise ratio, with τ: two
    floats of state per binary weight. The weights stay exactly ±1. Use it as Bop, in a
    `CaseOptimizer` (binary kernels) wrapped in `SkipNonFinite`. γ plays the learning
    rate's part; `gamma`, `sigma` and `threshold` report the latest step's values.

    Args:
        threshold: τ >= 0, or a `LearningRateSchedule` of the step (the published
            recipes ramp it linearly).
        gamma: γ in (0, 1], or a schedule.
        sigma: σ in (0, 1], or a schedule.
        unbiased: divide m by γ and v by σ (this step's values) before comparing.
        name: name of the optimizer.
        **kwargs: `clipnorm`, `clipvalue`, `global_clipnorm`, `jit_compile`.
            `weight_decay` and `use_ema` are refused.

    Reference:
        Suarez-Ramirez, Gonzalez-Mendoza, Chang-Fernandez. "Bop and Beyond: A Second
        Order Optimizer for Binarized Neural Networks", CVPR Workshops 2021.
        https://arxiv.org/abs/2104.05124
    """

    # shared with keras3.Bop2ndOrder
    HYPERPARAMETERS, STATE, OPTIONS = RULE.hyperparameters, RULE.state, RULE.options

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, unbiased=False,
                 name="Bop2ndOrder", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, sigma=sigma, unbiased=unbiased,
                         name=name, **kwargs)

    def update(self, weight, gradient, state, hyperparameters):
        """`bop2ndorder_update` with this step's γ, σ and τ."""
        return bop2ndorder_update(weight, state["m"], state["v"], gradient,
                                  unbiased=self.unbiased, **hyperparameters)
