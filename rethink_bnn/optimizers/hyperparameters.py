"""Hyperparameters that are a float or a schedule of the step: build, validate, save."""

import math
import numbers

import numpy as np
import tensorflow as tf

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
    """`value` (a hyperparameter at this step, a tensor) if it is a scalar, else a
    ValueError: a schedule that returns a vector would otherwise fail deep in the step."""
    if value.shape.rank is not None and value.shape.rank != 0:
        raise ValueError(f"{owner}'s {name} schedule returned a tensor of shape "
                         f"{value.shape.as_list()}: a schedule must return a scalar "
                         "(tf.reshape(value, []) or value[0]).")
    return value


# TensorFlow flushes float32 subnormals to zero on CPU, so a smaller rate is 0 at run time.
_SMALLEST_RATE = float(np.finfo(np.float32).tiny)


class Hyperparameter:
    """One hyperparameter an optimizer declares: its name, its valid range (a `RATE` in
    (0, 1], or `NON_NEGATIVE`: a finite float >= 0), what it is (for the messages), its
    default and its neutral value: the value for which the optimizer's rule changes no
    state and flips nothing (a step with an invalid hyperparameter gets every neutral
    value). The range rule is written once, here, for every optimizer that declares one."""

    RATE, NON_NEGATIVE = "rate", "non-negative"

    def __init__(self, name, kind, about, default=None, neutral=None, symbol=None):
        if kind not in (self.RATE, self.NON_NEGATIVE):
            raise ValueError(f"a hyperparameter's kind is {self.RATE!r} or "
                             f"{self.NON_NEGATIVE!r}, got {kind!r}.")
        if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
            raise ValueError(f"a hyperparameter's name is a Python identifier without a "
                             f"leading underscore, got {name!r}.")
        self.name, self.kind, self.about = name, kind, about
        self.symbol = symbol or name  # for figures and help: γ for gamma
        self.neutral = float(neutral if neutral is not None else
                             (0.0 if kind == self.RATE else math.inf))
        self.default = None if default is None else float(self.check(default))

    def __repr__(self):
        return f"Hyperparameter({self.name!r}, {self.kind!r})"

    @property
    def valid_range(self):
        """The range in words, for the run-time messages."""
        return "in (0, 1]" if self.kind == self.RATE else "a finite float >= 0"

    def problem(self, number):
        """'' if the float `number` is valid, else why not, in words."""
        if self.kind == self.RATE:
            if not math.isfinite(number):
                return f"must be finite and in (0, 1], got {number!r}"
            if not _SMALLEST_RATE <= number <= 1.0:
                return (f"must be in (0, 1] (and not below float32's smallest normal, "
                        f"1.2e-38), got {number!r}")
            return ""
        if not (math.isfinite(number) and number >= 0.0):
            return f"must be a finite float >= 0, got {number!r}"
        return ""

    def check(self, value):
        """`value` unchanged if it is a schedule or a valid float, else ValueError (out of
        range) or TypeError (not a number)."""
        if isinstance(value, Schedule):
            return value
        problem = self.problem(_as_float(value, self.name))
        if problem:
            raise ValueError(f"{self.name} {problem}: {self.about}.")
        return value

    def valid(self, value):
        """Scalar bool tensor: whether `value` passes `check`: two scalar comparisons
        (each False for NaN) that run in tf.function, XLA and any replica. (A subnormal
        rate compares as 0, flushed to zero as in the update itself.)"""
        value = tf.convert_to_tensor(value)
        if self.kind == self.RATE:
            return tf.logical_and(value > 0, value <= 1)
        return tf.logical_and(value >= 0, value < np.inf)


def rate(name, about, default=None, neutral=0.0, symbol=None):
    """A hyperparameter valid in (0, 1], e.g. an adaptivity rate; neutral: 0 (an average
    with rate 0 does not move)."""
    return Hyperparameter(name, Hyperparameter.RATE, about, default, neutral, symbol)


def non_negative(name, about, default=None, neutral=math.inf, symbol=None):
    """A hyperparameter valid as a finite float >= 0, e.g. a threshold; neutral: ∞ (no
    average reaches an infinite threshold)."""
    return Hyperparameter(name, Hyperparameter.NON_NEGATIVE, about, default, neutral, symbol)


class Option:
    """An argument of an optimizer that is not a hyperparameter (a bool, a flag of the
    rule): its default and what it does."""

    def __init__(self, default, about):
        self.default, self.about = default, about

    def __repr__(self):
        return f"option({self.default!r}, {self.about!r})"


def option(default, about):
    """An optimizer's option, for `OPTIONS = {"name": option(default, about)}`."""
    return Option(default, about)


def symbol(name):
    """The symbol of hyperparameter `name` as declared (γ for gamma), else `name`."""
    return _DECLARED[name].symbol if name in _DECLARED else name


# Every hyperparameter some optimizer declared (`declare`), by name: what the functions
# below that take a bare name check against. A name no optimizer declares is an error.
_DECLARED = {}


def declare(owner, hyperparameters):
    """Record `owner`'s (an optimizer class's name) hyperparameters; two optimizers may
    share a name only with the same range. Returns them as a tuple."""
    hyperparameters = tuple(hyperparameters)
    for h in hyperparameters:
        if not isinstance(h, Hyperparameter):
            raise TypeError(f"{owner} declares {h!r}: declare hyperparameters with "
                            "rethink_bnn.optimizers.hyperparameters.rate(...) or "
                            "non_negative(...).")
        known = _DECLARED.setdefault(h.name, h)
        if known.kind != h.kind:
            raise TypeError(f"{owner} declares {h.name} as {h.kind}, but it is declared "
                            f"{known.kind} already: give it another name.")
    return hyperparameters


def declared(name):
    """The declaration of hyperparameter `name`; ValueError for a name that no binary
    optimizer declares."""
    if not isinstance(name, str) or name not in _DECLARED:
        raise ValueError(f"unknown hyperparameter {name!r}: the binary optimizers declare "
                         f"{', '.join(sorted(_DECLARED))}.")
    return _DECLARED[name]


def check(name, value):
    """`value` unchanged if it is valid for the declared hyperparameter `name` (a rate
    such as γ, σ or α: a float in (0, 1]; τ: a finite float >= 0; either may be a
    schedule); ValueError for an invalid value or an unknown name."""
    return declared(name).check(value)


def check_gamma(value):
    """γ must be a float in (0, 1] or a schedule; returns it unchanged."""
    return check("gamma", value)


def check_threshold(value):
    """τ must be a finite float >= 0 or a schedule; returns it unchanged."""
    return check("threshold", value)


def valid_value(name, value):
    """Scalar bool tensor: whether `value` passes `check(name, ...)`."""
    return declared(name).valid(value)


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
