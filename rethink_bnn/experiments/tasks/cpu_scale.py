"""Tasks that train on a CPU in minutes: the report's MNIST net on MNIST and Fashion-MNIST
(offline from Debian's archives), and the demo on scikit-learn's bundled digits."""

from typing import Tuple, Union

from zookeeper import ComponentField, Field, PartialComponent

from rethink_bnn.experiments.data import Digits, FashionMnist, ScaleToUnitRange
from rethink_bnn.experiments.data.bases import Dataset, Preprocessing
from rethink_bnn.experiments.tasks.registry import OnMnist, experiment
from rethink_bnn.experiments.models import BinaryMLP, Network
from rethink_bnn.core.rules import BOP
from rethink_bnn.experiments.training.bases import BinaryOptimizerTraining, LatentTraining
from rethink_bnn.experiments.training.optimizer_components import BinaryOptimizerComponent, component_for
from rethink_bnn.experiments.training.schedules import StepDecay

__all__ = ["Demo", "FashionMnistBop", "FashionMnistLatentAdam", "MnistBop", "MnistLatentAdam"]


@experiment
class MnistBop(OnMnist, BinaryOptimizerTraining):
    """The report's MNIST net trained with Bop (CPU scale): γ = 1e-3 decayed by 0.1 every
    3 epochs, τ = 1e-6, Adam 1e-3, batch 100, 10 epochs."""

    batch_size: int = Field(100)
    epochs: int = Field(10)
    binary_optimizer: BinaryOptimizerComponent = ComponentField(
        component_for(BOP), threshold=1e-6, gamma=1e-3,
        gamma_schedule=PartialComponent(StepDecay, every_epochs=3))
    learning_rate: float = Field(1e-3)


@experiment
class FashionMnistBop(MnistBop):
    """MnistBop on Fashion-MNIST (offline from Debian's dataset-fashion-mnist)."""

    dataset: Dataset = ComponentField(FashionMnist)


@experiment
class MnistLatentAdam(OnMnist, LatentTraining):
    """The report's MNIST net with latent weights and Adam 1e-3 (sec 3.1.1), 6 epochs."""

    batch_size: int = Field(100)
    epochs: int = Field(6)
    learning_rate: float = Field(1e-3)


@experiment
class FashionMnistLatentAdam(MnistLatentAdam):
    """MnistLatentAdam on Fashion-MNIST."""

    dataset: Dataset = ComponentField(FashionMnist)


@experiment
class Demo(BinaryOptimizerTraining):
    """A binary MLP on scikit-learn's bundled digits: offline, under a minute on 2 cores."""

    dataset: Dataset = ComponentField(Digits)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    model: Network = ComponentField(BinaryMLP)
    input_shape: Tuple[int, int, int] = Field((8, 8, 1))
    batch_size: int = Field(32)
    epochs: int = Field(30)
    binary_optimizer: BinaryOptimizerComponent = ComponentField(
        component_for(BOP), threshold=1e-6, gamma=1e-2)
    flip_log_freq: Union[int, str] = Field("epoch")
