"""Datasets as zookeeper components: tensorflow-datasets, or offline from archives.

Every dataset yields `{"image": uint8 [H, W, C], "label": int64}` examples, split into
train, validation (the last `validation_fraction` of the training set, as in the
reproducibility report; 0 for none, as the authors) and test.

Offline use: when the dataset's standard archives lie in `archive_dir` (or in
`archive_dir/<name>`), they are read directly and tensorflow-datasets is not asked.
`archive_dir` defaults to the environment variable RETHINK_BNN_ARCHIVE_DIR.

The tf-keras front end reads the splits as `tf.data` datasets (`train()`, `validation()`,
`test()`); the Keras 3 front end as numpy arrays (`arrays(split)`), from the archives or
the digits only, without TensorFlow. Importing this module loads neither.
"""

import os
import shutil
import socket
import urllib.parse
from pathlib import Path
from typing import Optional

import numpy as np
from zookeeper import Field, component

from rethink_bnn.data import archives
from rethink_bnn.experiments.data.bases import Dataset
from rethink_bnn.data.digits import digits_arrays

__all__ = [
    "ARCHIVE_ENV",
    "Cifar10",
    "DatasetUnavailable",
    "Digits",
    "FashionMnist",
    "ImageNet2012",
    "Mnist",
    "TfdsImageDataset",
    "digits_arrays",
]

ARCHIVE_ENV = "RETHINK_BNN_ARCHIVE_DIR"


def _tf():
    """TensorFlow, for the tf-keras front end's splits (imported then, not before)."""
    from rethink_bnn._keras2 import ensure_keras2

    ensure_keras2(__name__)  # one line if TensorFlow or tf-keras cannot load
    import tensorflow

    return tensorflow


def _tfds():
    """tensorflow-datasets, imported when a dataset is first read through it (0.6
    CPU-seconds that the digits and the offline archives do without)."""
    import tensorflow_datasets

    return tensorflow_datasets


class DatasetUnavailable(RuntimeError):
    """Neither an archive nor tensorflow-datasets could provide the dataset."""


def _first(data, n, limit):
    """The first `limit` examples of a split of n (all of them for None)."""
    if limit is not None and limit < n:
        return data.take(limit), limit
    return data, n


