"""Binary networks for Bop or latent-weight training, as functions and zookeeper factories."""

from rethink_bnn.models.kernels import WEIGHT_KINDS, binary_kernel, binary_kernels
from rethink_bnn.models.factories import (
    BiRealNet,
    BinaryAlexNet,
    BinaryMLP,
    BinaryNet,
    MnistNet,
    XnorNet,
)
from rethink_bnn.models.imagenet import IMAGENET_NETWORKS, imagenet_network
from rethink_bnn.models.networks import binary_mlp, binarynet, mnist_net

__all__ = [
    "IMAGENET_NETWORKS",
    "WEIGHT_KINDS",
    "BiRealNet",
    "BinaryAlexNet",
    "BinaryMLP",
    "BinaryNet",
    "MnistNet",
    "XnorNet",
    "binary_kernel",
    "binary_kernels",
    "binary_mlp",
    "binarynet",
    "imagenet_network",
    "mnist_net",
]
