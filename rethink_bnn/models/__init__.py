"""Binary networks for Bop or latent-weight training, as functions and zookeeper factories.

The functions are the library's; the zookeeper factories are the experiments' (`pip
install "rethink_bnn[experiments]"`) and load at first use.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

from rethink_bnn.experiments_extra import lazy_exports
from rethink_bnn.models.kernels import WEIGHT_KINDS, binary_kernel, binary_kernels
from rethink_bnn.models.imagenet import IMAGENET_NETWORKS, imagenet_network
from rethink_bnn.models.networks import binary_mlp, binarynet, mnist_net

_FACTORIES = dict.fromkeys(
    ("BiRealNet", "BinaryAlexNet", "BinaryMLP", "BinaryNet", "MnistNet", "XnorNet"), "factories")
__getattr__ = lazy_exports(__name__, _FACTORIES)

__all__ = [
    "IMAGENET_NETWORKS",
    "WEIGHT_KINDS",
    *_FACTORIES,
    "binary_kernel",
    "binary_kernels",
    "binary_mlp",
    "binarynet",
    "imagenet_network",
    "mnist_net",
]
