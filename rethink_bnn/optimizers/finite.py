"""Skipping a training step whose gradients are not all finite.

One NaN or Inf in a gradient would turn Bop's moving average into NaN for good (and,
through the flip rule, its weights into NaN), and Adam's moments likewise. So Bop and
`CaseOptimizer` check the aggregated gradients first and, if any is not finite, skip
the whole step: no weight and no optimizer slot changes, the step counters advance
(schedules stay on the step the user sees, as with Keras' LossScaleOptimizer) and
`skipped_steps` counts it. Checking after aggregation means every replica sees the
same gradients and so takes the same decision.
"""

import tensorflow as tf

__all__ = ["all_finite", "apply_or_skip", "step_counter"]

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
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.__internal__.smart_cond.smart_cond(
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

        tf.__internal__.smart_cond.smart_cond(
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
