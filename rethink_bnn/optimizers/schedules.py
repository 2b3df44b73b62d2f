"""A linear schedule that keeps small values exact when it ramps up."""

import tensorflow as tf

__all__ = ["Linear"]


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class Linear(tf.keras.optimizers.schedules.LearningRateSchedule):
    """From `start` at step 0 linearly to `end` at step `steps`, then `end`; up or down.

    Keras' PolynomialDecay computes (start − end)(1 − p) + end in float32, which is exact
    near the end of a decay but not at the start of a ramp up across orders of magnitude:
    a rate ramped from 1e-7 to 1e-2 would start at 9.97e-8. Here the small end is the
    base of the sum (start + (end − start) p going up, end + (start − end)(1 − p) going
    down), so both ends come out as given, in float32 (which any accelerator runs).
    """

    def __init__(self, start, end, steps, name=None):
        super().__init__()
        if not steps >= 1:
            raise ValueError(f"Linear needs steps >= 1, got {steps}.")
        self.start, self.end, self.steps, self.name = float(start), float(end), int(steps), name

    def __call__(self, step):
        with tf.name_scope(self.name or "Linear"):
            p = tf.minimum(tf.cast(step, tf.float32) / float(self.steps), 1.0)
            start, end = tf.constant(self.start, tf.float32), tf.constant(self.end, tf.float32)
            if self.end >= self.start:
                return start + (end - start) * p
            return end + (start - end) * (1.0 - p)

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps, "name": self.name}
