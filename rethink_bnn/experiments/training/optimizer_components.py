"""The binary optimizers as zookeeper components, made from their declarations.

Every rule of `rethink_bnn.core.rules` is a component of the same name, which a task's
`binary_optimizer` field takes (`binary_optimizer=NAME`). Its fields come from the
rule's declarations: each hyperparameter NAME (default: the declared one) with its
schedule NAME_schedule (default Constant; see `training/schedules.py`), and each option.
A component makes the optimizer of the task's front end: `rethink_bnn.optimizers.NAME`
(tf-keras) or `rethink_bnn.keras3.NAME`. A user's own optimizer class is a component
too (`component_for(MyOptimizer)`), for its own front end. Plain Python: nothing here loads TensorFlow or Keras.
"""

import functools
import importlib

from zookeeper import ComponentField, Field, component

from rethink_bnn.core.declarations import Rule
from rethink_bnn.core.rules import RULES
from rethink_bnn.experiments.training.checks import ConfigError
from rethink_bnn.experiments.training.schedules import Constant, Schedule, scheduled

__all__ = ["BinaryOptimizerComponent", "binary_optimizer_components", "component_for",
           "front_end_module"]

# Where each front end's optimizers live (a rule's class there has the rule's name).
FRONT_END_MODULES = {"tf_keras": "rethink_bnn.optimizers", "keras3": "rethink_bnn.keras3"}


def front_end_module(front_end):
    """The module of `front_end`'s optimizers, imported now."""
    return importlib.import_module(FRONT_END_MODULES[front_end])


class _TfKerasClass:
    """`optimizer_class`: the tf-keras class of the rule (a user's own class: that
    class), looked up when read, on the component or an instance, so that making the
    components loads no TensorFlow (the Keras 3 front end runs without it)."""

    def __get__(self, instance, owner):
        if owner.own_class is not None:
            return owner.own_class
        return getattr(front_end_module("tf_keras"), owner.rule.name)


class BinaryOptimizerComponent:
    """The base of the generated components: `rule` (a core Rule, for both front ends)
    or `own_class` (a user's optimizer class, for its front end only)."""

    rule = None
    own_class = None
    hyperparameter_declarations = ()
    option_declarations = {}
    field_help = {}
    optimizer_class = _TfKerasClass()

    def optimizer_class_for(self, front_end):
        """The class this component makes on `front_end`; ConfigError if it has none."""
        if self.own_class is None:
            return getattr(front_end_module(front_end), self.rule.name)
        base = front_end_module(front_end).BinaryOptimizer
        if not issubclass(self.own_class, base):
            raise ConfigError(f"binary_optimizer={self.own_class.__name__} is not an "
                              f"optimizer of front_end={front_end} (not a subclass of "
                              f"{base.__module__}.{base.__name__}): choose the other "
                              "front_end or another binary_optimizer.")
        return self.own_class

    def make(self, steps_per_epoch, epochs, front_end="tf_keras"):
        """The optimizer, each hyperparameter its start value under its schedule."""
        cls = self.optimizer_class_for(front_end)
        values = {h.name: scheduled(getattr(self, f"{h.name}_schedule"), getattr(self, h.name),
                                    steps_per_epoch, epochs, front_end)
                  for h in self.hyperparameter_declarations}
        return cls(**values, **{name: getattr(self, name) for name in self.option_declarations})

    def validate(self, epochs, key="binary_optimizer"):
        """ConfigError naming the key for a start value or a schedule that cannot work."""
        for h in self.hyperparameter_declarations:
            check = functools.partial(self._check, h)
            try:
                check(getattr(self, h.name))
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{key}.{error}") from None
            getattr(self, f"{h.name}_schedule").check(
                f"{key}.{h.name}_schedule", check, getattr(self, h.name), epochs)

    def _check(self, declaration, value):
        if self.own_class is not None:  # a user's class may check more than its ranges
            return self.own_class.check_hyperparameter(declaration.name, value)
        return declaration.checked(value)

    @property
    def hyperparameters(self):
        """{name: start value} of the optimizer's hyperparameters."""
        return {h.name: getattr(self, h.name) for h in self.hyperparameter_declarations}


@functools.lru_cache(maxsize=None)
def _component(source):
    rule = source if isinstance(source, Rule) else None
    name = rule.name if rule else source.__name__
    declared = rule.hyperparameters if rule else source.HYPERPARAMETERS
    options = rule.options if rule else source.OPTIONS
    annotations, namespace, help_ = {}, {}, {}
    for h in declared:
        annotations[h.name] = float
        namespace[h.name] = Field() if h.default is None else Field(h.default)
        annotations[f"{h.name}_schedule"] = Schedule
        namespace[f"{h.name}_schedule"] = ComponentField(Constant)
        help_[h.name] = f"{name}'s {h.symbol}, {h.valid_range}: {h.about}"
        help_[f"{h.name}_schedule"] = (f"how {h.symbol} moves over the run: Constant, Linear "
                                       "(.end) or StepDecay (.factor, .every_epochs)")
    for option, declaration in options.items():
        annotations[option] = type(declaration.default)
        namespace[option] = Field(declaration.default)
        help_[option] = f"{name}'s {declaration.about}"
    namespace.update(__annotations__=annotations, rule=rule,
                     own_class=None if rule else source,
                     hyperparameter_declarations=tuple(declared),
                     option_declarations=dict(options), field_help=help_,
                     __module__=__name__, __qualname__=name,
                     __doc__=f"{name} (rethink_bnn.optimizers.{name}, rethink_bnn.keras3."
                             f"{name}) as a task's binary_optimizer.")
    return component(type(name, (BinaryOptimizerComponent,), namespace))


def component_for(source):
    """The component (one per rule or class) of a core `Rule`, or of a binary optimizer
    class: our own classes (`rethink_bnn.optimizers.Bop`, `rethink_bnn.keras3.Bop`)
    give their rule's component, which serves both front ends."""
    if isinstance(source, Rule):
        return _component(source)
    if not (isinstance(source, type) and hasattr(source, "HYPERPARAMETERS")
            and hasattr(source, "OPTIONS")):
        raise TypeError(f"component_for takes a Rule or a BinaryOptimizer subclass, got "
                        f"{source!r}.")
    rule = getattr(source, "RULE", None)
    if rule in RULES and source.__name__ == rule.name and source.__module__.startswith(
            ("rethink_bnn.optimizers.", "rethink_bnn.keras3.")):
        return _component(rule)
    return _component(source)


def binary_optimizer_components():
    """{name: component} of every rule both front ends build (`core.rules.RULES`)."""
    return {rule.name: component_for(rule) for rule in RULES}
