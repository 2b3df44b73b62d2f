"""The declared hyperparameters: each optimizer's own ranges, and no unknown name."""

import math

import numpy as np
import pytest

import rethink_bnn as rb
from rethink_bnn.optimizers import hyperparameters as hp
from rethink_bnn.optimizers.binary import BinaryOptimizer
from tests.helpers import BINARY_CLASSES


@pytest.mark.parametrize("value", [-1.0, 0.5, 0.0, math.inf])
@pytest.mark.parametrize("call", [hp.check, hp.valid_value])
def test_an_unknown_name_is_a_value_error_whatever_the_value(call, value):
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'beta': .*gamma"):
        call("beta", value)


@pytest.mark.parametrize("name", [None, 3, "", "Gamma"])
def test_a_name_that_is_no_declared_string_is_a_value_error(name):
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        hp.check(name, 0.5)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        hp.describe_invalid(**{str(name): 0.5})


@pytest.mark.parametrize("name", ["gamma", "sigma", "alpha"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_rate_is_said_to_be_not_finite(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be finite and in \(0, 1\], got"):
        hp.check(name, value)


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
        HYPERPARAMETERS = (hp.rate("gamma", "the rate"),
                           hp.non_negative("kappa_for_test", "a test's threshold"))

    assert Bop3.hyperparameter_names == ("gamma", "kappa_for_test")
    assert hp.check("kappa_for_test", 2.0) == 2.0
    with pytest.raises(ValueError, match="kappa_for_test must be a finite float >= 0"):
        hp.check("kappa_for_test", -1.0)
    assert not bool(hp.valid_value("kappa_for_test", np.float32(-1)))
    assert hp.describe_invalid(kappa_for_test=-1.0) == (
        "kappa_for_test = -1 (must be a finite float >= 0)")


def test_one_name_cannot_have_two_ranges():
    with pytest.raises(TypeError, match="gamma as non-negative, but it is declared rate"):
        class Clash(BinaryOptimizer):  # noqa: F841
            HYPERPARAMETERS = (hp.non_negative("gamma", "a threshold"),)
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
