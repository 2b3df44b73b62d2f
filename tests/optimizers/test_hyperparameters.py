"""The declared hyperparameters: each optimizer's own ranges, and no unknown name."""

import math

import numpy as np
import pytest

import rethink_bnn as rb
from rethink_bnn.declarations import BOP2NDORDER, CEMA, describe_invalid, non_negative, rate
from rethink_bnn.optimizers.binary import BinaryOptimizer
from tests.helpers import BINARY_CLASSES


@pytest.mark.parametrize("rule", [BOP2NDORDER, CEMA], ids=["sigma", "alpha"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_rate_is_said_to_be_not_finite(rule, value):
    rate = rule.hyperparameters[-1] if rule is BOP2NDORDER else rule.hyperparameters[0]
    with pytest.raises(ValueError, match=rf"^{rate.name} must be finite and in \(0, 1\], got"):
        rate.checked(value)


@pytest.mark.parametrize("cls", list(BINARY_CLASSES.values()), ids=list(BINARY_CLASSES))
def test_each_optimizer_checks_only_its_own_hyperparameters(cls):
    optimizer = cls()
    assert cls.hyperparameter_names == tuple(h.name for h in cls.HYPERPARAMETERS)
    for h in cls.HYPERPARAMETERS:
        assert cls.check_hyperparameter(h.name, 0.5) == 0.5
        with pytest.raises(ValueError, match=rf"^{h.name} must be"):
            cls.check_hyperparameter(h.name, -1.0)
    for call in (lambda: cls.check_hyperparameter("beta", 0.5),
                 lambda: optimizer.hyperparameter("beta"),
                 lambda: optimizer.set_hyperparameter("beta", 0.5)):
        with pytest.raises(ValueError, match=rf"{cls.__name__} has no hyperparameter 'beta'"):
            call()
    others = {"sigma", "alpha", "threshold"} - set(cls.hyperparameter_names)
    for name in others:  # another optimizer's hyperparameter is not this one's
        with pytest.raises(ValueError, match="has no hyperparameter"):
            cls.check_hyperparameter(name, 0.5)


def test_a_new_optimizer_brings_its_hyperparameter_and_its_range():
    class Bop3(BinaryOptimizer):
        HYPERPARAMETERS = (rate("gamma", "the rate", default=0.1),
                           non_negative("kappa_for_test", "a test's threshold", default=1.0))

    assert Bop3.hyperparameter_names == ("gamma", "kappa_for_test")
    assert Bop3.check_hyperparameter("kappa_for_test", 2.0) == 2.0
    with pytest.raises(ValueError, match="kappa_for_test must be a finite float >= 0"):
        Bop3.check_hyperparameter("kappa_for_test", -1.0)
    assert describe_invalid(Bop3.HYPERPARAMETERS, {"gamma": 0.5, "kappa_for_test": -1.0}) == (
        "kappa_for_test = -1 (must be a finite float >= 0)")


def test_each_optimizer_owns_its_names_and_their_ranges():
    """CEMA's α is a rate; another optimizer may declare an α of another range."""
    class Damped(BinaryOptimizer):
        HYPERPARAMETERS = (rate("gamma", "the rate", default=0.1),
                           non_negative("alpha", "a damping", default=3.0))

    assert Damped.check_hyperparameter("alpha", 3.0) == 3.0
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
        rb.optimizers.CEMA.check_hyperparameter("alpha", 3.0)
    with pytest.raises(TypeError, match="declares a hyperparameter twice"):
        class Twice(BinaryOptimizer):  # noqa: F841
            HYPERPARAMETERS = (rate("gamma", "a"), rate("gamma", "b"))
    with pytest.raises(TypeError, match="declare hyperparameters with"):
        class Loose(BinaryOptimizer):  # noqa: F841
            HYPERPARAMETERS = ("gamma",)


def test_bop_keeps_its_messages():
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\].*Bop's paper"):
        rb.Bop(gamma=0.0)
    with pytest.raises(ValueError, match=r"threshold must be a finite float >= 0"):
        rb.Bop(threshold=-1.0)
    with pytest.raises(ValueError, match=r"gamma must be finite and in \(0, 1\]"):
        rb.Bop(gamma=math.inf)


@pytest.fixture
def floatx_float16():
    import tensorflow as tf

    tf.keras.backend.set_floatx("float16")
    yield
    tf.keras.backend.set_floatx("float32")


@pytest.mark.parametrize("cls", BINARY_CLASSES.values(), ids=BINARY_CLASSES)
def test_a_float16_floatx_keeps_every_hyperparameter_float32(cls, floatx_float16):
    import tensorflow as tf

    optimizer = cls()
    for name in cls.hyperparameter_names:
        value = tf.convert_to_tensor(optimizer.hyperparameter(name))
        assert value.dtype == tf.float32, name
        declared = next(h for h in cls.HYPERPARAMETERS if h.name == name)
        assert value.numpy() == np.float32(declared.default), name


def test_bop_under_a_float16_floatx_reads_its_threshold_as_given(floatx_float16):
    """m = γ g = 6e-9 < τ = 1e-8: nothing flips (float16 held τ as 0: everything flipped)."""
    import tensorflow as tf

    optimizer = rb.Bop(threshold=1e-8, gamma=1e-4)
    variable = tf.Variable(np.ones(4, "float16"))
    optimizer.apply_gradients([(tf.fill((4,), tf.constant(6e-5, tf.float16)), variable)])
    np.testing.assert_array_equal(variable.numpy(), np.ones(4))


@pytest.mark.parametrize("cls", BINARY_CLASSES.values(), ids=BINARY_CLASSES)
@pytest.mark.parametrize("value, error, message", [
    ("vector", ValueError, r"schedule returned a tensor of shape \[2\]"),
    (None, TypeError, "schedule returned None: a schedule must return a scalar float"),
    ("0.1", TypeError, "schedule returned '0.1'"),
])
def test_a_schedule_that_returns_no_scalar_is_refused_when_given(cls, value, error, message):
    import tensorflow as tf

    class Returns(tf.keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return tf.ones(2) if value == "vector" else value

        def get_config(self):
            return {}

    for name in cls.hyperparameter_names:
        with pytest.raises(error, match=f"^{cls.__name__}'s {name} {message}"):
            cls(**{name: Returns()})


def test_a_schedule_that_returns_an_int_is_a_float32_value():
    import tensorflow as tf

    class One(tf.keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 1

        def get_config(self):
            return {}

    optimizer = rb.Bop(threshold=One(), gamma=1e-4)
    variable = tf.Variable(np.ones(4, "float32"))
    optimizer.apply_gradients([(tf.fill((4,), 1.0), variable)])
    np.testing.assert_array_equal(variable.numpy(), np.ones(4))  # m = 1e-4 < τ = 1
    assert int(optimizer.invalid_hyperparameter_steps) == 0
