"""Sec 5.3 of the paper: larq-zoo's ImageNet networks trained with Bop."""

from zookeeper import ComponentField, Field, PartialComponent

from rethink_bnn.experiments.tasks.registry import OnImageNet, experiment
from rethink_bnn.experiments.models import BiRealNet, BinaryAlexNet, Network, XnorNet
from rethink_bnn.core.rules import BOP
from rethink_bnn.experiments.training.bases import BinaryOptimizerTraining
from rethink_bnn.experiments.training.optimizer_components import BinaryOptimizerComponent, component_for
from rethink_bnn.experiments.training.schedules import Linear, Schedule

__all__ = ["BinaryAlexnetImagenet", "BirealnetImagenet", "XnornetImagenet"]


class _OnImageNet(OnImageNet, BinaryOptimizerTraining):
    """Sec 5.3: ImageNet with Bop, the authors' settings: batch 1024, τ = 1e-8, γ 1e-4 →
    1e-6 and Adam 2.5e-3 → 5e-6, both linear over the run; ImageNet's validation set is
    the test set. Needs the manual download (dataset.manual_dir=...)."""

    binary_optimizer: BinaryOptimizerComponent = ComponentField(
        component_for(BOP), threshold=1e-8, gamma=1e-4,
        gamma_schedule=PartialComponent(Linear, end=1e-6))
    learning_rate: float = Field(2.5e-3)
    learning_rate_schedule: Schedule = ComponentField(Linear, end=5e-6)


@experiment
class BinaryAlexnetImagenet(_OnImageNet):
    """Sec 5.3: Binary AlexNet (larq-zoo) on ImageNet with Bop, 150 epochs (paper: 41.1%
    top-1)."""

    model: Network = ComponentField(BinaryAlexNet)
    epochs: int = Field(150)


@experiment
class XnornetImagenet(_OnImageNet):
    """Sec 5.3: XNOR-Net (larq-zoo, l2 5e-7 on kernels) on ImageNet with Bop, 100 epochs
    (paper: 45.9% top-1)."""

    model: Network = ComponentField(XnorNet)
    epochs: int = Field(100)


@experiment
class BirealnetImagenet(_OnImageNet):
    """Sec 5.3: Bi-Real Net (larq-zoo) on ImageNet with Bop, 300 epochs (paper: 56.6%
    top-1)."""

    model: Network = ComponentField(BiRealNet)
    epochs: int = Field(300)
