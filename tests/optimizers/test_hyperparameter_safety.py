"""Invalid hyperparameters at run time (Bop's γ or τ, Bop2ndOrder's σ, CEMA's α, ...):
the binary weights stay exactly ±1, nothing turns NaN, the step is counted and logged.
The setters refuse such values; these are the ways around them (set_value, schedules,
callbacks), in every execution mode. Bop gets every bad value of each hyperparameter in
every mode; the other optimizers of `tests.helpers.BINARY_OPTIMIZERS` every bad value
eagerly and each compiled mode once (`other_cases`)."""

import logging

import numpy as np
import pytest
import tensorflow as tf

import larq as lq
import rethink_bnn as rb
from rethink_bnn.optimizers import SkipNonFinite
from rethink_bnn.core.declarations import describe_invalid, valid_at_run_time
from rethink_bnn.core.rules import BOP
from rethink_bnn.optimizers.flips import TF_OPS
from tests.helpers import (
    BINARY_OPTIMIZERS,
    assert_all_binary,
    binary_adam,
    binary_kernels,
    dense_bnn,
    is_rate,
    lead,
    over_binary_classes,
    state_values,
    toy_data,
)

LOSS = "sparse_categorical_crossentropy"
schedules = tf.keras.optimizers.schedules

BAD_RATE = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf, "negative": -1e-3,
            "above-1": 1.5, "zero": 0.0}  # γ, σ, α
BAD_THRESHOLD = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf, "negative": -1e-3}


def _bad_values(optimizer, which):
    """The bad values of hyperparameter `which` by its declared kind."""
    return BAD_RATE if is_rate(BINARY_OPTIMIZERS[optimizer].cls, which) else BAD_THRESHOLD


def _cases(optimizer):
    """(optimizer, which, name, value) for each bad value of each hyperparameter."""
    return [(optimizer, which, name, value)
            for which in BINARY_OPTIMIZERS[optimizer].cls.hyperparameter_names
            for name, value in _bad_values(optimizer, which).items()]


CASES = _cases("bop")  # Bop's: γ and τ
GOOD = {"gamma": 0.3, "threshold": 1e-3}  # Bop's in the tests of Bop alone
MODES = ["eager", "tf.function", "xla"]
OTHERS = [key for key in BINARY_OPTIMIZERS if key != "bop"]


def _params(cases):
    return [pytest.param(*case, id="-".join(map(str, case[:3]))) for case in cases]


def other_cases(modes):
    """Bop: every case in every mode. The others: NaN and one out-of-range value of each
    hyperparameter eagerly, and each compiled mode once, on each hyperparameter in turn
    with a bad value in turn (their neutral values and arithmetic differ from Bop's, not
    how a step is compiled or which values are invalid)."""
    params = [(*case, mode) for case in CASES for mode in modes]
    for optimizer in OTHERS:
        cases = _cases(optimizer)
        params += [(*case, "eager") for case in cases if case[2] in ("nan", "negative")]
        names = BINARY_OPTIMIZERS[optimizer].cls.hyperparameter_names
        for i, mode in enumerate(m for m in modes if m != "eager"):
            which = names[i % len(names)]
            bad = _bad_values(optimizer, which)
            name = list(bad)[i % len(bad)]
            params.append((optimizer, which, name, bad[name], mode))
    return [pytest.param(*p, id="-".join([*map(str, p[:3]), p[4]])) for p in params]


def _good(optimizer):
    """The hyperparameters of `optimizer` (a key of BINARY_OPTIMIZERS) at which it flips."""
    make = BINARY_OPTIMIZERS[optimizer]
    return GOOD if optimizer == "bop" else {
        name: value for name, value in make.defaults.items()
        if name in make.cls.hyperparameter_names}


def _make(optimizer, **hyperparameters):
    return BINARY_OPTIMIZERS[optimizer](**{**_good(optimizer), **hyperparameters})


