"""A Keras 3 binary optimizer's hyperparameter values: a float or a Keras 3
`LearningRateSchedule`, checked when given and at each step, computed in float32 whatever
floatx is, and written to config as the shortest float that reads back the same."""

import contextlib
import numbers

import keras
import numpy as np
from keras import ops

Schedule = keras.optimizers.schedules.LearningRateSchedule

__all__ = ["Schedule", "as_float", "float32", "scalar", "shortest"]


@contextlib.contextmanager
def float32():
    """floatx float32 for what runs inside: Keras makes the learning-rate variable and
    its own schedules compute in floatx, and a float16 floatx would read τ = 1e-8 as 0
    (the hyperparameters and every comparison of a rule are float32 or wider)."""
    previous = keras.config.floatx()
    if previous == "float32":
        yield
        return
    keras.config.set_floatx("float32")
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


def scalar(value, owner, name):
    """A schedule's value at a step as a tensor, if it is a number of shape (); else a
    one-line error naming the optimizer, the hyperparameter and what came back."""
    if value is None or isinstance(value, (str, bool)):
        raise TypeError(f"{owner}'s {name} schedule returned {value!r}: a schedule must "
                        "return a scalar float.")
    try:
        value = ops.convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}'s {name} schedule returned {value!r}: a schedule must "
                        "return a scalar float.") from error
    if tuple(value.shape) != ():
        raise ValueError(f"{owner}'s {name} schedule returned a tensor of shape "
                         f"{list(value.shape)}: a schedule must return a scalar "
                         "(ops.reshape(value, ()) or value[0]).")
    dtype = keras.backend.standardize_dtype(value.dtype)
    if not (dtype.startswith(("float", "bfloat", "int", "uint"))):
        raise TypeError(f"{owner}'s {name} schedule returned a {dtype} tensor: a schedule "
                        "must return a scalar float.")
    return value


def as_float(value, name):
    if isinstance(value, Schedule):
        return value
    if callable(value):
        raise TypeError(f"{name} must be a float or a keras.optimizers.schedules."
                        f"LearningRateSchedule, got the callable {value!r}: write it as a "
                        "LearningRateSchedule of the step.")
    if not isinstance(value, (bool, str, numbers.Real)):  # a numpy or backend scalar
        array = np.asarray(ops.convert_to_numpy(value))
        if array.shape == () and array.dtype.kind in "fiu":
            return float(array)
    return value



def shortest(value):
    """A float32 hyperparameter as its shortest round-tripping float (1e-08, not
    9.99999993e-09); a serialized schedule as it is."""
    return float(str(np.float32(value))) if isinstance(value, float) else value
