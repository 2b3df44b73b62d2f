"""Non-finite gradients: the step is skipped, counted, and training goes on (the tests
taking `make` run once per binary optimizer of `tests.helpers.BINARY_OPTIMIZERS`)."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers import Bop, CaseOptimizer, SkipNonFinite, skipping_wrappers
from rethink_bnn.optimizers.finite import all_finite
from tests.helpers import (
    BINARY_OPTIMIZERS,
    assert_all_binary,
    binary_adam,
    binary_kernels,
    dense_bnn,
    over_binary_optimizers,
    state_values,
    toy_data,
)

LOSS = "sparse_categorical_crossentropy"
BAD = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


def _binary(shape, seed):
    rng = np.random.default_rng(seed)
    return tf.Variable(np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32))


def _gradients(seed, shapes, scale=1e-2):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=scale, size=s).astype(np.float32) for s in shapes]


def _poisoned(gradients, value, where=1):
    """A copy with one value of gradient `where` replaced by `value`."""
    gradients = [g.copy() for g in gradients]
    gradients[where].flat[-1] = value
    return gradients


def test_all_finite_sees_one_bad_value_in_any_gradient():
    grads = [np.ones((4, 4), np.float32), np.ones(3, np.float32)]
    assert bool(all_finite([tf.constant(g) for g in grads]))
    assert bool(all_finite([]))
    for value in BAD.values():
        for where in (0, 1):
            assert not bool(all_finite([tf.constant(g) for g in _poisoned(grads, value, where)]))
    # +inf and -inf in two gradients cancel to NaN, not to a finite sum
    mixed = [_poisoned(grads, np.inf, 0)[0], _poisoned(grads, -np.inf, 1)[1]]
    assert not bool(all_finite([tf.constant(g) for g in mixed]))
    # float16 gradients are summed in float32: 2 * 40000 overflows float16, not float32
    assert bool(all_finite([tf.constant(np.full(2, 40000, np.float16))]))


# Bop: each bad value, eagerly and compiled. The others: each bad value eagerly, and
# compiled once (the check is SkipNonFinite's, the same for all, and runs before them).
SKIPPED_STEP_CASES = [
    (optimizer, bad, compiled) for optimizer in BINARY_OPTIMIZERS for bad in sorted(BAD)
    for compiled in (False, True) if not compiled or optimizer == "bop" or bad == "nan"]


@pytest.mark.parametrize("optimizer, bad, compiled", [
    pytest.param(*case, id=f"{case[0]}-{'tf.function' if case[2] else 'eager'}-{case[1]}")
    for case in SKIPPED_STEP_CASES])
@pytest.mark.slow
def test_a_non_finite_step_is_skipped_as_if_it_never_happened(optimizer, bad, compiled):
    make = BINARY_OPTIMIZERS[optimizer]
    shapes = [(6, 5), (5, 3)]
    steps = [_gradients(s, shapes) for s in range(6)]
    poisoned = {1: _poisoned(steps[1], BAD[bad]), 4: _poisoned(steps[4], BAD[bad], where=0)}
    binary, reference = make(), make()
    ours = SkipNonFinite(binary)
    ours_vars = [_binary(s, i) for i, s in enumerate(shapes)]
    reference_vars = [_binary(s, i) for i, s in enumerate(shapes)]

    def stepper(optimizer, variables):
        def step(grads):
            optimizer.apply_gradients(zip(grads, variables))
        return tf.function(step) if compiled else step

    ours_step, reference_step = stepper(ours, ours_vars), stepper(reference, reference_vars)
    for i, grads in enumerate(steps):
        ours_step([tf.constant(g) for g in poisoned.get(i, grads)])
        if i not in poisoned:
            reference_step([tf.constant(g) for g in grads])
        assert_all_binary(ours_vars)
        assert all(np.all(np.isfinite(slot)) for slot in state_values(binary))
    for a, b in zip(ours_vars, reference_vars):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(state_values(binary), state_values(reference)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(binary.flip_counts.numpy(), reference.flip_counts.numpy())
    assert int(ours.skipped_steps) == 2
    assert int(ours.iterations) == int(binary.iterations) == 6  # it advances, for schedules
    assert int(reference.iterations) == 4
    assert int(tf.reduce_sum(binary.flip_counts)) > 0  # the comparison is about real flips


@over_binary_optimizers
def test_without_the_check_the_state_is_poisoned_for_good(make):
    """What `SkipNonFinite` protects against (and that the check is what does it). Bop's
    weights turn NaN too; the other rules compare NaN, which flips nothing."""
    binary, variable = make(), _binary((4, 4), 0)
    binary.apply_gradients([(tf.constant(_poisoned(_gradients(0, [(4, 4)]), np.nan, 0)[0]),
                             variable)])
    for seed in (1, 2):
        binary.apply_gradients([(tf.constant(_gradients(seed, [(4, 4)])[0]), variable)])
        assert all(np.isnan(slot).any() for slot in state_values(binary))
    assert np.isnan(variable.numpy()).any() == (make.cls is rb.Bop)


@pytest.mark.parametrize("optimizer, bad", [
    ("bop", "nan"), ("bop", "inf"), ("bop2", "inf"), ("bop2-unbiased", "nan"), ("cema", "inf")])
@pytest.mark.slow
def test_case_optimizer_skips_the_whole_step_for_every_sub_optimizer(optimizer, bad):
    make = BINARY_OPTIMIZERS[optimizer]
    x, y = toy_data(n=32)
    model = dense_bnn()
    case = binary_adam(make)
    optimizer = SkipNonFinite(case)
    model.compile(optimizer, loss=LOSS)
    variables = model.trainable_variables

    @tf.function
    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
            )
        return tape.gradient(loss, variables)

    def state():
        slots = [v for sub in case.optimizers for v in sub.variables if v is not sub.iterations]
        return [v.numpy().copy() for v in variables + slots]

    step(gradients())  # build everything, then take one good step
    counters = skipping_wrappers(optimizer)  # read later, as SkippedStepLogger reads them
    before = state()
    grads = gradients()
    # the bad value goes into the real-valued head only: the binary optimizer's share is finite
    head = [i for i, v in enumerate(variables) if "real_head" in v.name][0]
    grads[head] = tf.tensor_scatter_nd_update(grads[head], [[0, 0]], [BAD[bad]])
    step(grads)
    for a, b in zip(before, state()):
        np.testing.assert_array_equal(a, b)  # nothing moved, the binary share included
    assert int(optimizer.skipped_steps) == 1
    assert int(optimizer.iterations) == int(case.iterations) == 2
    assert [int(c.skipped_steps) for c in counters] == [1]  # one check, one count
    step(gradients())  # training goes on
    # The skipped step is counted in every sub-optimizer's step: they read the one count.
    assert [int(sub.iterations) for sub in case.optimizers] == [3, 3] == [int(case.iterations)] * 2
    after = state()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.all(np.isfinite(a)) for a in after)
    assert_all_binary(binary_kernels(model))


@over_binary_optimizers
def test_the_counters_are_saved_in_checkpoints_and_restored_at_build(make, tmp_path):
    variable = _binary((4, 4), 0)
    optimizer = SkipNonFinite(make())
    for i, kind in enumerate("gbgbb"):
        grads = _gradients(i, [(4, 4)])
        optimizer.apply_gradients([(tf.constant(_poisoned(grads, np.nan, 0)[0] if kind == "b"
                                                else grads[0]), variable)])
    assert (int(optimizer.iterations), int(optimizer.skipped_steps)) == (5, 3)
    path = tf.train.Checkpoint(optimizer=optimizer).save(str(tmp_path / "ckpt"))
    fresh = SkipNonFinite(make())
    status = tf.train.Checkpoint(optimizer=fresh).restore(path)  # before build, as a resumed run
    status.assert_existing_objects_matched()
    fresh.build([_binary((4, 4), 0)])
    status.assert_consumed()
    assert (int(fresh.iterations), int(fresh.skipped_steps)) == (5, 3)
    assert int(tf.reduce_sum(optimizer.inner_optimizer.flip_counts)) > 0
    np.testing.assert_array_equal(fresh.inner_optimizer.flip_counts.numpy(),
                                  optimizer.inner_optimizer.flip_counts.numpy())
    for a, b in zip(state_values(fresh.inner_optimizer), state_values(optimizer.inner_optimizer)):
        np.testing.assert_array_equal(a, b)


MARK = 7.0  # a first feature of exactly 7 marks an example whose gradient is poisoned


class PoisonGradient(tf.keras.layers.Layer):
    """Identity forward; backward, the marked examples' gradient times `value`. The
    forward pass stays finite, so only gradients are bad (BatchNorm statistics, which
    the forward pass updates, stay clean)."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def call(self, outputs, inputs):
        marked = tf.equal(inputs[:, :1], MARK)

        @tf.custom_gradient
        def identity(x):
            return tf.identity(x), lambda g: g * tf.where(marked, self.value, 1.0)

        return identity(outputs)


