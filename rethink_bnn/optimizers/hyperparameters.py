"""Hyperparameters that are a float or a schedule of the step: build, validate, save."""

import math
import numbers

import numpy as np
import tensorflow as tf

Schedule = tf.keras.optimizers.schedules.LearningRateSchedule


def _as_float(value, name):
    if _is_scalar_float_value(value):  # e.g. tf.constant(0.1): checked like 0.1
        return float(value)
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a float or a tf.keras.optimizers.schedules."
            f"LearningRateSchedule, got {type(value).__name__} {value!r}."
        )
    return float(value)


def _is_scalar_float_value(value):
    """An eager float tensor, variable or numpy array of shape ()."""
    if not (isinstance(value, (np.ndarray, tf.Variable)) or tf.is_tensor(value)):
        return False
    if hasattr(value, "numpy") and not tf.executing_eagerly():
        return False  # symbolic: no value to check
    return value.shape == () and tf.as_dtype(value.dtype).is_floating


# TensorFlow flushes float32 subnormals to zero on CPU, so a smaller rate is 0 at run time.
_SMALLEST_RATE = float(np.finfo(np.float32).tiny)

# Each hyperparameter of the binary optimizers: whether it is a rate in (0, 1] (else a
# finite float >= 0), and what the paper that introduced it uses, for the error message.
RATES = {
    "gamma": "it is the adaptivity rate of the moving average of the gradient (Bop's "
             "paper uses 1e-4 to 1e-2)",
    "sigma": "it is the adaptivity rate of the moving average of the squared gradient "
             "(Bop2ndOrder's paper uses 1e-7 to 1e-2)",
    "alpha": "it is the rate of CEMA's inertia (its paper uses 1e-5 to 1e-2)",
}
NON_NEGATIVE = {
    "threshold": "the paper uses 1e-8 to 1e-5; 0 flips on any consistent gradient",
}


def check(name, value):
    """A rate (γ, σ, α) must be a float in (0, 1], τ a finite float >= 0; either may be a
    schedule instead. Returns `value` unchanged."""
    if isinstance(value, Schedule):
        return value
    number = _as_float(value, name)
    if name in RATES:
        if not _SMALLEST_RATE <= number <= 1.0:
            raise ValueError(
                f"{name} must be in (0, 1] (and not below float32's smallest normal, "
                f"1.2e-38), got {number!r}: {RATES[name]}."
            )
    elif not (math.isfinite(number) and number >= 0.0):
        raise ValueError(
            f"{name} must be a finite float >= 0, got {number!r} ({NON_NEGATIVE[name]})."
        )
    return value


def check_gamma(value):
    """γ must be a float in (0, 1] or a schedule; returns it unchanged."""
    return check("gamma", value)


def check_threshold(value):
    """τ must be a finite float >= 0 or a schedule; returns it unchanged."""
    return check("threshold", value)


def valid_value(name, value):
    """Scalar bool tensor: whether `value` passes `check(name, ...)`: two scalar
    comparisons (each False for NaN) that run in tf.function, XLA and any replica. (A
    subnormal rate compares as 0, flushed to zero as in the update itself.)"""
    value = tf.convert_to_tensor(value)
    if name in RATES:
        return tf.logical_and(value > 0, value <= 1)
    return tf.logical_and(value >= 0, value < np.inf)


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
        if name in RATES and not _SMALLEST_RATE <= value <= 1.0:
            problems.append(f"{name} = {value:g} (must be in (0, 1])")
        elif name not in RATES and not (math.isfinite(value) and value >= 0.0):
            problems.append(f"{name} = {value:g} (must be a finite float >= 0)")
    return ", ".join(problems)


def build_hyperparameter(value, name):
    """A schedule stays a schedule; a float becomes a non-trainable variable."""
    if isinstance(value, Schedule):
        return value
    with tf.init_scope():
        return tf.Variable(
            float(value), name=name, dtype=tf.keras.backend.floatx(), trainable=False
        )


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
