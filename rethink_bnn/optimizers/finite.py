"""Skipping a training step whose gradients are not all finite: `SkipNonFinite`.

One NaN or Inf in a gradient would turn Bop's moving average into NaN for good (and,
through the flip rule, its weights into NaN), and Adam's moments likewise. The
`SkipNonFinite` wrapper checks the aggregated gradients first and, if any is not finite,
skips the whole step: no weight and no optimizer slot changes, the step counter advances
(schedules stay on the step the user sees) and `skipped_steps` counts it. Checking after
aggregation means every replica sees the same gradients and takes the same decision.
Any optimizer gets this by being wrapped, in the spirit of optax's `apply_if_finite` and
Keras' `LossScaleOptimizer` (which goes outside it, so that it sees unscaled gradients).
"""

import tensorflow as tf

from rethink_bnn import tf_internals
from rethink_bnn.optimizers.serialization import (
    SAVED_STEP,
    deserialize_optimizer,
    remember_saved_step,
    warn_if_state_lost,
    with_saved_step,
)

__all__ = ["SkipNonFinite", "all_finite", "apply_or_skip", "step_counter"]

_Optimizer = tf.keras.optimizers.Optimizer

_LOW_PRECISION = (tf.float16, tf.bfloat16)


def all_finite(gradients):
    """Whether every value of every gradient is finite, as a scalar bool tensor.

    One reduction per gradient: a sum is finite exactly when all its terms are, unless
    the sum of finite values overflows (|Σg| > 3.4e38 in float32), which is counted as
    not finite too.
    """
    sums = []
    for gradient in gradients:
        if gradient is None:
            continue
        if isinstance(gradient, tf.IndexedSlices):
            gradient = gradient.values
        if gradient.dtype in _LOW_PRECISION:  # a float16 sum overflows at 65504
            gradient = tf.cast(gradient, tf.float32)
        sums.append(tf.cast(tf.reduce_sum(gradient), tf.float32))
    if not sums:
        return tf.constant(True)
    return tf.math.is_finite(tf.add_n(sums))


def apply_or_skip(grads_and_vars, apply_fn, skip_fn):
    """Call `apply_fn(grads_and_vars)` if all gradients are finite, else `skip_fn()`.

    Call it in a replica context, with gradients already aggregated across replicas.
    `apply_fn` may call `merge_call` (any Keras `apply_gradients` does), which
    `tf.distribute` forbids inside a `tf.cond` in a replica context; so, where the
    strategy needs merge calls, the condition is taken in the cross-replica context
    and `apply_fn` runs on every replica from there, as Keras' LossScaleOptimizer does.
    """
    grads_and_vars = list(grads_and_vars)
    variables = [v for _, v in grads_and_vars]
    if tf_internals.strategy_supports_no_merge_call():
        tf_internals.smart_cond(
            all_finite([g for g, _ in grads_and_vars]),
            lambda: _no_result(apply_fn, grads_and_vars),
            lambda: _no_result(skip_fn),
        )
        return

    def in_cross_replica_context(distribution, gradients):
        finite_per_replica = distribution.extended.call_for_each_replica(
            all_finite, args=(gradients,)
        )
        finite = tf.reduce_all(distribution.experimental_local_results(finite_per_replica))

        def apply_on_every_replica():
            # Variables travel by closure: as arguments, merge_call would unwrap them.
            distribution.extended.call_for_each_replica(
                lambda grads: _no_result(apply_fn, list(zip(grads, variables))),
                args=(gradients,),
            )

        tf_internals.smart_cond(
            finite, apply_on_every_replica, lambda: _no_result(skip_fn)
        )

    tf.distribute.get_replica_context().merge_call(
        in_cross_replica_context, args=([g for g, _ in grads_and_vars],)
    )


def step_counter(name):
    """An int64 counter made like Keras' `iterations`, so it updates wherever that does."""
    with tf.init_scope():
        return tf.Variable(0, name=name, dtype=tf.int64, trainable=False)


