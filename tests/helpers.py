"""Small binary models and data shared by the tests."""

import larq as lq
import numpy as np
import tensorflow as tf

import rethink_bnn as rb


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


def digits(seed=0):
    """((x_train, y_train), (x_test, y_test)): real digits, images scaled to [-1, 1]."""
    from rethink_bnn.data import digits_arrays

    (x, y), (x_test, y_test) = digits_arrays(seed=seed)
    return (x / 127.5 - 1.0, y), (x_test / 127.5 - 1.0, y_test)