def _binary(shape, seed):
    rng = np.random.default_rng(seed)
    return tf.Variable(np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32))


def _gradients(variables, seed):
    """Gradients that agree in sign with most weights: a valid step flips many."""
    rng = np.random.default_rng(seed)
    return [tf.constant(v.numpy() * 0.01 + rng.normal(scale=0.005, size=v.shape).astype(np.float32))
            for v in variables]


def _stepper(optimizer, variables, mode):
    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    if mode == "eager":
        return step
    return tf.function(step, jit_compile=mode == "xla")


def _state(optimizer, variables):
    return ([v.numpy().copy() for v in variables] + state_values(optimizer)
            + [optimizer.flip_counts.numpy()])


def _assert_unchanged(before, after):
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def _assert_sound(optimizer, variables):
    assert_all_binary(variables)
    for slot in state_values(optimizer):
        assert np.all(np.isfinite(slot))


class BadAtStep(schedules.LearningRateSchedule):
    """`good` at every step but `at`, where it is `bad`."""

    def __init__(self, good, bad, at):
        self.good, self.bad, self.at = good, bad, at

    def __call__(self, step):
        return tf.where(tf.equal(step, self.at), tf.constant(self.bad, tf.float32),
                        tf.constant(self.good, tf.float32))

    def get_config(self):
        return {"good": self.good, "bad": self.bad, "at": self.at}


# --- the check itself ------------------------------------------------------------------

def _valid_at_run_time(gamma, threshold):
    values = {"gamma": tf.constant(gamma), "threshold": tf.constant(threshold)}
    return bool(valid_at_run_time(TF_OPS, BOP.hyperparameters, values))


def _describe(**values):
    return describe_invalid(BOP.hyperparameters, values)


def test_valid_at_run_time_agrees_with_the_setters():
    for _, which, _, value in CASES:
        gamma, threshold = {**GOOD, which: value}.values()
        assert not _valid_at_run_time(gamma, threshold), (which, value)
        assert _describe(gamma=gamma, threshold=threshold).startswith(f"{which} = ")
    for gamma, threshold in [(1.0, 0.0), (1e-30, 1e-30), (0.3, 3e38), (1.2e-38, 1e-45)]:
        assert _valid_at_run_time(gamma, threshold)
        assert _describe(gamma=float(gamma), threshold=threshold) == ""
    assert _valid_at_run_time(np.float64(0.5), np.float64(0.0))
    # a subnormal gamma is 0 to TensorFlow's CPU kernels: refused, and caught at run time
    assert not _valid_at_run_time(np.float32(1e-45), 0.0)
    assert _describe(gamma=1e-45, threshold=0.0).startswith("gamma = 1e-45")
    with pytest.raises(ValueError, match="gamma must be in"):
        rb.Bop(gamma=1e-45)
    assert _describe(gamma=np.nan, threshold=-np.inf) == (
        "gamma = nan (must be in (0, 1]), threshold = -inf (must be a finite float >= 0)")


@pytest.mark.parametrize("optimizer, which, name, value",
                         _params(case for key in ("bop", "bop2", "cema") for case in _cases(key)))
def test_the_setters_refuse_the_value_and_keep_the_old_one(optimizer, which, name, value):
    opt = _make(optimizer)
    setters = [which, "learning_rate", "lr"] if which == lead(opt) else [which]
    for setter in setters:
        for bad in (value, np.float32(value), np.array(value), tf.constant(value),
                    tf.constant(value, tf.float64)):
            with pytest.raises(ValueError, match=f"{which} must be"):
                setattr(opt, setter, bad)
    assert float(getattr(opt, which)) == pytest.approx(_good(optimizer)[which])
    with pytest.raises(ValueError, match=f"{which} must be"):
        _make(optimizer, **{which: value})


