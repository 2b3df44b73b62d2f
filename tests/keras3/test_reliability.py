"""Narrow floatx, gradient accumulation, schedules that return the wrong kind of value,
layer arguments, marks across `.keras` and replicas (Keras 3 on the backend of this
process)."""

import warnings

import keras
import numpy as np
import pytest

from rethink_bnn import keras3 as rk
from tests.keras3.conftest import needs_tensorflow_backend
from tests.registry import one_per_class

CLASSES = one_per_class("keras3")  # one of each class of the conformance registry
over_classes = pytest.mark.parametrize("cls", list(CLASSES.values()), ids=list(CLASSES))


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture
def floatx_float16():
    keras.config.set_floatx("float16")
    yield
    keras.config.set_floatx("float32")


def test_a_float16_floatx_keeps_every_hyperparameter_float32(floatx_float16):
    """m = γ g = 6e-9 < τ = 1e-8: nothing flips (float16 would hold τ as 0, γ as 1.0014e-4)."""
    optimizer = rk.Bop(threshold=1e-8, gamma=1e-4)
    variable = keras.Variable(np.ones(4, "float16"), dtype="float16")
    optimizer.apply([keras.ops.full((4,), 6e-5, "float16")], [variable])
    np.testing.assert_array_equal(numpy(variable), np.ones(4))
    assert numpy(optimizer.hyperparameter("threshold")) == np.float32(1e-8)
    assert numpy(optimizer.learning_rate) == np.float32(1e-4)
    # Keras' own schedules compute in floatx: run in float32 for the rule
    schedule = rk.Bop(threshold=keras.optimizers.schedules.ExponentialDecay(1e-8, 10, 1.0))
    assert numpy(schedule.hyperparameter("threshold")) == np.float32(1e-8)


@over_classes
def test_every_hyperparameter_runs_on_one_clock_under_gradient_accumulation(cls):
    steps = keras.optimizers.schedules.PiecewiseConstantDecay([1, 2, 3], [0.5, 0.1, 0.01, 1e-3])
    names = cls.hyperparameter_names
    optimizer = cls(gradient_accumulation_steps=2, **{name: steps for name in names})
    variable = keras.Variable(np.ones(4, "float32"))
    for _ in range(3):  # the third call (call 2) used 0.1; Keras' learning rate is call 3's
        optimizer.apply([keras.ops.full((4,), 1e-3)], [variable])
    values = {name: float(numpy(optimizer.hyperparameter(name))) for name in names}
    assert values == {name: pytest.approx(0.1) for name in names}
    assert float(numpy(optimizer.learning_rate)) == pytest.approx(0.01)


class _Returns(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return self.value() if callable(self.value) else self.value

    def get_config(self):
        return {}


@over_classes
@pytest.mark.parametrize("value, error, message", [
    (lambda: keras.ops.ones((2,)), ValueError, r"schedule returned a tensor of shape \[2\]"),
    (None, TypeError, "schedule returned None: a schedule must return a scalar float"),
    ("0.1", TypeError, "schedule returned '0.1'"),
])
def test_a_schedule_that_returns_no_scalar_is_named_with_what_it_returned(
        cls, value, error, message):
    for h in cls.RULE.hyperparameters:
        with pytest.raises(error, match=f"^{cls.__name__}'s {h.name} {message}"):
            cls(**{h.name: _Returns(value)})


@pytest.mark.parametrize("arguments, message", [
    (dict(units=0), "units must be a positive integer, got 0"),
    (dict(units=2.7), "units must be a positive integer, got 2.7"),
    (dict(units=True), "units must be a positive integer, got True"),
    (dict(units=2, kernel_quantizer="binary", lora_rank=2), "lora_rank would add"),
])
def test_quant_dense_refuses_what_keras_dense_refuses(arguments, message):
    with pytest.raises(ValueError, match=message):
        rk.QuantDense(**arguments)


@pytest.mark.parametrize("arguments, message", [
    (dict(filters=0, kernel_size=3), "filters must be a positive integer, got 0"),
    (dict(filters=2.5, kernel_size=3), "filters must be a positive integer"),
    (dict(filters=2, kernel_size=0), "kernel_size"),
    (dict(filters=2, kernel_size=2.5), "kernel_size"),
    (dict(filters=2, kernel_size=3, strides=0), "strides"),
    (dict(filters=2, kernel_size=3, padding="full"), "padding"),
])
def test_quant_conv2d_refuses_at_construction_naming_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        rk.QuantConv2D(**arguments)


def test_a_refused_build_leaves_the_optimizer_unbuilt_to_build_again():
    optimizer = rk.Bop()
    variable = keras.Variable(np.full(3, 0.5, "float32"))
    with pytest.raises(ValueError, match="not all ±1"):
        optimizer.build([variable])
    assert not optimizer.built
    variable.assign(np.ones(3, "float32"))
    optimizer.apply([keras.ops.ones(3)], [variable])
    assert set(optimizer.state(variable)) == {"m"}


def _marked_dense_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
        16, kernel_initializer=rk.initializers.SignOf("glorot_uniform"), name="hidden"),
        keras.layers.Dense(2, name="out")])
    rk.mark_binary(model.get_layer("hidden").kernel)
    model.compile(optimizer=keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        rk.Bop(threshold=0.0, gamma=0.1), keras.optimizers.Adam(1e-2))), loss="mse")
    return model


