"""What the binary optimizers' rules do to ±1 weights: flip them and count the flips, and
the dtype their state is kept in."""

import tensorflow as tf

__all__ = ["NARROW", "check_binary", "count_flips", "flip_where", "state_dtype"]

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


def flip_where(weight, flip, dtype):
    """Negate `weight` (±1) where the bool tensor `flip` holds, in place; returns the
    number flipped. `dtype` is the width the caller computed `flip` in."""
    factor = tf.where(flip, tf.constant(-1, dtype), tf.constant(1, dtype))
    flips = count_flips(factor)
    w = tf.cast(tf.convert_to_tensor(weight), dtype)
    with tf.control_dependencies([flips]):
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
