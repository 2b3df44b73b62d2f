"""`SkipNonFinite` on the Keras 3 front end, on the backend of this process: a step with
a NaN changes no weight and no state of any optimizer inside (Bop's, Adam's) but
advances their step counters; finite steps are the unwrapped optimizer's bit for bit,
with `fit` too (JAX's stateless, jitted step; TensorFlow's tf.function); it composes with
Keras' LossScaleOptimizer under mixed_float16, saves in `.keras`, and under
`tf.distribute` every replica takes one decision."""

import warnings

import keras
import numpy as np
import pytest

from rethink_bnn import keras3 as rk
from rethink_bnn.keras3.finite import step_counters
from tests.keras3.conftest import needs_tensorflow_backend


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def small_model(use_bias=True):
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8,)), rk.QuantDense(16, input_quantizer=None, use_bias=use_bias),
        rk.QuantDense(3, input_quantizer="ste_sign", use_bias=use_bias)])


def bop():
    return rk.Bop(threshold=1e-4, gamma=0.1)


def bop_and_adam():
    return keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        bop(), keras.optimizers.Adam(1e-2)))


def gradients(model, seed):
    rng = np.random.default_rng(seed)
    return [keras.ops.convert_to_tensor(rng.normal(0, 1e-2, v.shape).astype("float32"))
            for v in model.trainable_variables]


def snapshot(variables):
    return [numpy(v).copy() for v in variables]


CASES = [(bop, False), (bop_and_adam, True)]


@pytest.mark.parametrize("make, use_bias", CASES, ids=["Bop", "MultiOptimizer"])
def test_a_nan_in_one_gradient_changes_nothing_but_the_step_counters(make, use_bias):
    model, reference = small_model(use_bias), small_model(use_bias)
    wrapped, unwrapped = rk.SkipNonFinite(make()), make()
    for step in range(3):  # real steps first: Adam's moments and Bop's averages non-zero
        wrapped.apply(gradients(model, step), model.trainable_variables)
        unwrapped.apply(gradients(reference, step), reference.trainable_variables)
    inner = wrapped.inner_optimizer
    assert numpy(rk.binary_optimizers(inner)[0].flip_counts).sum() > 0  # real steps
    counters = {id(c) for c in step_counters(inner)}
    assert len(counters) == (3 if use_bias else 1)  # the MultiOptimizer's, Bop's, Adam's
    weights, state = snapshot(model.trainable_variables), snapshot(inner.variables)
    bad = gradients(model, 3)
    bad[0] = keras.ops.convert_to_tensor(np.where(np.eye(*bad[0].shape, dtype=bool), np.nan,
                                                  numpy(bad[0])).astype("float32"))
    wrapped.apply(bad, model.trainable_variables)
    for before, after in zip(weights, snapshot(model.trainable_variables)):
        np.testing.assert_array_equal(after, before)
    for variable, before, after in zip(inner.variables, state, snapshot(inner.variables)):
        expected = before + 1 if id(variable) in counters else before
        if variable.path.endswith("flip_history"):  # the skipped step's row: no new flips
            expected = before.copy()
            expected[3] = numpy(rk.binary_optimizers(inner)[0].flip_counts)
        np.testing.assert_array_equal(after, expected, err_msg=variable.path)
    assert int(numpy(wrapped.skipped_steps)) == 1
    assert int(numpy(wrapped.iterations)) == 4
    # the finite steps: the unwrapped optimizer's, bit for bit (its counters one behind)
    for ours, theirs in zip(model.trainable_variables, reference.trainable_variables):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs))
    for ours, theirs in zip(inner.variables, unwrapped.variables):
        offset = 1 if id(ours) in counters else 0
        if ours.path.endswith("flip_history"):  # ours has a row for the skipped step too
            continue
        np.testing.assert_array_equal(numpy(ours), numpy(theirs) + offset, err_msg=ours.path)


def test_an_inf_is_skipped_too_and_a_finite_step_after_it_is_applied():
    model = small_model(use_bias=False)
    optimizer = rk.SkipNonFinite(rk.Bop(threshold=0.0, gamma=1.0))
    kernel = model.trainable_variables[0]
    inf = [keras.ops.full(v.shape, np.inf) for v in model.trainable_variables]
    optimizer.apply(inf, model.trainable_variables)
    finite = [keras.ops.convert_to_tensor(numpy(v)) for v in model.trainable_variables]
    before = numpy(kernel).copy()
    optimizer.apply(finite, model.trainable_variables)  # m = g = w: every weight flips
    np.testing.assert_array_equal(numpy(kernel), -before)
    assert int(numpy(optimizer.skipped_steps)) == 1
    assert int(numpy(optimizer.iterations)) == 2


