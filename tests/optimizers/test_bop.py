import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers import Bop, bop_update
from tests.helpers import assert_all_binary

schedules = tf.keras.optimizers.schedules


def _step(weights, gradients, gamma, threshold, m=None):
    """One bop_update on fresh variables; returns (m_t, w_t, flips)."""
    w = tf.Variable(np.asarray(weights, np.float32))
    m = tf.Variable(np.zeros_like(weights, np.float32) if m is None else np.asarray(m, np.float32))
    flips = bop_update(w, m, tf.constant(gradients, tf.float32), tf.constant(gamma), tf.constant(threshold))
    return m.numpy(), w.numpy(), int(flips)


# --- the rule on hand-made tensors -------------------------------------------------

def test_flip_needs_magnitude_and_sign_agreement():
    # gamma = 1 makes m_t = g_t, so each entry exercises the rule directly.
    m, w, flips = _step([1, -1, 1, -1, 1], [0.5, -0.5, 0.4, 0.6, 2.0], 1.0, 0.5)
    np.testing.assert_array_equal(m, np.float32([0.5, -0.5, 0.4, 0.6, 2.0]))
    # |m| >= tau with agreeing sign flips (0.5 is exactly on the boundary: flips);
    # |m| < tau does not; a strong gradient of the opposite sign does not.
    np.testing.assert_array_equal(w, [-1, 1, 1, -1, -1])
    assert flips == 3


def test_threshold_zero_flips_on_any_agreeing_average_but_not_on_zero():
    m, w, flips = _step([1, -1, 1, -1], [1e-30, -1e-30, 0.0, 0.0], 1.0, 0.0)
    np.testing.assert_array_equal(w, [-1, 1, 1, -1])
    assert flips == 2


def test_zero_gradients_decay_the_average_and_flip_nothing():
    m, w, flips = _step([1, -1, 1], [0.0, 0.0, 0.0], 0.1, 1e-8, m=[1.0, -1.0, -1.0])
    np.testing.assert_allclose(m, [0.9, -0.9, -0.9], rtol=1e-6)
    # the first two still agree in sign and exceed tau: consistent history flips them
    np.testing.assert_array_equal(w, [-1, 1, 1])
    m, w, flips = _step([1, -1], [0.0, 0.0], 0.5, 1e-8)
    np.testing.assert_array_equal(m, [0, 0])
    np.testing.assert_array_equal(w, [1, -1])
    assert flips == 0


