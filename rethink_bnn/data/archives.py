"""Readers for the standard dataset archives, so that datasets load without network.

- MNIST format (MNIST, Fashion-MNIST): `train-images-idx3-ubyte.gz`,
  `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`.
- CIFAR-10: `cifar-10-python.tar.gz` (the "python version" of the official archive).
"""

import gzip
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

# What reading a damaged archive raises (random bytes, another file's content, a cut
# download): the dataset turns any of these into one line naming the folder.
DAMAGED = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, zlib.error,
           tarfile.TarError, pickle.UnpicklingError)

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
_IDX_TYPES = {0x08: np.uint8}


def read_idx(path):
    """An array from an IDX file (gzipped): big-endian magic, dims, then the data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] or data[1] or data[2] not in _IDX_TYPES:
        raise ValueError(f"{Path(path).name} is not an IDX file of unsigned bytes")
    dtype_code, ndim = data[2], data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{Path(path).name} is truncated in its header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    values = np.frombuffer(data, dtype=_IDX_TYPES[dtype_code], offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{Path(path).name} is truncated: expected {shape}, got "
                         f"{values.size} values")
    return values.reshape(shape)


def load_mnist_format(folder, split):
    """(images uint8 [N, 28, 28, 1], labels int64 [N]) of `split` ("train" or "test")."""
    images_file, labels_file = MNIST_FILES[split]
    images = read_idx(Path(folder) / images_file)
    labels = read_idx(Path(folder) / labels_file).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} {split} images but {len(labels)} labels.")
    return images[..., None], labels


def load_cifar10_archive(path, split):
    """(images uint8 [N, 32, 32, 3], labels int64 [N]) of `split` from the tarball."""
    members = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    with tarfile.open(path, "r:gz") as archive:
        for member in members:
            batch = pickle.load(archive.extractfile(f"cifar-10-batches-py/{member}"),
                                encoding="bytes")
            images.append(batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[b"labels"], np.int64))
    return np.concatenate(images), np.concatenate(labels)


def mnist_format_available(folder):
    return folder is not None and all(
        (Path(folder) / name).is_file() for files in MNIST_FILES.values() for name in files
    )


def cifar10_available(folder):
    return folder is not None and (Path(folder) / CIFAR10_ARCHIVE).is_file()
