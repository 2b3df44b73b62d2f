"""Misuse of the Python API by a careful user: each gets a clear one-line error or the
right result, never a deep traceback or a wrong number without a word."""

import fractions

import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers import CaseOptimizer, SkipNonFinite, is_binary_variable
from tests.helpers import (
    BINARY_CLASSES,
    BINARY_OPTIMIZERS,
    binary_adam,
    binary_kernels,
    dense_bnn,
    over_binary_optimizers,
    toy_data,
)

Adam = tf.keras.optimizers.Adam


def _one_line(error):
    message = str(error.value)
    assert "\n" not in message, message
    return message


# --- CaseOptimizer predicates ----------------------------------------------------------

def _boom(variable):
    raise RuntimeError("no such attribute")


@pytest.mark.parametrize("predicate, error, message", [
    (_boom, ValueError, r"The predicate _boom of pair 0 of the CaseOptimizer, given "
                        r"variable `binary_1/kernel:0`, raised RuntimeError: no such attribute"),
    (lambda v, w: True, ValueError, r"raised TypeError: .*missing 1 required positional"),
    (rb.Bop, ValueError, r"The predicate Bop .* raised TypeError"),  # a class is callable
    (lambda v: None, TypeError, r"returned NoneType None: a predicate returns a bool"),
    (lambda v: "no", TypeError, r"returned str 'no'"),  # truthy: would claim everything
    (lambda v: 1, TypeError, r"returned int 1"),
])
def test_a_predicate_that_raises_or_answers_no_bool_is_named(predicate, error, message):
    optimizer = CaseOptimizer((predicate, rb.Bop()), default_optimizer=Adam())
    with pytest.raises(error, match=message) as raised:
        optimizer.build(dense_bnn().trainable_variables)
    _one_line(raised)


def test_a_predicate_may_answer_a_numpy_or_tensor_bool():
    model = dense_bnn()
    optimizer = CaseOptimizer(
        (lambda v: np.bool_(is_binary_variable(v)), rb.Bop()),
        (lambda v: tf.constant("real_head/kernel" in v.name), tf.keras.optimizers.SGD()),
        default_optimizer=Adam())
    optimizer.build(model.trainable_variables)
    routed = [optimizer.optimizers.index(optimizer.optimizer_for(v))
              for v in model.trainable_variables]
    assert routed == [0, 2, 0, 1, 2]  # kernel, beta, kernel, head kernel, head bias


# --- hyperparameters of any scalar type ------------------------------------------------

@pytest.mark.parametrize("cls", list(BINARY_CLASSES.values()), ids=list(BINARY_CLASSES))
@pytest.mark.parametrize("value", [tf.constant(0.5, tf.float64), fractions.Fraction(1, 2),
                                   np.float16(0.5), tf.Variable(0.5, dtype=tf.float64)],
                         ids=["float64-tensor", "fraction", "float16-numpy", "float64-variable"])
def test_every_hyperparameter_takes_any_real_scalar(cls, value):
    """The first hyperparameter (Keras' float32 learning rate) refused a float64 tensor
    and a Fraction with TensorFlow's conversion error; the others took them."""
    for name in cls.hyperparameter_names:
        optimizer = cls(**{name: value})
        assert optimizer.hyperparameters[name] == 0.5
        optimizer.set_hyperparameter(name, value)  # and the setter, too
        assert optimizer.hyperparameters[name] == 0.5


@pytest.mark.parametrize("cls", list(BINARY_CLASSES.values()), ids=list(BINARY_CLASSES))
def test_an_integer_tensor_is_taken_as_an_int_is(cls):
    name = cls.hyperparameter_names[0]
    assert cls(**{name: tf.constant(1)}).hyperparameters[name] == 1.0
    with pytest.raises(TypeError, match="got EagerTensor"):
        cls(**{name: tf.constant(True)})


@pytest.mark.parametrize("cls", list(BINARY_CLASSES.values()), ids=list(BINARY_CLASSES))
def test_a_callable_hyperparameter_is_told_to_be_a_schedule(cls):
    for name in cls.hyperparameter_names:
        with pytest.raises(TypeError, match=rf"^{name} must be .* got the callable .*write "
                                            "it as a LearningRateSchedule") as raised:
            cls(**{name: lambda: 0.1})
        _one_line(raised)


class _VectorSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """A valid value, as a vector of one element."""

    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return tf.fill([1], tf.constant(self.value, tf.float32))

    def get_config(self):
        return {"value": self.value}


