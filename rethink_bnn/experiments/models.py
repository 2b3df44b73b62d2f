"""The networks as zookeeper factories; shape, classes, weight kind and seed come from
the task (zookeeper passes a parent's field to a child field of the same name)."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import functools
from typing import Tuple

import tensorflow as tf
from zookeeper import Field, factory

from rethink_bnn.models import imagenet, networks

__all__ = ["BiRealNet", "BinaryAlexNet", "BinaryMLP", "BinaryNet", "MnistNet", "XnorNet"]


class _Network:
    input_shape: Tuple[int, int, int] = Field()
    num_classes: int = Field()
    weight_kind: str = Field()
    seed: int = Field()

    builder = None

    def build(self) -> tf.keras.Model:
        return type(self).builder(
            input_shape=tuple(self.input_shape), num_classes=self.num_classes,
            weight_kind=self.weight_kind, seed=self.seed, **self._extra(),
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


@factory
class BinaryAlexNet(_Network):
    """larq-zoo's Binary AlexNet (sec 5.3), ready for Bop."""

    builder = staticmethod(functools.partial(imagenet.imagenet_network, "binary_alexnet"))


@factory
class XnorNet(_Network):
    """larq-zoo's XNOR-Net (sec 5.3), ready for Bop. Needs inputs of at least 212×212:
    its sixth layer is a 6×6 'valid' convolution."""

    builder = staticmethod(functools.partial(imagenet.imagenet_network, "xnornet"))


@factory
class BiRealNet(_Network):
    """larq-zoo's Bi-Real Net (sec 5.3), ready for Bop."""

    builder = staticmethod(functools.partial(imagenet.imagenet_network, "birealnet"))
