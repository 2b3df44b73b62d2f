import numpy as np
import tensorflow as tf
from zookeeper import configure

from rethink_bnn.experiments.data import Cifar10Augmentation, ScaleToUnitRange
import pytest

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def _configured(cls, **config):
    instance = cls()
    configure(instance, config)
    return instance


def test_scale_to_unit_range():
    pre = _configured(ScaleToUnitRange, input_shape=(2, 2, 1))
    image = tf.constant([[[0], [255]], [[127], [128]]], tf.uint8)
    x, y = pre({"image": image, "label": tf.constant(3, tf.int64)}, training=True)
    np.testing.assert_allclose(x.numpy().ravel(), [-1, 1, 127 / 127.5 - 1, 128 / 127.5 - 1], atol=1e-6)
    assert int(y) == 3


def test_cifar_augmentation_pads_crops_and_flips_in_training_only():
    pre = _configured(Cifar10Augmentation)
    image = tf.fill((32, 32, 3), tf.constant(200, tf.uint8))
    test_x, _ = pre({"image": image, "label": tf.constant(0, tf.int64)}, training=False)
    np.testing.assert_allclose(test_x.numpy(), 200 / 127.5 - 1)
    black = -1.0  # the zero padding, scaled
    borders = 0
    for i in range(20):
        seed = tf.constant([0, i], tf.int64)
        x, _ = pre({"image": image, "label": tf.constant(0, tf.int64), "seed": seed}, training=True)
        assert x.shape == (32, 32, 3)
        is_padding, is_image = np.isclose(x, black), np.isclose(x, 200 / 127.5 - 1)
        assert np.all(is_padding | is_image)
        borders += bool(np.any(is_padding))
        again, _ = pre({"image": image, "label": tf.constant(0, tf.int64), "seed": seed}, training=True)
        np.testing.assert_array_equal(x, again)  # the seed decides the crop and flip
    assert borders >= 15  # only the centred crop (1 in 81) shows no padding
