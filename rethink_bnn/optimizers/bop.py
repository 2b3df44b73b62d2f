"""Bop, the latent-weight-free optimizer for binary weights (Helwegen et al., 2019)."""

import numpy as np
import tensorflow as tf

from rethink_bnn.optimizers.hyperparameters import (
    Schedule,
    build_hyperparameter,
    check_gamma,
    check_threshold,
    current_value,
    deserialize_hyperparameter,
    serialize_hyperparameter,
    valid_at_run_time,
)
from rethink_bnn.optimizers.finite import apply_or_skip, step_counter

__all__ = ["Bop", "bop_update"]

# Sign agreement means w * m > 0. For w in {-1, +1} and tau > 0 it is implied by
# w * m >= tau, so both conditions fold into one comparison against max(tau, TINY).
# TINY is the smallest normal float32: below it TensorFlow flushes products to zero
# anyway, so for tau = 0 this is exactly "m non-zero with the sign of w". The comparison
# runs in float32 or wider: in float16 TINY is 0, and every weight with m = 0 would flip.
_TINY = float(np.finfo(np.float32).tiny)
_NARROW = (tf.float16, tf.bfloat16)
# A float32 sum of ±1 values is exact while every partial sum is below 2**24.
_EXACT_FLOAT_COUNT = 2**24


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
    dtype = tf.float32 if m.dtype in _NARROW else m.dtype
    w = tf.cast(tf.convert_to_tensor(weight), dtype)
    # factor = -1 to flip, +1 to keep; built from float ops that TF runs in place, and
    # never 0 (sign(-0.5 - s) for s in {-1, 0, 1}). w m - τ has the sign of w m - τ
    # exactly unless both are below ~1e-30, where flush-to-zero may blur the boundary.
    floor = tf.maximum(tf.cast(threshold, dtype), _TINY)
    factor = tf.sign(-0.5 - tf.sign(w * tf.cast(m, dtype) - floor))
    flips = _count_flips(factor)
    with tf.control_dependencies([flips]):  # then w * factor may reuse factor's buffer
        weight.assign(tf.cast(w * factor, weight.dtype))
    return flips


