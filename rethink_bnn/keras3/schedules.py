"""A linear schedule for Keras 3 that keeps small values exact when it ramps up, as the
tf-keras front end's `rethink_bnn.optimizers.schedules.Linear` (`core.schedules`)."""

import keras
from keras import ops

from rethink_bnn.core.schedules import LinearRamp

__all__ = ["Linear"]


@keras.saving.register_keras_serializable(package="rethink_bnn")
class Linear(LinearRamp, keras.optimizers.schedules.LearningRateSchedule):
    __doc__ = LinearRamp.__doc__

    def __call__(self, step):
        p = ops.minimum(ops.divide(ops.cast(step, "float32"), float(self.steps)), 1.0)
        start = ops.convert_to_tensor(self.start, "float32")
        end = ops.convert_to_tensor(self.end, "float32")
        if self.end >= self.start:
            return ops.add(start, ops.multiply(ops.subtract(end, start), p))
        return ops.add(end, ops.multiply(ops.subtract(start, end), ops.subtract(1.0, p)))
