"""Binary networks for Bop or latent-weight training, as functions and zookeeper factories."""

from rethink_bnn.models.binary_layers import WEIGHT_KINDS, binary_kernel, binary_kernels
from rethink_bnn.models.factories import BinaryMLP, BinaryNet, MnistNet
from rethink_bnn.models.networks import binary_mlp, binarynet, mnist_net

__all__ = [
    "WEIGHT_KINDS",
    "BinaryMLP",
    "BinaryNet",
    "MnistNet",
    "binary_kernel",
    "binary_kernels",
    "binary_mlp",
    "binarynet",
    "mnist_net",
]
