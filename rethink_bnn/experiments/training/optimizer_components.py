"""The binary optimizers as zookeeper components, made from their declarations.

Every `BinaryOptimizer` that `rethink_bnn.optimizers` exports is a component of the same
name, which a task's `binary_optimizer` field takes (`binary_optimizer=NAME`). Its fields
come from the optimizer's declarations: each hyperparameter NAME (default: the declared
one) with its schedule NAME_schedule (default Constant; see `training/schedules.py`), and
each option. Nothing here names an optimizer: a new one is a component once exported.
"""

import functools

from zookeeper import ComponentField, Field, component

from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.experiments.training.checks import ConfigError
from rethink_bnn.experiments.training.schedules import Constant, Schedule

__all__ = ["BinaryOptimizerComponent", "binary_optimizer_components", "component_for"]


class BinaryOptimizerComponent:
    """The base of the generated components; `optimizer_class` is the optimizer."""

    optimizer_class = BinaryOptimizer
    field_help = {}

    def make(self, steps_per_epoch, epochs):
        """The optimizer, each hyperparameter its start value under its schedule."""
        cls = self.optimizer_class
        values = {h.name: getattr(self, f"{h.name}_schedule")(
            getattr(self, h.name), steps_per_epoch, epochs) for h in cls.HYPERPARAMETERS}
        return cls(**values, **{name: getattr(self, name) for name in cls.OPTIONS})

    def validate(self, epochs, key="binary_optimizer"):
        """ConfigError naming the key for a start value or a schedule that cannot work."""
        cls = self.optimizer_class
        for h in cls.HYPERPARAMETERS:
            try:
                cls.check_hyperparameter(h.name, getattr(self, h.name))
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{key}.{error}") from None
            getattr(self, f"{h.name}_schedule").check(
                f"{key}.{h.name}_schedule", functools.partial(cls.check_hyperparameter, h.name),
                getattr(self, h.name), epochs)

    @property
    def hyperparameters(self):
        """{name: start value} of the optimizer's hyperparameters."""
        return {h.name: getattr(self, h.name) for h in self.optimizer_class.HYPERPARAMETERS}


@functools.lru_cache(maxsize=None)
def component_for(optimizer_class):
    """The component of `optimizer_class` (one per class)."""
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, BinaryOptimizer)):
        raise TypeError(f"component_for takes a BinaryOptimizer subclass, got {optimizer_class!r}.")
    name = optimizer_class.__name__
    annotations, namespace, help_ = {}, {}, {}
    for h in optimizer_class.HYPERPARAMETERS:
        annotations[h.name] = float
        namespace[h.name] = Field() if h.default is None else Field(h.default)
        annotations[f"{h.name}_schedule"] = Schedule
        namespace[f"{h.name}_schedule"] = ComponentField(Constant)
        help_[h.name] = f"{name}'s {h.symbol}, {h.valid_range}: {h.about}"
        help_[f"{h.name}_schedule"] = (f"how {h.symbol} moves over the run: Constant, Linear "
                                       "(.end) or StepDecay (.factor, .every_epochs)")
    for option, declared in optimizer_class.OPTIONS.items():
        annotations[option], namespace[option] = type(declared.default), Field(declared.default)
        help_[option] = f"{name}'s {declared.about}"
    namespace.update(__annotations__=annotations, optimizer_class=optimizer_class,
                     field_help=help_, __module__=__name__, __qualname__=name,
                     __doc__=f"{name} (rethink_bnn.optimizers.{name}) as a task's "
                             "binary_optimizer.")
    return component(type(name, (BinaryOptimizerComponent,), namespace))


def binary_optimizer_components():
    """{name: component} of every binary optimizer `rethink_bnn.optimizers` exports."""
    from rethink_bnn import optimizers

    return {name: component_for(obj) for name, obj in vars(optimizers).items()
            if isinstance(obj, type) and issubclass(obj, BinaryOptimizer)
            and obj is not BinaryOptimizer}