@pytest.mark.parametrize("optimizer", ["bop", "bop2", "cema"])
def test_the_setters_take_a_valid_scalar_tensor_and_refuse_other_shapes(optimizer):
    opt = _make(optimizer)
    for which in opt.hyperparameter_names:
        value = 0.0 if which == "threshold" else 0.5
        setattr(opt, which, tf.constant(value))
        setattr(opt, which, np.array(value))
        assert float(getattr(opt, which)) == value
        with pytest.raises(TypeError, match=f"{which} must be a float or a"):
            setattr(opt, which, tf.constant([1e-3]))


# --- the ways around the setters, in every mode -------------------------------------------

@pytest.mark.parametrize("optimizer, which, name, value, mode", other_cases(MODES + ["xla-update"]))
@pytest.mark.slow
def test_set_value_on_the_variable_changes_nothing_and_is_counted(optimizer, which, name,
                                                                   value, mode):
    variables = [_binary((8, 6), 0), _binary((6, 3), 1)]
    opt = _make(optimizer)
    if mode == "xla-update":  # each variable's update compiled on its own, as on a GPU
        opt.jit_compile, mode = True, "tf.function"
    skipping = SkipNonFinite(opt)
    step = _stepper(skipping, variables, mode)
    step(_gradients(variables, 0))  # builds, and a first valid step
    before = _state(opt, variables)
    hyperparameter = getattr(opt, which)  # the variable (`learning_rate` for the lead one)
    tf.keras.backend.set_value(hyperparameter, value)
    for seed in (1, 2):
        step(_gradients(variables, seed))
        _assert_unchanged(before, _state(opt, variables))
        _assert_sound(opt, variables)
    assert int(opt.invalid_hyperparameter_steps) == 2
    assert int(skipping.skipped_steps) == 0 and int(skipping.iterations) == int(opt.iterations) == 3
    assert describe_invalid(opt.HYPERPARAMETERS, opt.last_invalid_hyperparameters).startswith(
        f"{which} = ")
    tf.keras.backend.set_value(hyperparameter, _good(optimizer)[which])
    step(_gradients(variables, 3))  # training goes on
    _assert_sound(opt, variables)
    assert int(opt.invalid_hyperparameter_steps) == 2
    assert int(tf.reduce_sum(opt.flip_counts)) > int(np.sum(before[-1]))


@pytest.mark.parametrize("optimizer, which, name, value, mode", other_cases(MODES))
@pytest.mark.slow
def test_a_schedule_that_turns_invalid_for_one_step_skips_that_step(optimizer, which, name,
                                                                    value, mode):
    variables = [_binary((8, 6), 0)]
    schedule = BadAtStep(_good(optimizer)[which], value, at=1)
    opt = _make(optimizer, **{which: schedule})
    reference = _make(optimizer)
    reference_variables = [_binary((8, 6), 0)]
    opt.build(variables)
    step = _stepper(opt, variables, mode)
    for i in range(3):
        before = _state(opt, variables)
        grads = _gradients(variables, i)
        step(grads)
        _assert_sound(opt, variables)
        if i == 1:
            _assert_unchanged(before, _state(opt, variables))
        else:  # the valid steps are those of a constant schedule
            reference.apply_gradients(zip(grads, reference_variables))
            for ours, theirs in zip(state_values(opt), state_values(reference)):
                np.testing.assert_allclose(ours, theirs, atol=1e-9)
            np.testing.assert_array_equal(variables[0].numpy(), reference_variables[0].numpy())
    assert int(opt.invalid_hyperparameter_steps) == 1 and int(opt.iterations) == 3
    assert int(tf.reduce_sum(opt.flip_counts)) > 0
    last = opt.last_invalid_hyperparameters[which]
    assert np.isnan(last) if np.isnan(value) else last == pytest.approx(value)


