"""The digits read from scikit-learn's file are what `load_digits` gives."""

import importlib.util

import numpy as np
from sklearn.datasets import load_digits

from rethink_bnn.data import digits


def _assert_load_digits(images, labels):
    reference = load_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)
    assert images.shape == (1797, 8, 8) and labels.dtype == np.int64


def test_the_file_read_directly_holds_load_digits_images_and_labels():
    _assert_load_digits(*digits._digits())


def test_without_the_file_load_digits_is_used(monkeypatch):
    import sklearn.datasets

    real, calls = importlib.util.find_spec, []
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))
    monkeypatch.setattr(sklearn.datasets, "load_digits",
                        lambda: calls.append(1) or load_digits())
    _assert_load_digits(*digits._digits())
    assert calls == [1]


def test_the_split_is_a_function_of_the_seed():
    (x_a, y_a), test_a = digits.digits_arrays(seed=1)
    (x_b, y_b), test_b = digits.digits_arrays(seed=1)
    (x_c, _), _ = digits.digits_arrays(seed=2)
    np.testing.assert_array_equal(x_a, x_b)
    np.testing.assert_array_equal(test_a[1], test_b[1])
    assert not np.array_equal(x_a, x_c)
    assert len(y_a) + len(test_a[1]) == 1797 and x_a.dtype == np.uint8 and x_a.max() == 255
