"""The sec 5.2 CIFAR-10 augmentation for Keras 3, on the device inside the compiled step:
`PadCropFlip`, and `scale_to_unit_range` (as a layer, `ScaleToUnitRange`).

The tf-keras tasks augment in a tf.data pipeline on the host (zero-pad the uint8 image
by 4 pixels, crop a random 32×32 window, flip left-right with probability 1/2, then
scale to [-1, 1]). Here the same runs as a layer at the network's input, on a whole
batch at once: one gather picks each example's window, flipped or not, so a GPU never
waits on Python and a dataset that fits stays on the device as uint8. Its random
stream is a `keras.random.SeedGenerator`, whose state is one of the model's
`non_trainable_variables` (which JAX's stateless step threads), not of its `weights`:
Keras' `save_weights` and `.keras` leave it out, so a checkpoint that is to resume the
same windows saves `model.variables`.
"""

import keras
from keras import ops

__all__ = ["PadCropFlip", "ScaleToUnitRange", "scale_to_unit_range"]


def scale_to_unit_range(images):
    """uint8 [0, 255] -> float32 [-1, 1], as `rethink_bnn.experiments.data.preprocessing`.

    Examples:
        >>> import keras, numpy as np
        >>> from rethink_bnn.keras3.augmentation import scale_to_unit_range
        >>> scaled = scale_to_unit_range(np.array([0, 255], "uint8"))
        >>> keras.backend.standardize_dtype(scaled.dtype), keras.ops.convert_to_numpy(scaled)
        ('float32', array([-1.,  1.], dtype=float32))

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.3 (as
        the original paper's).
    """
    return ops.subtract(ops.divide(ops.cast(images, "float32"), 127.5), 1.0)


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class ScaleToUnitRange(keras.layers.Layer):
    """uint8 images [0, 255] -> float32 [-1, 1] (`scale_to_unit_range`), at a network's
    input: the data stays uint8 until it is on the device.

    Examples:
        >>> import keras, numpy as np
        >>> from rethink_bnn.keras3.augmentation import ScaleToUnitRange
        >>> model = keras.Sequential([keras.Input((2,), dtype="uint8"), ScaleToUnitRange()])
        >>> keras.ops.convert_to_numpy(model(np.array([[0, 255]], "uint8"))).tolist()
        [[-1.0, 1.0]]
    """

    def call(self, images):
        return scale_to_unit_range(images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, images):
        return keras.KerasTensor(images.shape, dtype="float32")


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class PadCropFlip(keras.layers.Layer):
    """In training: pad each image (batch, height, width, channels; uint8 [0, 255] or
    already scaled) by `padding` pixels of `pad_value`, crop a random window of the
    input's size, flip it left-right with probability 1/2. Otherwise the identity.

    Args:
        padding: pixels added on each side before the crop (4 in the paper's setup).
        pad_value: the padding's value: 0 for uint8 images (black, -1 once scaled);
            -1.0 for images already scaled to [-1, 1].
        seed: the seed of the layer's random stream.

    Examples:
        >>> import keras, numpy as np
        >>> from rethink_bnn.keras3.augmentation import PadCropFlip
        >>> images = np.arange(1, 2 * 4 * 4 + 1).reshape(2, 4, 4, 1).astype("uint8")
        >>> augment = PadCropFlip(padding=1, seed=0)
        >>> crops = keras.ops.convert_to_numpy(augment(images, training=True))
        >>> crops.shape, set(crops[0].ravel()) <= set(images[0].ravel()) | {0}  # a window
        ((2, 4, 4, 1), True)
        >>> bool((keras.ops.convert_to_numpy(augment(images)) == images).all())  # inference
        True

    Reference:
        Vaessen, Mastnak, Budaraju, "[Re] Latent Weights Do Not Exist: Rethinking Binarized
        Neural Network optimisation", NeurIPS 2019 Reproducibility Challenge, sec 3.3: pad
        by 4, crop 32×32 at random, flip left-right with probability 1/2 (as the original
        paper's).
    """

    def __init__(self, padding=4, pad_value=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an integer >= 0, got {padding!r}.")
        self.padding, self.pad_value, self.seed = padding, pad_value, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        p = self.padding
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        padded = ops.pad(images, [(0, 0), (p, p), (p, p), (0, 0)],
                         constant_values=ops.cast(self.pad_value, images.dtype))
        top = keras.random.randint((batch, 1), 0, 2 * p + 1, seed=self.generator)
        left = keras.random.randint((batch, 1), 0, 2 * p + 1, seed=self.generator)
        flip = keras.random.randint((batch, 1), 0, 2, seed=self.generator)
        rows = ops.add(top, ops.arange(height, dtype=top.dtype))
        across = ops.arange(width, dtype=left.dtype)
        # flipped: the window's columns right to left
        columns = ops.add(left, ops.where(ops.equal(flip, 1), width - 1 - across, across))
        window = ops.take_along_axis(padded, ops.reshape(rows, (-1, height, 1, 1)), axis=1)
        return ops.take_along_axis(window, ops.reshape(columns, (-1, 1, width, 1)), axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "pad_value": self.pad_value, "seed": self.seed}
