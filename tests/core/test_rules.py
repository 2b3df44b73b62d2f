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


# Each rule's equations as its paper writes them, in numpy (float64 for float64 inputs),
# written without `rethink_bnn.core.rules`: `reference(weight, gradient, state,
# hyperparameters, **options) -> (new_state, flip)`. The Keras 3 conformance suite
# (tests/keras3/test_conformance.py) checks both front ends' optimizers against them too.

def bop_reference(weight, gradient, state, hyperparameters):
    """Bop's equations 3 and 4: m_t = (1 - γ) m + γ g; flip where |m_t| >= τ and m_t
    has the weight's sign."""
    gamma, threshold = hyperparameters["gamma"], hyperparameters["threshold"]
    m = (1 - gamma) * state["m"] + gamma * gradient
    return {"m": m}, (np.abs(m) >= threshold) & (np.sign(m) == np.sign(weight))


def bop2ndorder_reference(weight, gradient, state, hyperparameters, unbiased=False):
    """Bop2ndOrder: averages of g (rate γ) and g² (rate σ); flip where w m / (√v + 1e-10)
    >= τ (unbiased: m / γ and v / σ)."""
    gamma, sigma = hyperparameters["gamma"], hyperparameters["sigma"]
    m = (1 - gamma) * state["m"] + gamma * gradient
    v = (1 - sigma) * state["v"] + sigma * gradient**2
    m_t, v_t = (m / gamma, v / sigma) if unbiased else (m, v)
    return {"m": m, "v": v}, weight * m_t / (np.sqrt(v_t) + 1e-10) >= hyperparameters[
        "threshold"]


def cema_reference(weight, gradient, state, hyperparameters):
    """CEMA: a_t = a + γ (g - a), i_t = i + α (a_t - i); flip where i_t has w's sign."""
    a = state["a"] + hyperparameters["gamma"] * (gradient - state["a"])
    i = state["i"] + hyperparameters["alpha"] * (a - state["i"])
    return {"a": a, "i": i}, np.sign(i) == np.sign(weight)


REFERENCES = {"Bop": bop_reference, "Bop2ndOrder": bop2ndorder_reference,
              "CEMA": cema_reference}


def _step(rule, weight, gradient, state, **hyperparameters):
    return rule.update(NP, weight, gradient, state,
                       {k: np.float64(v) for k, v in hyperparameters.items()})


@pytest.fixture
def inputs(rng):
    weight = np.where(rng.random(200) < 0.5, -1.0, 1.0)
    return weight, rng.normal(size=200), rng.normal(scale=0.5, size=200), rng.random(200)


def test_every_rule_has_its_reference():
    assert sorted(REFERENCES) == sorted(rule.name for rule in RULES)


def test_bop_is_equations_3_and_4(inputs):
    weight, gradient, m, _ = inputs
    (new, flip) = _step(BOP, weight, gradient, {"m": m}, gamma=0.1, threshold=0.3)
    paper, paper_flip = bop_reference(weight, gradient, {"m": m},
                                      {"gamma": 0.1, "threshold": 0.3})
    np.testing.assert_allclose(new["m"], paper["m"], rtol=1e-12)
    np.testing.assert_array_equal(flip, paper_flip)
    assert 0 < flip.sum() < len(flip)


def test_bop2ndorder_compares_m_over_the_root_of_v(inputs):
    weight, gradient, m, v = inputs
    hyperparameters = {"gamma": 0.2, "sigma": 0.05, "threshold": 1.0}
    for unbiased in (False, True):
        new, flip = BOP2NDORDER.update(NP, weight, gradient, {"m": m, "v": v},
                                       hyperparameters, unbiased=unbiased)
        paper, paper_flip = bop2ndorder_reference(weight, gradient, {"m": m, "v": v},
                                                  hyperparameters, unbiased=unbiased)
        np.testing.assert_allclose([new["m"], new["v"]], [paper["m"], paper["v"]], rtol=1e-12)
        np.testing.assert_array_equal(flip, paper_flip)
        assert 0 < flip.sum() < len(flip)


def test_cema_flips_where_the_inertia_agrees_with_the_weight(inputs):
    weight, gradient, a, i = inputs
    new, flip = _step(CEMA, weight, gradient, {"a": a, "i": i}, gamma=0.3, alpha=0.1)
    paper, paper_flip = cema_reference(weight, gradient, {"a": a, "i": i},
                                       {"gamma": 0.3, "alpha": 0.1})
    np.testing.assert_allclose([new["a"], new["i"]], [paper["a"], paper["i"]], rtol=1e-12)
    np.testing.assert_array_equal(flip, paper_flip)
    assert 0 < flip.sum() < len(flip)


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