def test_learning_rate_and_iterations_are_the_wrapped_optimizers():
    inner = rk.Bop(gamma=1e-3)
    optimizer = rk.SkipNonFinite(inner)
    optimizer.learning_rate = 0.5
    assert float(numpy(inner.learning_rate)) == 0.5
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\]"):
        optimizer.learning_rate = 1.5  # Bop's check
    assert optimizer.iterations is inner.iterations
    assert optimizer.skipped_steps is None  # until built


def test_the_loss_scale_factor_is_the_wrapped_optimizers():
    inner = keras.optimizers.Adam(loss_scale_factor=4.0)
    optimizer = rk.SkipNonFinite(inner)
    assert optimizer.loss_scale_factor == 4.0
    assert float(numpy(optimizer.scale_loss(keras.ops.ones(())))) == 4.0  # fit's scaling
    keras.optimizers.LossScaleOptimizer(optimizer)  # it scales instead: sets it to None
    assert inner.loss_scale_factor is None


def test_set_weights_sets_the_wrappers_and_the_wrapped_optimizers_variables():
    model, other = small_model(), small_model()
    source, target = rk.SkipNonFinite(bop_and_adam()), rk.SkipNonFinite(bop_and_adam())
    step = source.apply_gradients(zip(gradients(model, 0), model.trainable_variables))
    assert step is source.iterations and int(numpy(step)) == 1
    target.build(other.trainable_variables)
    target.set_weights([numpy(v) for v in source.variables])
    for ours, theirs in zip(target.variables, source.variables):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs), err_msg=theirs.path)
    with pytest.raises(ValueError, match=r"SkipNonFinite has \d+ variables but got 1 values"):
        target.set_weights([np.zeros(())])


def test_an_apply_before_build_without_variables_says_what_to_pass():
    with pytest.raises(ValueError, match="SkipNonFinite is not built: pass trainable_variables"):
        rk.SkipNonFinite(keras.optimizers.Adam()).apply([keras.ops.ones(2)])


def test_the_binary_optimizer_is_found_through_the_wrapper_and_a_loss_scale_optimizer():
    multi = bop_and_adam()
    wrapped = rk.SkipNonFinite(multi)
    found = rk.binary_optimizers(keras.optimizers.LossScaleOptimizer(wrapped))
    assert found == [multi.optimizers[0]] and isinstance(found[0], rk.Bop)


def test_the_config_round_trips():
    optimizer = rk.SkipNonFinite(bop_and_adam(), name="guard")
    config = keras.optimizers.serialize(optimizer)
    assert config["registered_name"] == "rethink_bnn.keras3>SkipNonFinite"
    again = keras.optimizers.deserialize(config)
    assert type(again) is rk.SkipNonFinite and again.name == "guard"
    assert type(again.inner_optimizer) is keras.optimizers.MultiOptimizer
    assert again.get_config() == optimizer.get_config()


@pytest.mark.parametrize("inner, error, message", [
    ("adam", TypeError, r"needs a keras.optimizers.Optimizer \(Keras 3\), got builtins.str"),
    (keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()), TypeError,
     r"goes inside the LossScaleOptimizer.*LossScaleOptimizer\(SkipNonFinite\(optimizer\)\)"),
    (rk.SkipNonFinite(keras.optimizers.Adam()), TypeError, "already wrapped in SkipNonFinite"),
])
def test_what_cannot_be_wrapped_is_refused_naming_it(inner, error, message):
    with pytest.raises(error, match=message):
        rk.SkipNonFinite(inner)


def test_an_argument_for_the_wrapped_optimizer_is_refused():
    with pytest.raises(ValueError, match="SkipNonFinite takes no clipnorm: set it on the "
                                         "optimizer it wraps"):
        rk.SkipNonFinite(keras.optimizers.Adam(), clipnorm=1.0)


def batches(n, nan_in_last=False):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16 * n, 8)).astype("float32")
    if nan_in_last:
        x[-1, 0] = np.nan
    return x, rng.integers(0, 3, 16 * n)


def fitted(optimizer, x, y, epochs=1, callbacks=()):
    model = small_model()
    model.compile(optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0,
              callbacks=list(callbacks))
    return model


@pytest.mark.slow
def test_fit_skips_the_nan_batch_and_is_the_unwrapped_fit_bit_for_bit_otherwise():
    """Two finite batches and one with a NaN, against the two finite ones unwrapped."""
    x, y = batches(3, nan_in_last=True)
    wrapped = fitted(rk.SkipNonFinite(bop_and_adam()), x, y)
    reference = fitted(bop_and_adam(), x[:32], y[:32])
    for ours, theirs in zip(wrapped.variables, reference.variables):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs), err_msg=ours.path)
    inner = wrapped.optimizer.inner_optimizer
    counters = {id(c) for c in step_counters(inner)}
    for ours, theirs in zip(inner.variables, reference.optimizer.variables):
        offset = 1 if id(ours) in counters else 0
        if ours.path.endswith("flip_history"):  # ours has a row for the skipped step too
            continue
        np.testing.assert_array_equal(numpy(ours), numpy(theirs) + offset, err_msg=ours.path)
    assert int(numpy(wrapped.optimizer.skipped_steps)) == 1
    assert [int(numpy(o.iterations)) for o in inner.optimizers] == [3, 3]
    assert numpy(inner.optimizers[0].flip_counts).sum() > 0


