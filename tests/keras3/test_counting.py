"""`rethink_bnn.keras3.counting.count_true`: the flip count, in 8-bit blocks, against
numpy's count, at sizes around the block and beyond what 8 bits hold."""

import keras
import numpy as np
import pytest

from rethink_bnn.keras3.counting import BLOCK, count_true


@pytest.mark.parametrize("shape", [(0,), (1,), (BLOCK - 1,), (BLOCK,), (BLOCK + 1,),
                                   (3, 3, 3, 128), (257, 129), (1024, 10)])
@pytest.mark.parametrize("fill", ["random", "all", "none"])
def test_counts_what_numpy_counts(shape, fill):
    rng = np.random.default_rng(sum(shape))
    mask = {"random": rng.random(shape) < 0.3, "all": np.ones(shape, bool),
            "none": np.zeros(shape, bool)}[fill]
    count = count_true(keras.ops.convert_to_tensor(mask), "int32")
    assert keras.backend.standardize_dtype(count.dtype) == "int32"
    assert int(keras.ops.convert_to_numpy(count)) == int(mask.sum())


def test_counts_inside_a_compiled_function():
    """As in a training step: JAX's jit, TensorFlow's tf.function; a block of 128 True
    flags is the 8-bit partial sum's largest value."""
    mask = np.ones((4, BLOCK), bool)
    mask[0, :5] = False
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        counted = jax.jit(lambda m: count_true(m, "int32"))
    elif backend == "tensorflow":
        import tensorflow as tf

        counted = tf.function(lambda m: count_true(m, "int64"))
    else:
        counted = lambda m: count_true(m, "int64")  # noqa: E731  (eager)
    assert int(keras.ops.convert_to_numpy(counted(keras.ops.convert_to_tensor(mask)))) == 507
