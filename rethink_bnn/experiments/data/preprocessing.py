"""Preprocessing as zookeeper components: scale to [-1, 1]; CIFAR augmentation;
ImageNet's standard random-crop training and center-crop evaluation.

On the tf-keras front end a component maps each example in the `tf.data` pipeline
(`__call__`); on the Keras 3 front end it gives the layers that do the same at the
network's input, on the device (`keras3_layers`). Importing this module loads neither
TensorFlow nor Keras.
"""

from typing import Tuple

from zookeeper import Field, component

from rethink_bnn.experiments.data.bases import Preprocessing


def _tf():
    """TensorFlow, for the tf-keras front end's pipeline (the Keras 3 one never needs it)."""
    from rethink_bnn._keras2 import ensure_keras2

    ensure_keras2(__name__)  # one line if TensorFlow or tf-keras cannot load
    import tensorflow

    return tensorflow

__all__ = ["Cifar10Augmentation", "ImageNetPreprocessing", "ScaleToUnitRange",
           "scale_to_unit_range"]


def scale_to_unit_range(image):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    tf = _tf()
    return tf.cast(image, tf.float32) / 127.5 - 1.0


@component
class ScaleToUnitRange(Preprocessing):
    """Images scaled to [-1, 1], labels as they are; no augmentation."""

    input_shape: Tuple[int, int, int] = Field()

    def input(self, data, training):
        return scale_to_unit_range(data["image"])

    def output(self, data, training):
        return data["label"]

    def keras3_layers(self, seed):
        """The Keras 3 layers that map a batch of uint8 images as `input` does."""
        from rethink_bnn.keras3.augmentation import ScaleToUnitRange

        return [ScaleToUnitRange()]


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
        tf, image = _tf(), data["image"]
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

    def keras3_layers(self, seed):
        from rethink_bnn.keras3.augmentation import PadCropFlip

        return [PadCropFlip(self.padding, seed=seed), *super().keras3_layers(seed)]


# ImageNet's per-channel mean and standard deviation (RGB, on [0, 255]).
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@component
class ImageNetPreprocessing(Preprocessing):
    """The standard ImageNet pipeline (as larq-zoo trains its models).

    Train: a random crop covering 8–100% of the image with aspect ratio 3/4–4/3,
    resized to `input_shape`, and a random horizontal flip. Evaluation: the central
    `central_fraction` (224 of 256) of the image, resized. Both normalized by
    ImageNet's per-channel mean and standard deviation. Crop and flip are stateless
    functions of the example's "seed", which the training loop adds.
    """

    input_shape: Tuple[int, int, int] = Field((224, 224, 3))
    central_fraction: float = Field(0.875)

    def input(self, data, training):
        tf, image = _tf(), data["image"]
        if image.dtype == tf.string:  # still encoded (ImageNet2012 streams JPEG bytes)
            image = tf.io.decode_jpeg(image, channels=3)
        size = self.input_shape[:2]
        if training:
            crop, flip = tf.unstack(tf.random.experimental.stateless_split(data["seed"], 2))
            begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
                tf.shape(image), tf.zeros([1, 0, 4]), seed=crop, min_object_covered=0.1,
                aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
                use_image_if_no_bounding_boxes=True)
            image = tf.image.resize(tf.slice(image, begin, extent), size)
            image = tf.image.stateless_random_flip_left_right(image, seed=flip)
        else:
            image = tf.image.resize(tf.image.central_crop(image, self.central_fraction), size)
        return (tf.cast(image, tf.float32) - IMAGENET_MEAN) / IMAGENET_STD

    def output(self, data, training):
        return data["label"]