@pytest.mark.slow
def test_inside_a_multi_optimizer_it_guards_its_own_optimizer_and_changes_no_finite_step():
    """Adam's part alone guarded (on JAX, its apply runs inside the traced step)."""
    x, y = batches(2)
    guarded = fitted(keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        bop(), rk.SkipNonFinite(keras.optimizers.Adam(1e-2)))), x, y)
    reference = fitted(bop_and_adam(), x, y)
    for ours, theirs in zip(guarded.variables, reference.variables):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs), err_msg=ours.path)
    assert int(numpy(guarded.optimizer.optimizers[1].skipped_steps)) == 0


@pytest.mark.slow
def test_a_keras_file_round_trips_the_wrapper_and_its_state(tmp_path):
    x, y = batches(3, nan_in_last=True)
    model = fitted(rk.SkipNonFinite(bop_and_adam()), x, y)
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Skipping variable loading"
        loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is rk.SkipNonFinite
    assert [type(o).__name__ for o in loaded.optimizer.inner_optimizer.optimizers] == \
        ["Bop", "Adam"]
    assert int(numpy(loaded.optimizer.skipped_steps)) == 1
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for ours, theirs in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs), err_msg=theirs.path)
    x, y = batches(2)
    for m in (model, loaded):
        m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(loaded.variables, model.variables):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs), err_msg=theirs.path)


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.slow
def test_compile_under_mixed_float16_puts_it_inside_the_loss_scale_optimizer(mixed_float16):
    x, y = batches(4)
    wrapped = rk.SkipNonFinite(bop_and_adam())
    model = fitted(wrapped, x, y, epochs=2, callbacks=[rk.FlipLogger()])
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.optimizer.inner_optimizer is wrapped
    assert sum(model.history.history["flips"]) > 0  # FlipLogger found Bop through both
    binary = wrapped.inner_optimizer.optimizers[0]
    assert int(numpy(wrapped.skipped_steps)) == 0
    assert {str(s.dtype) for v in binary.binary_variables
            for s in binary.state(v).values()} == {"float32"}
    for kernel in binary.binary_variables:
        np.testing.assert_array_equal(np.abs(numpy(kernel)), 1.0)


@pytest.mark.slow
def test_under_mixed_float16_keras_loss_scaler_takes_a_nan_batch_before_the_wrapper(
        mixed_float16):
    """Keras 3's LossScaleOptimizer halves its scale and skips the step, advancing no
    step counter: the wrapper never sees it (tf-keras's advances the counter)."""
    x, y = batches(3, nan_in_last=True)
    model = small_model()
    model.compile(rk.SkipNonFinite(bop_and_adam()),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert type(model.optimizer.inner_optimizer) is rk.SkipNonFinite
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    wrapped = model.optimizer.inner_optimizer
    assert float(numpy(model.optimizer.dynamic_scale)) == 2.0**14  # from 2**15
    assert int(numpy(wrapped.skipped_steps)) == 0
    assert [int(numpy(o.iterations)) for o in wrapped.inner_optimizer.optimizers] == [2, 2]
    for kernel in (layer.kernel for layer in model.layers):
        np.testing.assert_array_equal(np.abs(numpy(kernel)), 1.0)
    assert all(np.isfinite(numpy(v)).all() for v in model.optimizer.variables)


@needs_tensorflow_backend
@pytest.mark.slow
def test_under_mirrored_strategy_a_nan_on_one_replica_skips_the_step_on_every_one():
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    x, y = batches(2, nan_in_last=True)  # the last row: the second replica's half
    with strategy.scope():
        model = small_model()
        model.compile(rk.SkipNonFinite(bop_and_adam()),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    reference = fitted(bop_and_adam(), x[:16], y[:16])

    def copies(variable):
        return [numpy(c) for c in strategy.experimental_local_results(variable.value)]

    assert [int(c) for c in copies(model.optimizer.skipped_steps)] == [1, 1]
    assert [int(c) for c in copies(model.optimizer.iterations)] == [2, 2]
    for ours, theirs in zip(model.trainable_variables, reference.trainable_variables):
        first, second = copies(ours)
        np.testing.assert_array_equal(first, second)  # one step taken by both replicas
        # the first batch's step, as on one device (Adam's first step, lr·sign(g), moves a
        # near-zero gradient's bias by a reduction order's rounding: atol)
        np.testing.assert_allclose(first, numpy(theirs), rtol=1e-6, atol=1e-5)
