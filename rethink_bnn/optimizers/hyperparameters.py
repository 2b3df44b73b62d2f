"""Hyperparameters that are a float or a schedule of the step: build, validate, save."""

import numbers

import numpy as np
import tensorflow as tf

# The declarations themselves are plain Python, shared with the Keras 3 optimizers.
from rethink_bnn.declarations import (  # noqa: F401  (the names optimizers declare with)
    Hyperparameter,
    Option,
    declare,
    declared,
    non_negative,
    option,
    rate,
    symbol,
)

Schedule = tf.keras.optimizers.schedules.LearningRateSchedule


def _as_float(value, name):
    if _is_scalar_float_value(value):  # e.g. tf.constant(0.1): checked like 0.1
        return float(value)
    if callable(value):  # Keras' own optimizers call a callable learning rate; we do not
        raise TypeError(
            f"{name} must be a float or a tf.keras.optimizers.schedules."
            f"LearningRateSchedule, got the callable {value!r}: write it as a "
            "LearningRateSchedule of the step (its __call__(step) returns the value)."
        )
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a float or a tf.keras.optimizers.schedules."
            f"LearningRateSchedule, got {type(value).__name__} {value!r}."
        )
    return float(value)


def _is_scalar_float_value(value):
    """An eager float or integer tensor, variable or numpy array of shape () (an int is
    accepted as a Python int is: tf.constant(1) as 1)."""
    if not (isinstance(value, (np.ndarray, tf.Variable)) or tf.is_tensor(value)):
        return False
    if hasattr(value, "numpy") and not tf.executing_eagerly():
        return False  # symbolic: no value to check
    dtype = tf.as_dtype(value.dtype)
    return value.shape == () and (dtype.is_floating or dtype.is_integer) and dtype != tf.bool


def as_stored(value):
    """What a checked hyperparameter is kept as: a schedule as it is, anything else as a
    Python float (a float64 tensor, a Fraction, a numpy scalar: Keras' float32 learning
    rate variable takes none of them as they are)."""
    return value if isinstance(value, Schedule) else float(value)


def scalar_value(value, owner, name):
    """`value` (a hyperparameter at this step) as a tensor if it is a scalar number, else
    a one-line error naming the optimizer, the hyperparameter and what came back: a
    schedule that returns a vector or None would otherwise fail deep in the step."""
    if value is None or isinstance(value, (str, bool)):
        raise TypeError(f"{owner}'s {name} schedule returned {value!r}: a schedule must "
                        "return a scalar float.")
    value = tf.convert_to_tensor(value)
    if value.shape.rank is not None and value.shape.rank != 0:
        raise ValueError(f"{owner}'s {name} schedule returned a tensor of shape "
                         f"{value.shape.as_list()}: a schedule must return a scalar "
                         "(tf.reshape(value, []) or value[0]).")
    if not (value.dtype.is_floating or value.dtype.is_integer):
        raise TypeError(f"{owner}'s {name} schedule returned a {value.dtype.name} tensor: "
                        "a schedule must return a scalar float.")
    return tf.cast(value, tf.float32) if value.dtype.is_integer else value


def check_value(hyperparameter, value):
    """`value` unchanged if it is a schedule or a valid float for `hyperparameter` (a
    declaration), else ValueError (out of range) or TypeError (not a number)."""
    if isinstance(value, Schedule):
        return value
    hyperparameter.checked(_as_float(value, hyperparameter.name))
    return value


def valid(hyperparameter, value):
    """Scalar bool tensor: whether `value` passes `check_value`: two scalar comparisons
    (each False for NaN) that run in tf.function, XLA and any replica. (A subnormal
    rate compares as 0, flushed to zero as in the update itself.)"""
    value = tf.convert_to_tensor(value)
    if hyperparameter.kind == Hyperparameter.RATE:
        return tf.logical_and(value > 0, value <= 1)
    return tf.logical_and(value >= 0, value < np.inf)


def check(name, value):
    """`value` unchanged if it is valid for the declared hyperparameter `name` (a rate
    such as γ, σ or α: a float in (0, 1]; τ: a finite float >= 0; either may be a
    schedule); ValueError for an invalid value or an unknown name."""
    return check_value(declared(name), value)


def check_gamma(value):
    """γ must be a float in (0, 1] or a schedule; returns it unchanged."""
    return check("gamma", value)


def check_threshold(value):
    """τ must be a finite float >= 0 or a schedule; returns it unchanged."""
    return check("threshold", value)


def valid_value(name, value):
    """Scalar bool tensor: whether `value` passes `check(name, ...)`."""
    return valid(declared(name), value)


def valid_at_run_time(gamma, threshold):
    """Scalar bool tensor: whether γ and τ pass `check_gamma` and `check_threshold`.

    The setters check floats, but `tf.keras.backend.set_value`, callbacks and schedules
    reach the values without them; so the binary optimizers check every step.
    """
    return tf.logical_and(valid_value("gamma", gamma), valid_value("threshold", threshold))


def describe_invalid(**values):
    """'gamma = nan (must be in (0, 1])', and the same for each other hyperparameter
    (floats, by name) that fails `check`; '' if all are valid."""
    problems = []
    for name, value in values.items():
        h = declared(name)
        if h.problem(float(value)):
            problems.append(f"{name} = {value:g} (must be {h.valid_range})")
    return ", ".join(problems)


def build_hyperparameter(value, name):
    """A schedule stays a schedule; a float becomes a non-trainable float32 variable,
    whatever floatx is: float16 would hold τ = 1e-8 as 0."""
    if isinstance(value, Schedule):
        return value
    with tf.init_scope():
        return tf.Variable(float(value), name=name, dtype=tf.float32, trainable=False)


def current_value(hyperparameter, step):
    """The value at `step`: the schedule evaluated there, or the variable itself."""
    if isinstance(hyperparameter, Schedule):
        return hyperparameter(step)
    return hyperparameter


def serialize_hyperparameter(hyperparameter):
    if isinstance(hyperparameter, Schedule):
        return tf.keras.optimizers.schedules.serialize(hyperparameter)
    # str() of a float32 is its shortest round-tripping form: 1e-08, not 9.99999993e-09.
    return float(str(hyperparameter.numpy()))


def deserialize_hyperparameter(config, custom_objects=None):
    if isinstance(config, dict):
        return tf.keras.optimizers.schedules.deserialize(
            config, custom_objects=custom_objects
        )
    return config
