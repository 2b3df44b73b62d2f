"""Datasets and preprocessing as zookeeper components (tfds or the offline archives of
`rethink_bnn.data.archives`), and the seeded, resumable input streams."""

from rethink_bnn.experiments.data.datasets import (ARCHIVE_ENV, Cifar10, DatasetUnavailable,
                                                   Digits, FashionMnist, ImageNet2012, Mnist,
                                                   TfdsImageDataset)
from rethink_bnn.experiments.data.preprocessing import (Cifar10Augmentation,
                                                        ImageNetPreprocessing,
                                                        ScaleToUnitRange, scale_to_unit_range)
from rethink_bnn.experiments.data.streams import evaluation_stream, training_stream

__all__ = ["ARCHIVE_ENV", "Cifar10", "Cifar10Augmentation", "DatasetUnavailable", "Digits",
           "FashionMnist", "ImageNet2012", "ImageNetPreprocessing", "Mnist",
           "ScaleToUnitRange", "TfdsImageDataset", "evaluation_stream", "scale_to_unit_range",
           "training_stream"]
