"""How a rate moves over a run: the zookeeper components that a task's
`learning_rate_schedule` and each binary-optimizer hyperparameter's `NAME_schedule` take
(`binary_optimizer.gamma_schedule=Linear binary_optimizer.gamma_schedule.end=1e-6`).

A schedule turns the field's start value into what the optimizer of the task's front end
takes: the float itself, or a `LearningRateSchedule` of the step (tf-keras' or Keras 3's,
imported only then).
"""

from zookeeper import Field, component

from rethink_bnn.experiments.training.checks import ConfigError, require
from rethink_bnn.experiments.config.zookeeper_internals import component_without_fields

__all__ = ["SCHEDULES", "Constant", "Linear", "Schedule", "StepDecay", "scheduled"]


def scheduled(schedule, start, steps_per_epoch, epochs, front_end):
    """`schedule`'s value for `front_end`: a schedule written before the front ends takes
    three arguments, and serves tf-keras (the front end it was written for)."""
    if front_end == "tf_keras":
        return schedule(start, steps_per_epoch, epochs)
    return schedule(start, steps_per_epoch, epochs, front_end)


class Schedule:
    """The base of the schedule components."""

    def __call__(self, start, steps_per_epoch, epochs, front_end="tf_keras"):
        """A float or a LearningRateSchedule of the step (of `front_end`'s Keras), from
        `start`."""
        raise NotImplementedError

    def check(self, key, check, start, epochs):
        """ConfigError naming `key` (the schedule's field) for a value it would reach
        from `start` over `epochs` epochs that cannot work; `check(value)` checks a
        value of the hyperparameter it schedules."""


@component_without_fields
class Constant(Schedule):
    """The start value for the whole run."""

    def __call__(self, start, steps_per_epoch, epochs, front_end="tf_keras"):
        return start


@component
class Linear(Schedule):
    """From the start value at the first step linearly towards `end`, reached just after
    the last step, up or down (the ImageNet runs, the successors' published recipes)."""

    end: float = Field()

    def __call__(self, start, steps_per_epoch, epochs, front_end="tf_keras"):
        if self.end == start:
            return start
        if front_end == "keras3":
            from rethink_bnn.keras3.schedules import Linear as LinearSchedule
        else:
            from rethink_bnn.optimizers.schedules import Linear as LinearSchedule
        return LinearSchedule(start, self.end, epochs * steps_per_epoch)

    def check(self, key, check, start, epochs):
        # A ramp may end at 0 (a rate decayed to nothing): the last step uses start / steps, the end value
        # is the one after the run.
        if self.end != 0:
            _checked(f"{key}.end", check, self.end)


@component
class StepDecay(Schedule):
    """The start value multiplied by `factor` every `every_epochs` epochs (sec 5.2: γ
    by 0.1 every 100 epochs)."""

    factor: float = Field(0.1)
    every_epochs: int = Field(100)

    def __call__(self, start, steps_per_epoch, epochs, front_end="tf_keras"):
        if front_end == "keras3":
            import keras
        else:
            import tensorflow as tf

            keras = tf.keras
        return keras.optimizers.schedules.ExponentialDecay(
            start, self.every_epochs * steps_per_epoch, self.factor, staircase=True)

    def check(self, key, check, start, epochs):
        require(self.every_epochs >= 1, f"{key}.every_epochs must be >= 1, got "
                f"{self.every_epochs}.")
        require(0 < self.factor <= 1, f"{key}.factor must be in (0, 1], got {self.factor}.")
        decays = (epochs - 1) // self.every_epochs  # in the last epoch
        last = start * self.factor ** decays
        try:
            check(last)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{key} takes the value to {last:.3g} in the last epoch "
                              f"({decays} decays by {self.factor:g}), and "
                              f"{str(error).rstrip('.')}; use a larger factor or "
                              "every_epochs.") from None


def _checked(key, check, value):
    try:
        check(value)
    except (TypeError, ValueError) as error:
        name = str(error).split(" ", 1)
        raise ConfigError(f"{key} {name[1] if len(name) > 1 else error}") from None


# The schedules by class name, for the fields that take one (`*_schedule`).
SCHEDULES = {cls.__name__: cls for cls in (Constant, Linear, StepDecay)}
