"""Bop, the latent-weight-free optimizer for binary weights (Helwegen et al., 2019)."""

import numpy as np
import tensorflow as tf

from rethink_bnn.declarations import BOP
from rethink_bnn.optimizers.binary import BinaryOptimizer, hyperparameter_property
from rethink_bnn.optimizers.flips import NARROW, count_flips

__all__ = ["Bop", "bop_update"]

# Sign agreement means w * m > 0. For w in {-1, +1} and tau > 0 it is implied by
# w * m >= tau, so both conditions fold into one comparison against max(tau, TINY).
# TINY is the smallest normal float32: below it TensorFlow flushes products to zero
# anyway, so for tau = 0 this is exactly "m non-zero with the sign of w". The comparison
# runs in float32 or wider: in float16 TINY is 0, and every weight with m = 0 would flip.
_TINY = float(np.finfo(np.float32).tiny)


def bop_update(weight, m, gradient, gamma, threshold):
    r"""Apply one Bop step in place to a binary `weight` variable and its average `m`.

    Equations 3 and 4 of the paper (Algorithm 1):

        m_t = (1 - γ) m_{t-1} + γ g_t
        w_t = -w_{t-1}   if |m_t| >= τ and sign(m_t) == sign(w_{t-1})
        w_t =  w_{t-1}   otherwise

    `m_t` is computed as `m - γ (m - g)`, algebraically the same and bit for bit the
    arithmetic of `larq.optimizers.Bop` (on CPU), so both give identical averages.
    Larq flips when `w m > τ`; at the boundary `w m == τ` we follow the paper (flip),
    whereas Larq sets such weights to +1 whatever their sign.

    The average is updated in `m`'s dtype and the flip rule runs in `m`'s dtype or
    float32, whichever is wider (`Bop` keeps `m` in float32 for float16 and bfloat16
    weights); the weight is read and written in its own dtype, which holds ±1 exactly.

    Args:
        weight: variable holding exactly ±1.
        m: variable of the same shape holding the moving average of the gradient.
        gradient: dense gradient of the loss with respect to `weight`.
        gamma: adaptivity rate γ (scalar tensor of `m`'s dtype).
        threshold: threshold τ (scalar tensor).

    Returns:
        The number of weights flipped by this step (int64 scalar tensor).
    """
    # The average is one gradient-descent step on (m - g)^2 / 2 with rate γ, which TF
    # applies in place in a single pass.
    gradient = tf.cast(gradient, m.dtype)  # no op when the dtypes agree
    tf.raw_ops.ResourceApplyGradientDescent(var=m.handle, alpha=gamma, delta=m - gradient)
    # Casts are no ops for float32 (and float64) m. One read of the weight: tf.cast of
    # a variable to its own dtype is the variable.
    dtype = tf.float32 if m.dtype in NARROW else m.dtype
    w = tf.cast(tf.convert_to_tensor(weight), dtype)
    # factor = -1 to flip, +1 to keep; built from float ops that TF runs in place, and
    # never 0 (sign(-0.5 - s) for s in {-1, 0, 1}). w m - τ has the sign of w m - τ
    # exactly unless both are below ~1e-30, where flush-to-zero may blur the boundary.
    floor = tf.maximum(tf.cast(threshold, dtype), _TINY)
    factor = tf.sign(-0.5 - tf.sign(w * tf.cast(m, dtype) - floor))
    flips = count_flips(factor)
    with tf.control_dependencies([flips]):  # then w * factor may reuse factor's buffer
        weight.assign(tf.cast(w * factor, weight.dtype))
    return flips


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Bop(BinaryOptimizer):
    r"""Binary optimizer (Bop): flips binary weights on a consistent, strong gradient.

    Bop keeps one exponential moving average `m` of the gradient per binary weight and
    flips a weight when `m` is at least `threshold` in magnitude and has the weight's
    sign (see `bop_update` for the rule). There are no latent weights: the weights are
    exactly ±1 at every step, and the state is one float per weight.

    Bop only trains binary variables. Use it through `CaseOptimizer`, which sends
    binary kernels to Bop and everything else (BatchNorm, real-valued layers) to a
    normal optimizer such as Adam, and wrap that in `SkipNonFinite` to skip a step whose
    gradients hold a NaN or Inf (the tasks do both).

    In Keras' machinery γ plays the learning rate's part: `learning_rate` *is* γ, so
    `LearningRateScheduler`, `ReduceLROnPlateau` and TensorBoard's learning-rate
    logging act on γ. `gamma` and `threshold` report the values of the latest step.

    The weights stay exactly ±1 whatever happens to the hyperparameters: the setters
    refuse invalid values, and a step in which γ or τ is invalid anyway (NaN, ±∞, γ
    outside (0, 1], τ < 0: from a schedule, `tf.keras.backend.set_value`, a callback)
    changes no weight and no average, and is counted in `invalid_hyperparameter_steps`.
    Float16 and bfloat16 weights get a float32 average, computed as for float32 weights.
    (All of this comes from `BinaryOptimizer`.)

    Example:
        ```python
        import rethink_bnn as rb
        optimizer = rb.optimizers.SkipNonFinite(rb.optimizers.CaseOptimizer(
            (rb.optimizers.is_binary_variable, rb.optimizers.Bop(threshold=1e-8, gamma=1e-4)),
            default_optimizer=tf.keras.optimizers.Adam(1e-2),
        ))
        ```

    Args:
        threshold: τ, the magnitude of the average gradient needed to flip a weight.
            A float >= 0 or a `LearningRateSchedule` of the step.
        gamma: γ, the adaptivity rate of the moving average. A float in (0, 1] or a
            `LearningRateSchedule` of the step (sec 5.2 of the paper decays it by 0.1
            every 100 epochs; the ImageNet runs decay it linearly from 1e-4 to 1e-6).
        name: name of the optimizer.
        **kwargs: `clipnorm`, `clipvalue`, `global_clipnorm` and `jit_compile` as for
            any Keras optimizer. `weight_decay` and `use_ema` are refused: both would
            move weights off ±1.

    Reference:
        Helwegen, Widdicombe, Geiger, Liu, Cheng, Nusselder. "Latent Weights Do Not
        Exist: Rethinking Binarized Neural Network Optimization", NeurIPS 2019.
        https://arxiv.org/abs/1906.02107
    """

    HYPERPARAMETERS, STATE = BOP.hyperparameters, BOP.state  # shared with keras3.Bop

    def __init__(self, threshold=1e-8, gamma=1e-4, name="Bop", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, name=name, **kwargs)

    gamma = hyperparameter_property("gamma", "The adaptivity rate γ of the latest step "
                                    "(alias of `learning_rate`).")
    threshold = hyperparameter_property("threshold", "The threshold τ of the latest step "
                                        "(step 0's before any).")

    def update(self, weight, gradient, state, hyperparameters):
        """`bop_update` with this step's γ and τ (γ = 0, τ = ∞: nothing changes)."""
        return bop_update(weight, state["m"], gradient, hyperparameters["gamma"],
                          hyperparameters["threshold"])

    @property
    def averages(self):
        """The moving averages m, one per variable of `binary_variables` (empty until
        built)."""
        return list(getattr(self, "_m", []))

    def average(self, variable):
        """The moving average m of `variable` (KeyError if Bop does not train it)."""
        return self._m[self.index(variable)]
