"""scikit-learn's bundled 8x8 digits as arrays: real data that needs no network.

Part of the library (no experiments extra): the README's usage example trains on it.
"""

import numpy as np


def digits_arrays(test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 digits as uint8 images [N, 8, 8, 1] (0..16 scaled to 0..255),
    shuffled once with `seed`: ((x_train, y_train), (x_test, y_test)), the test set
    being the last `test_fraction`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], digits.target[order].astype(np.int64)
    n_test = int(round(len(images) * test_fraction))
    return (images[:-n_test], labels[:-n_test]), (images[-n_test:], labels[-n_test:])
