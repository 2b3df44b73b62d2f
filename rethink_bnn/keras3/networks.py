"""The paper's networks in Keras 3 layers (any backend): BinaryNet (CIFAR-10), the
report's MNIST net and the small binary MLP, layer for layer the tf-keras/Larq networks
of `rethink_bnn.models.networks`: the same layers, names, shapes and parameter counts.

`weight_kind` says what the binary kernels are:

- `"bop"`: ±1 kernels (signs of He-normal values, as the report's) for Bop and its
  successors (`kernel_quantizer="binary"`, marked for `BinaryOptimizerMap`);
- `"latent"`: the latent-weight baseline, real kernels binarized by `ste_sign` in the
  forward pass (straight-through, cut off at |w| > 1) and clipped to [-1, 1] after each
  update (`WeightClip`), as Larq's `ste_sign` with `weight_clip`.
"""

import keras

from rethink_bnn.keras3.initializers import BinaryHeNormal
from rethink_bnn.keras3.layers import QuantConv2D, QuantDense

__all__ = ["WEIGHT_KINDS", "WeightClip", "binary_mlp", "binarynet", "mnist_net"]

WEIGHT_KINDS = ("bop", "latent")
"""How a network's binary kernels are held: "bop", ±1 values that Bop flips; "latent",
real latent weights binarized by ste_sign and clipped to [-1, 1] (`WeightClip`)."""


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class WeightClip(keras.constraints.Constraint):
    """Clips weights to [-clip_value, clip_value] (Larq's `weight_clip`).

    Examples:
        >>> from keras import ops
        >>> from rethink_bnn.keras3.networks import WeightClip
        >>> ops.convert_to_numpy(WeightClip()(ops.array([-2.0, 0.5, 3.0]))).tolist()
        [-1.0, 0.5, 1.0]

    Reference:
        The latent weights' clipping of Courbariaux, Bengio, "BinaryNet: Training Deep
        Neural Networks with Weights and Activations Constrained to +1 or -1",
        arXiv:1602.02830, 2016.
    """

    def __init__(self, clip_value=1.0):
        self.clip_value = float(clip_value)

    def __call__(self, w):
        return keras.ops.clip(w, -self.clip_value, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}


def _kernels(weight_kind, seed):
    """Layer arguments for the kernels of successive layers (seeds seed, seed + 1, ...:
    equal shapes must not share an initializer's values)."""
    if weight_kind not in WEIGHT_KINDS:
        raise ValueError(f"weight_kind must be one of {WEIGHT_KINDS} on Keras 3, got "
                         f"{weight_kind!r}.")
    layer = 0
    while True:
        layer_seed = None if seed is None else seed + layer
        layer += 1
        if weight_kind == "bop":
            yield dict(kernel_quantizer="binary", kernel_initializer=BinaryHeNormal(layer_seed),
                       use_bias=False)
        else:
            yield dict(kernel_quantizer="ste_sign", kernel_constraint=WeightClip(1.0),
                       kernel_initializer=keras.initializers.GlorotUniform(layer_seed),
                       use_bias=False)


def _batch_norm():
    return keras.layers.BatchNormalization(scale=False)


def _softmax():
    # float32 even under a mixed-precision policy: a float16 softmax loses the small ones
    return keras.layers.Activation("softmax", dtype="float32")