def test_moving_average_is_the_papers_ema(rng):
    gamma = np.float32(0.3)
    w = tf.Variable(np.ones(50, np.float32))
    m = tf.Variable(np.zeros(50, np.float32))
    larq_form = paper_form = np.zeros(50, np.float32)
    for _ in range(20):
        g = rng.normal(size=50).astype(np.float32)
        bop_update(w, m, tf.constant(g), tf.constant(gamma), tf.constant(np.float32(1e9)))
        larq_form = larq_form + gamma * (g - larq_form)
        paper_form = (1 - gamma) * paper_form + gamma * g
        np.testing.assert_array_equal(m.numpy(), larq_form)  # bit for bit
        np.testing.assert_allclose(m.numpy(), paper_form, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(w.numpy(), np.ones(50))  # tau = 1e9: never flips


def test_gamma_and_threshold_schedules_follow_the_step():
    # PiecewiseConstantDecay takes the earlier value while step <= boundary.
    gamma = schedules.PiecewiseConstantDecay([0], [1.0, 0.5])
    threshold = schedules.PiecewiseConstantDecay([1], [10.0, 0.0])
    w = tf.Variable([1.0])
    opt = Bop(threshold=threshold, gamma=gamma)
    # step 0: gamma 1 -> m = 4; tau 10 -> no flip
    opt.apply_gradients([(tf.constant([4.0]), w)])
    np.testing.assert_array_equal(opt._m[0].numpy(), [4.0])
    assert w.numpy()[0] == 1.0
    # step 1: gamma 0.5 -> m = 4 + 0.5 (2 - 4) = 3; tau still 10 -> no flip
    opt.apply_gradients([(tf.constant([2.0]), w)])
    np.testing.assert_array_equal(opt._m[0].numpy(), [3.0])
    assert w.numpy()[0] == 1.0
    # step 2: tau drops to 0 -> m = 3 + 0.5 (2 - 3) = 2.5 agrees with w -> flip
    opt.apply_gradients([(tf.constant([2.0]), w)])
    assert w.numpy()[0] == -1.0
    assert int(opt.iterations) == 3


def test_first_step_of_a_fresh_model_keeps_weights_binary():
    layer = lq.layers.QuantDense(
        64, kernel_quantizer=lq.quantizers.NoOp(precision=1),
        kernel_initializer=rb.initializers.BinaryHeNormal(seed=1), use_bias=False,
    )
    layer.build((None, 32))
    assert_all_binary([layer.kernel])
    opt = Bop(threshold=0.0, gamma=1.0)
    opt.apply_gradients([(tf.random.normal(layer.kernel.shape), layer.kernel)])
    assert_all_binary([layer.kernel])
    assert int(opt.flip_counts[0]) > 0


def test_non_binary_variable_is_refused_by_name():
    w = tf.Variable([[0.3, -1.0]], name="my_real_kernel")
    with pytest.raises(ValueError, match="my_real_kernel.*not all ±1"):
        Bop().apply_gradients([(tf.ones_like(w), w)])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"gamma": 0.0}, ValueError, r"gamma must be in \(0, 1\]"),
        ({"gamma": 1.5}, ValueError, r"gamma must be in \(0, 1\]"),
        ({"gamma": "fast"}, TypeError, "gamma must be a float or a"),
        ({"threshold": -1e-8}, ValueError, "threshold must be a finite float >= 0"),
        ({"threshold": float("nan")}, ValueError, "threshold must be a finite float >= 0"),
        ({"threshold": float("inf")}, ValueError, "threshold must be a finite float >= 0"),
        ({"threshold": lambda step: 0.1}, TypeError, "threshold must be a float or a"),
        ({"weight_decay": 1e-4}, ValueError, "move binary weights off ±1"),
        ({"use_ema": True}, ValueError, "move binary weights off ±1"),
    ],
)
def test_bad_hyperparameters_raise_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        Bop(**kwargs)


def test_one_float_slot_per_binary_weight():
    w = tf.Variable(tf.ones((3, 3, 8, 16)))
    opt = Bop()
    opt.build([w])
    slots = [v for v in opt.variables if v.shape == w.shape]
    assert len(slots) == 1 and slots[0].dtype == tf.float32


# --- equality with Larq's own Bop ------------------------------------------------

@pytest.mark.parametrize(
    "gamma, threshold",
    [
        (1e-2, 1e-3),
        (schedules.ExponentialDecay(0.05, decay_steps=20, decay_rate=0.5), 1e-3),
        (schedules.PolynomialDecay(1e-1, 150, 1e-3), 5e-4),
    ],
    ids=["constant", "exponential-gamma", "linear-gamma"],
)
def test_matches_larq_bop_bit_for_bit_for_150_steps(rng, gamma, threshold):
    init = np.where(rng.normal(size=(40, 30)) >= 0, 1.0, -1.0).astype(np.float32)
    ours_w, larq_w = tf.Variable(init), tf.Variable(init)
    ours = Bop(threshold=threshold, gamma=gamma)
    larq = lq.optimizers.Bop(threshold=threshold, gamma=gamma)
    total_flips = 0
    for step in range(150):
        # a drifting mean keeps flips happening throughout
        g = (rng.normal(size=init.shape) * 0.01 + 0.003 * np.sin(step / 10)).astype(np.float32)
        before = ours_w.numpy()
        ours.apply_gradients([(tf.constant(g), ours_w)])
        larq.apply_gradients([(tf.constant(g), larq_w)])
        np.testing.assert_array_equal(ours._m[0].numpy(), larq.get_slot(larq_w, "m").numpy())
        np.testing.assert_array_equal(ours_w.numpy(), larq_w.numpy())
        total_flips += int(np.sum(before != ours_w.numpy()))
    assert int(ours.flip_counts[0]) == total_flips > 100


