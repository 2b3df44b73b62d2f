"""The sec 5.3 ImageNet networks: larq-zoo's Binary AlexNet, XNOR-Net and Bi-Real Net
(definitions only: larq-zoo's `weights=None`, no pretrained weights), made ready for Bop.

For Bop (`weight_kind="bop"`) every binary kernel is marked `precision=1` with no quantizer
and no clipping, and holds ±1: the sign of the zoo's own initial values. Everything
else, the real-valued first layer, shortcuts, BatchNorm and the classifier's scale
included, is as larq-zoo defines it, XNOR-Net's l2 of 5e-7 on kernels too (with ±1
kernels its gradient, 1e-6 · w, enters Bop's moving average). `weight_kind="latent"`
gives the networks exactly as larq-zoo defines them, for latent-weight training.
"""

import importlib
from collections.abc import Mapping

import larq as lq
import tensorflow as tf

from rethink_bnn.optimizers import is_binary_variable

__all__ = ["IMAGENET_NETWORKS", "imagenet_network"]


class _ZooFactories(Mapping):
    """{name: larq-zoo factory class}, importing larq-zoo at the first look-up: larq-zoo
    imports Keras 3's applications, 2.4 s of every process's start-up that only the
    ImageNet networks need."""

    def __init__(self, paths):
        self._paths = paths

    def __getitem__(self, name):
        module, _, factory = self._paths[name].rpartition(".")
        return getattr(importlib.import_module(module), factory)

    def __iter__(self):
        return iter(self._paths)

    def __len__(self):
        return len(self._paths)


IMAGENET_NETWORKS = _ZooFactories({
    "binary_alexnet": "larq_zoo.literature.binary_alex_net.BinaryAlexNetFactory",
    "xnornet": "larq_zoo.literature.xnornet.XNORNetFactory",
    "birealnet": "larq_zoo.literature.birealnet.BiRealNetFactory",
})
"""The sec 5.3 networks by name, each larq-zoo's factory (imported when first used):
Binary AlexNet, XNOR-Net and Bi-Real Net (`imagenet_network` builds them)."""


def imagenet_network(name, input_shape=(224, 224, 3), num_classes=1000, weight_kind="bop",
                     seed=None):
    """larq-zoo's network `name` (one of IMAGENET_NETWORKS), untrained.

    Args:
        weight_kind: "bop" (±1 kernels marked binary) or "latent" (larq-zoo's quantizers,
            clipping and initializers).
        seed: seeds the zoo's initializers (through the global seed), hence the signs.

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.models import imagenet_network
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> model = imagenet_network("birealnet", (32, 32, 3), num_classes=10, seed=0)
        >>> kernels = [v.numpy() for v in model.weights if is_binary_variable(v)]
        >>> len(kernels), sorted(set(np.concatenate([k.ravel() for k in kernels]).tolist()))
        (16, [-1.0, 1.0])

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019, sec 5.3. The networks: Binary AlexNet (Hubara,
        Courbariaux, Soudry, El-Yaniv, Bengio, "Binarized Neural Networks", NeurIPS 2016),
        XNOR-Net (Rastegari, Ordonez, Redmon, Farhadi, "XNOR-Net: ImageNet Classification
        Using Binary Convolutional Neural Networks", ECCV 2016) and Bi-Real Net (Liu, Wu,
        Luo, Yang, Liu, Cheng, "Bi-Real Net: Enhancing the Performance of 1-bit CNNs With
        Improved Representational Capability and Advanced Training Algorithm", ECCV 2018).
    """
    if name not in IMAGENET_NETWORKS:
        raise ValueError(f"network must be one of {sorted(IMAGENET_NETWORKS)}, got {name!r}.")
    if weight_kind not in ("bop", "latent"):
        raise ValueError(f"weight_kind must be one of ('bop', 'latent') for the ImageNet "
                         f"networks, got {weight_kind!r}.")
    factory = IMAGENET_NETWORKS[name]
    if weight_kind == "bop":
        factory = type(f"Bop{factory.__name__}", (factory,), {
            "kernel_quantizer": lq.quantizers.NoOp(precision=1),
            "kernel_constraint": None,
        })
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    # larq-zoo's `weights`: pretrained weights to load, here none (not `weight_kind`)
    model = factory(input_shape=tuple(input_shape), num_classes=num_classes, weights=None,
                    include_top=True).build()
    if weight_kind == "bop":
        for variable in model.trainable_variables:
            if is_binary_variable(variable):
                variable.assign(tf.where(variable >= 0, 1.0, -1.0))
    return model
