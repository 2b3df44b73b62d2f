"""How the Keras 3 optimizers count the weights that flip in a step, cheaply.

A plain `ops.sum(ops.cast(flip, "int32"))` is a second pass over the weights that XLA on
CPU does not fuse into the update, and a 32-bit reduction is slow there: it made a Bop
update 2.1x Keras' SGD with momentum, against 0.95x without it (`bench/keras3_update.py`).
Summing blocks of 128 flags in 8 bits first (at most 128 per block, so exact) lets XLA
write a one-byte mask and reduce it in wide vectors: the count then costs about a quarter
of an update. The block sums need each backend's own reduction, because `keras.ops.sum`
widens 8-bit integers before it adds.
"""

import keras
from keras import ops

__all__ = ["BLOCK", "count_true"]

BLOCK = 128  # flags per 8-bit partial sum: at most 128 <= 255


def count_true(mask, dtype):
    """How many entries of the bool tensor `mask` (of a static shape, as a variable's)
    are True, as a scalar of integer `dtype`; exact for any size (the total is added in
    `dtype`)."""
    flat = ops.reshape(mask, (-1,))
    size = flat.shape[0]
    head = size - size % BLOCK
    total = ops.sum(ops.cast(flat[head:], dtype))
    if head:
        blocks = ops.reshape(ops.cast(flat[:head], "uint8"), (head // BLOCK, BLOCK))
        total = ops.add(total, ops.sum(ops.cast(_block_sums(blocks), dtype)))
    return total


def _block_sums(blocks):
    """Each row's sum, in uint8 (rows of at most `BLOCK` zeros and ones)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.sum(blocks, axis=1, dtype="uint8")
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):  # no uint8 Sum kernel on a GPU:
            return tf.reduce_sum(tf.cast(blocks, tf.int32), axis=1)  # not via the host
        return tf.reduce_sum(blocks, axis=1)  # keeps uint8
    if backend == "torch":
        import torch

        return torch.sum(blocks, dim=1, dtype=torch.uint8)
    return ops.sum(blocks, axis=1)  # another backend: its own widening, still exact

