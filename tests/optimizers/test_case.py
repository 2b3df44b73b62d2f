import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from rethink_bnn.optimizers import (
    Bop,
    CaseOptimizer,
    SkipNonFinite,
    binary_optimizers,
    is_binary_variable,
)
from tests.helpers import assert_all_binary, binary_kernels, bop_adam, dense_bnn, toy_data

LOSS = "sparse_categorical_crossentropy"


def _compiled(seed=0, optimizer=None, **model_kwargs):
    """A dense_bnn compiled as the tasks compile it: a CaseOptimizer in SkipNonFinite."""
    model = dense_bnn(seed=seed, **model_kwargs)
    model.compile(optimizer or SkipNonFinite(bop_adam()), loss=LOSS)
    return model


def _state(model):
    return [v.numpy() for v in model.variables] + [v.numpy() for v in model.optimizer.variables]


def _assert_same_state(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# --- routing ---------------------------------------------------------------------

def test_binary_kernels_go_to_bop_and_the_rest_to_adam():
    model = _compiled()
    x, y = toy_data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    opt = model.optimizer.inner_optimizer
    bop, adam = opt.optimizers
    for variable in model.trainable_variables:
        expected = bop if is_binary_variable(variable) else adam
        assert opt.optimizer_for(variable) is expected
    assert len(binary_kernels(model)) == 2
    assert_all_binary(binary_kernels(model))
    steps = len(x) // 32
    assert int(opt.iterations) == int(bop.iterations) == int(adam.iterations) == steps


def test_learning_rate_is_the_default_optimizers():
    opt = bop_adam(learning_rate=3e-3)
    assert float(opt.learning_rate) == pytest.approx(3e-3)
    opt.learning_rate = 1e-3
    assert float(opt.default_optimizer.learning_rate) == pytest.approx(1e-3)


def test_custom_training_loop_in_tf_function():
    model = dense_bnn()
    opt = bop_adam()
    x, y = toy_data(n=64)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = [float(step(x, y)) for _ in range(20)]
    assert losses[-1] < losses[0]
    assert_all_binary(binary_kernels(model))
    assert int(opt.iterations) == 20


def test_model_fit_with_jit_compile():
    model = dense_bnn()
    model.compile(bop_adam(), loss=LOSS, jit_compile=True)
    x, y = toy_data()
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert_all_binary(binary_kernels(model))
    assert history.history["loss"][-1] < history.history["loss"][0]


# --- errors --------------------------------------------------------------------------

def _build(opt, model=None):
    model = model or dense_bnn()
    opt.build(model.trainable_variables)
    return model


def test_a_variable_claimed_twice_is_an_error():
    opt = CaseOptimizer(
        (is_binary_variable, Bop()),
        (lambda v: "binary_1" in v.name, Bop(name="other_bop")),
        default_optimizer=tf.keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match=r"`binary_1/kernel:0` is claimed by optimizers 0 \(Bop\), 1 \(other_bop\)"):
        _build(opt)


def test_an_optimizer_that_claims_nothing_is_an_error():
    opt = CaseOptimizer(
        (lambda v: False, tf.keras.optimizers.SGD(name="idle_sgd")),
        default_optimizer=tf.keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match=r"Optimizer 0 of the CaseOptimizer \(idle_sgd\) claimed none"):
        _build(opt)


def test_a_non_binary_variable_routed_to_bop_is_named():
    opt = CaseOptimizer(
        (lambda v: "real_head/kernel" in v.name, Bop()),
        default_optimizer=tf.keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match=r"`real_head/kernel:0` whose values are not all ±1"):
        _build(opt)


def test_an_unclaimed_variable_without_default_is_an_error():
    opt = CaseOptimizer((is_binary_variable, Bop()))
    with pytest.raises(ValueError, match="claimed by no optimizer.*no default_optimizer"):
        _build(opt)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((), {"default_optimizer": tf.keras.optimizers.Adam()}, ValueError, "at least one"),
        ((is_binary_variable,), {}, TypeError, "must be a \\(predicate, optimizer\\) pair"),
        (((1, "x"),), {}, TypeError, "predicate of pair 0 must be callable"),
        (((is_binary_variable, lq.optimizers.Bop()),), {}, TypeError, "legacy optimizer"),
        (((is_binary_variable, Bop()),), {"default_optimizer": "adam"}, TypeError, "for default_optimizer"),
        (((is_binary_variable, Bop()),), {"clipnorm": 1.0}, ValueError, "set it on the sub-optimizer"),
    ],
)
def test_bad_construction_raises_a_clear_error(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        CaseOptimizer(*args, **kwargs)


def test_the_same_optimizer_twice_is_an_error():
    adam = tf.keras.optimizers.Adam()
    with pytest.raises(ValueError, match="same optimizer instance twice"):
        CaseOptimizer((is_binary_variable, adam), default_optimizer=adam)


def test_an_unregistered_predicate_cannot_be_serialized():
    opt = CaseOptimizer((lambda v: True, Bop()))
    with pytest.raises(ValueError, match="register_keras_serializable"):
        opt.get_config()


# --- serialization and state ---------------------------------------------------------

def test_config_round_trip_with_schedules():
    schedules = tf.keras.optimizers.schedules
    opt = CaseOptimizer(
        (is_binary_variable, Bop(1e-8, schedules.ExponentialDecay(1e-4, 100, 0.1, staircase=True))),
        default_optimizer=tf.keras.optimizers.Adam(schedules.PolynomialDecay(2.5e-3, 1000, 5e-6)),
    )
    config = opt.get_config()
    clone = CaseOptimizer.from_config(config)
    assert clone.get_config() == config
    assert clone.predicates == [is_binary_variable]
    via_keras = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(opt))
    assert isinstance(via_keras, CaseOptimizer) and via_keras.get_config() == config