def _count_flips(factor):
    size = factor.shape.num_elements()
    if size is not None and size < _EXACT_FLOAT_COUNT:
        return tf.cast((size - tf.reduce_sum(factor)) * 0.5, tf.int64)
    return tf.reduce_sum(tf.cast(factor < 0, tf.int64))


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Bop(tf.keras.optimizers.Optimizer):
    r"""Binary optimizer (Bop): flips binary weights on a consistent, strong gradient.

    Bop keeps one exponential moving average `m` of the gradient per binary weight and
    flips a weight when `m` is at least `threshold` in magnitude and has the weight's
    sign (see `bop_update` for the rule). There are no latent weights: the weights are
    exactly ±1 at every step, and the state is one float per weight.

    Bop only trains binary variables. Use it through `CaseOptimizer`, which sends
    binary kernels to Bop and everything else (BatchNorm, real-valued layers) to a
    normal optimizer such as Adam.

    In Keras' machinery γ plays the learning rate's part: `learning_rate` *is* γ, so
    `LearningRateScheduler`, `ReduceLROnPlateau` and TensorBoard's learning-rate
    logging act on γ.

    The weights stay exactly ±1 whatever happens to the hyperparameters: the setters
    refuse invalid values, and a step in which γ or τ is invalid anyway (NaN, ±∞, γ
    outside (0, 1], τ < 0: from a schedule, `tf.keras.backend.set_value`, a callback)
    changes no weight and no average, and is counted in `invalid_hyperparameter_steps`
    (`SkippedStepLogger` reports it). Float16 and bfloat16 weights get a float32
    average, computed as for float32 weights.

    Example:
        ```python
        import rethink_bnn as rb
        optimizer = rb.optimizers.CaseOptimizer(
            (rb.optimizers.is_binary_variable, rb.optimizers.Bop(threshold=1e-8, gamma=1e-4)),
            default_optimizer=tf.keras.optimizers.Adam(1e-2),
        )
        ```

    Args:
        threshold: τ, the magnitude of the average gradient needed to flip a weight.
            A float >= 0 or a `LearningRateSchedule` of the step.
        gamma: γ, the adaptivity rate of the moving average. A float in (0, 1] or a
            `LearningRateSchedule` of the step (sec 5.2 of the paper decays it by 0.1
            every 100 epochs; the ImageNet runs decay it linearly from 1e-4 to 1e-6).
        skip_non_finite: skip a step whose gradients hold a NaN or Inf (nothing
            changes but the step count, and `skipped_steps` counts it) instead of
            letting it turn `m` and the weights into NaN. Checking costs one reduction
            over the gradients per step.
        name: name of the optimizer.
        **kwargs: `clipnorm`, `clipvalue`, `global_clipnorm` and `jit_compile` as for
            any Keras optimizer. `weight_decay` and `use_ema` are refused: both would
            move weights off ±1.

    Reference:
        Helwegen, Widdicombe, Geiger, Liu, Cheng, Nusselder. "Latent Weights Do Not
        Exist: Rethinking Binarized Neural Network Optimization", NeurIPS 2019.
        https://arxiv.org/abs/1906.02107
    """

    def __init__(self, threshold=1e-8, gamma=1e-4, skip_non_finite=True, name="Bop", **kwargs):
        for refused in ("weight_decay", "use_ema"):
            if kwargs.get(refused):
                raise ValueError(
                    f"Bop does not support {refused}={kwargs[refused]!r}: it would move "
                    "binary weights off ±1. Leave it unset."
                )
        kwargs.pop("weight_decay", None)
        kwargs.pop("use_ema", None)
        super().__init__(name=name, weight_decay=None, **kwargs)
        self._learning_rate = self._build_learning_rate(check_gamma(gamma))
        self._threshold = build_hyperparameter(check_threshold(threshold), "threshold")
        self.skip_non_finite = bool(skip_non_finite)
        self._skipped_steps = step_counter("skipped_steps")
        self._variables.append(self._skipped_steps)

    @property
    def learning_rate(self):
        """γ at the current step: Bop's adaptivity rate plays the learning rate's part."""
        return super().learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        super(Bop, Bop).learning_rate.fset(self, check_gamma(value))

    @property
    def gamma(self):
        """The adaptivity rate γ at the current step (alias of `learning_rate`)."""
        return self.learning_rate

    @gamma.setter
    def gamma(self, value):
        self.learning_rate = value

    @property
    def threshold(self):
        """The threshold τ at the current step."""
        return current_value(self._threshold, self.iterations)

    @threshold.setter
    def threshold(self, value):
        if isinstance(self._threshold, Schedule) or isinstance(value, Schedule):
            raise TypeError(
                "Bop's threshold can be set only when it was created as a float and is "
                "set to a float: create a new Bop to use a schedule."
            )
        self._threshold.assign(check_threshold(value))

    def build(self, var_list):
        """Create one moving-average slot `m` per variable, and the flip counters.

        Raises:
            ValueError: if a variable holds anything but ±1 (it would not stay binary).
        """
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        for variable in var_list:
            _check_binary(variable)
        self._built = True
        self._m = [self._add_average(v) for v in var_list]
        # Cumulative flips of each variable, in one vector: `FlipLogger` reads it with
        # one op per step however many layers there are.
        self._flips = self.add_variable((len(var_list),), tf.int64, name="flips")
        # Made here, not in __init__, and kept out of `variables` (the h5 and .keras
        # layouts): a checkpoint or file saved before it existed still restores, also
        # under `assert_existing_objects_matched` (a resumed run restores before build).
        self._invalid_hyperparameter_steps = step_counter("invalid_hyperparameter_steps")
        # γ and τ of the latest invalid step, for the log line; not saved.
        with tf.init_scope():
            self._last_invalid = self._no_dependency(tf.Variable(
                [1.0, 0.0], dtype=tf.float64, name="last_invalid_hyperparameters",
                trainable=False,
            ))
        # Not a checkpoint dependency: the model owns these variables.
        self._binary_variables = self._no_dependency(list(var_list))
        # Keras caches an optimizer's checkpoint children the first time a checkpoint
        # visits it. A run that restored a checkpoint before this build would keep the
        # children of an unbuilt Bop, and save the flip counter under `_variables/N`
        # (and the counter above not at all) where an uninterrupted run saves `_flips`.
        # Forgetting the cache gives every run one layout; older checkpoints, which
        # hold the counter under either key, restore through `_variables/N`.
        vars(self).pop("_coalesced_children", None)

    def _add_average(self, variable):
        dtype = _state_dtype(variable)
        if dtype == getattr(variable, "true_dtype", variable.dtype):
            return self.add_variable_from_reference(variable, "m")
        with tf.init_scope():
            m = tf.Variable(
                tf.zeros(variable.shape, dtype), name=f"m/{variable._shared_name}",
                trainable=False,
            )
        self._variables.append(m)
        return m

    def apply_gradients(
        self, grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs
    ):
        """Apply one Bop step; with `skip_non_finite`, skip it if a gradient is not finite."""
        if not self.skip_non_finite:
            return super().apply_gradients(
                grads_and_vars, name, skip_gradients_aggregation, **kwargs
            )
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        with tf.init_scope():
            self.build([v for _, v in grads_and_vars])
        if kwargs.pop("experimental_aggregate_gradients", True) and not skip_gradients_aggregation:
            grads_and_vars = self.aggregate_gradients(grads_and_vars)
        apply_or_skip(
            grads_and_vars, lambda checked: self._apply_unchecked(checked, name), self._skip_step
        )
        return self.iterations

    def _apply_unchecked(self, grads_and_vars, name=None):
        """Apply aggregated gradients known to be finite (CaseOptimizer checks them)."""
        return super().apply_gradients(grads_and_vars, name, skip_gradients_aggregation=True)

    def _skip_step(self):
        self.iterations.assign_add(1)
        self._skipped_steps.assign_add(1)

    @property
    def skipped_steps(self):
        """int64 variable: steps skipped for a non-finite gradient since creation."""
        return self._skipped_steps

    @property
    def invalid_hyperparameter_steps(self):
        """int64 variable: steps in which γ or τ was invalid (NaN, ±∞, γ outside (0, 1],
        τ < 0), so that Bop changed no weight and no average; None until built."""
        return getattr(self, "_invalid_hyperparameter_steps", None)

    @property
    def last_invalid_hyperparameters(self):
        """`{"gamma": γ, "threshold": τ}` (floats) of the latest step counted in
        `invalid_hyperparameter_steps` by this Python object; None until built."""
        if not hasattr(self, "_last_invalid"):
            return None
        gamma, threshold = (float(v) for v in self._last_invalid.numpy())
        return {"gamma": gamma, "threshold": threshold}

    def _hyperparameters(self):
        """γ and τ of this step, and whether both are valid (scalar tensors)."""
        gamma = tf.convert_to_tensor(self.learning_rate)
        threshold = tf.convert_to_tensor(self.threshold)
        return gamma, threshold, valid_at_run_time(gamma, threshold)

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        """Keras' loop over the variables (Bop has no EMA), with γ and τ read and
        checked once per step rather than once per variable."""
        gamma, threshold, valid = self._hyperparameters()
        # Counted where Keras counts `iterations` (cross-replica, under a strategy that
        # needs merge calls): once per step, the same on every replica.
        invalid = tf.logical_not(valid)
        self._invalid_hyperparameter_steps.assign_add(tf.cast(invalid, tf.int64))
        values = tf.stack([tf.cast(gamma, tf.float64), tf.cast(threshold, tf.float64)])
        self._last_invalid.assign(tf.where(invalid, values, self._last_invalid))
        gamma, threshold = _neutral_if_invalid(gamma, threshold, valid)
        for gradient, variable in grads_and_vars:
            distribution.extended.update(
                variable, self._apply_to, args=(gradient, gamma, threshold), group=False
            )
        return self.iterations.assign_add(1)

    def _apply_to(self, variable, gradient, gamma, threshold):
        if self.jit_compile:  # the key gives each variable its own trace, as in Keras
            key = id(self._var_key(variable))
            return self._bop_step_xla(variable, gradient, gamma, threshold, key)
        return self._bop_step(variable, gradient, gamma, threshold)

    @tf.function(jit_compile=True)
    def _bop_step_xla(self, variable, gradient, gamma, threshold, key):
        return self._bop_step(variable, gradient, gamma, threshold)

    def _bop_step(self, variable, gradient, gamma, threshold):
        if getattr(variable, "_unique_id", None) is None:
            return  # a stand-in traced by model.save(): nothing to update
        index = self._index_dict[self._var_key(variable)]
        m = self._m[index]
        if isinstance(gradient, tf.IndexedSlices):
            # m decays everywhere, so a sparse gradient is a dense one with zeros.
            gradient = tf.convert_to_tensor(gradient)
        # Casts are no ops for float32 weights: their arithmetic is Larq's, bit for bit.
        flips = bop_update(
            variable, m, gradient, tf.cast(gamma, m.dtype), tf.cast(threshold, m.dtype)
        )
        # this variable's entry of the flip vector: one add for all layers' counts
        self._flips.assign_add(flips * tf.one_hot(index, len(self._binary_variables),
                                                  dtype=tf.int64))

    def update_step(self, gradient, variable):
        gamma, threshold = _neutral_if_invalid(*self._hyperparameters())
        self._bop_step(variable, gradient, gamma, threshold)

    @property
    def averages(self):
        """The moving averages m, one per variable of `binary_variables` (empty until
        built)."""
        return list(getattr(self, "_m", []))

    def average(self, variable):
        """The moving average m of `variable` (KeyError if Bop does not train it)."""
        return self._m[self._index_dict[self._var_key(variable)]]

    @property
    def binary_variables(self):
        """The variables Bop trains, in the order of `flip_counts` (empty until built)."""
        return list(getattr(self, "_binary_variables", []))

    @property
    def flip_counts(self):
        """int64 vector variable: flips of each of `binary_variables` since creation."""
        return getattr(self, "_flips", None)

    def get_config(self):
        config = super().get_config()
        for key in ("weight_decay", "use_ema", "ema_momentum", "ema_overwrite_frequency"):
            config.pop(key, None)
        config.update(
            {
                "threshold": serialize_hyperparameter(self._threshold),
                "gamma": serialize_hyperparameter(self._learning_rate),
                "skip_non_finite": self.skip_non_finite,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("threshold", "gamma"):
            if key in config:
                config[key] = deserialize_hyperparameter(config[key], custom_objects)
        return cls(**config)


def _neutral_if_invalid(gamma, threshold, valid):
    """γ and τ as they are if `valid`, else γ = 0 and τ = ∞: with those `bop_update`
    leaves every average as it is and flips nothing, so an invalid γ or τ (NaN, ∞, out
    of range) never reaches the weights. Two scalar selects, in any graph or replica."""
    return (
        tf.where(valid, gamma, tf.zeros_like(gamma)),
        tf.where(valid, threshold, tf.constant(np.inf, threshold.dtype)),
    )


def _state_dtype(variable):
    """m's dtype: the weight's, but float32 for float16 and bfloat16 weights.

    Neither can hold Bop's state: in float16, τ = 1e-8 and γ g = 1e-4 * 1e-4 round to
    0 (and so does the TINY floor above, flipping every weight whose m is 0); bfloat16
    has 8 bits of precision, so (1 - γ) m rounds back to m for γ = 1e-4 and m never
    decays. In float32 the weight's result is the float32 rule's, bit for bit.
    """
    dtype = tf.as_dtype(getattr(variable, "true_dtype", variable.dtype))
    return tf.float32 if dtype in _NARROW else dtype


def _check_binary(variable):
    values = tf.convert_to_tensor(variable)
    if not bool(tf.reduce_all(tf.abs(values) == 1)):
        raise ValueError(
            f"Bop got variable `{variable.name}` whose values are not all ±1: "
            "initialize binary kernels with a binary initializer "
            "(e.g. rethink_bnn.initializers.BinaryHeNormal()) or route this "
            "variable to another optimizer."
        )
