"""The paper's networks: BinaryNet (CIFAR-10), the MNIST net, and a small binary MLP."""

import larq as lq
import tensorflow as tf

from rethink_bnn.models.kernels import binary_kernels

__all__ = ["binary_mlp", "binarynet", "mnist_net"]


def _batch_norm():
    return tf.keras.layers.BatchNormalization(scale=False)


def binarynet(input_shape=(32, 32, 3), num_classes=10, weight_kind="bop", seed=None):
    """BinaryNet for CIFAR-10 as in the authors' source code, 10,352,000 binary weights.

        C128 - BN - C128 - MaxPool2 - BN - C256 - BN - C256 - MaxPool2 - BN -
        C512 - BN - C512 - MaxPool2 - BN - D1024 - BN - D1024 - BN - D10 - BN - softmax

    Every conv is 3x3, stride 1, without bias. The first sees the real input with
    "valid" padding; every later layer binarizes its input with sign (ste_sign).

    Examples:
        >>> from rethink_bnn.models import binarynet
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> model = binarynet(seed=0)
        >>> sum(v.shape.num_elements() for v in model.weights if is_binary_variable(v))
        10352000

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, sec 5.1 and 5.2 (the network of the authors' code),
        after Courbariaux, Bengio, "BinaryNet: Training Deep Neural Networks with Weights
        and Activations Constrained to +1 or -1", arXiv:1602.02830, 2016.
    """
    kernels = binary_kernels(weight_kind, seed)
    inputs = tf.keras.Input(input_shape)
    x = lq.layers.QuantConv2D(128, 3, name="conv_1", **next(kernels))(inputs)
    x = _batch_norm()(x)
    for i, (filters, pool) in enumerate(
        [(128, True), (256, False), (256, True), (512, False), (512, True)], start=2
    ):
        x = lq.layers.QuantConv2D(filters, 3, padding="same", input_quantizer="ste_sign",
                                  name=f"conv_{i}", **next(kernels))(x)
        if pool:
            x = tf.keras.layers.MaxPool2D(2)(x)
        x = _batch_norm()(x)
    x = tf.keras.layers.Flatten()(x)
    for i, units in enumerate([1024, 1024, num_classes], start=1):
        x = lq.layers.QuantDense(units, input_quantizer="ste_sign", name=f"dense_{i}",
                                 **next(kernels))(x)
        x = _batch_norm()(x)
    # float32 even under a mixed-precision policy: a float16 softmax loses the small ones
    outputs = tf.keras.layers.Activation("softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name=f"binarynet_{weight_kind}")


def mnist_net(input_shape=(28, 28, 1), num_classes=10, weight_kind="bop", seed=None,
              initializer=None):
    """The reproducibility report's MNIST net (sec 3.1.1), as the report's code builds it.

        C32 - MaxPool2 - BN - C64 - MaxPool2 - BN - C64 - BN - Flatten (3×3×64 = 576) -
        D64 - BN - D`num_classes` - BN - softmax

    Binary 3×3 convolutions, stride 1, "valid" padding, no bias: 28 → 26 → 13 → 11 → 5 →
    3. The report's text says every conv block pools; its code
    (`larq_approximation_viewpoint_mnist.py`, `larq_theorem_mnist.py`) pools after the
    first two only, and the numbers it reports come from the code. (Pooling after the
    third too leaves 1×1×64 = 64 features, a much narrower network.) The first conv sees
    the real input; every later layer binarizes its input with ste_sign. 93,088 binary
    weights. `initializer(seed)` may replace the kernels' initializer.

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.models import mnist_net
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> model = mnist_net(seed=0)
        >>> sum(v.shape.num_elements() for v in model.weights if is_binary_variable(v))
        93088
        >>> model(np.zeros((2, 28, 28, 1), "float32")).shape  # softmax over 10 classes
        TensorShape([2, 10])

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.1.1.
    """
    kernels = binary_kernels(weight_kind, seed, initializer)
    inputs = tf.keras.Input(input_shape)
    x = inputs
    for i, (filters, pool) in enumerate([(32, True), (64, True), (64, False)], start=1):
        quantizer = None if i == 1 else "ste_sign"
        x = lq.layers.QuantConv2D(filters, 3, input_quantizer=quantizer, name=f"conv_{i}",
                                  **next(kernels))(x)
        if pool:
            x = tf.keras.layers.MaxPool2D(2)(x)
        x = _batch_norm()(x)
    x = tf.keras.layers.Flatten()(x)
    for i, units in enumerate([64, num_classes], start=1):
        x = lq.layers.QuantDense(units, input_quantizer="ste_sign", name=f"dense_{i}",
                                 **next(kernels))(x)
        x = _batch_norm()(x)
    # float32 even under a mixed-precision policy: a float16 softmax loses the small ones
    outputs = tf.keras.layers.Activation("softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name=f"mnist_net_{weight_kind}")


def binary_mlp(input_shape=(8, 8, 1), num_classes=10, units=(256, 256), weight_kind="bop",
               seed=None):
    """Binary dense layers, BatchNorm after each, sign activations between them; the
    first layer sees the real input. Small enough for CPU demos.

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.models import binary_mlp
        >>> model = binary_mlp(units=(16,), seed=0)  # 8×8 digits -> 16 -> 10 classes
        >>> [layer.name for layer in model.layers if layer.name.startswith("dense")]
        ['dense_1', 'dense_2']
        >>> model(np.zeros((2, 8, 8, 1), "float32")).numpy().sum(axis=1).round(4).tolist()
        [1.0, 1.0]
    """
    kernels = binary_kernels(weight_kind, seed)
    inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.Flatten()(inputs)
    for i, width in enumerate((*units, num_classes), start=1):
        quantizer = None if i == 1 else "ste_sign"
        x = lq.layers.QuantDense(width, input_quantizer=quantizer, name=f"dense_{i}",
                                 **next(kernels))(x)
        x = _batch_norm()(x)
    # float32 even under a mixed-precision policy: a float16 softmax loses the small ones
    outputs = tf.keras.layers.Activation("softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name=f"binary_mlp_{weight_kind}")
