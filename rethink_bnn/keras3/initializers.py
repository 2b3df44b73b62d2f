"""Binary initializers for Keras 3: kernels that hold exactly ±1 from the start, which
a binary optimizer needs."""

import keras

from rethink_bnn.keras3.quantizers import sign

__all__ = ["BinaryGlorotUniform", "BinaryHeNormal", "SignOf"]


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class SignOf(keras.initializers.Initializer):
    """The sign (±1, sign(0) = +1) of another initializer's values.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3.initializers import SignOf
        >>> kernel = SignOf(keras.initializers.GlorotNormal(seed=0))((16, 16))
        >>> sorted(set(keras.ops.convert_to_numpy(kernel).ravel().tolist()))
        [-1.0, 1.0]

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.3 (the
        sign of He initialization).
    """

    def __init__(self, initializer="glorot_uniform"):
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None):
        return sign(self.initializer(shape, dtype=dtype))

    def get_config(self):
        return {"initializer": keras.initializers.serialize(self.initializer)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.initializers.deserialize(config["initializer"]))


def BinaryGlorotUniform(seed=None):  # noqa: N802  (named as an initializer class)
    """Signs of Glorot-uniform values: each weight ±1 with probability 1/2.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3.initializers import BinaryGlorotUniform
        >>> kernel = keras.ops.convert_to_numpy(BinaryGlorotUniform(seed=0)((64, 64)))
        >>> sorted(set(kernel.ravel().tolist())), bool(0.45 < (kernel > 0).mean() < 0.55)
        ([-1.0, 1.0], True)

    Reference:
        Glorot initialization: Glorot, Bengio, "Understanding the difficulty of training
        deep feedforward neural networks", AISTATS 2010.
    """
    return SignOf(keras.initializers.GlorotUniform(seed=seed))


def BinaryHeNormal(seed=None):  # noqa: N802
    """Signs of He-normal values (the tf-keras BinaryHeNormal's distribution).

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3.initializers import BinaryHeNormal
        >>> kernel = BinaryHeNormal(seed=0)((3, 3, 16, 32))
        >>> sorted(set(keras.ops.convert_to_numpy(kernel).ravel().tolist()))
        [-1.0, 1.0]

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.3; He
        initialization: He, Zhang, Ren, Sun, "Delving Deep into Rectifiers: Surpassing
        Human-Level Performance on ImageNet Classification", ICCV 2015.
    """
    return SignOf(keras.initializers.HeNormal(seed=seed))
