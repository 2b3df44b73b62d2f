"""A linear schedule that keeps small values exact when it ramps up."""

import tensorflow as tf

from rethink_bnn.core.schedules import LinearRamp

__all__ = ["Linear"]


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Linear(LinearRamp, tf.keras.optimizers.schedules.LearningRateSchedule):
    """A tf-keras learning-rate schedule from `start` at step 0 linearly to `end` at step
    `steps`, then `end`, up or down, with both ends exact in float32 (Keras'
    PolynomialDecay starts a ramp from 1e-7 at 9.97e-8): `core.schedules.LinearRamp`.
    For any hyperparameter of our binary optimizers, or a learning rate.

    Up from 1e-7 to 1e-2 over 500 epochs of 1,000 steps, as the second-order Bop's
    CIFAR-10 recipe ramps σ (Suarez-Ramirez et al., 2021), both ends exact:

    Examples:
        >>> from rethink_bnn.optimizers.schedules import Linear
        >>> sigma = Linear(1e-7, 1e-2, steps=500 * 1000)
        >>> f"{float(sigma(0)):.3g} {float(sigma(250_000)):.4g} {float(sigma(10**6)):.3g}"
        '1e-07 0.005 0.01'
    """

    def __call__(self, step):
        with tf.name_scope(self.name or "Linear"):
            p = tf.minimum(tf.cast(step, tf.float32) / float(self.steps), 1.0)
            start, end = tf.constant(self.start, tf.float32), tf.constant(self.end, tf.float32)
            if self.end >= self.start:
                return start + (end - start) * p
            return end + (start - end) * (1.0 - p)
