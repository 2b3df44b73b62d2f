"""Small binary models and data shared by the tests."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from tests.registry import CONFORMANCE


def binary_kernels(model):
    return [v for v in model.trainable_variables if rb.is_binary_variable(v)]


def assert_all_binary(variables):
    for variable in variables:
        values = np.asarray(variable)
        assert np.array_equal(np.abs(values), np.ones_like(values)), variable.name


def dense_bnn(seed=0, batch_norm=True, units=16, n_in=12, n_classes=3):
    """A two-layer binary MLP; `batch_norm=False` keeps each example independent."""
    binary = dict(
        kernel_quantizer=lq.quantizers.NoOp(precision=1),
        kernel_initializer=rb.initializers.BinaryHeNormal(seed=seed),
        use_bias=False,
    )
    inputs = tf.keras.Input((n_in,))
    x = lq.layers.QuantDense(units, name="binary_1", **binary)(inputs)
    x = tf.keras.layers.BatchNormalization(scale=False)(x) if batch_norm else x
    x = lq.layers.QuantDense(n_classes, input_quantizer="ste_sign", name="binary_2", **binary)(x)
    head_init = tf.keras.initializers.GlorotUniform(seed=seed)
    x = tf.keras.layers.Dense(n_classes, kernel_initializer=head_init, name="real_head")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Activation("softmax")(x))


def toy_data(n=256, n_in=12, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    w = rng.normal(size=(n_in, n_classes))
    y = np.argmax(x @ w, axis=1).astype(np.int64)
    return x, y


def bop_adam(threshold=1e-6, gamma=1e-2, learning_rate=1e-2):
    """Bop for binary kernels, Adam for the rest."""
    return rb.CaseOptimizer(
        (rb.is_binary_variable, rb.Bop(threshold=threshold, gamma=gamma)),
        default_optimizer=tf.keras.optimizers.Adam(learning_rate),
    )


def is_rate(cls, name):
    """Whether `cls` declares hyperparameter `name` a rate (in (0, 1]), else a finite
    float >= 0: what a test of its range expects."""
    return next(h for h in cls.HYPERPARAMETERS if h.name == name).kind == "rate"


def _binary_optimizer(cls, **defaults):
    """A factory of `cls` with `defaults`; keyword arguments override them (e.g. `name`,
    `jit_compile`, or a schedule for one hyperparameter). `make.cls` is the class."""
    def make(**kwargs):
        return cls(**{**defaults, **kwargs})

    make.cls, make.defaults = cls, defaults
    return make


# Each entry of the conformance registry (tests/registry.py: its values flip weights of
# `dense_bnn` on `toy_data` and train it) as a factory of its tf-keras class.
BINARY_OPTIMIZERS = {key: _binary_optimizer(entry.cls("tf_keras"), **entry.values)
                     for key, entry in CONFORMANCE.items()}
# The tf-keras conformance suite: every test below `over_binary_optimizers` or
# `over_binary_classes` runs on each entry, so a new binary optimizer is tested by listing
# it in the registry, once (tests/optimizers/test_conformance.py checks that each one is;
# tests/keras3/test_conformance.py runs the Keras 3 front end over the same entries).
# One of each class, for what depends on the class only (its arguments and errors).
BINARY_CLASSES = {}
for _key, _make in BINARY_OPTIMIZERS.items():
    if _make.cls not in BINARY_CLASSES.values():
        BINARY_CLASSES[_key] = _make.cls

# `@over_binary_optimizers` runs a test that takes `make` once per binary optimizer;
# `@over_binary_classes` once per class (the last listed of each: Bop2ndOrder unbiased,
# the longer code path), for expensive tests of what the flag cannot change
# (distribution, saving).
over_binary_optimizers = pytest.mark.parametrize(
    "make", list(BINARY_OPTIMIZERS.values()), ids=list(BINARY_OPTIMIZERS))
ONE_PER_CLASS = list({make.cls: key for key, make in BINARY_OPTIMIZERS.items()}.values())
over_binary_classes = pytest.mark.parametrize(
    "make", [BINARY_OPTIMIZERS[key] for key in ONE_PER_CLASS], ids=ONE_PER_CLASS)


def binary_adam(make, learning_rate=1e-2, **kwargs):
    """`make(**kwargs)` (a factory of `BINARY_OPTIMIZERS`) for binary kernels, Adam for
    the rest."""
    return rb.CaseOptimizer(
        (rb.is_binary_variable, make(**kwargs)),
        default_optimizer=tf.keras.optimizers.Adam(learning_rate),
    )


def lead(optimizer):
    """The name of the hyperparameter that plays the learning rate's part (Bop's γ, CEMA's α)."""
    return optimizer.hyperparameter_names[0]


def scheduled(make, steps=40, end=0.5):
    """`make` with every hyperparameter a linear schedule from its default to `end` times
    it over `steps` steps: the step count matters for every one of them."""
    return make(**{name: tf.keras.optimizers.schedules.PolynomialDecay(
                       value, steps, value * end, power=1.0)
                   for name, value in make.defaults.items()
                   if name in make.cls.hyperparameter_names})


def state_values(optimizer):
    """[array] of every state slot of every variable `optimizer` trains, in order."""
    return [slot.numpy() for v in optimizer.binary_variables
            for slot in optimizer.state(v).values()]


def digits(seed=0):
    """((x_train, y_train), (x_test, y_test)): real digits, images scaled to [-1, 1]."""
    from rethink_bnn.data import digits_arrays

    (x, y), (x_test, y_test) = digits_arrays(seed=seed)
    return (x / 127.5 - 1.0, y), (x_test / 127.5 - 1.0, y_test)
