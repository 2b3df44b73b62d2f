"""Bop: its rule, bit for bit Larq's, and what every binary optimizer must do (the tests
taking `make` run once per optimizer of `tests.helpers.BINARY_OPTIMIZERS`: Bop,
Bop2ndOrder biased and unbiased, CEMA)."""


import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers import Bop, SkipNonFinite, binary_optimizers, bop_update
from tests.helpers import (
    BINARY_CLASSES,
    assert_all_binary,
    bop_adam,
    is_rate,
    dense_bnn,
    over_binary_optimizers,
    toy_data,
)

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
    np.testing.assert_array_equal(opt.averages[0].numpy(), [4.0])
    assert w.numpy()[0] == 1.0
    # step 1: gamma 0.5 -> m = 4 + 0.5 (2 - 4) = 3; tau still 10 -> no flip
    opt.apply_gradients([(tf.constant([2.0]), w)])
    np.testing.assert_array_equal(opt.averages[0].numpy(), [3.0])
    assert w.numpy()[0] == 1.0
    # step 2: tau drops to 0 -> m = 3 + 0.5 (2 - 3) = 2.5 agrees with w -> flip
    opt.apply_gradients([(tf.constant([2.0]), w)])
    assert w.numpy()[0] == -1.0
    assert int(opt.iterations) == 3


@over_binary_optimizers
def test_first_step_of_a_fresh_model_keeps_weights_binary(make):
    layer = lq.layers.QuantDense(
        64, kernel_quantizer=lq.quantizers.NoOp(precision=1),
        kernel_initializer=rb.initializers.BinaryHeNormal(seed=1), use_bias=False,
    )
    layer.build((None, 32))
    assert_all_binary([layer.kernel])
    opt = make()
    opt.apply_gradients([(tf.random.normal(layer.kernel.shape), layer.kernel)])
    assert_all_binary([layer.kernel])
    assert int(opt.flip_counts[0]) > 0


@pytest.mark.parametrize("cls", BINARY_CLASSES.values(), ids=BINARY_CLASSES)
def test_non_binary_variable_is_refused_by_name(cls):
    w = tf.Variable([[0.3, -1.0]], name="my_real_kernel")
    with pytest.raises(ValueError, match=f"^{cls.__name__} got variable `my_real_kernel:0` "
                                         "whose values are not all ±1"):
        cls().apply_gradients([(tf.ones_like(w), w)])


# Each hyperparameter of each class, and values it refuses: a rate (γ, σ, α) is in
# (0, 1], τ a finite float >= 0; anything else but a schedule is a TypeError.
_RATE = {"zero": (0.0, ValueError), "above-1": (1.5, ValueError), "negative": (-1e-3, ValueError),
         "nan": (float("nan"), ValueError), "inf": (float("inf"), ValueError),
         "subnormal": (1e-45, ValueError), "str": ("fast", TypeError),
         "callable": (lambda step: 0.1, TypeError)}
_THRESHOLD = {"negative": (-1e-8, ValueError), "nan": (float("nan"), ValueError),
              "inf": (float("inf"), ValueError), "-inf": (-float("inf"), ValueError),
              "str": ("fast", TypeError), "callable": (lambda step: 0.1, TypeError)}
BAD_HYPERPARAMETERS = [
    pytest.param(cls, name, value, error, id=f"{key}-{name}-{bad}")
    for key, cls in BINARY_CLASSES.items() for name in cls.hyperparameter_names
    for bad, (value, error) in (_RATE if is_rate(cls, name) else _THRESHOLD).items()]