@pytest.mark.parametrize("optimizer", BINARY_OPTIMIZERS)
def test_a_lead_schedule_that_decays_to_zero_ends_in_counted_steps_that_change_nothing(optimizer):
    variables = [_binary((8, 6), 0)]
    name = BINARY_OPTIMIZERS[optimizer].cls.hyperparameter_names[0]  # Bop's γ, CEMA's α
    opt = _make(optimizer, **{name: schedules.PolynomialDecay(0.3, 3, end_learning_rate=0.0)})
    for i in range(5):
        opt.apply_gradients(zip(_gradients(variables, i), variables))
        if i == 2:
            after_decay = _state(opt, variables)
    assert int(tf.reduce_sum(opt.flip_counts)) > 0
    _assert_unchanged(after_decay, _state(opt, variables))
    assert int(opt.invalid_hyperparameter_steps) == 2  # steps 3 and 4: the rate is 0


@pytest.mark.parametrize("optimizer", BINARY_OPTIMIZERS)
@pytest.mark.slow
def test_an_overflowing_schedule_is_caught(optimizer):
    # 0.5 * 1e30 ** step: above 1 from step 1, +inf in float32 from step 2.
    variables = [_binary((8, 6), 0)]
    # Bop's γ, the lead one (Keras' learning rate); the others' last rate (σ, CEMA's γ)
    cls = BINARY_OPTIMIZERS[optimizer].cls
    rates = [name for name in cls.hyperparameter_names if is_rate(cls, name)]
    name = rates[0] if optimizer == "bop" else rates[-1]
    opt = _make(optimizer, **{name: schedules.ExponentialDecay(0.5, 1, 1e30)})
    step = _stepper(opt, variables, "tf.function")
    for i in range(3):
        step(_gradients(variables, i))
        _assert_sound(opt, variables)
    assert int(opt.invalid_hyperparameter_steps) == 2
    assert opt.last_invalid_hyperparameters[name] == np.inf


@pytest.mark.parametrize("optimizer", BINARY_OPTIMIZERS)
def test_the_invalid_step_and_the_non_finite_gradient_are_counted_apart(optimizer):
    variables = [_binary((8, 6), 0)]
    opt = _make(optimizer)
    skipping = SkipNonFinite(opt)
    skipping.apply_gradients(zip(_gradients(variables, 0), variables))
    tf.keras.backend.set_value(opt.learning_rate, np.nan)
    grads = _gradients(variables, 1)
    skipping.apply_gradients(zip(grads, variables))
    skipping.apply_gradients(zip([tf.fill(grads[0].shape, np.nan)], variables))
    assert int(opt.invalid_hyperparameter_steps) == 1 and int(skipping.skipped_steps) == 1
    _assert_sound(opt, variables)


@pytest.mark.parametrize("optimizer", BINARY_OPTIMIZERS)
def test_without_the_gradient_check_an_invalid_lead_hyperparameter_still_changes_nothing(
        optimizer):
    variables = [_binary((8, 6), 0)]
    opt = _make(optimizer)  # not wrapped in SkipNonFinite
    opt.apply_gradients(zip(_gradients(variables, 0), variables))
    before = _state(opt, variables)
    tf.keras.backend.set_value(opt.learning_rate, np.inf)
    opt.apply_gradients(zip(_gradients(variables, 1), variables))
    _assert_unchanged(before, _state(opt, variables))
    assert int(opt.invalid_hyperparameter_steps) == 1


@pytest.mark.parametrize("optimizer", BINARY_OPTIMIZERS)
def test_the_counter_is_saved_in_checkpoints(optimizer, tmp_path):
    variables = [_binary((4, 4), 0)]
    opt = _make(optimizer)
    tf.keras.backend.set_value(getattr(opt, opt.hyperparameter_names[-1]), -1.0)
    opt.apply_gradients(zip(_gradients(variables, 0), variables))
    path = tf.train.Checkpoint(optimizer=opt).save(str(tmp_path / "ckpt"))
    fresh = _make(optimizer)
    fresh.build([_binary((4, 4), 0)])
    tf.train.Checkpoint(optimizer=fresh).restore(path).assert_consumed()
    assert int(fresh.invalid_hyperparameter_steps) == 1


