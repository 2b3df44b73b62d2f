"""Initializers for binary kernels: ±1 from the sign of a real-valued initializer."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)

import tensorflow as tf  # noqa: E402

__all__ = ["BinaryGlorotUniform", "BinaryHeNormal", "Scaled", "SignOf"]

_register = tf.keras.saving.register_keras_serializable(package="rethink_bnn")


@_register
class SignOf(tf.keras.initializers.Initializer):
    """±1 values: the sign of `initializer`'s values, with sign(0) = +1.

    The reproducibility report initializes Bop's binary weights as the sign of He
    initialization, PyTorch's default for conv and linear layers.

    Example:
        ```python
        layer = larq.layers.QuantConv2D(
            128, 3, kernel_quantizer=larq.quantizers.NoOp(precision=1),
            kernel_initializer=rb.initializers.SignOf("glorot_normal"),
        )
        ```
    """

    def __init__(self, initializer="he_normal"):
        self.initializer = tf.keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None, **kwargs):
        values = self.initializer(shape, dtype=dtype, **kwargs)
        ones = tf.ones_like(values)
        return tf.where(values >= 0, ones, -ones)

    def get_config(self):
        return {"initializer": tf.keras.initializers.serialize(self.initializer)}

    @classmethod
    def from_config(cls, config):
        return cls(tf.keras.initializers.deserialize(config["initializer"]))


class _SignOfSeeded(SignOf):
    """Sign of the real-valued initializer `_base`, configured by its seed alone."""

    _base = None

    def __init__(self, seed=None):
        self.seed = seed
        super().__init__(self._base(seed=seed))

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@_register
class BinaryHeNormal(_SignOfSeeded):
    """±1 weights from the sign of He-normal init (the reproducibility report's choice).

    Examples:
        >>> from rethink_bnn.initializers import BinaryHeNormal
        >>> kernel = BinaryHeNormal(seed=0)((3, 3, 16, 32))
        >>> sorted(set(kernel.numpy().ravel().tolist()))
        [-1.0, 1.0]
    """

    _base = tf.keras.initializers.HeNormal


@_register
class BinaryGlorotUniform(_SignOfSeeded):
    """±1 weights from the sign of Glorot-uniform init (Keras' default kernel init)."""

    _base = tf.keras.initializers.GlorotUniform


@_register
class Scaled(tf.keras.initializers.Initializer):
    """`initializer`'s values times `factor` (Theorem 1's scaled initialization; a power
    of two keeps the scaling exact in floating point)."""

    def __init__(self, initializer, factor):
        self.initializer = tf.keras.initializers.get(initializer)
        self.factor = factor

    def __call__(self, shape, dtype=None, **kwargs):
        return self.initializer(shape, dtype=dtype, **kwargs) * self.factor

    def get_config(self):
        return {"initializer": tf.keras.initializers.serialize(self.initializer),
                "factor": self.factor}

    @classmethod
    def from_config(cls, config):
        return cls(tf.keras.initializers.deserialize(config["initializer"]), config["factor"])


def _register_plain_names(*objects):
    """Also register objects under their plain names, as Larq registers its own: the h5
    and SavedModel formats look custom objects up by class name alone (e.g.
    `BinaryHeNormal`), the `.keras` format by registered name (`rethink_bnn>...`)."""
    custom_objects = tf.keras.utils.get_custom_objects()
    for obj in objects:
        custom_objects[obj.__name__] = obj


_register_plain_names(SignOf, BinaryHeNormal, BinaryGlorotUniform, Scaled)
