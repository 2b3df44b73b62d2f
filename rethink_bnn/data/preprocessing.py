"""Preprocessing as zookeeper components (SPEC.md): scale to [-1, 1]; CIFAR augmentation."""

from typing import Tuple

import tensorflow as tf
from zookeeper import Field, component
from zookeeper.tf import Preprocessing

__all__ = ["Cifar10Augmentation", "ScaleToUnitRange", "scale_to_unit_range"]


def scale_to_unit_range(image):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


@component
class ScaleToUnitRange(Preprocessing):
    """Images scaled to [-1, 1], labels as they are; no augmentation."""

    input_shape: Tuple[int, int, int] = Field()

    def input(self, data, training):
        return scale_to_unit_range(data["image"])

    def output(self, data, training):
        return data["label"]


@component
class Cifar10Augmentation(ScaleToUnitRange):
    """Train: zero-pad by `padding`, random crop back, random horizontal flip, then
    scale to [-1, 1]. Test: scale only. (The authors' and the report's CIFAR-10 setup.)

    When an example carries a "seed" (shape [2]; the training loop adds one per example
    and epoch), crop and flip are stateless functions of it, hence reproducible.
    """

    input_shape: Tuple[int, int, int] = Field((32, 32, 3))
    padding: int = Field(4)

    def input(self, data, training):
        image = data["image"]
        if training:
            height, width, _ = self.input_shape
            p = self.padding
            image = tf.image.pad_to_bounding_box(image, p, p, height + 2 * p, width + 2 * p)
            if "seed" in data:
                crop, flip = tf.unstack(tf.random.experimental.stateless_split(data["seed"], 2))
                image = tf.image.stateless_random_crop(image, self.input_shape, seed=crop)
                image = tf.image.stateless_random_flip_left_right(image, seed=flip)
            else:
                image = tf.image.random_crop(image, self.input_shape)
                image = tf.image.random_flip_left_right(image)
        return scale_to_unit_range(image)
