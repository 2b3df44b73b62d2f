"""Binary initializers for Keras 3: kernels that hold exactly ±1 from the start, which
a binary optimizer needs."""

import keras

from rethink_bnn.keras3.quantizers import sign

__all__ = ["BinaryGlorotUniform", "BinaryHeNormal", "SignOf"]


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class SignOf(keras.initializers.Initializer):
    """The sign (±1, sign(0) = +1) of another initializer's values."""

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
    """Signs of Glorot-uniform values: each weight ±1 with probability 1/2."""
    return SignOf(keras.initializers.GlorotUniform(seed=seed))


def BinaryHeNormal(seed=None):  # noqa: N802
    """Signs of He-normal values (the tf-keras BinaryHeNormal's distribution)."""
    return SignOf(keras.initializers.HeNormal(seed=seed))
