"""`rethink_bnn.keras3.augmentation.PadCropFlip`, on the backend this process runs:
every output image is a window of the padded image, flipped or not, as the tf-keras
tasks' pipeline draws them (checked against every candidate in numpy); the stream is the
seed's and lives in a model variable, so a restored model draws the same windows."""

import keras
import numpy as np
import pytest

from rethink_bnn.keras3.augmentation import PadCropFlip, scale_to_unit_range


def _images(n=64, size=8, channels=3):
    return np.random.default_rng(0).integers(0, 256, (n, size, size, channels), np.uint8)


def _windows(image, padding, pad_value):
    """Every crop of the padded image, unflipped and flipped: {(top, left, flip): window}."""
    size = image.shape[0]
    padded = np.pad(image, [(padding, padding), (padding, padding), (0, 0)],
                    constant_values=pad_value)
    return {(t, l, f): (w[:, ::-1] if f else w)
            for t in range(2 * padding + 1) for l in range(2 * padding + 1)
            for f in (0, 1) for w in [padded[t:t + size, l:l + size]]}


@pytest.mark.parametrize("pad_value, scaled", [(0, False), (-1.0, True)])
def test_each_image_is_a_window_of_the_padded_image_flipped_or_not(pad_value, scaled):
    images = _images()
    data = scale_to_unit_range(images) if scaled else images
    out = keras.ops.convert_to_numpy(PadCropFlip(4, pad_value, seed=1)(data, training=True))
    assert out.shape == images.shape and out.dtype == np.asarray(data).dtype
    reference = np.asarray(keras.ops.convert_to_numpy(data))
    drawn = []
    for image, result in zip(reference, out):
        found = [key for key, window in _windows(image, 4, pad_value).items()
                 if np.array_equal(window, result)]
        assert found, "not a window of the padded image"
        drawn.append(found[0])
    tops, lefts, flips = zip(*drawn)
    assert len(set(tops)) > 3 and len(set(lefts)) > 3 and 0 < sum(flips) < len(flips)


def test_without_padding_it_still_flips_as_the_tf_keras_pipeline():
    images = _images(32)
    out = keras.ops.convert_to_numpy(PadCropFlip(0, seed=3)(images, training=True))
    flipped = [np.array_equal(o, i[:, ::-1]) and not np.array_equal(o, i)
               for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and 0 < sum(flipped) < len(images)


def test_outside_training_the_identity():
    images = _images(4)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(PadCropFlip(seed=0)(images, training=False)), images)


def test_the_seed_decides_the_stream_and_a_restored_model_continues_it():
    def model(seed):
        return keras.Sequential([keras.Input((8, 8, 3), dtype="uint8"),
                                 PadCropFlip(4, seed=seed)])

    images = _images(16)
    a, b, c = model(5), model(5), model(6)
    first = [keras.ops.convert_to_numpy(m(images, training=True)) for m in (a, b, c)]
    np.testing.assert_array_equal(first[0], first[1])
    assert not np.array_equal(first[0], first[2])
    # the stream's state is a model variable (not one of Keras' saved `weights`):
    # copied after one draw, it continues the stream
    saved = [keras.ops.convert_to_numpy(v) for v in a.variables]
    assert len(saved) == 1 and a.non_trainable_variables == a.variables
    after = keras.ops.convert_to_numpy(a(images, training=True))
    restored = model(7)
    for variable, value in zip(restored.variables, saved):
        variable.assign(value)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(images, training=True)), after)


def test_a_bad_padding_is_refused_in_one_line():
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        PadCropFlip(padding=2.5)
