"""A linear schedule for Keras 3 that keeps small values exact when it ramps up, as the
tf-keras front end's `rethink_bnn.optimizers.schedules.Linear` (`core.schedules`)."""

import keras
from keras import ops

from rethink_bnn.core.schedules import LinearRamp

__all__ = ["Linear"]


@keras.saving.register_keras_serializable(package="rethink_bnn")
class Linear(LinearRamp, keras.optimizers.schedules.LearningRateSchedule):
    """A Keras 3 learning-rate schedule from `start` at step 0 linearly to `end` at step
    `steps`, then `end`, up or down, with both ends exact in float32 (Keras'
    PolynomialDecay starts a ramp from 1e-7 at 9.97e-8): `core.schedules.LinearRamp`.
    For any hyperparameter of our binary optimizers, or a learning rate.

    Up from 1e-7 to 1e-2 over 500 epochs of 1,000 steps, as the second-order Bop's
    CIFAR-10 recipe ramps σ (Suarez-Ramirez et al., 2021), both ends exact:

    >>> from rethink_bnn.keras3.schedules import Linear
    >>> sigma = Linear(1e-7, 1e-2, steps=500 * 1000)
    >>> f"{float(sigma(0)):.3g} {float(sigma(250_000)):.4g} {float(sigma(10**6)):.3g}"
    '1e-07 0.005 0.01'
    """

    def __call__(self, step):
        p = ops.minimum(ops.divide(ops.cast(step, "float32"), float(self.steps)), 1.0)
        start = ops.convert_to_tensor(self.start, "float32")
        end = ops.convert_to_tensor(self.end, "float32")
        if self.end >= self.start:
            return ops.add(start, ops.multiply(ops.subtract(end, start), p))
        return ops.add(end, ops.multiply(ops.subtract(start, end), ops.subtract(1.0, p)))