def _fit_with_bad_batches(strategy, x, y, bad_rows, value, make):
    x = x.copy()
    x[bad_rows, 0] = MARK
    with strategy.scope():
        inputs = tf.keras.Input(x.shape[1:])
        body = dense_bnn()
        model = tf.keras.Model(inputs, PoisonGradient(value)(body(inputs), inputs))
        model.compile(SkipNonFinite(binary_adam(make)), loss=LOSS, metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    _, untrained = model.evaluate(data, verbose=0)
    history = model.fit(data, epochs=3, callbacks=[rb.SkippedStepLogger()], verbose=0)
    return model, history, untrained


@pytest.mark.parametrize("optimizer, replicas, bad", [
    *[("bop", replicas, bad) for replicas in (1, 2) for bad in ("nan", "inf")],
    # once for the others (skipping is SkipNonFinite's, before any of them: the tests
    # above run it for each)
    ("cema", 1, "inf"),
])
@pytest.mark.slow
def test_fit_skips_bad_steps_logs_them_and_goes_on(optimizer, replicas, bad):
    x, y = toy_data(n=256)
    # Not collective all-reduce: TensorFlow cannot run a second collective model in a
    # process that ran one (tensorflow#62790). The optimizer's code path is the same.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"][:replicas], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    # One bad example in batches 2 and 5 of every epoch; with two replicas it lands on
    # one replica only, and the aggregated gradient carries it to both.
    model, history, untrained = _fit_with_bad_batches(
        strategy, x, y, [2 * 32 + 20, 5 * 32 + 3], BAD[bad], BINARY_OPTIMIZERS[optimizer]
    )
    assert history.history["skipped_steps"] == [2, 2, 2]
    assert model.optimizer.skipped_steps.numpy() == 6
    assert model.optimizer.iterations.numpy() == 24
    for variable in model.variables + model.optimizer.variables:
        for replica in strategy.experimental_local_results(variable):
            assert np.all(np.isfinite(replica.numpy())), variable.name
    kernels = binary_kernels(model)
    assert_all_binary([r for k in kernels for r in strategy.experimental_local_results(k)])
    for k in kernels:
        first, *others = strategy.experimental_local_results(k)
        for other in others:
            np.testing.assert_array_equal(first.numpy(), other.numpy())
    assert int(tf.reduce_sum(model.optimizer.inner_optimizer.optimizers[0].flip_counts)) > 0
    _, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > untrained + 0.15  # it learned from the good batches


@over_binary_optimizers
@pytest.mark.slow
def test_the_logger_counts_the_skips_of_a_model_built_by_its_first_step(make):
    # The wrapper makes its counters on the first step, after the logger found them.
    x, y = toy_data(n=64)
    x[40, 0] = np.nan  # in the second batch of each epoch: that step is skipped
    model = tf.keras.Sequential([
        lq.layers.QuantDense(3, kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False,
                             kernel_initializer=rb.initializers.BinaryHeNormal(seed=0)),
        tf.keras.layers.Activation("softmax"),
    ])
    assert not model.built
    model.compile(SkipNonFinite(make()), loss=LOSS)
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
                        callbacks=[rb.SkippedStepLogger()])
    assert history.history["skipped_steps"] == [1, 1]
    assert (int(model.optimizer.iterations), int(model.optimizer.skipped_steps)) == (4, 2)
    assert_all_binary(model.trainable_variables)
    assert all(np.all(np.isfinite(s)) for s in state_values(model.optimizer.inner_optimizer))
    assert int(tf.reduce_sum(model.optimizer.inner_optimizer.flip_counts)) > 0


