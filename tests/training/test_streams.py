"""The training streams: a resumed run sees exactly the batches an uninterrupted one
would, also for datasets streamed from disk (ImageNet), which skip one epoch at most."""

import numpy as np
import pytest
import tensorflow as tf

from rethink_bnn.experiments.data import training_stream

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

N = 50


def _labels_and_seeds(streamed, skip, batches, batch_size=8):
    data = tf.data.Dataset.from_tensor_slices({"label": tf.range(N, dtype=tf.int64)})
    stream = training_stream(data, lambda example, training: (example["seed"],
                                                              example["label"]),
                             batch_size, seed=3, shuffle_buffer=16, skip=skip,
                             streamed=N if streamed else None)
    seeds, labels = zip(*stream.take(batches).as_numpy_iterator())
    return np.concatenate(labels), np.concatenate(seeds)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_resumed_stream_continues_the_uninterrupted_one(streamed):
    labels, seeds = _labels_and_seeds(streamed, skip=0, batches=40)  # 320 = 6.4 epochs
    for skip in (8 * 7, 8 * 19, 8 * 33):  # resumed mid-epoch, in epochs 1, 3 and 5
        resumed, resumed_seeds = _labels_and_seeds(streamed, skip=skip, batches=5)
        np.testing.assert_array_equal(resumed, labels[skip:skip + 40])
        np.testing.assert_array_equal(resumed_seeds, seeds[skip:skip + 40])
    epochs = labels[:300].reshape(6, N)
    for order in epochs:  # every example once per epoch
        assert sorted(order) == list(range(N))
    assert len({tuple(order) for order in epochs}) == 6  # a new order every epoch
    np.testing.assert_array_equal(seeds[:, 1], np.arange(320))  # augmentation seeds