@pytest.mark.parametrize("cls, name, value, error", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise_a_clear_error(cls, name, value, error):
    finite = not isinstance(value, float) or value == value and abs(value) != float("inf")
    message = {ValueError: (r"must be a finite float >= 0" if not is_rate(cls, name)
                            else r"must be in \(0, 1\]" if finite
                            else r"must be finite and in \(0, 1\]"),
               TypeError: "must be a float or a"}[error]
    with pytest.raises(error, match=f"^{name} {message}"):
        cls(**{name: value})


@pytest.mark.parametrize("refused, value", [("weight_decay", 1e-4), ("use_ema", True)])
@pytest.mark.parametrize("cls", BINARY_CLASSES.values(), ids=BINARY_CLASSES)
def test_weight_decay_and_ema_are_refused(cls, refused, value):
    with pytest.raises(ValueError, match=f"^{cls.__name__} does not support {refused}="
                                         ".*move binary weights off ±1"):
        cls(**{refused: value})
    cls(**{refused: None if refused == "weight_decay" else False})  # unset: accepted


@over_binary_optimizers
def test_float_slots_of_the_weights_shape_and_nothing_else(make):
    w = tf.Variable(tf.ones((3, 3, 8, 16)))
    opt = make()
    opt.build([w])
    slots = [v for v in opt.variables if v.shape == w.shape]
    state = opt.state(w)
    assert len(slots) == len(state) == len(make.cls.STATE)
    assert all(any(s is v for v in slots) for s in state.values())
    assert all(s.dtype == tf.float32 for s in slots)


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
@pytest.mark.slow
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
        np.testing.assert_array_equal(ours.averages[0].numpy(), larq.get_slot(larq_w, "m").numpy())
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

def _schedules(make):
    """A different schedule for each hyperparameter of `make`'s class."""
    kinds = [lambda v: schedules.ExponentialDecay(v, 100, 0.1, staircase=True),
             lambda v: schedules.PolynomialDecay(v, 1000, v / 100, power=1.0),
             lambda v: schedules.PiecewiseConstantDecay([10], [v, v / 2])]
    return {name: kind(make.defaults[name])
            for name, kind in zip(make.cls.hyperparameter_names, kinds)}


@pytest.mark.parametrize("scheduled", [False, True], ids=["floats", "schedules"])
@over_binary_optimizers
def test_config_round_trip(make, scheduled):
    opt = make(name="my_optimizer", **(_schedules(make) if scheduled else {}))
    config = opt.get_config()
    assert set(make.cls.hyperparameter_names) <= set(config)
    clone = make.cls.from_config(config)
    assert clone.get_config() == config
    via_keras = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(opt),
                                                use_legacy_optimizer=False)
    assert type(via_keras) is make.cls and via_keras.get_config() == config
    assert getattr(via_keras, "unbiased", None) == getattr(opt, "unbiased", None)
    expected = {name: float(value(0)) if scheduled else value
                for name, value in (_schedules(make) if scheduled else make.defaults).items()
                if name in make.cls.hyperparameter_names}
    assert clone.hyperparameters == pytest.approx(expected, rel=1e-6)
    assert binary_optimizers(clone) == [clone]


@over_binary_optimizers
def test_config_keeps_the_values_as_given(make):
    config = make().get_config()
    assert {name: config[name] for name in make.cls.hyperparameter_names} == {
        name: value for name, value in make.defaults.items()
        if name in make.cls.hyperparameter_names}
    assert "learning_rate" not in config and "weight_decay" not in config


# --- execution modes ---------------------------------------------------------------

def _grads(rng, shape, steps):
    return [(rng.normal(size=shape) * 0.01 + 0.004).astype(np.float32) for _ in range(steps)]


def _run(init, grads, mode, make):
    w = tf.Variable(init)
    opt = make()

    def step(g):
        opt.apply_gradients([(g, w)])

    if mode == "tf.function":
        step = tf.function(step)
    elif mode == "xla":
        step = tf.function(step, jit_compile=True)
    history = []
    for g in grads:
        step(tf.constant(g))
        history.append((w.numpy().copy(), [s.numpy().copy() for s in opt.state(w).values()],
                        opt.flip_counts.numpy()))
    return history


