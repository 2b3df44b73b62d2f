"""Datasets and preprocessing as zookeeper components (tfds or the offline archives of
`rethink_bnn.data.archives`), and the seeded, resumable input streams of the tf-keras
front end (`streams`, which loads TensorFlow: imported when first named)."""

import importlib

from rethink_bnn.experiments.data.datasets import (ARCHIVE_ENV, Cifar10, DatasetUnavailable,
                                                   Digits, FashionMnist, ImageNet2012, Mnist,
                                                   TfdsImageDataset)
from rethink_bnn.experiments.data.preprocessing import (Cifar10Augmentation,
                                                        ImageNetPreprocessing,
                                                        ScaleToUnitRange, scale_to_unit_range)

__all__ = ["ARCHIVE_ENV", "Cifar10", "Cifar10Augmentation", "DatasetUnavailable", "Digits",
           "FashionMnist", "ImageNet2012", "ImageNetPreprocessing", "Mnist",
           "ScaleToUnitRange", "TfdsImageDataset", "evaluation_stream", "scale_to_unit_range",
           "training_stream"]


def __getattr__(name):
    if name in ("evaluation_stream", "training_stream"):
        return getattr(importlib.import_module("rethink_bnn.experiments.data.streams"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