@pytest.mark.slow
def test_a_kernel_marked_by_hand_is_routed_to_the_binary_optimizer_after_a_keras_reload(
        tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.normal(size=(64, 2))
    model = _marked_dense_model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Skipping variable loading"
        loaded = keras.saving.load_model(tmp_path / "m.keras")
    kernel = loaded.get_layer("hidden").kernel
    assert rk.is_binary_variable(kernel)
    bop = loaded.optimizer.optimizers[0]
    np.testing.assert_array_equal(numpy(bop.state(kernel)["m"]), numpy(
        model.optimizer.optimizers[0].state(model.get_layer("hidden").kernel)["m"]))
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert set(np.unique(numpy(kernel))) <= {-1.0, 1.0}


def test_a_map_routes_the_variables_it_was_saved_with_by_the_end_of_their_path():
    bop, adam = rk.Bop(), keras.optimizers.Adam()
    routing = rk.BinaryOptimizerMap(bop, adam, binary_variables=[("model/hidden/kernel",
                                                                   (3, 2))])
    with keras.name_scope("hidden"):
        kernel = keras.Variable(np.ones((3, 2), "float32"), name="kernel")
        other = keras.Variable(np.ones((2, 3), "float32"), name="kernel")  # another shape
    assert routing(kernel) is bop and rk.is_binary_variable(kernel)
    assert routing(other) is adam


@pytest.mark.slow
def test_flip_logger_says_nothing_is_routed_after_the_first_batch():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        rk.Bop(), keras.optimizers.Adam())), loss="mse")
    batches = []
    counter = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batches.append(batch))
    with pytest.raises(ValueError, match="Bop trains no variable"):
        model.fit(np.ones((16, 3)), np.ones((16, 2)), batch_size=4, verbose=0,
                  callbacks=[rk.FlipLogger(), counter])
    assert batches == []  # said at the first batch at the latest: no epoch trained blind


@needs_tensorflow_backend
@pytest.mark.slow
def test_under_mirrored_strategy_every_replica_counts_the_invalid_steps():
    import tensorflow as tf

    # Reduced on one device: collective ops keep process-wide state that the tf-keras
    # tests' strategies in this process would trip over.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), rk.QuantDense(2, use_bias=False)])
        model.compile(optimizer=rk.Bop(gamma=_Returns(lambda: keras.ops.cast(
            float("nan"), "float32"))), loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 2)), batch_size=4, epochs=1, verbose=0)
    counter = model.optimizer.invalid_hyperparameter_steps
    copies = [int(v) for v in strategy.experimental_local_results(counter.value)]
    assert copies == [2, 2]


def test_a_record_never_sends_a_real_valued_kernel_of_the_same_path_end_to_bop():
    """Two sub-models' layers named `d`: a reloaded model's paths are both `d/kernel`."""
    bop, adam = rk.Bop(), keras.optimizers.Adam()
    routing = rk.BinaryOptimizerMap(bop, adam, binary_variables=[("a/d/kernel", (3, 2))])
    with keras.name_scope("d"):
        binary = keras.Variable(np.ones((3, 2), "float32"), name="kernel")
        real = keras.Variable(np.full((3, 2), 0.5, "float32"), name="kernel")
    assert routing(binary) is bop and routing(real) is adam
    assert not rk.is_binary_variable(real)


@pytest.mark.parametrize("records", ["dense/kernel", [("dense/kernel", 3)],
                                     [(None, (8, 4))], [("d/kernel", (2.7, 3))]])
def test_bad_binary_variables_are_one_type_error_saying_their_form(records):
    with pytest.raises(TypeError, match="binary_variables must be a list of .path, shape. "
                                        "pairs"):
        rk.BinaryOptimizerMap(rk.Bop(), keras.optimizers.Adam(), binary_variables=records)


def test_a_binary_default_optimizer_is_refused():
    with pytest.raises(TypeError, match="default_optimizer must train real-valued"):
        rk.BinaryOptimizerMap(rk.Bop(), rk.Bop())


@pytest.mark.parametrize("layer", [lambda **k: rk.QuantDense(4, **k),
                                   lambda **k: rk.QuantConv2D(4, 3, **k)])
def test_nothing_may_move_a_binary_kernel_off_plus_minus_one(layer):
    with pytest.raises(ValueError, match="kernel_constraint would move a binary kernel"):
        layer(kernel_constraint="non_neg")
    built = layer()
    built.build((None, 8, 8, 3) if isinstance(built, rk.QuantConv2D) else (None, 8))
    with pytest.raises(ValueError, match="enable_lora would add a real-valued term"):
        built.enable_lora(2)
    assert rk.QuantDense(np.int64(4)).units == 4  # a numpy int is an int


@pytest.mark.parametrize("value", [{"a": 1}, 1j])
def test_a_schedule_that_returns_no_real_number_is_refused(value):
    with pytest.raises(TypeError, match="^Bop's threshold schedule returned "):
        rk.Bop(threshold=_Returns(value))
