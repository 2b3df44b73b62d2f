"""Predicates that decide which optimizer trains a variable. They read markings, not names."""

import tensorflow as tf

__all__ = ["is_binary_variable"]


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
def is_binary_variable(variable):
    """True for a variable marked as binary, i.e. with `variable.precision == 1`.

    Larq sets this marking on a layer's kernel when the layer is given
    `kernel_quantizer=larq.quantizers.NoOp(precision=1)`: the kernel is used as it is
    (it already holds ±1) and Bop recognizes it. The networks in `rethink_bnn.models`
    mark their Bop kernels this way.

    Examples:
        >>> import larq as lq
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> layer = lq.layers.QuantDense(2, kernel_quantizer=lq.quantizers.NoOp(precision=1))
        >>> layer.build((None, 3))
        >>> is_binary_variable(layer.kernel), is_binary_variable(layer.bias)
        (True, False)
    """
    return getattr(variable, "precision", None) == 1


# The h5 and SavedModel formats look it up by its plain name.
tf.keras.utils.get_custom_objects()[is_binary_variable.__name__] = is_binary_variable
