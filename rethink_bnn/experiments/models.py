"""The networks as zookeeper factories; shape, classes, weight kind and seed come from
the task (zookeeper passes a parent's field to a child field of the same name).

A factory builds the tf-keras (Larq) network when the task reads its `model` field, and
`network(front_end)` builds it for either front end (the Keras 3 ones live in
`rethink_bnn.keras3.networks`). Importing this module loads neither TensorFlow nor Keras.
"""

import abc
import importlib
from typing import Tuple

from zookeeper import Field, factory

__all__ = ["BiRealNet", "BinaryAlexNet", "BinaryMLP", "BinaryNet", "MnistNet", "Network",
           "XnorNet"]


class Network(abc.ABC):
    """The type of a task's `model` field: a Keras model of either front end (tf-keras'
    `Model` or Keras 3's), recognized without importing either."""

    @classmethod
    def __subclasshook__(cls, other):
        if any(base.__name__ == "Model" and base.__module__.split(".")[0] in ("keras",
                                                                               "tf_keras")
               for base in other.__mro__):
            return True
        return NotImplemented


def _builder(module, name, *args):
    """`module.name`, imported when a network is built (with `args` bound first)."""
    def build(**kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    return build


class _Network:
    input_shape: Tuple[int, int, int] = Field()
    num_classes: int = Field()
    weight_kind: str = Field()
    seed: int = Field()

    # {front end: builder}; a network without a Keras 3 builder is tf-keras only.
    builders = {}

    def build(self) -> Network:
        return self.network("tf_keras")

    def network(self, front_end):
        """The network on `front_end` ("tf_keras" or "keras3"), built now."""
        if front_end not in self.builders:
            raise ValueError(f"model={type(self).__name__} has no {front_end} network: "
                             f"choose front_end={' or '.join(self.builders)}.")
        if front_end == "tf_keras":
            from rethink_bnn._keras2 import ensure_keras2

            ensure_keras2("the tf_keras front end")  # one line without TensorFlow or Larq
        return self.builders[front_end](
            input_shape=tuple(self.input_shape), num_classes=self.num_classes,
            weight_kind=self.weight_kind, seed=self.seed, **self._extra(),
        )

    def _extra(self):
        return {}


def _both(name):
    return {"tf_keras": _builder("rethink_bnn.models.networks", name),
            "keras3": _builder("rethink_bnn.keras3.networks", name)}


@factory
class BinaryNet(_Network):
    builders = _both("binarynet")


@factory
class MnistNet(_Network):
    builders = _both("mnist_net")


@factory
class BinaryMLP(_Network):
    units: Tuple[int, ...] = Field((256, 256))
    builders = _both("binary_mlp")

    def _extra(self):
        return {"units": tuple(self.units)}


def _larq_zoo(name):
    return {"tf_keras": _builder("rethink_bnn.models.imagenet", "imagenet_network", name)}


@factory
class BinaryAlexNet(_Network):
    """larq-zoo's Binary AlexNet (sec 5.3), ready for Bop (tf-keras only)."""

    builders = _larq_zoo("binary_alexnet")


@factory
class XnorNet(_Network):
    """larq-zoo's XNOR-Net (sec 5.3), ready for Bop (tf-keras only). Needs inputs of at
    least 212×212: its sixth layer is a 6×6 'valid' convolution."""

    builders = _larq_zoo("xnornet")


@factory
class BiRealNet(_Network):
    """larq-zoo's Bi-Real Net (sec 5.3), ready for Bop (tf-keras only)."""

    builders = _larq_zoo("birealnet")
