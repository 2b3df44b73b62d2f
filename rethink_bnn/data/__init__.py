"""Datasets and preprocessing (zookeeper components) and offline archive readers."""

from rethink_bnn.data.datasets import (
    ARCHIVE_ENV,
    Cifar10,
    DatasetUnavailable,
    Digits,
    FashionMnist,
    ImageNet2012,
    Mnist,
    TfdsImageDataset,
    digits_arrays,
)
from rethink_bnn.data.streams import evaluation_stream, training_stream
from rethink_bnn.data.preprocessing import (
    Cifar10Augmentation,
    ImageNetPreprocessing,
    ScaleToUnitRange,
    scale_to_unit_range,
)

__all__ = [
    "ARCHIVE_ENV",
    "Cifar10",
    "Cifar10Augmentation",
    "DatasetUnavailable",
    "Digits",
    "FashionMnist",
    "ImageNet2012",
    "ImageNetPreprocessing",
    "Mnist",
    "ScaleToUnitRange",
    "TfdsImageDataset",
    "digits_arrays",
    "evaluation_stream",
    "scale_to_unit_range",
    "training_stream",
]