def test_differs_from_larq_only_at_the_exact_boundary():
    # w m == tau exactly: the paper (and we) flip; Larq returns +1 whatever w was.
    w_ours, w_larq = tf.Variable([1.0, -1.0]), tf.Variable([1.0, -1.0])
    g = tf.constant([0.5, -0.5])
    Bop(threshold=0.5, gamma=1.0).apply_gradients([(g, w_ours)])
    lq.optimizers.Bop(threshold=0.5, gamma=1.0).apply_gradients([(g, w_larq)])
    np.testing.assert_array_equal(w_ours.numpy(), [-1.0, 1.0])
    np.testing.assert_array_equal(w_larq.numpy(), [1.0, 1.0])


# --- serialization ------------------------------------------------------------------

@pytest.mark.parametrize(
    "threshold, gamma",
    [
        (1e-8, 1e-4),
        (schedules.ExponentialDecay(1e-7, 100, 0.1, staircase=True),
         schedules.PolynomialDecay(1e-4, 1000, 1e-6, power=1.0)),
    ],
)
def test_config_round_trip(threshold, gamma):
    opt = Bop(threshold=threshold, gamma=gamma, name="my_bop")
    config = opt.get_config()
    clone = Bop.from_config(config)
    assert clone.get_config() == config
    via_keras = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(opt))
    assert isinstance(via_keras, Bop) and via_keras.get_config() == config
    if not isinstance(gamma, float):
        assert float(clone.gamma) == pytest.approx(float(gamma(0)))


def test_config_keeps_the_values_as_given():
    config = Bop(threshold=1e-8, gamma=1e-4).get_config()
    assert (config["threshold"], config["gamma"]) == (1e-8, 1e-4)


# --- execution modes ---------------------------------------------------------------

def _grads(rng, shape, steps):
    return [(rng.normal(size=shape) * 0.01 + 0.004).astype(np.float32) for _ in range(steps)]


def _run(init, grads, mode):
    w = tf.Variable(init)
    opt = Bop(threshold=1e-3, gamma=0.1)

    def step(g):
        opt.apply_gradients([(g, w)])

    if mode == "tf.function":
        step = tf.function(step)
    elif mode == "xla":
        step = tf.function(step, jit_compile=True)
    history = []
    for g in grads:
        step(tf.constant(g))
        history.append((w.numpy().copy(), opt._m[0].numpy().copy()))
    return history


@pytest.mark.parametrize("mode", ["tf.function", "xla"])
def test_compiled_steps_match_eager(rng, mode):
    init = np.where(rng.normal(size=(64, 32)) >= 0, 1.0, -1.0).astype(np.float32)
    grads = _grads(rng, init.shape, 30)
    for (w, m), (w_ref, m_ref) in zip(_run(init, grads, mode), _run(init, grads, "eager")):
        np.testing.assert_allclose(m, m_ref, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(w, w_ref)


def test_setting_gamma_and_threshold_is_validated():
    opt = Bop(threshold=1e-8, gamma=1e-4)
    opt.gamma = 1e-3
    opt.threshold = 0.0
    assert float(opt.learning_rate) == pytest.approx(1e-3) and float(opt.threshold) == 0.0
    with pytest.raises(ValueError, match="gamma must be in"):
        opt.learning_rate = 2.0
    with pytest.raises(ValueError, match="threshold must be a finite float"):
        opt.threshold = -1.0
    with pytest.raises(TypeError, match="create a new Bop to use a schedule"):
        opt.threshold = schedules.ExponentialDecay(1e-7, 10, 0.5)


def test_an_optimizer_checkpoint_holds_its_state_but_not_the_models_weights(tmp_path):
    w = tf.Variable(np.ones((4, 4), np.float32))
    opt = Bop(threshold=0.0, gamma=0.5)
    opt.apply_gradients([(tf.ones_like(w), w)])
    path = tf.train.Checkpoint(optimizer=opt).save(str(tmp_path / "opt"))
    names = {name for name, _ in tf.train.list_variables(path)}
    assert not any("_binary_variables" in n for n in names), names
    w.assign(np.ones((4, 4), np.float32))  # what a restore must leave alone
    fresh_w = tf.Variable(np.ones((4, 4), np.float32))
    fresh = Bop(threshold=0.0, gamma=0.5)
    fresh.build([fresh_w])
    tf.train.Checkpoint(optimizer=fresh).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(fresh._m[0].numpy(), opt._m[0].numpy())
    np.testing.assert_array_equal(fresh.flip_counts.numpy(), [16])
    np.testing.assert_array_equal(fresh_w.numpy(), np.ones((4, 4)))