def test_skipped_step_logger_needs_an_optimizer_that_skips():
    model = dense_bnn()
    model.compile(tf.keras.optimizers.Adam(), loss=LOSS)
    x, y = toy_data(n=8)
    with pytest.raises(ValueError, match="found no optimizer that skips non-finite steps"):
        model.fit(x, y, callbacks=[rb.SkippedStepLogger()], verbose=0)


def _case_optimizer():
    return CaseOptimizer((rb.is_binary_variable, Bop(threshold=1e-7, gamma=1e-3)),
                         default_optimizer=tf.keras.optimizers.Adam(3e-3))


@pytest.mark.parametrize("in_case", [False, True], ids=["alone", "case"])
@over_binary_optimizers
def test_skip_non_finite_is_serialized(make, in_case):
    optimizer = SkipNonFinite(binary_adam(make) if in_case else make())
    config = optimizer.get_config()
    inner_type = type(optimizer.inner_optimizer)
    for restored in (SkipNonFinite.from_config(config),
                     tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(optimizer))):
        assert type(restored) is SkipNonFinite
        assert type(restored.inner_optimizer) is inner_type  # ours, not Larq's Bop
        assert restored.inner_optimizer.get_config() == optimizer.inner_optimizer.get_config()
        assert restored.get_config() == config
        (binary,) = rb.optimizers.binary_optimizers(restored)
        assert type(binary) is make.cls


