"""Non-finite gradients: the step is skipped, counted, and training goes on."""

import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers.finite import all_finite
from tests.helpers import assert_all_binary, binary_kernels, bop_adam, dense_bnn, toy_data

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


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
def test_bop_skips_a_non_finite_step_as_if_it_never_happened(bad, compiled):
    shapes = [(6, 5), (5, 3)]
    steps = [_gradients(s, shapes) for s in range(6)]
    poisoned = {1: _poisoned(steps[1], BAD[bad]), 4: _poisoned(steps[4], BAD[bad], where=0)}
    ours, reference = rb.Bop(threshold=1e-3, gamma=0.3), rb.Bop(threshold=1e-3, gamma=0.3)
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
        for m in ours.averages:
            assert np.all(np.isfinite(m.numpy()))
    for a, b in zip(ours_vars + ours.averages, reference_vars + reference.averages):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ours.flip_counts.numpy(), reference.flip_counts.numpy())
    assert int(ours.skipped_steps) == 2
    assert int(ours.iterations) == 6  # the step count advances, for schedules
    assert int(tf.reduce_sum(ours.flip_counts)) > 0  # the comparison is about real flips


def test_bop_without_the_check_is_poisoned_for_good():
    """What `skip_non_finite` protects against (and that the check is what does it)."""
    bop, variable = rb.Bop(threshold=0.0, gamma=0.1, skip_non_finite=False), _binary((4, 4), 0)
    bop.apply_gradients([(tf.constant(_poisoned(_gradients(0, [(4, 4)]), np.nan, 0)[0]), variable)])
    bop.apply_gradients([(tf.constant(_gradients(1, [(4, 4)])[0]), variable)])
    assert np.isnan(bop.averages[0].numpy()).any() and np.isnan(variable.numpy()).any()


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_case_optimizer_skips_the_whole_step_for_every_sub_optimizer(bad):
    x, y = toy_data(n=32)
    model = dense_bnn()
    optimizer = bop_adam(threshold=1e-6, gamma=0.1)
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
        slots = [v for sub in optimizer.optimizers for v in sub.variables
                 if v is not sub.iterations and v.name != "skipped_steps:0"]
        return [v.numpy().copy() for v in variables + slots]

    step(gradients())  # build everything, then take one good step
    before = state()
    grads = gradients()
    # the bad value goes into the real-valued head only: Bop's share is finite
    head = [i for i, v in enumerate(variables) if "real_head" in v.name][0]
    grads[head] = tf.tensor_scatter_nd_update(grads[head], [[0, 0]], [BAD[bad]])
    step(grads)
    for a, b in zip(before, state()):
        np.testing.assert_array_equal(a, b)  # nothing moved, Bop's share included
    assert int(optimizer.skipped_steps) == 1
    assert int(optimizer.iterations) == 2
    assert [int(sub.iterations) for sub in optimizer.optimizers] == [2, 2]
    assert [int(sub.skipped_steps) for sub in optimizer.optimizers[:1]] == [0]  # one check
    step(gradients())  # training goes on
    after = state()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.all(np.isfinite(a)) for a in after)
    assert_all_binary(binary_kernels(model))


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


def _fit_with_bad_batches(strategy, x, y, bad_rows, value):
    x = x.copy()
    x[bad_rows, 0] = MARK
    with strategy.scope():
        inputs = tf.keras.Input(x.shape[1:])
        body = dense_bnn()
        model = tf.keras.Model(inputs, PoisonGradient(value)(body(inputs), inputs))
        model.compile(bop_adam(threshold=1e-6, gamma=0.05), loss=LOSS, metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    _, untrained = model.evaluate(data, verbose=0)
    history = model.fit(data, epochs=3, callbacks=[rb.SkippedStepLogger()], verbose=0)
    return model, history, untrained


@pytest.mark.parametrize("bad", ["nan", "inf"])
@pytest.mark.parametrize("replicas", [1, 2])
def test_fit_skips_bad_steps_logs_them_and_goes_on(replicas, bad):
    x, y = toy_data(n=256)
    # Not collective all-reduce: TensorFlow cannot run a second collective model in a
    # process that ran one (tensorflow#62790). The optimizer's code path is the same.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"][:replicas], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    # One bad example in batches 2 and 5 of every epoch; with two replicas it lands on
    # one replica only, and the aggregated gradient carries it to both.
    model, history, untrained = _fit_with_bad_batches(
        strategy, x, y, [2 * 32 + 20, 5 * 32 + 3], BAD[bad]
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
    assert int(tf.reduce_sum(model.optimizer.optimizers[0].flip_counts)) > 0
    _, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > untrained + 0.15  # it learned from the good batches


def test_skipped_step_logger_needs_an_optimizer_that_skips():
    model = dense_bnn()
    model.compile(tf.keras.optimizers.Adam(), loss=LOSS)
    x, y = toy_data(n=8)
    with pytest.raises(ValueError, match="found no optimizer that skips non-finite steps"):
        model.fit(x, y, callbacks=[rb.SkippedStepLogger()], verbose=0)


def test_skip_non_finite_is_serialized():
    optimizer = rb.CaseOptimizer(
        (rb.is_binary_variable, rb.Bop(skip_non_finite=False)),
        default_optimizer=tf.keras.optimizers.Adam(),
        skip_non_finite=False,
    )
    restored = rb.CaseOptimizer.from_config(optimizer.get_config())
    assert restored.skip_non_finite is False
    assert restored.optimizers[0].skip_non_finite is False
    assert rb.Bop.from_config(rb.Bop().get_config()).skip_non_finite is True
