"""scikit-learn's bundled 8x8 digits as arrays: real data that needs no network.

Part of the library (no experiments extra): the README's tf-keras example trains on it.
"""

import gzip
import importlib.util
from pathlib import Path

import numpy as np


def _digits():
    """(images [1797, 8, 8] of 0..16, labels [1797]): scikit-learn's `digits.csv.gz`
    read directly. `load_digits` reads the same file, but importing scikit-learn costs
    a second of CPU (it loads scipy.stats) in every process that trains on the digits."""
    spec = importlib.util.find_spec("sklearn")
    folders = spec.submodule_search_locations if spec else None
    path = Path(folders[0], "datasets", "data", "digits.csv.gz") if folders else None
    if path is None or not path.is_file():  # a scikit-learn that keeps its data elsewhere
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.images, digits.target
    with gzip.open(path, "rt") as rows:
        table = np.loadtxt(rows, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def digits_arrays(test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 digits as uint8 images [N, 8, 8, 1] (0..16 scaled to 0..255),
    shuffled once with `seed`: ((x_train, y_train), (x_test, y_test)), the test set
    being the last `test_fraction`.

    Examples:
        >>> from rethink_bnn.data import digits_arrays
        >>> (x, y), (x_test, y_test) = digits_arrays()
        >>> x.shape, x.dtype.name, x_test.shape, int(x.max()), len(set(y.tolist()))
        ((1438, 8, 8, 1), 'uint8', (359, 8, 8, 1), 255, 10)
    """
    images, labels = _digits()
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], labels[order].astype(np.int64)
    n_test = int(round(len(images) * test_fraction))
    return (images[:-n_test], labels[:-n_test]), (images[-n_test:], labels[-n_test:])
