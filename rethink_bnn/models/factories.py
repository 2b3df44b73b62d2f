"""The networks as zookeeper factories; shape, classes, weight kind and seed come from
the task (zookeeper passes a parent's field to a child field of the same name)."""

from typing import Tuple

import tensorflow as tf
from zookeeper import Field, factory

from rethink_bnn.models import networks

__all__ = ["BinaryMLP", "BinaryNet", "MnistNet"]


class _Network:
    input_shape: Tuple[int, int, int] = Field()
    num_classes: int = Field()
    weights: str = Field()
    seed: int = Field()

    builder = None

    def build(self) -> tf.keras.Model:
        return type(self).builder(
            input_shape=tuple(self.input_shape), num_classes=self.num_classes,
            weights=self.weights, seed=self.seed, **self._extra(),
        )

    def _extra(self):
        return {}


@factory
class BinaryNet(_Network):
    builder = staticmethod(networks.binarynet)


@factory
class MnistNet(_Network):
    builder = staticmethod(networks.mnist_net)


@factory
class BinaryMLP(_Network):
    units: Tuple[int, ...] = Field((256, 256))
    builder = staticmethod(networks.binary_mlp)

    def _extra(self):
        return {"units": tuple(self.units)}