@pytest.mark.parametrize("mode", ["tf.function", "xla"])
@over_binary_optimizers
@pytest.mark.slow
def test_compiled_steps_match_eager(rng, make, mode):
    init = np.where(rng.normal(size=(64, 32)) >= 0, 1.0, -1.0).astype(np.float32)
    grads = _grads(rng, init.shape, 30)
    compiled, eager = _run(init, grads, mode, make), _run(init, grads, "eager", make)
    for (w, state, flips), (w_ref, state_ref, flips_ref) in zip(compiled, eager):
        for slot, slot_ref in zip(state, state_ref):
            np.testing.assert_allclose(slot, slot_ref, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(flips, flips_ref)
    assert 0 < eager[-1][2].sum() < 30 * init.size  # flips, but not of every weight


@over_binary_optimizers
def test_setting_hyperparameters_is_validated(make):
    opt = make()
    names = make.cls.hyperparameter_names
    for name in names:
        new = 0.0 if name == "threshold" else 0.25
        setattr(opt, name, new)
        assert float(getattr(opt, name)) == new and opt.hyperparameters[name] == new
        with pytest.raises(ValueError, match=f"{name} must be"):
            setattr(opt, name, -1.0)
        assert float(getattr(opt, name)) == new
    assert float(opt.learning_rate) == opt.hyperparameters[names[0]]  # the lead one
    with pytest.raises(ValueError, match=f"{names[0]} must be in"):
        opt.learning_rate = 2.0
    for name in names[1:]:
        with pytest.raises(TypeError, match=f"create a new {make.cls.__name__} to use a schedule"):
            setattr(opt, name, schedules.ExponentialDecay(0.1, 10, 0.5))


@over_binary_optimizers
def test_an_optimizer_checkpoint_holds_its_state_but_not_the_models_weights(make, tmp_path):
    w = tf.Variable(np.ones((4, 4), np.float32))
    opt = make()
    opt.apply_gradients([(tf.ones_like(w), w)])
    assert int(opt.flip_counts[0]) > 0
    path = tf.train.Checkpoint(optimizer=opt).save(str(tmp_path / "opt"))
    names = {name for name, _ in tf.train.list_variables(path)}
    assert not any("_binary_variables" in n for n in names), names
    w.assign(np.ones((4, 4), np.float32))  # what a restore must leave alone
    fresh_w = tf.Variable(np.ones((4, 4), np.float32))
    fresh = make()
    fresh.build([fresh_w])
    tf.train.Checkpoint(optimizer=fresh).restore(path).assert_existing_objects_matched()
    for slot, expected in zip(fresh.state(fresh_w).values(), opt.state(w).values()):
        assert np.any(expected.numpy() != 0)
        np.testing.assert_array_equal(slot.numpy(), expected.numpy())
    np.testing.assert_array_equal(fresh.flip_counts.numpy(), opt.flip_counts.numpy())
    np.testing.assert_array_equal(fresh_w.numpy(), np.ones((4, 4)))


# --- float16 and bfloat16 weights ----------------------------------------------------

LOW_PRECISION = [tf.float16, tf.bfloat16]


def _low_precision_run(dtype, gradients, make, mode="eager"):
    """`make()` on a variable of `dtype`; returns (weights, state, flips) after each step,
    the state as one array of its slots."""
    rng = np.random.default_rng(3)
    w = tf.Variable(tf.cast(np.where(rng.random(gradients[0].shape) < 0.5, -1.0, 1.0), dtype))
    opt = make()

    def step(g):
        opt.apply_gradients([(g, w)])

    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "xla")
    history = []
    for g in gradients:
        step(tf.cast(g, dtype))
        assert w.dtype == dtype
        state = np.stack([s.numpy() for s in opt.state(w).values()])
        history.append((w.numpy().astype(np.float32), state, opt.flip_counts.numpy()))
    return history


def _gradient_series(kind, shape=(24, 16), steps=4):
    rng = np.random.default_rng(7)
    scale = {"zero": 0.0, "tiny": 1e-7, "normal": 1e-2}[kind]
    # a mean of the sign of the weights' seed-3 pattern keeps flips coming in either case
    return [(rng.normal(size=shape) * scale + 0.3 * scale).astype(np.float32) for _ in range(steps)]


def _as_stored(dtype, gradients):
    """The gradients as a variable of `dtype` holds them, in float32."""
    return [tf.cast(tf.cast(g, dtype), tf.float32).numpy() for g in gradients]


def _assert_same_run(ours, reference):
    for (w, state, flips), (w_ref, state_ref, flips_ref) in zip(ours, reference):
        np.testing.assert_array_equal(np.abs(w), 1.0)
        np.testing.assert_array_equal(state, state_ref)
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(flips, flips_ref)


@pytest.mark.parametrize("threshold", [0.0, 1e-30, 1e-8, 1e-3], ids=["tau0", "tau1e-30", "tau1e-8", "tau1e-3"])
@pytest.mark.parametrize("kind", ["zero", "tiny", "normal"])
@pytest.mark.parametrize("gamma", [1e-4, 1.0])
@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=lambda d: d.name)
def test_low_precision_weights_follow_the_float32_rule_bit_for_bit(dtype, gamma, kind, threshold):
    """The gradient as the variable's dtype holds it, then the float32 rule: float16
    rounds τ = 1e-8 (and the rule's zero floor) to 0, bfloat16 cannot decay m."""
    gradients = _as_stored(dtype, _gradient_series(kind))
    make = lambda: Bop(threshold=threshold, gamma=gamma)  # noqa: E731
    ours = _low_precision_run(dtype, gradients, make)
    _assert_same_run(ours, _low_precision_run(tf.float32, gradients, make))
    if kind == "zero":
        assert ours[-1][2].sum() == 0
    if kind == "tiny" and threshold <= 1e-30:  # any consistent gradient flips at tau ~ 0
        assert ours[-1][2].sum() > 0


