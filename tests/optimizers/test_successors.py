"""Bop2ndOrder and CEMA against float32 references written from their formulas. (What
they share with Bop, from their errors to saving and distribution, is tested for all
three where Bop's is: the tests over `tests.helpers.BINARY_OPTIMIZERS`.)"""

import numpy as np
import pytest
import tensorflow as tf

from rethink_bnn.optimizers import CEMA, Bop2ndOrder, bop2ndorder_update, cema_update

SHAPES = [(7, 5), (3,), (2, 3, 4)]
STEPS = 120
f32 = np.float32


def _linear(start, end, steps=STEPS):
    return tf.keras.optimizers.schedules.PolynomialDecay(start, steps, end, power=1.0)


def _used(optimizer):
    """{name: float32} of the hyperparameters the latest step used (a schedule's value
    computed in a graph may differ from its eager value in the last bit: Grappler
    rewrites pow(x, 1.0))."""
    return {name: f32(value) for name, value in optimizer.hyperparameters.items()}


def _bop2_reference(w, g, m, v, gamma, sigma, threshold, unbiased):
    m = m + gamma * (g - m)
    v = v + sigma * (np.square(g) - v)
    m_t, v_t = (m / gamma, v / sigma) if unbiased else (m, v)
    flip = w * (m_t / (np.sqrt(v_t) + f32(1e-10))) >= threshold
    return np.where(flip, -w, w), m, v


def _cema_reference(w, g, a, i, gamma, alpha):
    a = (f32(1) - gamma) * a + gamma * g
    i = (f32(1) - alpha) * i + alpha * a
    return np.where(i * w > 0, -w, w), a, i


# name -> (optimizer factory, reference step, names of the state slots)
CASES = {
    "bop2-biased": (lambda: Bop2ndOrder(threshold=0.3, gamma=0.1, sigma=0.1), "bop2"),
    "bop2-unbiased": (lambda: Bop2ndOrder(threshold=0.9, gamma=0.1, sigma=0.05,
                                          unbiased=True), "bop2"),
    "bop2-scheduled": (lambda: Bop2ndOrder(threshold=_linear(0.1, 0.6), gamma=_linear(0.3, 0.01),
                                           sigma=_linear(0.01, 0.3)), "bop2"),
    "bop2-unbiased-scheduled": (lambda: Bop2ndOrder(
        threshold=_linear(0.5, 1.5), gamma=_linear(0.3, 0.01), sigma=_linear(0.01, 0.3),
        unbiased=True), "bop2"),
    "cema": (lambda: CEMA(gamma=0.2, alpha=0.05), "cema"),
    "cema-scheduled": (lambda: CEMA(gamma=_linear(0.5, 0.05), alpha=_linear(0.1, 0.001)),
                       "cema"),
}


def _gradients(rng, step):
    # A per-weight drift plus noise, so that weights flip now and then, both ways.
    return [(rng.normal(size=s) + np.sin(0.05 * step + np.arange(np.prod(s)).reshape(s)))
            .astype(f32) for s in SHAPES]


@pytest.mark.parametrize("mode", ["eager", "tf.function", "xla"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_reference_weight_for_weight_over_many_steps(case, mode):
    make, kind = CASES[case]
    optimizer = make()
    if mode == "xla":
        optimizer.jit_compile = True
    rng = np.random.default_rng(0)
    variables = [tf.Variable(np.where(rng.random(s) < 0.5, -1, 1).astype(f32)) for s in SHAPES]
    weights = [v.numpy() for v in variables]
    states = [[np.zeros(s, f32), np.zeros(s, f32)] for s in SHAPES]
    step = optimizer.apply_gradients if mode == "eager" else tf.function(optimizer.apply_gradients)
    flips = 0
    for k in range(STEPS):
        grads = _gradients(rng, k)
        step(list(zip([tf.constant(g) for g in grads], variables)))
        used = _used(optimizer)
        if k in (0, STEPS - 1):  # the schedules' own values, to float32 rounding
            for name, value in used.items():
                expected = getattr(optimizer, f"_{name}" if name != optimizer.hyperparameter_names[0]
                                   else "_learning_rate")
                if callable(expected):
                    assert value == pytest.approx(float(expected(k)), rel=1e-5)
        for j, g in enumerate(grads):
            if kind == "bop2":
                new, *states[j] = _bop2_reference(
                    weights[j], g, *states[j], used["gamma"], used["sigma"],
                    used["threshold"], optimizer.unbiased)
            else:
                new, *states[j] = _cema_reference(
                    weights[j], g, *states[j], used["gamma"], used["alpha"])
            flips += int(np.sum(new != weights[j]))
            weights[j] = new
    assert flips > 20  # the rule was exercised, both ways
    for j, variable in enumerate(variables):
        np.testing.assert_array_equal(variable.numpy(), weights[j], err_msg=f"weights {j}")
        for slot, expected in zip(optimizer.state(variable).values(), states[j]):
            if mode == "xla":  # XLA may fuse a * b + c into one rounding (an FMA)
                np.testing.assert_allclose(slot.numpy(), expected, rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(slot.numpy(), expected, err_msg=f"{slot.name}")
    assert int(tf.reduce_sum(optimizer.flip_counts)) == flips


def test_bop2ndorder_rule_on_hand_made_tensors():
    w = tf.Variable([1.0, 1.0, -1.0, -1.0, 1.0])
    m, v = tf.Variable(tf.zeros(5)), tf.Variable(tf.zeros(5))
    g = tf.constant([4.0, -4.0, -4.0, 4.0, 0.0])
    # γ = σ = 1: m = g, v = g²; m/√v = sign(g) (0 for g = 0), flipped where w agrees.
    flips = bop2ndorder_update(w, m, v, g, tf.constant(1.0), tf.constant(1.0), tf.constant(0.5))
    np.testing.assert_array_equal(w.numpy(), [-1, 1, 1, -1, 1])  # w m >= τ: 0 and 2
    assert int(flips) == 2
    np.testing.assert_array_equal(v.numpy(), [16, 16, 16, 16, 0])
    # The boundary flips: w m / (√v + 1e-10) = τ exactly (here 0 = 0 for g = 0).
    w2 = tf.Variable([1.0])
    bop2ndorder_update(w2, tf.Variable([0.0]), tf.Variable([0.0]), tf.constant([0.0]),
                       tf.constant(0.5), tf.constant(0.5), tf.constant(0.0))
    assert w2.numpy()[0] == -1.0


def test_cema_rule_on_hand_made_tensors():
    w = tf.Variable([1.0, -1.0, 1.0])
    a, i = tf.Variable(tf.zeros(3)), tf.Variable(tf.zeros(3))
    g = tf.constant([2.0, 2.0, 0.0])
    flips = cema_update(w, a, i, g, tf.constant(0.5), tf.constant(0.5))
    np.testing.assert_allclose(a.numpy(), [1, 1, 0]) and np.testing.assert_allclose(
        i.numpy(), [0.5, 0.5, 0])
    np.testing.assert_array_equal(w.numpy(), [-1, -1, 1])  # i·w > 0 only for the first
    assert int(flips) == 1
    # α = 0 (an invalid step's neutral value) flips nothing even where i·w > 0.
    w.assign([-1.0, 1.0, 1.0])
    assert int(cema_update(w, a, i, g, tf.constant(0.0), tf.constant(0.0))) == 0
