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

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import bop2ndorder_update
        >>> w, m, v = tf.Variable([1.0, 1.0]), tf.Variable([0.0, 0.0]), tf.Variable([0.0, 0.0])
        >>> flips = bop2ndorder_update(w, m, v, tf.constant([1.0, -1.0]), gamma=0.5, sigma=0.5,
        ...                            threshold=0.5)  # w m / √v = ±0.5 / √0.5 = ±0.71
        >>> int(flips), w.numpy().tolist(), v.numpy().tolist()
        (1, [-1.0, 1.0], [0.5, 0.5])

    Reference:
        Suarez-Ramirez, Gonzalez-Mendoza, Chang-Fernandez, "Bop and Beyond: A Second Order
        Optimizer for Binarized Neural Networks", CVPR Workshops 2021.
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

    One step by hand: with γ = σ = 1, m / √v is the gradient's sign, so a weight flips
    where the gradient has the weight's sign:

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import Bop2ndOrder
        >>> w = tf.Variable([1.0, -1.0, 1.0])
        >>> optimizer = Bop2ndOrder(threshold=0.5, gamma=1.0, sigma=1.0)
        >>> _ = optimizer.apply_gradients([(tf.constant([3.0, 3.0, -3.0]), w)])
        >>> w.numpy().tolist(), optimizer.flip_counts.numpy().tolist()
        ([-1.0, -1.0, 1.0], [1])
    """

    RULE = rules.BOP2NDORDER  # shared with keras3.Bop2ndOrder

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, unbiased=False,
                 name="Bop2ndOrder", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, sigma=sigma, unbiased=unbiased,
                         name=name, **kwargs)
