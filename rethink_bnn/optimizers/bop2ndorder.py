"""Bop2ndOrder: Bop with a second moving average, of the squared gradient (Suarez-Ramirez et al.)."""

import tensorflow as tf

from rethink_bnn.core import rules
from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.optimizers.flips import apply_rule

__all__ = ["Bop2ndOrder", "bop2ndorder_update"]


def bop2ndorder_update(weight, m, v, gradient, gamma, sigma, threshold, unbiased=False):
    r"""Apply one Bop2ndOrder step (`rethink_bnn.core.rules.bop2ndorder`) in place to a
    ±1 `weight` and its averages `m` (of the gradient) and `v` (of its square), with
    scalars γ, σ and τ (γ = σ = 0 and τ = ∞ change nothing); `unbiased`: the
    bias-corrected form. Runs in `m`'s dtype or float32, whichever is wider.

    Returns:
        The number of weights flipped (int64 scalar tensor).
    """
    return apply_rule(rules.bop2ndorder, weight, gradient, {"m": m, "v": v},
                      {"gamma": gamma, "sigma": sigma, "threshold": threshold},
                      {"unbiased": unbiased})


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Bop2ndOrder(BinaryOptimizer):
    r"""Bop2ndOrder: flips a weight when its average gradient is strong *relative to the
    gradient's spread* (`bop2ndorder_update`).

    Besides Bop's average m of the gradient (rate γ) it keeps an average v of the
    squared gradient (rate σ) and compares m / √v, a signal-to-noise ratio, with τ: two
    floats of state per binary weight. The weights stay exactly ±1. Use it as Bop, in a
    `CaseOptimizer` (binary kernels) wrapped in `SkipNonFinite`. γ plays the learning
    rate's part; `gamma`, `sigma` and `threshold` report the latest step's values.

    """

    RULE = rules.BOP2NDORDER  # shared with keras3.Bop2ndOrder

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, unbiased=False,
                 name="Bop2ndOrder", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, sigma=sigma, unbiased=unbiased,
                         name=name, **kwargs)
