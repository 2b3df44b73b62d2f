"""Tasks that train on a CPU in minutes: the report's MNIST net on MNIST and Fashion-MNIST
(offline from Debian's archives), and the demo on scikit-learn's bundled digits."""

from typing import Tuple, Union

import tensorflow as tf
from zookeeper import ComponentField, Field
from zookeeper.tf import Dataset, Preprocessing

from rethink_bnn.data import Digits, FashionMnist, ScaleToUnitRange
from rethink_bnn.experiments.registry import OnMnist, experiment
from rethink_bnn.models import BinaryMLP
from rethink_bnn.training.bases import BopTraining, LatentTraining

__all__ = ["Demo", "FashionMnistBop", "FashionMnistLatentAdam", "MnistBop", "MnistLatentAdam"]


@experiment
class MnistBop(OnMnist, BopTraining):
    """The report's MNIST net trained with Bop (CPU scale): γ = 1e-3 decayed by 0.1 every
    3 epochs, τ = 1e-6, Adam 1e-3, batch 100, 10 epochs."""

    batch_size: int = Field(100)
    epochs: int = Field(10)
    threshold: float = Field(1e-6)
    gamma: float = Field(1e-3)
    gamma_decay_epochs: int = Field(3)
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
class Demo(BopTraining):
    """A binary MLP on scikit-learn's bundled digits: offline, under a minute on 2 cores."""

    dataset: Dataset = ComponentField(Digits)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    model: tf.keras.Model = ComponentField(BinaryMLP)
    input_shape: Tuple[int, int, int] = Field((8, 8, 1))
    batch_size: int = Field(32)
    epochs: int = Field(30)
    threshold: float = Field(1e-6)
    gamma: float = Field(1e-2)
    flip_log_freq: Union[int, str] = Field("epoch")