@pytest.mark.parametrize("kind", ["zero", "tiny", "normal"])
@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=lambda d: d.name)
@over_binary_optimizers
def test_every_optimizer_on_low_precision_weights_follows_its_float32_rule(make, dtype, kind):
    """Bop's grid of γ and τ above, at the shared hyperparameters for the others: their
    state is float32 and their rule runs in it, whatever the weights' dtype."""
    gradients = _as_stored(dtype, _gradient_series(kind))
    ours = _low_precision_run(dtype, gradients, make)
    _assert_same_run(ours, _low_precision_run(tf.float32, gradients, make))
    # Normal gradients flip weights, zero ones none. Tiny ones flip as in float32 (above):
    # not under Bop's τ = 1e-5, but under rules that ignore the gradients' scale.
    if kind != "tiny":
        assert (ours[-1][2].sum() > 0) == (kind == "normal")
    if make.cls is Bop and kind == "tiny":
        assert ours[-1][2].sum() == 0


@pytest.mark.parametrize("dtype", LOW_PRECISION + [tf.float32], ids=lambda d: d.name)
def test_a_zero_gradient_flips_nothing_whatever_the_dtype(dtype):
    # The example of issue 14: float16 flipped all 4096 weights of this kernel each step.
    # (The other optimizers: `zero` in the test above.)
    w = tf.Variable(tf.ones((64, 64), dtype))
    opt = Bop()  # tau = 1e-8, gamma = 1e-4
    for _ in range(3):
        opt.apply_gradients([(tf.zeros((64, 64), dtype), w)])
    assert int(opt.flip_counts[0]) == 0
    np.testing.assert_array_equal(w.numpy().astype(np.float32), np.ones((64, 64)))


@pytest.mark.parametrize("mode", ["tf.function", "xla"])
@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=lambda d: d.name)
@over_binary_optimizers
@pytest.mark.slow
def test_low_precision_weights_compiled_match_eager(make, dtype, mode):
    gradients = _as_stored(dtype, _gradient_series("normal"))
    compiled = _low_precision_run(dtype, gradients, make, mode)
    eager = _low_precision_run(dtype, gradients, make)
    for (w, state, flips), (w_ref, state_ref, flips_ref) in zip(compiled, eager):
        # XLA may fuse into FMAs
        np.testing.assert_allclose(state, state_ref, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(flips, flips_ref)
    assert compiled[-1][2].sum() > 0


@pytest.mark.parametrize("dtype, slot", [(tf.float16, tf.float32), (tf.bfloat16, tf.float32),
                                         (tf.float32, tf.float32), (tf.float64, tf.float64)])
@over_binary_optimizers
def test_the_state_is_float32_or_wider(make, dtype, slot):
    w = tf.Variable(tf.ones((3, 4), dtype), name="kernel")
    opt = make()
    opt.build([w])
    for value in opt.state(w).values():
        assert value.dtype == slot and value.shape == w.shape
        assert any(v is value for v in opt.variables)  # saved with the optimizer (h5, .keras, checkpoints)


@over_binary_optimizers
@pytest.mark.slow
def test_a_float16_model_trains_in_fit(make):
    # Plain Dense layers with binary kernels: Larq's quantizers compute in float32.
    layer = dict(use_bias=False, dtype="float16",
                 kernel_initializer=rb.initializers.BinaryHeNormal(seed=1))
    model = tf.keras.Sequential([
        tf.keras.Input((12,)),
        tf.keras.layers.Dense(32, activation="tanh", **layer),
        tf.keras.layers.Dense(3, **layer),
        tf.keras.layers.Activation("softmax", dtype="float32"),
    ])
    model.compile(SkipNonFinite(make()), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 12)).astype(np.float16)
    y = np.argmax(x.astype(np.float32) @ rng.normal(size=(12, 3)), axis=1)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert all(k.dtype == tf.float16 for k in model.trainable_variables)
    assert_all_binary([k.numpy().astype(np.float32) for k in model.trainable_variables])
    assert int(model.optimizer.skipped_steps) == 0  # float16 gradients are checked in float32
    (binary,) = binary_optimizers(model.optimizer)
    assert all(s.dtype == tf.float32 for v in binary.binary_variables
               for s in binary.state(v).values())
    assert 0 < int(tf.reduce_sum(binary.flip_counts)) < 8 * (12 * 32 + 32 * 3)


# --- checkpoint layout ------------------------------------------------------------------



def _fit_one_epoch(model):
    x, y = toy_data(n=64)
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)


def _compiled():
    """As the tasks compile (`make_optimizer`): the CaseOptimizer in SkipNonFinite."""
    model = dense_bnn()
    model.compile(SkipNonFinite(bop_adam(threshold=1e-6, gamma=0.1)),
                  loss="sparse_categorical_crossentropy")
    return model


