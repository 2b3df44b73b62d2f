"""Binary networks for Bop or latent-weight training, as functions (the library's; the
experiments' zookeeper factories of them are `rethink_bnn.experiments.models`)."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

from rethink_bnn.models.kernels import WEIGHT_KINDS, binary_kernel, binary_kernels
from rethink_bnn.models.imagenet import IMAGENET_NETWORKS, imagenet_network
from rethink_bnn.models.networks import binary_mlp, binarynet, mnist_net

__all__ = [
    "IMAGENET_NETWORKS",
    "WEIGHT_KINDS",
    "binary_kernel",
    "binary_kernels",
    "binary_mlp",
    "binarynet",
    "imagenet_network",
    "mnist_net",
]
