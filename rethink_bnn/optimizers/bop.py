"""Bop, the latent-weight-free optimizer for binary weights (Helwegen et al., 2019)."""

import tensorflow as tf

from rethink_bnn.core import rules
from rethink_bnn.core.declarations import SMALLEST_RATE
from rethink_bnn.optimizers.binary import BinaryOptimizer, hyperparameter_property
from rethink_bnn.optimizers.flips import NARROW, count_flips

__all__ = ["Bop", "bop_update"]


def bop_update(weight, m, gradient, gamma, threshold):
    r"""Apply one Bop step (`rethink_bnn.core.rules.bop`: equations 3 and 4 of the
    paper) in place to a binary `weight` variable and its average `m`.

    The rule's arithmetic, bit for bit (for finite gradients; tests/optimizers/
    test_bop.py compares the two), done in place: the rule applied by
    `flips.apply_rule` takes 1.2 × as long on BinaryNet's weights (bench/bop_update.py). The
    average is one gradient-descent step on (m - g)² / 2 with rate γ, `m - γ (m - g)`,
    which TensorFlow applies in place in one pass: Larq's arithmetic too, so both give
    identical averages. The flip is a factor, -1 to flip and +1 to keep, from float ops that run
    in place and is never 0: sign(-0.5 - sign(w m - max(τ, tiny))). At the boundary
    `w m == τ` Bop flips, as the paper says; Larq sets such weights to +1. It runs in
    `m`'s dtype or float32, whichever is wider; the weight is read and written in its
    own dtype, which holds ±1 exactly.

    Args:
        weight: variable holding exactly ±1.
        m: variable of the same shape holding the moving average of the gradient.
        gradient: dense gradient of the loss with respect to `weight`.
        gamma: adaptivity rate γ (scalar tensor of `m`'s dtype).
        threshold: threshold τ (scalar tensor).

    Returns:
        The number of weights flipped by this step (int64 scalar tensor).

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import bop_update
        >>> w, m = tf.Variable([1.0, -1.0]), tf.Variable([0.0, 0.0])
        >>> int(bop_update(w, m, tf.constant([2.0, 2.0]), gamma=0.5, threshold=0.5))
        1
        >>> w.numpy().tolist(), m.numpy().tolist()  # m = 0 - 0.5 (0 - 2); w m >= τ flips
        ([-1.0, -1.0], [1.0, 1.0])

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, Algorithm 1 (Bop).
    """
    gradient = tf.cast(gradient, m.dtype)  # no op when the dtypes agree
    tf.raw_ops.ResourceApplyGradientDescent(var=m.handle, alpha=gamma, delta=m - gradient)
    dtype = tf.float32 if m.dtype in NARROW else m.dtype
    w = tf.cast(tf.convert_to_tensor(weight), dtype)  # a variable of its own dtype: no op
    floor = tf.maximum(tf.cast(threshold, dtype), SMALLEST_RATE)
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

    One step by hand: with γ = 1 the average is the gradient, and a weight flips where
    the average has the weight's sign and reaches τ (Helwegen et al., NeurIPS 2019,
    Algorithm 1):

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import Bop
        >>> w = tf.Variable([1.0, -1.0, 1.0])
        >>> bop = Bop(threshold=0.5, gamma=1.0)
        >>> _ = bop.apply_gradients([(tf.constant([1.0, 1.0, -1.0]), w)])
        >>> w.numpy().tolist(), bop.flip_counts.numpy().tolist()
        ([-1.0, -1.0, 1.0], [1])

    Example:
        ```python
        import rethink_bnn as rb
        optimizer = rb.optimizers.SkipNonFinite(rb.optimizers.CaseOptimizer(
            (rb.optimizers.is_binary_variable, rb.optimizers.Bop(threshold=1e-8, gamma=1e-4)),
            default_optimizer=tf.keras.optimizers.Adam(1e-2),
        ))
        ```

    """

    RULE = rules.BOP  # shared with keras3.Bop

    def update(self, weight, gradient, state, hyperparameters):
        """`RULE`'s update in place (`bop_update`), for speed (a subclass with another
        `RULE` gets the base's)."""
        if self.RULE is not rules.BOP:
            return super().update(weight, gradient, state, hyperparameters)
        return bop_update(weight, state["m"], gradient, hyperparameters["gamma"],
                          hyperparameters["threshold"])

    def __init__(self, threshold=1e-8, gamma=1e-4, name="Bop", **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, name=name, **kwargs)

    gamma = hyperparameter_property("gamma", "The adaptivity rate γ of the latest step "
                                    "(alias of `learning_rate`).")
    threshold = hyperparameter_property("threshold", "The threshold τ of the latest step "
                                        "(step 0's before any).")

    @property
    def averages(self):
        """The moving averages m, one per variable of `binary_variables` (empty until
        built)."""
        return list(getattr(self, "_m", []))

    def average(self, variable):
        """The moving average m of `variable` (KeyError if Bop does not train it)."""
        return self._m[self.index(variable)]
