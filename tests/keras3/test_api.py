"""The Keras 3 front end's arguments, checks, saving and layers, in this process (what
every binary optimizer must do is tests/keras3/test_conformance.py, over the registry)."""

import math

import keras
import numpy as np
import pytest

import rethink_bnn as rb
from rethink_bnn import keras3 as rk
from rethink_bnn.keras3.binary import flip_counter_dtype
from tests.keras3.conftest import needs_tensorflow_backend, needs_tf_keras


def test_a_variable_not_plus_minus_one_is_refused_by_name():
    with pytest.raises(ValueError, match=r"variable `real/kernel` whose values are not all ±1"):
        with keras.name_scope("real"):
            rk.Bop().build([keras.Variable(np.full((2, 2), 0.5, "float32"), name="kernel")])


class _Nan(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return keras.ops.cast(float("nan"), "float32")

    def get_config(self):
        return {}


@needs_tensorflow_backend
def test_ste_sign_is_plus_minus_one_forward_and_larq_straight_through_backward():
    import tensorflow as tf

    x = tf.constant([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = rk.ste_sign(x)
    np.testing.assert_array_equal(y.numpy(), [-1, -1, -1, 1, 1, 1, 1])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 1, 1, 1, 1, 1, 0])


@pytest.mark.parametrize("kernel_quantizer, binary", [("binary", True), ("ste_sign", False),
                                                      (None, False)])
def test_quant_layers_mark_only_binary_kernels_and_round_trip(kernel_quantizer, binary):
    for layer, shape in [(rk.QuantDense(3, kernel_quantizer=kernel_quantizer), (2, 5)),
                         (rk.QuantConv2D(4, 3, padding="same", input_quantizer="ste_sign",
                                         kernel_quantizer=kernel_quantizer), (2, 6, 6, 3))]:
        outputs = layer(np.random.default_rng(0).normal(size=shape).astype("float32"))
        assert tuple(outputs.shape) == layer.compute_output_shape(shape)
        assert rk.is_binary_variable(layer.kernel) is binary
        values = keras.ops.convert_to_numpy(layer.kernel)
        assert bool(np.all(np.abs(values) == 1)) is (kernel_quantizer == "binary")
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()


def test_quant_conv2d_computes_the_convolution_of_the_signs():
    layer = rk.QuantConv2D(2, 3, input_quantizer="ste_sign", use_bias=False)
    x = np.random.default_rng(1).normal(size=(1, 5, 5, 2)).astype("float32")
    outputs = keras.ops.convert_to_numpy(layer(x))
    signs = np.where(x >= 0, 1.0, -1.0)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    expected = np.einsum("hwc,hwcf->f", signs[0, 1:4, 2:5], kernel)
    np.testing.assert_allclose(outputs[0, 1, 2], expected, rtol=1e-6)


@pytest.mark.parametrize("arguments, message", [
    (dict(input_quantizer="sign"), "input_quantizer must be one of"),
    (dict(kernel_quantizer="ste_tern"), "kernel_quantizer must be 'binary', 'ste_sign' or None"),
])
def test_unknown_quantizers_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        rk.QuantDense(2, **arguments)


@needs_tf_keras
def test_the_map_routes_marked_variables_to_the_binary_optimizer():
    bop, adam = rk.Bop(), keras.optimizers.Adam()
    routing = rk.BinaryOptimizerMap(bop, adam)
    layer = rk.QuantDense(2)
    layer.build((None, 3))
    assert routing(layer.kernel) is bop and routing(layer.bias) is adam
    multi = keras.optimizers.MultiOptimizer(routing)
    assert multi.optimizers == [bop, adam]
    for other in (rb.optimizers.Bop(), keras.optimizers.Adam()):  # tf-keras's, not binary
        with pytest.raises(TypeError, match="binary_optimizer must be a rethink_bnn.keras3 "
                                            "binary optimizer"):
            rk.BinaryOptimizerMap(other, adam)


@pytest.mark.slow
def test_flip_logger_says_when_the_model_has_no_binary_optimizer():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="FlipLogger found no rethink_bnn.keras3 binary"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0, callbacks=[rk.FlipLogger()])


def test_flip_ratio_and_pi_of_an_epoch_without_flips():
    logs = {}
    from rethink_bnn.keras3.callbacks import _values

    logs.update(_values("", 0, 10))
    assert logs == {"flips": 0.0, "flip_ratio": 0.0, "pi": math.log(1e-9)}



