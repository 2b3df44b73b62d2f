"""TensorBoard scalars of many steps written at once, and variables read between steps:
what the per-step loggers of `rethink_bnn.callbacks` write and read with."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import tensorflow as tf
from tensorboard.plugins.scalar import metadata as scalar_metadata

__all__ = ["StepScalars", "read_now"]

# What tf.summary.scalar attaches, so TensorBoard shows raw writes as scalars.
_SCALAR = scalar_metadata.create_summary_metadata(
    display_name=None, description=None
).SerializeToString()


class StepScalars:
    """Per-step scalars buffered in memory and written in one graph call, outside the
    training steps (`add` per logged step, `flush` once per epoch)."""

    def __init__(self, writer, tags):
        self.writer, self.tags = writer, list(tags)
        self._pending = []

        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, len(tags)], tf.float64)
        ])
        def write(steps, table):
            with writer.as_default():
                for i in tf.range(tf.shape(steps)[0]):
                    for k, tag in enumerate(tags):
                        # tf.summary.scalar would prefix the loop's name scope to the tag
                        value = tf.cast(table[i, k], tf.float32)
                        tf.summary.write(tag, value, step=steps[i], metadata=_SCALAR)

        self._write = write

    @classmethod
    def reuse(cls, existing, writer, tags):
        """`existing` if it writes the same tags with the same writer (a model fit again:
        no second trace of the write function), else a new one."""
        if existing is not None and existing.writer is writer and existing.tags == list(tags):
            return existing
        return cls(writer, tags)

    def add(self, step, values):
        self._pending.append((step, values))

    def flush(self):
        if self._pending:
            steps, table = zip(*self._pending)
            self._write(tf.constant(steps, tf.int64), tf.constant(table, tf.float64))
            self._pending = []


def read_now(variables):
    """The variables' values as numpy arrays, read between steps.

    A plain variable is read by one ReadVariableOp, a quarter of the cost of
    `.numpy()` (which adds an identity and its bookkeeping): cheaper than calling a
    tf.function, too. A distributed variable is read by `.numpy()`, which aggregates
    a sync-on-read variable over the replicas.
    """
    return [v.numpy() if isinstance(v, tf.distribute.DistributedValues)
            else tf.raw_ops.ReadVariableOp(resource=v.handle, dtype=v.dtype).numpy()
            for v in variables]
