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


# TensorFlow flushes float32 subnormals to zero on CPU, so a smaller γ is 0 at run time.
_SMALLEST_GAMMA = float(np.finfo(np.float32).tiny)


def check_gamma(value):
    """γ must be a float in (0, 1] or a schedule; returns it unchanged."""
    if isinstance(value, Schedule):
        return value
    gamma = _as_float(value, "gamma")
    if not _SMALLEST_GAMMA <= gamma <= 1.0:
        raise ValueError(
            f"gamma must be in (0, 1] (and not below float32's smallest normal, 1.2e-38), "
            f"got {gamma!r}: it is the adaptivity rate of Bop's moving average (the paper "
            "uses 1e-4 to 1e-2)."
        )
    return value


def check_threshold(value):
    """τ must be a finite float >= 0 or a schedule; returns it unchanged."""
    if isinstance(value, Schedule):
        return value
    threshold = _as_float(value, "threshold")
    if not (math.isfinite(threshold) and threshold >= 0.0):
        raise ValueError(
            f"threshold must be a finite float >= 0, got {threshold!r} (the paper uses "
            "1e-8 to 1e-5; 0 flips on any consistent gradient)."
        )
    return value


def valid_at_run_time(gamma, threshold):
    """Scalar bool tensor: whether γ and τ pass `check_gamma` and `check_threshold`.

    The setters check floats, but `tf.keras.backend.set_value`, callbacks and schedules
    reach the values without them; so Bop checks every step with this, four scalar
    comparisons (each False for NaN) that run in tf.function, XLA and any replica. (A
    subnormal γ compares as 0, flushed to zero as in the update itself.)
    """
    gamma, threshold = tf.convert_to_tensor(gamma), tf.convert_to_tensor(threshold)
    return tf.logical_and(
        tf.logical_and(gamma > 0, gamma <= 1),
        tf.logical_and(threshold >= 0, threshold < np.inf),
    )


def describe_invalid(gamma, threshold):
    """'gamma = nan (must be in (0, 1])', and/or the same for τ, for floats that fail
    `valid_at_run_time`; '' if both are valid."""
    problems = []
    if not _SMALLEST_GAMMA <= gamma <= 1.0:
        problems.append(f"gamma = {gamma:g} (must be in (0, 1])")
    if not (math.isfinite(threshold) and threshold >= 0.0):
        problems.append(f"threshold = {threshold:g} (must be a finite float >= 0)")
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
