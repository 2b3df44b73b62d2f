"""How the tf-keras front end runs a rule of `rethink_bnn.core.rules`: the TensorFlow ops
it computes with (`TF_OPS`), the dtype its state is kept in, and the step applied in
place, flips counted (`apply_rule`)."""

import types

import tensorflow as tf

from rethink_bnn import tf_internals

__all__ = ["NARROW", "TF_OPS", "apply_rule", "check_binary", "count_flips", "state_dtype"]

# The rules' `ops`: the TensorFlow ops of `keras.ops`' names that they use.
TF_OPS = types.SimpleNamespace(
    add=tf.add, subtract=tf.subtract, multiply=tf.multiply, divide=tf.math.truediv,
    square=tf.math.square, sqrt=tf.math.sqrt, maximum=tf.maximum, where=tf.where,
    ones_like=tf.ones_like, cast=tf.cast, greater=tf.greater, greater_equal=tf.greater_equal,
    less=tf.less, less_equal=tf.less_equal, logical_and=tf.logical_and, all=tf.reduce_all,
    stack=tf.stack,
)

# Float widths too narrow for the optimizers' state (see `state_dtype`).
NARROW = (tf.float16, tf.bfloat16)


def state_dtype(variable):
    """A slot's dtype: the weight's, but float32 for float16 and bfloat16 weights.

    Neither can hold these optimizers' state: in float16, τ = 1e-8 and γ g = 1e-4 * 1e-4
    round to 0; bfloat16 has 8 bits of precision, so (1 - γ) m rounds back to m for
    γ = 1e-4 and m never decays. In float32 the result is the float32 rule's, bit for bit.
    """
    dtype = tf.as_dtype(getattr(variable, "true_dtype", variable.dtype))
    return tf.float32 if dtype in NARROW else dtype


def count_flips(factor):
    """How many entries of `factor` (±1 per weight, -1 to flip) are -1, as int64."""
    size = factor.shape.num_elements()
    if size is not None and size < 2**24:  # a float32 sum of ±1 is exact below 2**24
        return tf.cast((size - tf.reduce_sum(factor)) * 0.5, tf.int64)
    return tf.reduce_sum(tf.cast(factor < 0, tf.int64))


def apply_rule(rule, weight, gradient, state, hyperparameters, options=None):
    """One step of `rule` (a `Rule`'s update) in place: `weight` (a ±1 variable) and its
    `state` ({slot: variable}) from `gradient`, with this step's `hyperparameters`
    ({name: scalar}) and `options`. Computes in the state's dtype or float32, whichever
    is wider (a float16 state would round τ = 1e-8 to 0); returns the number of weights
    flipped (int64 scalar tensor)."""
    dtype = next(iter(state.values())).dtype
    dtype = tf.float32 if dtype in NARROW else dtype
    w = tf.cast(tf.convert_to_tensor(weight), dtype)  # a variable of its own dtype: no op
    new, flip = tf_internals.as_users(rule)(TF_OPS, w, tf.cast(gradient, dtype),
                     {name: tf.cast(tf.convert_to_tensor(v), dtype) for name, v in state.items()},
                     {name: tf.cast(v, dtype) for name, v in hyperparameters.items()},
                     **(options or {}))
    # ±1 per weight: one multiply flips, and the count is a float sum (see count_flips)
    factor = tf.where(flip, tf.constant(-1, dtype), tf.constant(1, dtype))
    flips = count_flips(factor)
    with tf.control_dependencies([flips]):  # then the assigns may reuse the buffers
        for name, value in new.items():
            state[name].assign(tf.cast(value, state[name].dtype))
        weight.assign(tf.cast(w * factor, weight.dtype))
    return flips


def check_binary(variable, owner):
    """ValueError naming `variable` unless it holds ±1 only."""
    values = tf.convert_to_tensor(variable)
    if not bool(tf.reduce_all(tf.abs(values) == 1)):
        raise ValueError(
            f"{owner} got variable `{variable.name}` whose values are not all ±1: "
            "initialize binary kernels with a binary initializer "
            "(e.g. rethink_bnn.initializers.BinaryHeNormal()) or route this "
            "variable to another optimizer."
        )
