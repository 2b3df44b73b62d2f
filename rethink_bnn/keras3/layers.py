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

import keras
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


class _Quant(keras.layers.Layer):
    """What QuantDense and QuantConv2D share: the quantizers and the kernel's marking."""

    def __init__(self, input_quantizer=None, kernel_quantizer="binary",
                 kernel_initializer=None, use_bias=True, bias_initializer="zeros",
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        _quantizer(input_quantizer, "input_quantizer")
        if kernel_quantizer not in _KERNELS:
            raise ValueError(f"kernel_quantizer must be 'binary', 'ste_sign' or None, got "
                             f"{kernel_quantizer!r}.")
        self.input_quantizer, self.kernel_quantizer = input_quantizer, kernel_quantizer
        if kernel_initializer is None:  # Larq's default, or ±1 for a binary kernel
            kernel_initializer = (BinaryGlorotUniform() if kernel_quantizer == "binary"
                                  else "glorot_uniform")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.use_bias, self.activation = use_bias, keras.activations.get(activation)

    def _add_kernel(self, shape, bias_size):
        self.kernel = self.add_weight(shape=shape, initializer=self.kernel_initializer,
                                      name="kernel")
        if self.kernel_quantizer == "binary":
            mark_binary(self.kernel)
        self.bias = (self.add_weight(shape=(bias_size,), initializer=self.bias_initializer,
                                     name="bias") if self.use_bias else None)

    def _quantized(self, inputs):
        quantize = _QUANTIZERS[self.input_quantizer]
        kernel = ste_sign(self.kernel) if self.kernel_quantizer == "ste_sign" else self.kernel
        return (quantize(inputs) if quantize else inputs), ops.cast(kernel, self.compute_dtype)

    def _finish(self, outputs):
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, self.compute_dtype))
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return {**super().get_config(), "input_quantizer": self.input_quantizer,
                "kernel_quantizer": self.kernel_quantizer,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class QuantDense(_Quant):
    """A dense layer with quantized inputs and a binary kernel (see the module)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        self._add_kernel((input_shape[-1], self.units), self.units)

    def call(self, inputs):
        inputs, kernel = self._quantized(inputs)
        return self._finish(ops.matmul(inputs, kernel))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class QuantConv2D(_Quant):
    """A 2-D convolution (channels last) with quantized inputs and a binary kernel (see
    the module). Zero padding of ±1 inputs (`padding="same"`) adds zeros, as in Larq
    with its default `pad_values=0`."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides, self.dilation_rate = _pair(strides), _pair(dilation_rate)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")
        self.padding = padding

    def build(self, input_shape):
        self._add_kernel((*self.kernel_size, input_shape[-1], self.filters), self.filters)

    def call(self, inputs):
        inputs, kernel = self._quantized(inputs)
        return self._finish(ops.conv(inputs, kernel, strides=self.strides,
                                     padding=self.padding, dilation_rate=self.dilation_rate))

    def compute_output_shape(self, input_shape):
        return keras.layers.Conv2D(self.filters, self.kernel_size, self.strides,
                                   self.padding, dilation_rate=self.dilation_rate
                                   ).compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate}


def _pair(value):
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
