"""Hyperparameters that are a float or a schedule of the step: build, validate, save."""

import math
import numbers

import tensorflow as tf

Schedule = tf.keras.optimizers.schedules.LearningRateSchedule


def _as_float(value, name):
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a float or a tf.keras.optimizers.schedules."
            f"LearningRateSchedule, got {type(value).__name__} {value!r}."
        )
    return float(value)


def check_gamma(value):
    """γ must be a float in (0, 1] or a schedule; returns it unchanged."""
    if isinstance(value, Schedule):
        return value
    gamma = _as_float(value, "gamma")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(
            f"gamma must be in (0, 1], got {value!r}: it is the adaptivity rate of "
            "Bop's moving average (the paper uses 1e-4 to 1e-2)."
        )
    return value


def check_threshold(value):
    """τ must be a finite float >= 0 or a schedule; returns it unchanged."""
    if isinstance(value, Schedule):
        return value
    threshold = _as_float(value, "threshold")
    if not (math.isfinite(threshold) and threshold >= 0.0):
        raise ValueError(
            f"threshold must be a finite float >= 0, got {value!r} (the paper uses "
            "1e-8 to 1e-5; 0 flips on any consistent gradient)."
        )
    return value


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
