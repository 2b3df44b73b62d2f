"""CaseOptimizer: routing, errors, saving and distribution, with each binary optimizer
(the tests taking `make` run once per optimizer of `tests.helpers.BINARY_OPTIMIZERS`)."""

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
from tests.helpers import (
    assert_all_binary,
    binary_adam,
    binary_kernels,
    bop_adam,
    dense_bnn,
    over_binary_classes,
    over_binary_optimizers,
    scheduled,
    state_values,
    toy_data,
)

LOSS = "sparse_categorical_crossentropy"


def _compiled(make, seed=0, **model_kwargs):
    """A dense_bnn compiled as the tasks compile it: a CaseOptimizer in SkipNonFinite,
    with `make()` for the binary kernels."""
    model = dense_bnn(seed=seed, **model_kwargs)
    model.compile(SkipNonFinite(binary_adam(make)), loss=LOSS)
    return model


def _state(model):
    return [v.numpy() for v in model.variables] + [v.numpy() for v in model.optimizer.variables]


def _assert_same_state(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# --- routing ---------------------------------------------------------------------

@over_binary_classes
@pytest.mark.slow
def test_binary_kernels_go_to_the_binary_optimizer_and_the_rest_to_adam(make):
    model = _compiled(make)
    x, y = toy_data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    opt = model.optimizer.inner_optimizer
    binary, adam = opt.optimizers
    assert type(binary) is make.cls
    for variable in model.trainable_variables:
        expected = binary if is_binary_variable(variable) else adam
        assert opt.optimizer_for(variable) is expected
    assert len(binary_kernels(model)) == 2
    assert [v.name for v in binary.binary_variables] == [v.name for v in binary_kernels(model)]
    assert_all_binary(binary_kernels(model))
    assert all(count > 0 for count in binary.flip_counts.numpy())
    steps = len(x) // 32
    assert int(opt.iterations) == int(binary.iterations) == int(adam.iterations) == steps


@over_binary_optimizers
def test_learning_rate_is_the_default_optimizers(make):
    opt = binary_adam(make, learning_rate=3e-3)
    binary = opt.optimizers[0]
    before = binary.hyperparameters
    assert float(opt.learning_rate) == pytest.approx(3e-3)
    opt.learning_rate = 1e-3
    assert float(opt.default_optimizer.learning_rate) == pytest.approx(1e-3)
    assert binary.hyperparameters == before


@over_binary_classes
@pytest.mark.slow
def test_custom_training_loop_in_tf_function(make):
    model = dense_bnn()
    opt = binary_adam(make)
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


@over_binary_classes
@pytest.mark.slow
def test_model_fit_with_jit_compile(make):
    model = dense_bnn()
    model.compile(binary_adam(make), loss=LOSS, jit_compile=True)
    x, y = toy_data()
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert_all_binary(binary_kernels(model))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert int(tf.reduce_sum(model.optimizer.optimizers[0].flip_counts)) > 0


# --- errors --------------------------------------------------------------------------

def _build(opt, model=None):
    model = model or dense_bnn()
    opt.build(model.trainable_variables)
    return model


@over_binary_optimizers
def test_a_variable_claimed_twice_is_an_error(make):
    opt = CaseOptimizer(
        (is_binary_variable, make()),
        (lambda v: "binary_1" in v.name, make(name="other")),
        default_optimizer=tf.keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match=r"`binary_1/kernel:0` is claimed by optimizers "
                                         rf"0 \({make.cls.__name__}\), 1 \(other\)"):
        _build(opt)


def test_an_optimizer_that_claims_nothing_is_an_error():
    opt = CaseOptimizer(
        (lambda v: False, tf.keras.optimizers.SGD(name="idle_sgd")),
        default_optimizer=tf.keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match=r"Optimizer 0 of the CaseOptimizer \(idle_sgd\) claimed none"):
        _build(opt)


@over_binary_optimizers
def test_a_non_binary_variable_routed_to_a_binary_optimizer_is_named(make):
    opt = CaseOptimizer(
        (lambda v: "real_head/kernel" in v.name, make()),
        default_optimizer=tf.keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match=f"^{make.cls.__name__} got variable "
                                         "`real_head/kernel:0` whose values are not all ±1"):
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

@over_binary_optimizers
def test_config_round_trip_with_schedules(make):
    schedules = tf.keras.optimizers.schedules
    opt = CaseOptimizer(
        (is_binary_variable, scheduled(make)),
        default_optimizer=tf.keras.optimizers.Adam(schedules.PolynomialDecay(2.5e-3, 1000, 5e-6)),
    )
    config = opt.get_config()
    clone = CaseOptimizer.from_config(config)
    assert clone.get_config() == config
    assert clone.predicates == [is_binary_variable]
    assert type(clone.optimizers[0]) is make.cls
    via_keras = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(opt))
    assert isinstance(via_keras, CaseOptimizer) and via_keras.get_config() == config


