"""The shared rules on their own, over numpy in float64 (neither front end involved):
against the papers' equations written independently, with the neutral hyperparameters
as a step that changes nothing, and the run-time range check. The front ends' tests
compare each front end's optimizers with these rules and with each other."""

import math
import types

import numpy as np
import pytest

from rethink_bnn.core.declarations import describe_invalid, valid_at_run_time
from rethink_bnn.core.rules import BOP, BOP2NDORDER, CEMA, RULES

NP = types.SimpleNamespace(**{name: getattr(np, name) for name in (
    "add", "subtract", "multiply", "divide", "square", "sqrt", "maximum", "where",
    "ones_like", "greater", "greater_equal", "less", "less_equal", "logical_and", "all",
    "stack")}, cast=lambda x, dtype: np.asarray(x, dtype))


def _step(rule, weight, gradient, state, **hyperparameters):
    return rule.update(NP, weight, gradient, state,
                       {k: np.float64(v) for k, v in hyperparameters.items()})


@pytest.fixture
def inputs(rng):
    weight = np.where(rng.random(200) < 0.5, -1.0, 1.0)
    return weight, rng.normal(size=200), rng.normal(scale=0.5, size=200), rng.random(200)


def test_bop_is_equations_3_and_4(inputs):
    weight, gradient, m, _ = inputs
    (new, flip) = _step(BOP, weight, gradient, {"m": m}, gamma=0.1, threshold=0.3)
    paper_m = (1 - 0.1) * m + 0.1 * gradient
    np.testing.assert_allclose(new["m"], paper_m, rtol=1e-12)
    expected = (np.abs(paper_m) >= 0.3) & (np.sign(paper_m) == np.sign(weight))
    np.testing.assert_array_equal(flip, expected)
    assert 0 < flip.sum() < len(flip)


def test_bop2ndorder_compares_m_over_the_root_of_v(inputs):
    weight, gradient, m, v = inputs
    for unbiased in (False, True):
        new, flip = BOP2NDORDER.update(NP, weight, gradient, {"m": m, "v": v},
                                       {"gamma": 0.2, "sigma": 0.05, "threshold": 1.0},
                                       unbiased=unbiased)
        m_t, v_t = 0.8 * m + 0.2 * gradient, 0.95 * v + 0.05 * gradient**2
        np.testing.assert_allclose([new["m"], new["v"]], [m_t, v_t], rtol=1e-12)
        if unbiased:
            m_t, v_t = m_t / 0.2, v_t / 0.05
        np.testing.assert_array_equal(flip, weight * m_t / (np.sqrt(v_t) + 1e-10) >= 1.0)


def test_cema_flips_where_the_inertia_agrees_with_the_weight(inputs):
    weight, gradient, a, i = inputs
    new, flip = _step(CEMA, weight, gradient, {"a": a, "i": i}, gamma=0.3, alpha=0.1)
    a_t = a + 0.3 * (gradient - a)
    i_t = i + 0.1 * (a_t - i)
    np.testing.assert_allclose([new["a"], new["i"]], [a_t, i_t], rtol=1e-12)
    np.testing.assert_array_equal(flip, np.sign(i_t) == np.sign(weight))


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_the_neutral_values_change_nothing(rule, inputs):
    weight, gradient, *slots = inputs
    state = dict(zip(rule.state, slots))
    neutral = {h.name: h.neutral for h in rule.hyperparameters}
    for options in [{}] + [{name: not o.default} for name, o in rule.options.items()]:
        new, flip = rule.update(NP, weight, gradient, state,
                                {k: np.float64(v) for k, v in neutral.items()}, **options)
        assert sorted(new) == sorted(rule.state)
        for name in rule.state:
            np.testing.assert_array_equal(new[name], state[name])
        assert not flip.any()


def test_the_run_time_check_is_the_constructors_range():
    def valid(**values):
        return bool(valid_at_run_time(NP, BOP2NDORDER.hyperparameters,
                                      {"gamma": 0.5, "sigma": 0.5, "threshold": 0.0, **values}))

    assert valid() and valid(gamma=1.0, threshold=3e38) and valid(sigma=1.2e-38)
    for bad in ({"gamma": math.nan}, {"gamma": 0.0}, {"gamma": 1e-45}, {"sigma": 1.5},
                {"threshold": -1e-30}, {"threshold": math.inf}, {"threshold": math.nan}):
        assert not valid(**bad), bad
        name, value = next(iter(bad.items()))
        for h in BOP2NDORDER.hyperparameters:  # the constructor refuses the same
            if h.name == name:
                assert h.problem(value)
    assert describe_invalid(BOP2NDORDER.hyperparameters, {"gamma": 0.5, "sigma": 2.0}) == (
        "sigma = 2 (must be in (0, 1])")
