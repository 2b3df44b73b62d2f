"""The input pipelines of training and evaluation, from a dataset's examples.

The training stream depends only on its seed, and skipping what finished epochs consumed
gives a resumed run exactly the batches an uninterrupted run would see.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import functools

import tensorflow as tf

__all__ = ["evaluation_stream", "training_stream"]


def training_stream(data, preprocessing, batch_size, seed, shuffle_buffer, skip=0,
                    streamed=None):
    """An endless stream of shuffled, augmented batches that depends only on `seed`.

    Each example carries a seed from its position in the stream, for stateless
    augmentation. Skipping the examples that finished epochs consumed makes a resumed
    run see exactly the batches an uninterrupted run would.

    `streamed`: for a dataset too large to cache in memory (ImageNet, its images still
    encoded), its number of examples. It is then read from disk every epoch, and each
    block of `shuffle_buffer` examples is permuted by a stateless function of (seed,
    epoch, block), so that a resumed run skips into the current epoch only, not through
    every epoch done (hours of reading for ImageNet).
    """
    if streamed:
        first_epoch, offset = divmod(skip, streamed)

        def epoch(index):
            def permute(block_index, block):
                key = tf.stack([seed + index * 1_000_003, block_index])
                order = tf.argsort(tf.random.stateless_uniform(tf.shape(block["label"]), key))
                gathered = tf.nest.map_structure(lambda t: tf.gather(t, order), block)
                return tf.data.Dataset.from_tensor_slices(gathered)

            blocks = data.batch(shuffle_buffer).enumerate().flat_map(permute)
            return blocks.enumerate(start=index * streamed)

        stream = tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch).skip(offset)
    else:
        stream = (data.cache()
                  .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
                  .repeat()
                  .enumerate()
                  .skip(skip))
    stream = stream.map(lambda index, example: {**example, "seed": tf.stack([seed, index])})
    preprocess = functools.partial(preprocessing, training=True)
    return stream.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE).batch(
        batch_size
    ).prefetch(tf.data.AUTOTUNE)


def evaluation_stream(data, preprocessing, batch_size, cache=True):
    preprocess = functools.partial(preprocessing, training=False)
    data = (data.cache() if cache else data).map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