# --- in model.fit --------------------------------------------------------------------------

class SetForOneEpoch(tf.keras.callbacks.Callback):
    """Sets a hyperparameter of a binary optimizer to `value` with set_value for epoch 1
    (0-based), and records the binary state and Adam's head at each epoch's start and end."""

    def __init__(self, binary, which, value):
        super().__init__()
        self.binary, self.which, self.value = binary, which, value
        self.snapshots = []

    def _hyperparameter(self):
        return getattr(self.binary, self.which)  # the variable

    def _snapshot(self):
        strategy = self.model.distribute_strategy
        state = [slot for v in self.binary.binary_variables
                 for slot in self.binary.state(v).values()]
        binary = [r.numpy().copy() for v in binary_kernels(self.model) + state
                  for r in strategy.experimental_local_results(v)]
        head = [v.numpy().copy() for v in self.model.trainable_variables if "real_head" in v.name]
        return binary, head

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.good = float(self._hyperparameter().numpy())
            tf.keras.backend.set_value(self._hyperparameter(), self.value)
        self.snapshots.append(self._snapshot())

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self._snapshot())
        if epoch == 1:
            tf.keras.backend.set_value(self._hyperparameter(), self.good)


@pytest.mark.parametrize(
    "optimizer, which, value, replicas, jit_compile",
    [("bop", "gamma", np.nan, 1, False), ("bop", "gamma", 2.0, 2, False),
     ("bop", "threshold", -np.inf, 2, False), ("bop", "gamma", np.inf, 1, True),
     ("bop", "threshold", np.nan, 1, True),
     # each other class once, one under two replicas, one under XLA
     ("bop2-unbiased", "sigma", np.nan, 2, False), ("cema", "alpha", 2.0, 1, True)],
    ids=["gamma-nan", "gamma-above-1-two-replicas", "threshold--inf-two-replicas",
         "gamma-inf-xla", "threshold-nan-xla",
         "bop2-unbiased-sigma-nan-two-replicas", "cema-alpha-above-1-xla"],
)
@pytest.mark.slow
def test_fit_with_case_optimizer_keeps_kernels_binary_counts_and_logs(
    optimizer, which, value, replicas, jit_compile, caplog
):
    x, y = toy_data(n=256)
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"][:replicas], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        model = dense_bnn()
        model.compile(SkipNonFinite(binary_adam(BINARY_OPTIMIZERS[optimizer])), loss=LOSS,
                      jit_compile=jit_compile)
    bop = model.optimizer.inner_optimizer.optimizers[0]
    setter = SetForOneEpoch(bop, which, value)
    with caplog.at_level(logging.WARNING, logger="rethink_bnn"):
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                            callbacks=[setter, rb.SkippedStepLogger()])
    assert history.history["invalid_hyperparameter_steps"] == [0, 8, 0]
    assert history.history["skipped_steps"] == [0, 0, 0]
    assert bop.invalid_hyperparameter_steps.numpy() == 8 and bop.iterations.numpy() == 24
    (binary_start, head_start), (binary_end, head_end) = setter.snapshots[2:4]  # epoch 1
    _assert_unchanged(binary_start, binary_end)
    assert any(not np.array_equal(a, b) for a, b in zip(head_start, head_end))  # Adam trained
    for variable in model.variables + model.optimizer.variables:
        for replica in strategy.experimental_local_results(variable):
            assert np.all(np.isfinite(replica.numpy())), variable.name
    assert_all_binary([r for k in binary_kernels(model)
                       for r in strategy.experimental_local_results(k)])
    assert int(tf.reduce_sum(bop.flip_counts)) > 0
    lines = [r.getMessage() for r in caplog.records if "hyperparameter" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("epoch 2: ")
    assert f"{which} = {value:g}" in lines[0] and "8 training step(s)" in lines[0]


def _all_binary_model():
    binary = dict(kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False,
                  kernel_initializer=rb.initializers.BinaryHeNormal(seed=0))
    return tf.keras.Sequential([
        tf.keras.Input((12,)),
        lq.layers.QuantDense(16, **binary),
        lq.layers.QuantDense(3, input_quantizer="ste_sign", **binary),
        tf.keras.layers.Activation("softmax"),
    ])


@pytest.mark.parametrize("optimizer, bad", [
    ("bop", np.nan), ("bop", 2.0), ("bop", -1.0), ("bop2-unbiased", np.nan), ("cema", 2.0)],
    ids=["nan", "above-1", "negative", "bop2-unbiased-nan", "cema-above-1"])
@pytest.mark.slow
def test_learning_rate_scheduler_on_a_binary_optimizer_alone(optimizer, bad, caplog):
    """The scheduler sets the lead hyperparameter: Bop's and Bop2ndOrder's γ, CEMA's α."""
    x, y = toy_data(n=128)
    model = _all_binary_model()
    make = BINARY_OPTIMIZERS[optimizer]
    model.compile(SkipNonFinite(make()), loss=LOSS)
    good = make.defaults[make.cls.hyperparameter_names[0]]
    scheduler = tf.keras.callbacks.LearningRateScheduler(lambda epoch, lr: bad if epoch == 1 else good)
    with caplog.at_level(logging.WARNING, logger="rethink_bnn"):
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                            callbacks=[scheduler, rb.SkippedStepLogger()])
    assert history.history["invalid_hyperparameter_steps"] == [0, 4, 0]
    assert_all_binary(model.trainable_variables)
    assert all(np.all(np.isfinite(v.numpy())) for v in model.optimizer.variables)
    name = make.cls.hyperparameter_names[0]
    assert sum(f"{name} = {bad:g}" in r.getMessage() for r in caplog.records) == 1
    assert float(getattr(model.optimizer.inner_optimizer, name)) == pytest.approx(good)