class _SplitImageDataset(Dataset):
    """Train/validation/test from whole-split arrays or tfds, with a validation tail."""

    # Small enough to keep in memory after the first epoch (see training_stream).
    cacheable = True
    # The images' shape and the number of classes, for checks before anything loads
    # (None: any shape, the preprocessing resizes).
    image_shape = None
    num_classes = None

    validation_fraction: float = Field(0.1)
    # Train on the first this many training examples only (None: all), for quick runs.
    train_limit: Optional[int] = Field(None)
    # Test on the first this many test examples only (None: all), for quick runs.
    test_limit: Optional[int] = Field(None)

    def train(self, decoders=None):
        return _first(*self._split("train"), self.train_limit)

    def validation(self, decoders=None):
        if not self.validation_fraction:
            raise ValueError(
                f"{type(self).__name__} has no validation split: "
                "set dataset.validation_fraction (e.g. 0.1) to hold out part of train."
            )
        return self._split("validation")

    def test(self, decoders=None):
        return _first(*self._split("test"), self.test_limit)

    def arrays(self, split):
        """`split` ("train", "validation" or "test") as numpy arrays, uint8 images [N,
        H, W, C] and int64 labels [N], the limits applied, read without TensorFlow (from
        `_load_arrays`: {split: (images, labels)}), for the Keras 3 front end."""
        if split == "validation" and not self.validation_fraction:
            self.validation()  # raises: says how to hold part of train out
        self.validate()
        if not hasattr(self, "_array_splits"):
            self._array_splits = self._load_arrays()
        images, labels = self._array_splits[split]
        limit = {"train": self.train_limit, "test": self.test_limit}.get(split)
        return images[:limit], labels[:limit]

    def validate(self):
        """Raise ValueError for a field that cannot work, saying how to fix it."""
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"dataset.validation_fraction must be in [0, 1), got {self.validation_fraction}."
            )
        for name in ("train_limit", "test_limit"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise ValueError(
                    f"dataset.{name} must be at least 1 (or None: all), got {limit}."
                )

    def _split(self, name):
        self.validate()
        if not hasattr(self, "_splits"):
            self._splits = self._load()
        return self._splits[name]

    def _load(self):
        """{split: (tf.data.Dataset, number of examples)} for train, validation, test."""
        raise NotImplementedError

    def _split_arrays(self, train, test):
        """{split: (images, labels)}: the last `validation_fraction` of train held out."""
        (x, y), (x_test, y_test) = train, test
        n_train = len(x) - int(round(len(x) * self.validation_fraction))
        return {"train": (x[:n_train], y[:n_train]), "validation": (x[n_train:], y[n_train:]),
                "test": (x_test, y_test)}

    def _from_arrays(self, train, test):
        tf = _tf()

        def as_dataset(images, labels):
            data = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
            return data, len(labels)

        return {split: as_dataset(*arrays)
                for split, arrays in self._split_arrays(train, test).items()}


class TfdsImageDataset(_SplitImageDataset):
    """A tensorflow-datasets image dataset, read from its archive when one is at hand."""

    name: str = Field()
    archive_dir: Optional[str] = Field(lambda: os.environ.get(ARCHIVE_ENV))
    data_dir: Optional[str] = Field(None)
    download: bool = Field(True)

    # Per dataset: archive file names (for messages) and folders always searched.
    archive_names = ()
    default_archive_dirs = ()
    train_split, test_split = "train", "test"

    def _read_archive(self, folder):
        """((x_train, y_train), (x_test, y_test)) from the archive in `folder`."""
        raise NotImplementedError

    def _archive_in(self, folder):
        return False

    def _archive_folder(self):
        candidates = []
        if self.archive_dir:
            candidates += [Path(self.archive_dir), Path(self.archive_dir) / self.name]
        candidates += [Path(p) for p in self.default_archive_dirs]
        return next((c for c in candidates if self._archive_in(c)), None)

    def _load(self):
        folder = self._archive_folder()
        if folder is not None:
            return self._from_arrays(*self._read_checked(folder))
        return self._load_tfds()

    def _load_arrays(self):
        folder = self._archive_folder()
        if folder is None:
            archive = " and ".join(self.archive_names) or "its archive"
            raise DatasetUnavailable(
                f"front_end=keras3 reads {self.name} from its archive files, and none was "
                f"found: put {archive} in a folder and pass dataset.archive_dir=FOLDER (or "
                f"set {ARCHIVE_ENV}=FOLDER); front_end=tf_keras can also read it through "
                "tensorflow-datasets.")
        return self._split_arrays(*self._read_checked(folder))

    def _read_checked(self, folder):
        try:
            return self._read_archive(folder)
        except archives.DAMAGED as error:
            raise DatasetUnavailable(
                f"the {self.name} archive in {folder} cannot be read "
                f"({_first_words(error) or type(error).__name__}): replace "
                f"{' and '.join(self.archive_names)} with fresh copies."
            ) from error

    def _load_tfds(self):
        tfds = _tfds()
        percent = int(round(100 * (1 - self.validation_fraction)))
        splits = {
            "train": f"{self.train_split}[:{percent}%]",
            "validation": f"{self.train_split}[{percent}%:]",
            "test": self.test_split,
        }
        if not self.validation_fraction:
            splits.pop("validation")
        target = Path(self.data_dir or tfds.core.constants.DATA_DIR) / self.name.split(":")[0]
        existed = target.exists()
        if self.download:
            self._check_downloadable()
        try:
            loaded, info = tfds.load(
                self.name, split=list(splits.values()), data_dir=self.data_dir,
                download=self.download, with_info=True, **self._load_kwargs(),
            )
        except Exception as error:  # tfds raises many kinds; all mean "not available"
            if not existed and target.exists():
                shutil.rmtree(target, ignore_errors=True)  # leave nothing half-written
            raise DatasetUnavailable(self._unavailable_message(error)) from error
        return {
            split: (data, _num_examples(info, spec, data))
            for (split, spec), data in zip(splits.items(), loaded)
        }

    def _load_kwargs(self):
        return {}

    def _check_downloadable(self):
        """Fail within seconds, writing nothing, when the dataset is not prepared and its
        download hosts cannot be reached: tfds would otherwise retry for minutes and
        leave an empty temporary folder in its downloads."""
        try:
            builder = _tfds().builder(self.name, data_dir=self.data_dir)
            prepared = _tf().io.gfile.exists(os.path.join(builder.data_path,
                                                       "dataset_info.json"))
            hosts = sorted({urllib.parse.urlparse(url).hostname
                            for url in (builder.url_infos or {})} - {None})
        except Exception:  # an unknown name or a broken builder: tfds.load says what
            return
        manual = bool(getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None))  # ImageNet
        if prepared or manual or not hosts or _mocked(builder):
            return
        for host in hosts:
            try:
                socket.create_connection((host, 443), timeout=5).close()
            except OSError as error:
                raise DatasetUnavailable(
                    f"dataset '{self.name}' is not prepared in {builder.data_dir} and "
                    f"cannot be downloaded ({host} cannot be reached: "
                    f"{error.strerror or type(error).__name__}): {self._how_to_provide()}"
                ) from error

    def _unavailable_message(self, error):
        return (f"dataset '{self.name}' is not available ({_first_words(error)}): "
                f"{self._how_to_provide()}")

    def _how_to_provide(self):
        archive = " and ".join(self.archive_names) or "its archive"
        return (
            f"either put {archive} in a folder and pass dataset.archive_dir=FOLDER (or set "
            f"{ARCHIVE_ENV}=FOLDER), or let tensorflow-datasets download and prepare it "
            "(needs network; dataset.data_dir=FOLDER chooses where; on an offline machine "
            "with the data prepared, pass dataset.data_dir=FOLDER dataset.download=False)."
        )