def _saved(model, path):
    """{key: array} of a checkpoint of `model` and its optimizer, as a run saves it."""
    path = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(str(path))
    reader = tf.train.load_checkpoint(path)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if not key.startswith("_CHECKPOINTABLE")}, path


@pytest.mark.slow
def test_a_resumed_run_saves_the_keys_of_an_uninterrupted_one(tmp_path):
    # The resumed model restores before its optimizer is built, as a resumed run does;
    # Keras' cached checkpoint children then put the flip counter under another key.
    # (For every binary optimizer: test_case.py's test of an exact resume.)
    uninterrupted = _compiled()
    _fit_one_epoch(uninterrupted)
    first, path = _saved(uninterrupted, tmp_path / "a")
    resumed = _compiled()
    tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).restore(
        path).assert_existing_objects_matched()
    _fit_one_epoch(resumed)
    _fit_one_epoch(uninterrupted)
    second, _ = _saved(resumed, tmp_path / "b")
    again, _ = _saved(uninterrupted, tmp_path / "c")
    assert sorted(second) == sorted(again) == sorted(first)
    assert "optimizer/_optimizers/0/_flips/.ATTRIBUTES/VARIABLE_VALUE" in again
    assert "optimizer/_optimizers/0/_invalid_hyperparameter_steps/.ATTRIBUTES/VARIABLE_VALUE" in again
    # SkipNonFinite's counter, beside the CaseOptimizer's variables
    assert "optimizer/_applied_steps/.ATTRIBUTES/VARIABLE_VALUE" in again
    for key, value in again.items():  # both runs trained the same two epochs
        np.testing.assert_array_equal(second[key], value, err_msg=key)


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=lambda d: d.name)
def test_bop_update_compares_in_float32_even_with_a_narrow_average(dtype):
    # The pure function on an m of the weight's own dtype: m = 0 must not flip, and a
    # non-zero m of the weight's sign flips at tau = 0 (float16: its smallest subnormal).
    tiny = float(np.float16(2**-24)) if dtype == tf.float16 else 1e-37
    w = tf.Variable(tf.constant([1, -1, 1, -1], dtype))
    m = tf.Variable(tf.zeros(4, dtype))
    g = tf.constant([0.0, 0.0, tiny, -tiny], dtype)
    flips = bop_update(w, m, g, tf.constant(1.0, dtype), tf.constant(0.0, dtype))
    assert w.dtype == dtype and int(flips) == 2
    np.testing.assert_array_equal(w.numpy().astype(np.float32), [1, -1, -1, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_in_place_update_gives_the_shared_rules_bits(rng, dtype):
    """`bop_update` (in place, for speed) against `rethink_bnn.core.rules.bop` applied
    functionally: the same averages, flips and counts for 60 steps of random gradients
    and on the boundaries (w m == τ, τ = 0 with m = 0, subnormal and huge values)."""
    from rethink_bnn.core import rules
    from rethink_bnn.optimizers.flips import apply_rule

    n = 64
    start = np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(dtype)
    fast_w, rule_w = tf.Variable(start), tf.Variable(start)
    fast_m, rule_m = tf.Variable(np.zeros(n, dtype)), tf.Variable(np.zeros(n, dtype))
    boundary = np.array([0.25, -0.25, 0.0, 1e-42, -1e-42, 3e38, -3e38, 1e-8], dtype)
    total = 0
    for step in range(60):
        gradient = rng.normal(scale=10.0 ** -rng.integers(1, 9), size=n).astype(dtype)
        if step % 10 == 0:  # m = γ g with γ = 1: w m lands exactly on τ, 0, ...
            gradient[:len(boundary)] = boundary * start[:len(boundary)]
        gamma = dtype(1.0 if step % 10 == 0 else rng.uniform(1e-4, 0.5))
        threshold = dtype([0.0, 0.25, 1e-8, 1e-6][step % 4])
        fast = bop_update(fast_w, fast_m, tf.constant(gradient), tf.constant(gamma),
                          tf.constant(threshold))
        ruled = apply_rule(rules.bop, rule_w, tf.constant(gradient), {"m": rule_m},
                           {"gamma": tf.constant(gamma), "threshold": tf.constant(threshold)})
        assert int(fast) == int(ruled), step
        np.testing.assert_array_equal(fast_m.numpy(), rule_m.numpy())
        np.testing.assert_array_equal(fast_w.numpy(), rule_w.numpy())
        start, total = fast_w.numpy(), total + int(fast)
    assert 0 < total < 60 * n
