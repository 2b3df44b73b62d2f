"""Datasets and preprocessing (zookeeper components) and offline archive readers.

`digits_arrays` and `archives` are the library's; the components and streams are the
experiments' (`pip install "rethink_bnn[experiments]"`) and load at first use, so that
`from rethink_bnn.data import digits_arrays` works without zookeeper or tensorflow-datasets.
"""

from rethink_bnn.data.digits import digits_arrays
from rethink_bnn.experiments_extra import lazy_exports

# name -> the submodule that defines it (imported when the name is first looked up)
_EXPERIMENTS = {
    **dict.fromkeys(("ARCHIVE_ENV", "Cifar10", "DatasetUnavailable", "Digits", "FashionMnist",
                     "ImageNet2012", "Mnist", "TfdsImageDataset"), "datasets"),
    **dict.fromkeys(("evaluation_stream", "training_stream"), "streams"),
    **dict.fromkeys(("Cifar10Augmentation", "ImageNetPreprocessing", "ScaleToUnitRange",
                     "scale_to_unit_range"), "preprocessing"),
}


__getattr__ = lazy_exports(__name__, _EXPERIMENTS)

__all__ = sorted([*_EXPERIMENTS, "digits_arrays"])
