"""Binary layers for Keras 3 (any backend), with Larq's argument names where they apply.

`kernel_quantizer` says what the kernel is:

- `"binary"` (the default): the kernel holds ±1 itself, is marked binary
  (`quantizers.mark_binary`, as Larq's `NoOp(precision=1)` marks it) and is used as it
  is: the kernel for Bop and its successors, which need a ±1 initializer (the default).
- `"ste_sign"`: a real-valued latent kernel, binarized by `ste_sign` in the forward
  pass (the latent-weight baseline, trained by e.g. Adam).
- `None`: a real-valued kernel.

`input_quantizer` is None or `"ste_sign"` (Larq's straight-through sign).

Why our own: the maintained Keras 3 quantization library, qkeras-v3 (1.2.1), requires
TensorFlow and tensorflow-model-optimization, sets KERAS_BACKEND=tensorflow when
imported, and installs top-level packages named `docs`, `examples`, `experimental` and
`tests`; and its binary kernels are latent (quantized in the forward pass), where Bop
needs a kernel that holds ±1 itself. These two layers are what Bop needs.
"""

import numbers

import keras
import numpy as np
from keras import ops

from rethink_bnn.keras3.initializers import BinaryGlorotUniform
from rethink_bnn.keras3.quantizers import mark_binary, ste_sign

__all__ = ["QuantConv2D", "QuantDense"]

_QUANTIZERS = {None: None, "ste_sign": ste_sign}
_KERNELS = ("binary", "ste_sign", None)


def _quantizer(value, what):
    if value not in _QUANTIZERS:
        raise ValueError(f"{what} must be one of {sorted(map(str, _QUANTIZERS))}, got {value!r}.")
    return _QUANTIZERS[value]


def _positive_int(value, what):
    """`value` as an int (numpy's too); Keras' own check takes True for 1 and lets a
    float through in Conv2D."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


class _Quantized:
    """What QuantDense and QuantConv2D add to Keras' Dense and Conv2D (whose arguments
    and checks they keep): the quantizers and the kernel's marking."""

    def _quantizers(self, input_quantizer, kernel_quantizer, kwargs):
        _quantizer(input_quantizer, "input_quantizer")
        if kernel_quantizer not in _KERNELS:
            raise ValueError(f"kernel_quantizer must be 'binary', 'ste_sign' or None, got "
                             f"{kernel_quantizer!r}.")
        if kernel_quantizer == "binary" and kwargs.get("lora_rank"):
            raise ValueError("lora_rank would add a real-valued term to a binary kernel: "
                             "leave it unset, or use kernel_quantizer=None.")
        if kernel_quantizer == "binary" and kwargs.get("kernel_constraint") is not None:
            raise ValueError("kernel_constraint would move a binary kernel off ±1: leave it "
                             "unset, or use kernel_quantizer=None.")
        if kwargs.get("kernel_initializer") is None:  # Larq's default, or ±1 for binary
            kwargs["kernel_initializer"] = (BinaryGlorotUniform() if kernel_quantizer ==
                                            "binary" else "glorot_uniform")
        return kwargs

    def enable_lora(self, *args, **kwargs):
        if self.kernel_quantizer == "binary":
            raise ValueError("enable_lora would add a real-valued term to a binary kernel: "
                             "use kernel_quantizer=None for a LoRA layer.")
        return super().enable_lora(*args, **kwargs)

    def _mark(self):
        if self.kernel_quantizer == "binary":
            mark_binary(self.kernel)

    def _quantized(self, inputs, kernel):
        quantize = _QUANTIZERS[self.input_quantizer]
        kernel = ste_sign(kernel) if self.kernel_quantizer == "ste_sign" else kernel
        return (quantize(inputs) if quantize else inputs), ops.cast(kernel, self.compute_dtype)

    def _quantizer_config(self):
        return {"input_quantizer": self.input_quantizer,
                "kernel_quantizer": self.kernel_quantizer}


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class QuantDense(_Quantized, keras.layers.Dense):
    """`keras.layers.Dense` with quantized inputs and a binary kernel (see the module):
    Dense's arguments and checks, plus `input_quantizer` and `kernel_quantizer`, as
    Larq's QuantDense names them.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import QuantDense, is_binary_variable
        >>> layer = QuantDense(3, input_quantizer="ste_sign")
        >>> _ = layer(keras.ops.ones((1, 4)))
        >>> sorted(set(keras.ops.convert_to_numpy(layer.kernel).ravel().tolist()))
        [-1.0, 1.0]
        >>> is_binary_variable(layer.kernel)  # routed to Bop by BinaryOptimizerMap
        True
    """

    def __init__(self, units, input_quantizer=None, kernel_quantizer="binary", **kwargs):
        kwargs = self._quantizers(input_quantizer, kernel_quantizer, kwargs)
        super().__init__(_positive_int(units, "units"), **kwargs)
        self.input_quantizer, self.kernel_quantizer = input_quantizer, kernel_quantizer

    def build(self, input_shape):
        super().build(input_shape)
        self._mark()

    def call(self, inputs, training=None):
        inputs, kernel = self._quantized(inputs, self.kernel)
        outputs = ops.matmul(inputs, kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, self.compute_dtype))
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return {**super().get_config(), **self._quantizer_config()}


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class QuantConv2D(_Quantized, keras.layers.Conv2D):
    """`keras.layers.Conv2D` with quantized inputs and a binary kernel (see the module):
    Conv2D's arguments and checks, plus `input_quantizer` and `kernel_quantizer`. Zero
    padding of ±1 inputs (`padding="same"`) adds zeros, as in Larq with its default
    `pad_values=0`.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import QuantConv2D, is_binary_variable
        >>> layer = QuantConv2D(1, 3, input_quantizer="ste_sign", kernel_initializer="ones",
        ...                     padding="same", use_bias=False)
        >>> y = layer(keras.ops.full((1, 3, 3, 2), 0.3))  # sign(0.3) = 1: sums of ±1 products
        >>> keras.ops.convert_to_numpy(y)[0, :, :, 0].tolist(), is_binary_variable(layer.kernel)
        ([[8.0, 12.0, 8.0], [12.0, 18.0, 12.0], [8.0, 12.0, 8.0]], True)
    """

    def __init__(self, filters, kernel_size, input_quantizer=None,
                 kernel_quantizer="binary", **kwargs):
        kwargs = self._quantizers(input_quantizer, kernel_quantizer, kwargs)
        super().__init__(_positive_int(filters, "filters"), kernel_size, **kwargs)
        self.input_quantizer, self.kernel_quantizer = input_quantizer, kernel_quantizer

    def build(self, input_shape):
        super().build(input_shape)
        self._mark()

    def convolution_op(self, inputs, kernel):
        inputs, kernel = self._quantized(inputs, kernel)
        return super().convolution_op(inputs, kernel)

    def get_config(self):
        return {**super().get_config(), **self._quantizer_config()}
