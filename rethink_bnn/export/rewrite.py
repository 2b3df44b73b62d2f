"""Make a trained Keras network convertible by Larq Compute Engine, without changing it.

LCE turns a convolution into its binary `LceBconv2d` when the convolution's input is
sign-quantized and its filter holds ±1: Bop's kernels as they are, latent-weight
kernels through their `ste_sign`. It converts no dense layer (larq/compute-engine issue
53), so `for_lce` rewrites each binary dense layer as the same computation on a 1×1
spatial input:

    Dense(units)(x)  ==  reshape(QuantConv2D(units, 1)(reshape(x, (-1, 1, 1, n))), (-1, units))

with the kernel reshaped from (n, units) to (1, 1, n, units). Inputs and kernel are ±1,
so every product and partial sum is a small integer, exact in float32 whatever the
order of summation: the rewritten network's outputs equal the original's bit for bit.
The BatchNormalization that follows stays where it is; LCE folds it into the binary
convolution's output transform through the reshape.
"""

import larq as lq
import numpy as np
import tensorflow as tf

__all__ = ["BinaryDenseAs1x1Conv", "binary_layers", "for_lce", "is_binary_layer",
           "stays_float_reason"]

_SIGN_QUANTIZERS = (lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign)
_QUANT_LAYERS = (lq.layers.QuantDense, lq.layers.QuantConv2D)


def _is_sign(quantizer):
    return isinstance(quantizer, _SIGN_QUANTIZERS)


def _binary_kernel(layer):
    """The kernel is ±1 in the forward pass: a sign quantizer, or marked 1-bit (Bop)."""
    quantizer = layer.kernel_quantizer
    return _is_sign(quantizer) or getattr(quantizer, "precision", None) == 1


def stays_float_reason(layer):
    """Why a Larq Quant layer would not become a binary operator (None: it would)."""
    if not _binary_kernel(layer):
        return "real-valued kernel (no sign kernel quantizer, not 1-bit)"
    if layer.input_quantizer is None:
        return "real-valued input (no input quantizer): the first layer sees the image"
    if not _is_sign(layer.input_quantizer):
        return f"input quantizer {type(layer.input_quantizer).__name__} is not a sign"
    if isinstance(layer, lq.layers.QuantDense) and len(layer.input_shape) != 2:
        return "dense layer on an input of rank > 2"
    return None


def is_binary_layer(layer):
    return isinstance(layer, _QUANT_LAYERS) and stays_float_reason(layer) is None


def binary_layers(model):
    """{layer name: "binary" or why it stays float} for the model's Quant layers, in order."""
    return {layer.name: stays_float_reason(layer) or "binary"
            for layer in model.layers if isinstance(layer, _QUANT_LAYERS)}


class BinaryDenseAs1x1Conv(tf.keras.layers.Layer):
    """A binary `QuantDense` computed as a 1×1 binary `QuantConv2D` on a 1×1 input.

    Only for conversion: build it with `from_dense`, which copies the dense layer's
    quantizers, name and (reshaped) weights.
    """

    def __init__(self, units, input_quantizer, kernel_quantizer, use_bias, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.conv = lq.layers.QuantConv2D(
            units, 1, input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
            use_bias=use_bias, name="conv_1x1", dtype=self.dtype,
        )

    @classmethod
    def from_dense(cls, dense):
        return cls(dense.units, dense.input_quantizer, dense.kernel_quantizer,
                   dense.use_bias, name=dense.name, dtype="float32")

    def call(self, inputs):
        features = inputs.shape[-1]
        outputs = self.conv(tf.reshape(inputs, (-1, 1, 1, features)))
        return tf.reshape(outputs, (-1, self.units))

    def set_dense_weights(self, weights):
        kernel, *bias = weights
        self.set_weights([kernel.reshape(1, 1, *kernel.shape), *bias])


def _clone_layer(layer):
    if isinstance(layer, lq.layers.QuantDense) and is_binary_layer(layer):
        return BinaryDenseAs1x1Conv.from_dense(layer)
    config = layer.get_config()
    config["dtype"] = "float32"  # LCE refuses mixed-precision policies
    return type(layer).from_config(config)


def for_lce(model):
    """A float32 copy of `model` with every binary dense layer as a 1×1 binary
    convolution, holding the same weights (see the module's docstring).

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.export import for_lce
        >>> from rethink_bnn.models import binary_mlp
        >>> model = binary_mlp(units=(16,), seed=0)  # dense_1 sees the image: stays real
        >>> rewritten = for_lce(model)
        >>> [type(layer).__name__ for layer in rewritten.layers if "dense" in layer.name]
        ['QuantDense', 'BinaryDenseAs1x1Conv']
        >>> x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
        >>> bool((rewritten(x).numpy() == model(x).numpy()).all())  # bit for bit
        True
    """
    clone = tf.keras.models.clone_model(model, clone_function=_clone_layer)
    for layer in model.layers:
        target = clone.get_layer(layer.name)
        weights = [np.asarray(w, dtype=np.float32) if np.asarray(w).dtype.kind == "f"
                   else np.asarray(w) for w in layer.get_weights()]
        if isinstance(target, BinaryDenseAs1x1Conv):
            target.set_dense_weights(weights)
        else:
            target.set_weights(weights)
    return clone
