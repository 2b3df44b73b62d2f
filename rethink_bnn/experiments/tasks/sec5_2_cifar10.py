"""Sec 5.2 of the paper: BinaryNet on CIFAR-10 with Bop, and the latent-weight baseline."""

from zookeeper import ComponentField, Field, PartialComponent

from rethink_bnn.experiments.tasks.registry import OnCifar10, experiment
from rethink_bnn.core.rules import BOP
from rethink_bnn.experiments.training.bases import BinaryOptimizerTraining, LatentTraining
from rethink_bnn.experiments.training.optimizer_components import BinaryOptimizerComponent, component_for
from rethink_bnn.experiments.training.schedules import StepDecay

__all__ = ["Cifar10Bop", "Cifar10LatentAdam"]


@experiment
class Cifar10Bop(OnCifar10, BinaryOptimizerTraining):
    """Sec 5.2: BinaryNet on CIFAR-10 with Bop, batch 50, 500 epochs, τ = 1e-8, γ = 1e-4
    decayed by 0.1 every 100 epochs, Adam 1e-2 for the rest (the report used 1e-3:
    `learning_rate=1e-3`); stops after 10 epochs without a flip."""

    batch_size: int = Field(50)
    epochs: int = Field(500)
    binary_optimizer: BinaryOptimizerComponent = ComponentField(
        component_for(BOP), threshold=1e-8, gamma=1e-4,
        gamma_schedule=PartialComponent(StepDecay, factor=0.1, every_epochs=100))
    stop_after_flipless_epochs: int = Field(10)


@experiment
class Cifar10LatentAdam(OnCifar10, LatentTraining):
    """The latent-weight baseline: BinaryNet with ste_sign kernels clipped to [-1, 1],
    Adam 5e-3 on everything, batch 256, 100 epochs."""

    batch_size: int = Field(256)
    epochs: int = Field(100)
