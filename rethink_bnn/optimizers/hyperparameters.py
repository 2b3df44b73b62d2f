"""Hyperparameters that are a float or a schedule of the step: build, validate, save."""

import numbers

import numpy as np
import tensorflow as tf

from rethink_bnn import tf_internals


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
    # float32 at least: the range check compares with float32's smallest normal
    return tf.cast(value, tf.float32) if value.dtype.is_integer or value.dtype.size < 4 \
        else value


def check_value(hyperparameter, value):
    """`value` unchanged if it is a schedule or a valid float for `hyperparameter` (a
    declaration), else ValueError (out of range) or TypeError (not a number)."""
    if isinstance(value, Schedule):
        return value
    hyperparameter.checked(_as_float(value, hyperparameter.name))
    return value


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
        return tf_internals.as_users(hyperparameter)(step)  # a user's schedule: converted
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


def hyperparameter_property(name, doc):
    """A property that reads hyperparameter `name` as the latest step used it and sets
    it checked (the first hyperparameter is Keras' learning rate): an optimizer's
    `hyperparameter(name)` and `set_hyperparameter(name, value)`."""
    return property(lambda self: self.hyperparameter(name),
                    lambda self, value: self.set_hyperparameter(name, value), doc=doc)
