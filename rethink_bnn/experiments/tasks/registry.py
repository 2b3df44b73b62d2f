"""The task registry and the datasets' standard settings that tasks share.

A task is a zookeeper component registered here under its snake_case name, the name
`python -m rethink_bnn.train NAME` takes; it states only what differs from its base
(rethink_bnn.experiments.training.task), so every value it sets is the paper's (or the report's).
"""

from typing import Tuple

from zookeeper import ComponentField, Field, task

from rethink_bnn.experiments.data.bases import Dataset, Preprocessing
from rethink_bnn.experiments.config.zookeeper_internals import convert_to_snake_case
from rethink_bnn.experiments.data import (
    Cifar10,
    Cifar10Augmentation,
    ImageNet2012,
    ImageNetPreprocessing,
    Mnist,
    ScaleToUnitRange,
)
from rethink_bnn.experiments.models import BinaryNet, MnistNet, Network
from rethink_bnn.experiments.training.task import TrainingTask

__all__ = ["TASKS", "OnCifar10", "OnImageNet", "OnMnist", "experiment", "has_binary_optimizer"]

TASKS = {}


def experiment(cls):
    """Register `cls` as a zookeeper task, runnable by its snake_case name."""
    cls = task(cls)
    TASKS[convert_to_snake_case(cls.__name__)] = cls
    return cls


def has_binary_optimizer(task_class):
    """Whether a binary optimizer trains the task's binary kernels: the task has a
    `binary_optimizer` field (a sweep point must; a latent-weight task has none)."""
    return (isinstance(task_class, type) and issubclass(task_class, TrainingTask)
            and "binary_optimizer" in getattr(task_class, "__component_fields__", {}))


class OnCifar10:
    """CIFAR-10 with the authors' augmentation, and BinaryNet."""

    dataset: Dataset = ComponentField(Cifar10)
    preprocessing: Preprocessing = ComponentField(Cifar10Augmentation)
    model: Network = ComponentField(BinaryNet)
    input_shape: Tuple[int, int, int] = Field((32, 32, 3))


class OnMnist:
    """MNIST scaled to [-1, 1], and the report's MNIST net."""

    dataset: Dataset = ComponentField(Mnist)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    model: Network = ComponentField(MnistNet)
    input_shape: Tuple[int, int, int] = Field((28, 28, 1))


class OnImageNet:
    """ImageNet (the manual download: dataset.manual_dir=...) with larq-zoo's
    preprocessing, batch 1024; its validation set is the test set."""

    dataset: Dataset = ComponentField(ImageNet2012)
    preprocessing: Preprocessing = ComponentField(ImageNetPreprocessing)
    input_shape: Tuple[int, int, int] = Field((224, 224, 3))
    num_classes: int = Field(1000)
    batch_size: int = Field(1024)