@over_binary_optimizers
def test_a_schedule_that_returns_a_vector_is_named(make):
    model = dense_bnn()
    kernels = binary_kernels(model)
    for name in make.cls.hyperparameter_names:  # refused where it enters, before a step
        with pytest.raises(ValueError, match=rf"^{make.cls.__name__}'s {name} schedule "
                                             r"returned a tensor of shape \[1\]: a schedule "
                                             "must return a scalar") as raised:
            optimizer = make(**{name: _VectorSchedule(make.defaults[name])})
            optimizer.apply_gradients([(tf.ones_like(k), k) for k in kernels])
        _one_line(raised)
    assert all(np.array_equal(np.abs(k.numpy()), np.ones(k.shape)) for k in kernels)


# --- custom training loops -------------------------------------------------------------

def _custom_loop(callback, steps=3):
    """A GradientTape loop that drives `callback` as fit would, without model.fit."""
    model = dense_bnn()
    optimizer = SkipNonFinite(binary_adam(BINARY_OPTIMIZERS["bop"]))
    model.compile(optimizer, loss="sparse_categorical_crossentropy")
    x, y = toy_data(n=32)
    loss = tf.keras.losses.SparseCategoricalCrossentropy()
    callbacks = tf.keras.callbacks.CallbackList([callback], model=model, epochs=1, steps=steps)
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    for step in range(steps):
        callbacks.on_train_batch_begin(step)
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        callbacks.on_train_batch_end(step, {"loss": float(value)})
    logs = {}
    callbacks.on_epoch_end(0, logs)
    callbacks.on_train_end()
    return optimizer


@pytest.mark.parametrize("callback", [
    lambda folder: rb.callbacks.FlipLogger(folder, update_freq=1),
    lambda folder: rb.callbacks.BatchMetricLogger(folder),
], ids=["FlipLogger", "BatchMetricLogger"])
def test_per_step_logging_in_a_custom_loop_is_an_error(callback, tmp_path):
    """model.train_step records each step's row; a custom loop never calls it, and the
    rows read were zeros, written to TensorBoard as NaN at step 0."""
    with pytest.raises(RuntimeError, match=r"3 training steps ran .* model.train_step "
                                           r"recorded 0: .*custom training loop") as raised:
        _custom_loop(callback(str(tmp_path)))
    _one_line(raised)


@pytest.mark.slow
def test_epoch_flips_work_in_a_custom_loop():
    optimizer = _custom_loop(rb.callbacks.FlipLogger(update_freq="epoch"))
    assert int(optimizer.iterations.numpy()) == 3


# --- gradients that are None or sparse -------------------------------------------------

@pytest.mark.parametrize("wrap", [lambda o: o, SkipNonFinite], ids=["case", "skip"])
@pytest.mark.slow
def test_a_sub_optimizer_without_gradients_leaves_the_rest_trained(wrap):
    """Only the head on the loss's path: Keras' error (every variable's value printed)
    came from Bop; under SkipNonFinite the CaseOptimizer was built on the head alone, so
    Bop claimed nothing."""
    model = dense_bnn()
    optimizer = wrap(binary_adam(BINARY_OPTIMIZERS["bop"]))
    head = model.get_layer("real_head").kernel
    before = head.numpy()
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(head)
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    assert not np.array_equal(head.numpy(), before)
    x, y = toy_data(n=32)  # then a full step: every variable was routed at the first one
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    assert int(optimizer.iterations.numpy()) == 2


def test_all_gradients_none_is_one_line():
    model = dense_bnn()
    variables = model.trainable_variables
    with pytest.raises(ValueError, match="no gradient for any of its 5 variables") as raised:
        binary_adam(BINARY_OPTIMIZERS["bop"]).apply_gradients([(None, v) for v in variables])
    _one_line(raised)


@over_binary_optimizers
def test_a_sparse_gradient_is_the_dense_one(make):
    """An embedding's gradient (IndexedSlices, repeated rows summed) gives the same
    flips and state as its dense form."""
    rng = np.random.default_rng(0)
    signs = np.where(rng.random((20, 8)) < 0.5, -1.0, 1.0).astype(np.float32)
    rows = [rng.integers(0, 20, 12) for _ in range(3)]
    values = [rng.normal(size=(12, 8)).astype(np.float32) * 0.1 for _ in range(3)]
    results = []
    for sparse in (True, False):
        weight, optimizer = tf.Variable(signs), make()
        for index, value in zip(rows, values):
            gradient = tf.IndexedSlices(value, index, dense_shape=(20, 8))
            optimizer.apply_gradients(
                [(gradient if sparse else tf.convert_to_tensor(gradient), weight)])
        results.append((weight.numpy(), [s.numpy() for s in optimizer.state(weight).values()]))
    (w_sparse, s_sparse), (w_dense, s_dense) = results
    assert not np.array_equal(w_sparse, signs)  # it flipped some
    np.testing.assert_array_equal(w_sparse, w_dense)
    for a, b in zip(s_sparse, s_dense):
        np.testing.assert_array_equal(a, b)