def test_an_int32_flip_counter_that_wraps_around_still_gives_the_epochs_flips(monkeypatch):
    """On JAX without x64 the counters are int32: past 2**31 - 1 they wrap around."""
    logger = rk.FlipLogger()
    logger._before = [("a", 2**31 - 4, 100, 32), ("a", 7, 50, 32), ("b", 3, 10, 64)]
    monkeypatch.setattr(logger, "_readings", lambda: [
        ("a", -(2**31) + 6, 100, 32), ("a", 9, 50, 32), ("b", 5, 10, 64)])
    logs = {}
    logger.on_epoch_end(0, logs)
    assert logs["flips/a"] == 10 + 2 and logs["flips/b"] == 2 and logs["flips"] == 14
    assert logs["flip_ratio/a"] == 12 / 150


def test_flip_counts_are_one_vector_with_an_entry_per_variable():
    """γ = 1, τ = 0: m = g, and a weight flips where g has its sign. Entry i counts
    `binary_variables[i]`, as the tf-keras optimizers' vector does."""
    optimizer = rk.Bop(threshold=0.0, gamma=1.0)
    weights = np.where(np.arange(6) % 2, 1.0, -1.0).astype("float32")
    a, b, c = (keras.Variable(weights) for _ in range(3))
    optimizer.build([a, b, c])
    assert tuple(optimizer.flip_counts.shape) == (3,)
    assert keras.backend.standardize_dtype(optimizer.flip_counts.dtype) == flip_counter_dtype()
    same_sign = weights * np.array([1, 1, 0, 0, 0, 0], "float32")  # two flips
    optimizer.apply([keras.ops.zeros(6), keras.ops.convert_to_tensor(same_sign),
                     keras.ops.convert_to_tensor(weights)], [a, b, c])
    one = (weights * [0, 0, 0, 0, 0, 1]).astype("float32")
    optimizer.apply([keras.ops.convert_to_tensor(one)], [a])  # one flip, of a alone
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.flip_counts), [1, 2, 6])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(b), weights * [-1, -1, 1, 1, 1, 1])
    assert [id(v) for v in optimizer.binary_variables] == [id(a), id(b), id(c)]


def test_a_step_is_counted_once_whichever_variables_it_updates():
    optimizer = rk.Bop(gamma=_Nan())
    a, b = (keras.Variable(np.ones(3, "float32")) for _ in range(2))
    optimizer.build([a, b])
    optimizer.apply([keras.ops.ones(3)], [b])  # not the first variable built on
    optimizer.apply([keras.ops.ones(3), keras.ops.ones(3)], [a, b])
    assert int(optimizer.invalid_hyperparameter_steps) == 2


@pytest.mark.slow
def test_flip_logger_says_when_nothing_is_routed_to_the_binary_optimizer():
    model = keras.Sequential([keras.Input((3,)), rk.QuantDense(2, kernel_quantizer="ste_sign")])
    model.compile(optimizer=keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        rk.Bop(), keras.optimizers.Adam())), loss="mse")
    with pytest.raises(ValueError, match="Bop trains no variable: mark the binary kernels"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0, callbacks=[rk.FlipLogger()])


@pytest.mark.slow
def test_flip_logger_names_layers_of_nested_models_by_their_model():
    """Two layers named `qd`, each in its own nested model: two keys, not one."""
    model = keras.Sequential([keras.Input((4,)), *(keras.Sequential(
        [keras.Input((4,)), rk.QuantDense(4, use_bias=False, name="qd")], name=n)
        for n in ("first", "second"))])
    model.compile(optimizer=rk.Bop(threshold=0.0, gamma=0.5), loss="mse")
    history = model.fit(np.ones((8, 4)), -np.ones((8, 4)), verbose=0,
                        callbacks=[rk.FlipLogger()])
    assert {"flips/first/qd", "flips/second/qd"} <= set(history.history)
    assert history.history["flips"] == [history.history["flips/first/qd"][0]
                                        + history.history["flips/second/qd"][0]]


def test_every_private_name_of_keras_we_use_exists_in_the_installed_keras():
    from rethink_bnn.keras3 import keras_internals

    assert not keras_internals.missing(), (
        f"rethink_bnn/keras3/keras_internals.py relies on names that Keras "
        f"{keras.__version__} no longer has: {keras_internals.missing()} (checked on "
        f"{keras_internals.CHECKED_ON}); adapt that module, and only it.")


def test_a_class_whose_rule_cannot_run_is_refused_where_it_is_written():
    from rethink_bnn.core.declarations import Rule

    with pytest.raises(TypeError, match="defines rule\\(\\): write the rule as its Rule's update="):
        class OldStyle(rk.Bop):  # noqa: F841
            def rule(self, weight, gradient, state, hyperparameters):
                return state, weight > 2

    with pytest.raises(TypeError, match="must set RULE to a .*Rule with its update="):
        class NoUpdate(rk.BinaryOptimizer):  # noqa: F841
            RULE = Rule("NoUpdate", rk.Bop.RULE.hyperparameters, state=("m",))