def test_a_config_written_with_skip_non_finite_still_loads():
    """Bop and CaseOptimizer configs saved before `SkipNonFinite` hold the key."""
    bop_config = Bop(threshold=1e-7, gamma=1e-3).get_config()
    old_bop = {**bop_config, "skip_non_finite": True}
    restored = Bop.from_config(old_bop)
    assert type(restored) is Bop and restored.get_config() == bop_config
    case_config = _case_optimizer().get_config()
    old_case = {**case_config, "skip_non_finite": True,
                "optimizers": [{**c, "config": {**c["config"], "skip_non_finite": True}}
                               for c in case_config["optimizers"]]}
    restored = CaseOptimizer.from_config(old_case)
    assert type(restored) is CaseOptimizer and restored.get_config() == case_config
    assert type(restored.optimizers[0]) is Bop
    via_keras = tf.keras.optimizers.deserialize(
        {**tf.keras.optimizers.serialize(_case_optimizer()), "config": old_case})
    assert type(via_keras) is CaseOptimizer and via_keras.get_config() == case_config


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("make", [
    *BINARY_OPTIMIZERS.values(),
    lambda **kwargs: CaseOptimizer((rb.is_binary_variable, Bop()), **kwargs),
], ids=[*BINARY_OPTIMIZERS, "case"])
def test_skip_non_finite_as_an_argument_points_to_the_wrapper(make, value):
    with pytest.raises(TypeError, match="SkipNonFinite"):
        make(skip_non_finite=value)
