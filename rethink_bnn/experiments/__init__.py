"""The paper's experiments as zookeeper tasks: `python -m rethink_bnn.train NAME key=value`.

One module per paper section (as `experiments/` in the repository has one recipe per
section): `sec3_1_theory` (the report's theory experiments), `sec5_1_sweep` (γ and τ),
`sec5_2_cifar10`, `sec5_3_imagenet`, `successors` (Bop2ndOrder and CEMA) and
`cpu_scale` (MNIST, Fashion-MNIST, the demo).
Each task only sets fields; the loop is `rethink_bnn.training.task.TrainingTask.run`.
"""

from rethink_bnn.experiments.registry import TASKS, experiment
from rethink_bnn.experiments.cpu_scale import (
    Demo,
    FashionMnistBop,
    FashionMnistLatentAdam,
    MnistBop,
    MnistLatentAdam,
)
from rethink_bnn.experiments.sec3_1_theory import ApproximationViewpoint, ArbitraryLr
from rethink_bnn.experiments.sec5_1_sweep import GRIDS, BopSweep, Cifar10BopStudy
from rethink_bnn.experiments.sec5_2_cifar10 import Cifar10Bop, Cifar10LatentAdam
from rethink_bnn.experiments.sec5_3_imagenet import (
    BinaryAlexnetImagenet,
    BirealnetImagenet,
    XnornetImagenet,
)
from rethink_bnn.experiments.successors import (
    BirealnetImagenetBop2ndOrder,
    Cifar10Bop2ndOrder,
    Cifar10Bop2ndOrderUnbiased,
    FashionMnistBop2ndOrder,
    FashionMnistBop2ndOrderUnbiased,
    FashionMnistCema,
    XnornetImagenetBop2ndOrder,
)

__all__ = [
    "GRIDS",
    "TASKS",
    "ApproximationViewpoint",
    "ArbitraryLr",
    "BinaryAlexnetImagenet",
    "BirealnetImagenet",
    "BirealnetImagenetBop2ndOrder",
    "BopSweep",
    "Cifar10Bop",
    "Cifar10Bop2ndOrder",
    "Cifar10Bop2ndOrderUnbiased",
    "Cifar10BopStudy",
    "Cifar10LatentAdam",
    "Demo",
    "FashionMnistBop",
    "FashionMnistBop2ndOrder",
    "FashionMnistBop2ndOrderUnbiased",
    "FashionMnistCema",
    "FashionMnistLatentAdam",
    "MnistBop",
    "MnistLatentAdam",
    "XnornetImagenet",
    "XnornetImagenetBop2ndOrder",
    "experiment",
]
