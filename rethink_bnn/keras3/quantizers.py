"""Quantizers for Keras 3 (any backend), and the marking of binary kernels."""

import keras
from keras import ops

__all__ = ["is_binary_variable", "mark_binary", "sign", "ste_sign"]


def sign(x):
    """sign(x) with sign(0) = +1, as Larq's: every value is exactly ±1.

    Examples:
        >>> from keras import ops
        >>> from rethink_bnn.keras3.quantizers import sign
        >>> ops.convert_to_numpy(sign(ops.array([-2.0, 0.0, 0.5]))).tolist()
        [-1.0, 1.0, 1.0]
    """
    return ops.where(x >= 0, ops.ones_like(x), -ops.ones_like(x))


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
def ste_sign(x, clip_value=1.0):
    """Larq's `ste_sign`: sign(x) forward (±1, sign(0) = +1); backward the
    straight-through estimator, gradient 1 where |x| <= clip_value and 0 elsewhere.

    Written without a custom gradient, so it differentiates on every backend: the
    forward value is sign(x) + mask * (x - x) = sign(x) exactly, and the derivative is
    the mask.

    Examples:
        >>> from keras import ops
        >>> from rethink_bnn.keras3 import ste_sign
        >>> ops.convert_to_numpy(ste_sign(ops.array([-2.0, -0.5, 0.0, 0.5]))).tolist()
        [-1.0, -1.0, 1.0, 1.0]

    Reference:
        The straight-through estimator with its cut-off at |x| = 1 of Courbariaux, Bengio,
        "BinaryNet: Training Deep Neural Networks with Weights and Activations Constrained
        to +1 or -1", arXiv:1602.02830, 2016.
    """
    x = ops.convert_to_tensor(x)  # a Keras Variable: jax 0.10's ones_like takes no Variable
    mask = ops.stop_gradient(ops.cast(ops.abs(x) <= clip_value, x.dtype))
    return ops.stop_gradient(sign(x)) + mask * (x - ops.stop_gradient(x))


def mark_binary(variable):
    """Mark `variable` as binary (±1, trained by a binary optimizer), as Larq marks a
    kernel quantized with `NoOp(precision=1)`; returns it. The layers of
    `rethink_bnn.keras3` mark their binary kernels when built, so the marking comes back
    with a model loaded from `.keras`.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import is_binary_variable, mark_binary
        >>> kernel = mark_binary(keras.Variable([1.0, -1.0]))  # routed to Bop
        >>> kernel.precision, is_binary_variable(kernel)
        (1, True)
    """
    variable.precision = 1
    return variable


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
def is_binary_variable(variable):
    """True for a variable marked binary (`mark_binary`, `variable.precision == 1`).

    Examples:
        >>> from rethink_bnn.keras3 import QuantDense, is_binary_variable
        >>> layer = QuantDense(2)  # its kernel holds ±1 and is marked when built
        >>> layer.build((None, 3))
        >>> is_binary_variable(layer.kernel), is_binary_variable(layer.bias)
        (True, False)
    """
    return getattr(variable, "precision", None) == 1
