"""A linear schedule for Keras 3 that keeps small values exact when it ramps up, as the
tf-keras front end's `rethink_bnn.optimizers.schedules.Linear` (`core.schedules`)."""

import keras
from keras import ops

from rethink_bnn.core.schedules import LinearRamp

__all__ = ["Linear"]


@keras.saving.register_keras_serializable(package="rethink_bnn")
class Linear(LinearRamp, keras.optimizers.schedules.LearningRateSchedule):
    """`rethink_bnn.optimizers.schedules.Linear` for Keras 3, in `keras.ops` (the same
    arithmetic, `core.schedules.LinearRamp`): from `start` at step 0 linearly to `end` at
    step `steps`, then `end`, both ends exact in float32. E.g. Adam's rate down over a
    150-epoch ImageNet run of 1,251 steps an epoch, as sec 5.3 decays it:

    Examples:
        >>> from rethink_bnn.keras3.schedules import Linear
        >>> rate = Linear(2.5e-3, 5e-6, steps=150 * 1251)
        >>> [f"{float(rate(step)):.3g}" for step in (0, 150 * 1251, 10**7)]
        ['0.0025', '5e-06', '5e-06']
    """

    def __call__(self, step):
        p = ops.minimum(ops.divide(ops.cast(step, "float32"), float(self.steps)), 1.0)
        start = ops.convert_to_tensor(self.start, "float32")
        end = ops.convert_to_tensor(self.end, "float32")
        if self.end >= self.start:
            return ops.add(start, ops.multiply(ops.subtract(end, start), p))
        return ops.add(end, ops.multiply(ops.subtract(start, end), ops.subtract(1.0, p)))