def _saved_config(make):
    opt = binary_adam(make)
    _build(opt)
    return opt.get_config()


@over_binary_optimizers
def test_the_config_records_the_routing_once_built(make):
    assert binary_adam(make).get_config()["routes"] is None
    # dense_bnn's trainable variables: binary_1, BatchNorm beta, binary_2, head kernel, bias.
    assert _saved_config(make)["routes"] == [0, 1, 0, 1, 1]


@over_binary_optimizers
def test_a_reloaded_kernel_that_lost_its_binary_marking_is_an_error(make):
    model = dense_bnn()
    model.get_layer("binary_2").kernel.precision = None  # as a format that drops it would
    with pytest.raises(ValueError, match=r"`binary_2/kernel:0` was trained by optimizer 0 "
                                         rf"\({make.cls.__name__}\).*now claimed by optimizer 1 \(Adam\)"):
        _build(CaseOptimizer.from_config(_saved_config(make)), model)


@over_binary_optimizers
def test_a_reloaded_optimizer_built_on_another_model_is_an_error(make):
    with pytest.raises(ValueError, match="saved training 5 variables but is built on 4"):
        _build(CaseOptimizer.from_config(_saved_config(make)), dense_bnn(batch_norm=False))


def _slots(make):
    """State slots per binary variable (its declared STATE)."""
    return len(make.cls.STATE)


def _case_variables(make):
    """The CaseOptimizer's step counter; the binary optimizer's step counter, flip counts
    and state of two kernels; Adam's step counter and two moments for each of three
    variables."""
    return 1 + (2 + 2 * _slots(make)) + 7


@pytest.mark.parametrize("wrap", [False, True], ids=["case", "in-skip-non-finite"])
@over_binary_optimizers
def test_set_weights_sets_the_sub_optimizers_state_too(make, wrap):
    # (SkipNonFinite adds its counter of applied steps.) The h5 format restores through set_weights.
    count = _case_variables(make) + wrap
    source, target = binary_adam(make), binary_adam(make)
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
@over_binary_optimizers
def test_variable_names_are_unique_for_the_h5_format(make, wrap):
    opt = SkipNonFinite(binary_adam(make)) if wrap else binary_adam(make)
    _build(opt)
    names = [v.name for v in opt.variables]
    assert len(names) == _case_variables(make) + wrap
    assert len(set(names)) == len(names)
    assert names[:2] == ["iteration:0", "CaseOptimizer/0/iteration:0"]
    assert "CaseOptimizer/1/iteration:0" in names
    if wrap:
        assert names[-1:] == ["applied_steps:0"]


def _checkpoint(model, path):
    """Save model and optimizer as the training loop does; {key: value} of what it holds."""
    path = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(str(path))
    reader = tf.train.load_checkpoint(path)
    return path, {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
                  if not key.startswith("_CHECKPOINTABLE") and "save_counter" not in key}