def _saved_config():
    opt = bop_adam()
    _build(opt)
    return opt.get_config()


def test_the_config_records_the_routing_once_built():
    assert bop_adam().get_config()["routes"] is None
    # dense_bnn's trainable variables: binary_1, BatchNorm beta, binary_2, head kernel, bias.
    assert _saved_config()["routes"] == [0, 1, 0, 1, 1]


def test_a_reloaded_kernel_that_lost_its_binary_marking_is_an_error():
    model = dense_bnn()
    model.get_layer("binary_2").kernel.precision = None  # as a format that drops it would
    with pytest.raises(ValueError, match=r"`binary_2/kernel:0` was trained by optimizer 0 \(Bop\).*now claimed by optimizer 1 \(Adam\)"):
        _build(CaseOptimizer.from_config(_saved_config()), model)


def test_a_reloaded_optimizer_built_on_another_model_is_an_error():
    with pytest.raises(ValueError, match="saved training 5 variables but is built on 4"):
        _build(CaseOptimizer.from_config(_saved_config()), dense_bnn(batch_norm=False))


# The CaseOptimizer's step counter; Bop's step counter, flip counts and two averages;
# Adam's step counter and two moments for each of three variables.
CASE_VARIABLES = 1 + 4 + 7


@pytest.mark.parametrize("wrap, count", [(False, CASE_VARIABLES), (True, CASE_VARIABLES + 2)],
                         ids=["case", "in-skip-non-finite"])
def test_set_weights_sets_the_sub_optimizers_state_too(wrap, count):
    # (SkipNonFinite adds its two counters.) The h5 format restores through set_weights.
    source, target = bop_adam(), bop_adam()
    if wrap:
        source, target = SkipNonFinite(source), SkipNonFinite(target)
    model = _build(source)
    _build(target, model)
    values = [np.full(v.shape, i + 1, v.dtype.as_numpy_dtype) for i, v in enumerate(source.variables)]
    assert len(values) == count
    target.set_weights(values)
    np.testing.assert_equal([v.numpy() for v in target.variables], values)
    with pytest.raises(ValueError, match=f"has {count} variables but got {count - 1} values"):
        target.set_weights(values[:-1])
    with pytest.raises(ValueError, match=f"has {count} variables but got {count + 1} values"):
        target.set_weights(values + values[:1])