@over_binary_classes
@pytest.mark.slow
def test_the_logger_reports_zero_quietly(make, caplog):
    x, y = toy_data(n=64)
    model = dense_bnn()
    model.compile(SkipNonFinite(binary_adam(make)), loss=LOSS)
    with caplog.at_level(logging.WARNING, logger="rethink_bnn"):
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[rb.SkippedStepLogger()])
    assert history.history["invalid_hyperparameter_steps"] == [0, 0]
    assert history.history["skipped_steps"] == [0, 0]
    assert not caplog.records


@over_binary_classes
@pytest.mark.slow
def test_the_logger_works_with_a_binary_optimizer_without_the_gradient_check(make):
    x, y = toy_data(n=64)
    model = _all_binary_model()
    model.compile(make(), loss=LOSS)  # not wrapped in SkipNonFinite
    history = model.fit(x, y, epochs=1, verbose=0, callbacks=[rb.SkippedStepLogger()])
    assert history.history["invalid_hyperparameter_steps"] == [0]
    assert "skipped_steps" not in history.history  # nothing checks gradients


@over_binary_classes
@pytest.mark.slow
def test_the_logger_works_with_a_model_built_by_its_first_step(make):
    x, y = toy_data(n=64)
    binary = dict(kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False,
                  kernel_initializer=rb.initializers.BinaryHeNormal(seed=0))
    model = tf.keras.Sequential([lq.layers.QuantDense(3, **binary),
                                 tf.keras.layers.Activation("softmax")])
    assert not model.built  # no variables until fit's first step
    model.compile(SkipNonFinite(make()), loss=LOSS)
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[rb.SkippedStepLogger()])
    assert history.history["invalid_hyperparameter_steps"] == [0, 0]
    assert history.history["skipped_steps"] == [0, 0]
