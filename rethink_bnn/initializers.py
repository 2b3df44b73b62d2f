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

    Examples:
        >>> import larq as lq
        >>> from rethink_bnn.initializers import SignOf
        >>> layer = lq.layers.QuantConv2D(8, 3, kernel_quantizer=lq.quantizers.NoOp(precision=1),
        ...                               kernel_initializer=SignOf("glorot_normal"))
        >>> layer.build((None, 8, 8, 3))
        >>> sorted(set(layer.kernel.numpy().ravel().tolist()))
        [-1.0, 1.0]

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.3.
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

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.3; He
        initialization: He, Zhang, Ren, Sun, "Delving Deep into Rectifiers: Surpassing
        Human-Level Performance on ImageNet Classification", ICCV 2015.
    """

    _base = tf.keras.initializers.HeNormal


@_register
class BinaryGlorotUniform(_SignOfSeeded):
    """±1 weights from the sign of Glorot-uniform init (Keras' default kernel init): each
    weight is +1 or -1 with probability 1/2, whatever the layer's shape.

    Examples:
        >>> from rethink_bnn.initializers import BinaryGlorotUniform
        >>> kernel = BinaryGlorotUniform(seed=0)((64, 64)).numpy()
        >>> sorted(set(kernel.ravel().tolist())), bool(0.45 < (kernel > 0).mean() < 0.55)
        ([-1.0, 1.0], True)

    Reference:
        Glorot initialization: Glorot, Bengio, "Understanding the difficulty of training
        deep feedforward neural networks", AISTATS 2010.
    """

    _base = tf.keras.initializers.GlorotUniform


@_register
class Scaled(tf.keras.initializers.Initializer):
    """`initializer`'s values times `factor` (Theorem 1's scaled initialization; a power
    of two keeps the scaling exact in floating point).

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.initializers import Scaled
        >>> glorot = tf.keras.initializers.GlorotUniform(seed=0)
        >>> scaled = Scaled(glorot, 2.0**-7)((3, 4))
        >>> bool(tf.reduce_all(scaled == glorot((3, 4)) * 2.0**-7))  # exactly
        True

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, Theorem 1; as configuration 3 of Vaessen, Mastnak,
        Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.1.2.
    """

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