@over_binary_optimizers
@pytest.mark.slow
def test_checkpoint_restore_then_continue_equals_an_uninterrupted_run(make, tmp_path):
    """Exact resume: 2 epochs, a checkpoint, a restore into fresh objects before the
    optimizer is built (as a resumed run restores), 2 more epochs: bit for bit the
    uninterrupted run's weights, state slots, flip counts, counters and checkpoint.
    Every hyperparameter is a schedule of the step, so the restored step count matters."""
    x, y = toy_data()
    fit = dict(batch_size=32, shuffle=False, verbose=0)

    def compiled(seed=0):  # seed 123: different weights, only the restore makes them equal
        model = dense_bnn(seed=seed)
        model.compile(SkipNonFinite(binary_adam(lambda: scheduled(make, steps=32))), loss=LOSS)
        return model

    uninterrupted = compiled()
    uninterrupted.fit(x, y, epochs=2, **fit)
    path, _ = _checkpoint(uninterrupted, tmp_path / "ckpt")  # saving changes nothing
    halfway = uninterrupted.optimizer.inner_optimizer.optimizers[0].hyperparameters
    uninterrupted.fit(x, y, epochs=4, initial_epoch=2, **fit)

    resumed = compiled(seed=123)
    status = tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).restore(path)
    status.assert_existing_objects_matched()
    assert not resumed.optimizer.inner_optimizer.optimizers[0].binary_variables  # before build
    resumed.fit(x, y, epochs=4, initial_epoch=2, **fit)
    status.assert_consumed()
    _assert_same_state(_state(uninterrupted), _state(resumed))
    (ours, theirs) = (m.optimizer.inner_optimizer.optimizers for m in (resumed, uninterrupted))
    assert type(ours[0]) is make.cls
    _assert_same_state(state_values(ours[0]), state_values(theirs[0]))
    assert len(state_values(ours[0])) == 2 * _slots(make)  # two kernels
    np.testing.assert_array_equal(ours[0].flip_counts.numpy(), theirs[0].flip_counts.numpy())
    assert ours[0].hyperparameters == theirs[0].hyperparameters  # step 31's values
    assert all(ours[0].hyperparameters[name] < value for name, value in halfway.items())
    assert int(ours[0].invalid_hyperparameter_steps) == 0
    assert [int(o.iterations) for o in ours] == [int(resumed.optimizer.iterations)] * 2 == [4 * 8] * 2
    # and the next checkpoint holds the same keys and values as the uninterrupted run's
    _, resumed_saved = _checkpoint(resumed, tmp_path / "resumed")
    _, uninterrupted_saved = _checkpoint(uninterrupted, tmp_path / "uninterrupted")
    assert sorted(resumed_saved) == sorted(uninterrupted_saved)
    for key, value in uninterrupted_saved.items():
        np.testing.assert_array_equal(resumed_saved[key], value, err_msg=key)


@pytest.mark.slow
def test_model_save_and_load_keep_the_optimizer_state(tmp_path):
    # (For every binary optimizer and format, in a fresh process: tests/test_saving.py.)
    x, y = toy_data()
    fit = dict(batch_size=32, shuffle=False, verbose=0)
    model = dense_bnn()
    model.compile(SkipNonFinite(bop_adam()), loss=LOSS)
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
    """After every step: each binary kernel's and each state slot's value on every
    replica."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        local = self.strategy.experimental_local_results
        (binary,) = binary_optimizers(self.model.optimizer)
        state = [slot for v in binary.binary_variables for slot in binary.state(v).values()]
        self.steps.append(([[r.numpy() for r in local(k)] for k in binary_kernels(self.model)],
                           [[r.numpy() for r in local(slot)] for slot in state]))


def _fit_under(strategy, x, y, make):
    with strategy.scope():
        model = dense_bnn(batch_norm=False)
        model.compile(SkipNonFinite(binary_adam(make)), loss=LOSS)
    recorder = _RecordKernels(strategy)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model.fit(data, epochs=3, callbacks=[recorder], verbose=0)
    return recorder.steps


@over_binary_classes
@pytest.mark.slow
def test_mirrored_strategy_keeps_replicas_identical_and_matches_one_device(make):
    """After every step each replica holds the same kernels and state, and weights flip.
    Bop's run also matches one device's, flip for flip (the others' updates run in the
    same base-class code under the strategy: one device's run would double their cost)."""
    x, y = toy_data(n=128)
    two = _fit_under(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), x, y, make)
    assert len(two) == 12
    flips, previous = 0, None
    for kernels, state in two:
        assert len(state) == 2 * _slots(make)  # of both kernels
        for replicas in kernels + state:
            assert len(replicas) == 2
            np.testing.assert_array_equal(replicas[0], replicas[1])  # replicas agree
        if previous is not None:
            flips += sum(int(np.sum(p[0] != k[0])) for p, k in zip(previous, kernels))
        previous = kernels
    assert flips > 0  # the comparison is about real flips
    if make.cls is Bop:
        one = _fit_under(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, make)
        assert len(one) == 12
        for (one_kernels, one_state), (two_kernels, two_state) in zip(one, two):
            for single, replicas in zip(one_kernels, two_kernels):
                np.testing.assert_array_equal(single[0], replicas[0])  # every flip the same
            for single, replicas in zip(one_state, two_state):
                np.testing.assert_allclose(single[0], replicas[0], rtol=1e-5, atol=1e-7)