def _mocked(builder):
    """Whether tfds' test mock (`tfds.testing.mock_data`) stands in for the download."""
    prepare = getattr(type(builder), "download_and_prepare", None)
    return getattr(prepare, "__module__", "").startswith("tensorflow_datasets.testing")


def _first_words(error, limit=200):
    """The first line of an error's text, cut at a word (never mid-word) if long."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _num_examples(info, spec, data):
    try:
        return info.splits[spec].num_examples
    except KeyError:  # no split metadata (e.g. tfds.testing.mock_data): count
        known = int(data.cardinality())
        return known if known >= 0 else int(data.reduce(0, lambda count, _: count + 1))


@component
class Mnist(TfdsImageDataset):
    name: str = Field("mnist")
    image_shape, num_classes = (28, 28, 1), 10
    archive_names = archives.MNIST_FILES["train"] + archives.MNIST_FILES["test"]

    def _archive_in(self, folder):
        return archives.mnist_format_available(folder)

    def _read_archive(self, folder):
        return (archives.load_mnist_format(folder, "train"),
                archives.load_mnist_format(folder, "test"))


@component
class FashionMnist(Mnist):
    name: str = Field("fashion_mnist")
    # Debian's dataset-fashion-mnist package installs the archives here.
    default_archive_dirs = ("/usr/share/datasets/fashion-mnist",)


@component
class Cifar10(TfdsImageDataset):
    name: str = Field("cifar10")
    image_shape, num_classes = (32, 32, 3), 10
    archive_names = (archives.CIFAR10_ARCHIVE,)

    def _archive_in(self, folder):
        return archives.cifar10_available(folder)

    def _read_archive(self, folder):
        path = Path(folder) / archives.CIFAR10_ARCHIVE
        return (archives.load_cifar10_archive(path, "train"),
                archives.load_cifar10_archive(path, "test"))


@component
class ImageNet2012(TfdsImageDataset):
    """ImageNet through tfds only: it needs the manual download that tfds documents.

    Put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in `manual_dir` (default
    `<data_dir>/downloads/manual`); the first run prepares the tfds dataset from them
    (hours), later runs read it. The test set is ImageNet's validation set, as in the
    papers; `validation_fraction` (default 0) holds out the tail of train instead.
    Too large to cache in memory, it is streamed from disk every epoch; its images come
    as JPEG bytes, which `ImageNetPreprocessing` decodes.
    """

    name: str = Field("imagenet2012")
    num_classes = 1000
    download: bool = Field(True)  # prepare from manual_dir: tfds never downloads ImageNet
    manual_dir: Optional[str] = Field(None)
    validation_fraction: float = Field(0.0)
    test_split = "validation"
    cacheable = False

    def _load_kwargs(self):
        # Images stay JPEG bytes until preprocessing: batches of them can be permuted
        # (training_stream) and skipped without decoding.
        tfds = _tfds()
        kwargs = {"decoders": {"image": tfds.decode.SkipDecoding()}}
        if self.manual_dir is not None:
            config = tfds.download.DownloadConfig(manual_dir=self.manual_dir)
            kwargs["download_and_prepare_kwargs"] = {"download_config": config}
        return kwargs

    def _how_to_provide(self):
        return ("put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in a folder and "
                "pass dataset.manual_dir=FOLDER; tensorflow-datasets prepares them once "
                "(hours) into dataset.data_dir=FOLDER, which later runs read.")


@component
class Digits(_SplitImageDataset):
    """scikit-learn's bundled 8x8 digits (1797 images): real data that needs no network."""

    image_shape, num_classes = (8, 8, 1), 10

    test_fraction: float = Field(0.2)
    seed: int = Field(0)

    def validate(self):
        super().validate()
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"dataset.test_fraction must be in (0, 1) (the digits kept for "
                             f"testing), got {self.test_fraction}.")

    def _load(self):
        return self._from_arrays(*digits_arrays(self.test_fraction, self.seed))

    def _load_arrays(self):
        return self._split_arrays(*digits_arrays(self.test_fraction, self.seed))
