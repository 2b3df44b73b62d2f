"""A linear schedule that keeps small values exact when it ramps up."""

import tensorflow as tf

from rethink_bnn.core.schedules import LinearRamp

__all__ = ["Linear"]


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Linear(LinearRamp, tf.keras.optimizers.schedules.LearningRateSchedule):
    __doc__ = LinearRamp.__doc__

    def __call__(self, step):
        with tf.name_scope(self.name or "Linear"):
            p = tf.minimum(tf.cast(step, tf.float32) / float(self.steps), 1.0)
            start, end = tf.constant(self.start, tf.float32), tf.constant(self.end, tf.float32)
            if self.end >= self.start:
                return start + (end - start) * p
            return end + (start - end) * (1.0 - p)