def _no_result(fn, *args):
    # Both branches of a cond must return the same structure: none.
    fn(*args)


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class SkipNonFinite(tf_internals.DelegatingTrackableMixin, _Optimizer):
    """Wraps an optimizer so that a step whose gradients hold a NaN or Inf changes nothing.

    The wrapped optimizer keeps the one step counter (`iterations` is its counter): a
    skipped step advances it, so every schedule, γ's, τ's and Adam's alike, reads the
    step the user sees. `skipped_steps` is every step in which the wrapped optimizer
    applied nothing: those this wrapper skipped and those an enclosing
    `LossScaleOptimizer` skipped for an overflow (it advances the same counter).

    Checkpoints see through the wrapper, as through Keras' LossScaleOptimizer: its one
    counter, of the steps it applied, is saved beside the wrapped optimizer's variables;
    `skipped_steps` is the step counter less it.

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import SkipNonFinite
        >>> v, optimizer = tf.Variable([1.0]), SkipNonFinite(tf.keras.optimizers.SGD(1.0))
        >>> _ = optimizer.apply_gradients([(tf.constant([float("nan")]), v)])
        >>> v.numpy().tolist(), int(optimizer.skipped_steps), int(optimizer.iterations)
        ([1.0], 1, 1)

    Example:
        ```python
        optimizer = rb.optimizers.SkipNonFinite(rb.optimizers.CaseOptimizer(
            (rb.optimizers.is_binary_variable, rb.optimizers.Bop()),
            default_optimizer=tf.keras.optimizers.Adam(1e-2)))
        ```

    Args:
        inner_optimizer: a current-API `tf.keras.optimizers.Optimizer` (not a
            LossScaleOptimizer: that one wraps this, to unscale gradients before the check).
    """

    def __init__(self, inner_optimizer):
        if isinstance(inner_optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
            raise TypeError(
                "SkipNonFinite must go inside the LossScaleOptimizer, which unscales the "
                "gradients first: LossScaleOptimizer(SkipNonFinite(optimizer)).")
        if isinstance(inner_optimizer, SkipNonFinite):
            raise TypeError("The optimizer is already wrapped in SkipNonFinite.")
        if not isinstance(inner_optimizer, _Optimizer):
            raise TypeError(
                "SkipNonFinite needs a tf.keras.optimizers.Optimizer (current API), got "
                f"{type(inner_optimizer).__name__}.")
        # Not a checkpoint child: the wrapper's checkpoint is the wrapped optimizer's.
        # And not Optimizer.__init__: its variables would be tracked on the inner one.
        object.__setattr__(self, "_optimizer", inner_optimizer)
        object.__setattr__(self, "_trackable", inner_optimizer)  # what the mixin delegates to

    @property
    def inner_optimizer(self):
        """The wrapped optimizer."""
        return self._optimizer

    def __getattr__(self, name):
        # Everything not defined here (name, jit_compile, the distribution strategy that
        # LossScaleOptimizer asks for, ...) is the wrapped optimizer's.
        if name.startswith("__") or name in ("_optimizer", "_trackable"):
            raise AttributeError(name)
        return getattr(self._optimizer, name)

    @property
    def iterations(self):
        return self._optimizer.iterations

    @iterations.setter
    def iterations(self, variable):
        self._optimizer.iterations = variable

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._optimizer.learning_rate = value

    @property
    def skipped_steps(self):
        """int64 tensor: steps in which the wrapped optimizer applied nothing, at the
        moment it is read (0 until built)."""
        if not hasattr(self, "_applied_steps"):
            return tf.constant(0, tf.int64)
        return self.iterations - self._applied_steps

    @property
    def variables(self):
        own = [self._applied_steps] if hasattr(self, "_applied_steps") else []
        return list(self._optimizer.variables) + own

    def build(self, var_list):
        self._optimizer.build(var_list)
        if hasattr(self, "_applied_steps"):
            return
        # Made here, not in __init__: built on a restored optimizer (a resumed run
        # restores before build), the checkpoint's value replaces the initial one.
        with tf.init_scope():
            applied = tf.Variable(tf.cast(self.iterations, tf.int64), name="applied_steps",
                                  dtype=tf.int64, trainable=False)
        self._applied_steps = tf_internals.untracked(self, applied)
        tf_internals.track(self, self._applied_steps, "_applied_steps")
        # Keras caches an optimizer's checkpoint children when a checkpoint first visits
        # it (a resumed run restores before this build): forget them, so that the
        # counter is saved by a resumed run as by an uninterrupted one.
        tf_internals.forget_checkpoint_children(self._optimizer)

    def compute_gradients(self, loss, var_list, tape=None):
        return self._optimizer.compute_gradients(loss, var_list, tape)

    def aggregate_gradients(self, grads_and_vars):
        return self._optimizer.aggregate_gradients(grads_and_vars)

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        """Aggregate the gradients across replicas, then apply them with the wrapped
        optimizer if all are finite, else only advance its step counter."""
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        with tf.init_scope():  # on every variable, None gradients too, as Keras builds:
            # a CaseOptimizer inside routes once, and must see all of them
            self.build([v for _, v in grads_and_vars])
        grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
        if not grads_and_vars:
            return self.iterations
        warn_if_state_lost(self)
        if kwargs.pop("experimental_aggregate_gradients", True) and not skip_gradients_aggregation:
            grads_and_vars = self._optimizer.aggregate_gradients(grads_and_vars)
        apply_or_skip(grads_and_vars, self._apply, self._skip)
        return self.iterations

    def _apply(self, grads_and_vars):
        self._optimizer.apply_gradients(grads_and_vars, skip_gradients_aggregation=True)
        self._count(applied=1)

    def _skip(self):
        self.iterations.assign_add(1)
        self._count(applied=0)

    def _count(self, applied):
        # In the cross-replica context where the counters live (as `iterations`).
        def count(_):
            self._applied_steps.assign_add(applied)
        if tf.distribute.in_cross_replica_context():  # the skip branch, under a strategy
            count(None)
        else:
            tf_internals.in_cross_replica(
                count, tf_internals.distribution_strategy(self._optimizer))

    def update_step(self, gradient, variable):
        raise NotImplementedError("SkipNonFinite delegates updates; call apply_gradients.")

    def finalize_variable_values(self, var_list):
        self._optimizer.finalize_variable_values(var_list)

    def set_weights(self, weights):
        """Set all of `variables`: the wrapped optimizer's, then the counter (the h5
        format restores this way). Keras' own would set the wrapped optimizer's own
        variables only (for a CaseOptimizer its step counter) and drop the rest silently."""
        variables = self.variables
        if not hasattr(self, "_applied_steps") or len(weights) != len(variables):
            raise ValueError(
                f"SkipNonFinite has {len(variables)} variables but got {len(weights)} "
                "values: build it on the model's trainable variables before setting them.")
        inner = len(self._optimizer.variables)
        self._optimizer.set_weights(weights[:inner])
        for variable, weight in zip(variables[inner:], weights[inner:]):
            variable.assign(weight)

    def save_own_variables(self, store):
        # Only its counter: `model.save` visits the wrapped optimizer on its own.
        for i, variable in enumerate(self.variables[len(self._optimizer.variables):]):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        for i, variable in enumerate(self.variables[len(self._optimizer.variables):]):
            variable.assign(store[str(i)])

    def get_config(self):
        return with_saved_step(
            self, {"inner_optimizer": tf.keras.optimizers.serialize(self._optimizer)})

    @classmethod
    def from_config(cls, config, custom_objects=None):
        inner = config["inner_optimizer"]
        if isinstance(inner, dict):
            inner = deserialize_optimizer(inner, custom_objects)
        return remember_saved_step(cls(inner), {SAVED_STEP: config.get(SAVED_STEP)},
                                   inner=[inner])