def binarynet(input_shape=(32, 32, 3), num_classes=10, weight_kind="bop", seed=None):
    """BinaryNet for CIFAR-10 as in the authors' source code, 10,352,000 binary weights
    (see `rethink_bnn.models.binarynet`):

        C128 - BN - C128 - MaxPool2 - BN - C256 - BN - C256 - MaxPool2 - BN -
        C512 - BN - C512 - MaxPool2 - BN - D1024 - BN - D1024 - BN - D10 - BN - softmax

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.keras3 import is_binary_variable, networks
        >>> model = networks.binarynet(seed=0)
        >>> sum(int(np.prod(v.shape)) for v in model.weights if is_binary_variable(v))
        10352000

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, sec 5.1 and 5.2 (the network of the authors' code),
        after Courbariaux, Bengio, "BinaryNet: Training Deep Neural Networks with Weights
        and Activations Constrained to +1 or -1", arXiv:1602.02830, 2016.
    """
    kernels = _kernels(weight_kind, seed)
    inputs = keras.Input(input_shape)
    x = QuantConv2D(128, 3, name="conv_1", **next(kernels))(inputs)
    x = _batch_norm()(x)
    for i, (filters, pool) in enumerate(
            [(128, True), (256, False), (256, True), (512, False), (512, True)], start=2):
        x = QuantConv2D(filters, 3, padding="same", input_quantizer="ste_sign",
                        name=f"conv_{i}", **next(kernels))(x)
        if pool:
            x = keras.layers.MaxPooling2D(2)(x)
        x = _batch_norm()(x)
    x = keras.layers.Flatten()(x)
    for i, units in enumerate([1024, 1024, num_classes], start=1):
        x = QuantDense(units, input_quantizer="ste_sign", name=f"dense_{i}",
                       **next(kernels))(x)
        x = _batch_norm()(x)
    return keras.Model(inputs, _softmax()(x), name=f"binarynet_{weight_kind}")


def mnist_net(input_shape=(28, 28, 1), num_classes=10, weight_kind="bop", seed=None):
    """The reproducibility report's MNIST net, as its code builds it (see
    `rethink_bnn.models.mnist_net`), 93,088 binary weights:

        C32 - MaxPool2 - BN - C64 - MaxPool2 - BN - C64 - BN - Flatten (3×3×64 = 576) -
        D64 - BN - D`num_classes` - BN - softmax

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.keras3 import is_binary_variable, networks
        >>> model = networks.mnist_net(seed=0)
        >>> sum(int(np.prod(v.shape)) for v in model.weights if is_binary_variable(v))
        93088
        >>> tuple(model(np.zeros((2, 28, 28, 1), "float32")).shape)  # softmax over 10 classes
        (2, 10)

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.1.1.
    """
    kernels = _kernels(weight_kind, seed)
    inputs = keras.Input(input_shape)
    x = inputs
    for i, (filters, pool) in enumerate([(32, True), (64, True), (64, False)], start=1):
        x = QuantConv2D(filters, 3, input_quantizer=None if i == 1 else "ste_sign",
                        name=f"conv_{i}", **next(kernels))(x)
        if pool:
            x = keras.layers.MaxPooling2D(2)(x)
        x = _batch_norm()(x)
    x = keras.layers.Flatten()(x)
    for i, units in enumerate([64, num_classes], start=1):
        x = QuantDense(units, input_quantizer="ste_sign", name=f"dense_{i}",
                       **next(kernels))(x)
        x = _batch_norm()(x)
    return keras.Model(inputs, _softmax()(x), name=f"mnist_net_{weight_kind}")


def binary_mlp(input_shape=(8, 8, 1), num_classes=10, units=(256, 256), weight_kind="bop",
               seed=None):
    """Binary dense layers, BatchNorm after each, sign activations between them; the
    first layer sees the real input (see `rethink_bnn.models.binary_mlp`).

    Examples:
        >>> import keras, numpy as np
        >>> from rethink_bnn.keras3 import networks
        >>> model = networks.binary_mlp(units=(16,), seed=0)  # 8×8 digits -> 16 -> 10 classes
        >>> [layer.name for layer in model.layers if layer.name.startswith("dense")]
        ['dense_1', 'dense_2']
        >>> outputs = keras.ops.convert_to_numpy(model(np.zeros((2, 8, 8, 1), "float32")))
        >>> outputs.sum(axis=1).round(4).tolist()  # two softmaxes
        [1.0, 1.0]
    """
    kernels = _kernels(weight_kind, seed)
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for i, width in enumerate((*units, num_classes), start=1):
        x = QuantDense(width, input_quantizer=None if i == 1 else "ste_sign",
                       name=f"dense_{i}", **next(kernels))(x)
        x = _batch_norm()(x)
    return keras.Model(inputs, _softmax()(x), name=f"binary_mlp_{weight_kind}")