@pytest.mark.parametrize("wrap", [False, True], ids=["case", "in-skip-non-finite"])
def test_variable_names_are_unique_for_the_h5_format(wrap):
    opt = SkipNonFinite(bop_adam()) if wrap else bop_adam()
    _build(opt)
    names = [v.name for v in opt.variables]
    assert len(names) == CASE_VARIABLES + 2 * wrap
    assert len(set(names)) == len(names)
    assert names[:2] == ["iteration:0", "CaseOptimizer/0/iteration:0"]
    assert "CaseOptimizer/1/iteration:0" in names
    if wrap:
        assert names[-2:] == ["skipped_steps:0", "applied_steps:0"]


def test_checkpoint_restore_then_continue_equals_an_uninterrupted_run(tmp_path):
    x, y = toy_data()
    fit = dict(batch_size=32, shuffle=False, verbose=0)

    uninterrupted = _compiled()
    uninterrupted.fit(x, y, epochs=4, **fit)

    first_half = _compiled()
    first_half.fit(x, y, epochs=2, **fit)
    path = tf.train.Checkpoint(model=first_half, optimizer=first_half.optimizer).save(
        str(tmp_path / "ckpt")
    )

    resumed = _compiled(seed=123)  # different init: only the restore can make it equal
    status = tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).restore(path)
    resumed.fit(x, y, epochs=4, initial_epoch=2, **fit)
    status.assert_consumed()
    _assert_same_state(_state(uninterrupted), _state(resumed))
    bop, adam = resumed.optimizer.inner_optimizer.optimizers
    assert int(bop.iterations) == int(adam.iterations) == int(resumed.optimizer.iterations) == 4 * 8


def test_model_save_and_load_keep_the_optimizer_state(tmp_path):
    x, y = toy_data()
    fit = dict(batch_size=32, shuffle=False, verbose=0)
    model = _compiled()
    model.fit(x, y, epochs=1, **fit)
    model.save(tmp_path / "model.keras")
    loaded = tf.keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is SkipNonFinite
    assert type(loaded.optimizer.inner_optimizer) is CaseOptimizer
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    _assert_same_state(_state(model), _state(loaded))
    model.fit(x, y, epochs=1, **fit)
    loaded.fit(x, y, epochs=1, **fit)
    _assert_same_state(_state(model), _state(loaded))


# --- distribution ----------------------------------------------------------------------

class _RecordKernels(tf.keras.callbacks.Callback):
    """After every step: each binary kernel's value on every replica, and Bop's m."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        kernels = binary_kernels(self.model)
        replicas = [[r.numpy() for r in self.strategy.experimental_local_results(k)] for k in kernels]
        (bop,) = binary_optimizers(self.model.optimizer)
        self.steps.append((replicas, [m.numpy() for m in bop.averages]))


def _fit_under(strategy, x, y):
    with strategy.scope():
        model = dense_bnn(batch_norm=False)
        model.compile(SkipNonFinite(bop_adam(threshold=1e-4, gamma=0.05)), loss=LOSS)
    recorder = _RecordKernels(strategy)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model.fit(data, epochs=3, callbacks=[recorder], verbose=0)
    return recorder.steps


def test_mirrored_strategy_keeps_replicas_identical_and_matches_one_device():
    x, y = toy_data(n=128)
    one = _fit_under(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y)
    two = _fit_under(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), x, y)
    assert len(one) == len(two) == 12
    flips = 0
    previous = None
    for (one_kernels, one_m), (two_kernels, two_m) in zip(one, two):
        for single, replicas in zip(one_kernels, two_kernels):
            assert len(replicas) == 2
            np.testing.assert_array_equal(replicas[0], replicas[1])  # replicas agree
            np.testing.assert_array_equal(single[0], replicas[0])  # every flip the same
        for a, b in zip(one_m, two_m):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        if previous is not None:
            flips += sum(int(np.sum(p[0] != k[0])) for p, k in zip(previous, one_kernels))
        previous = one_kernels
    assert flips > 0  # the comparison is about real flips
