"""The conformance registry: every binary optimizer configuration both front ends' tests
run over, listed once.

An `Entry` names its rule (`rethink_bnn.core.rules`) and the constructor values it is
tested with; its class in each front end is the one that front end exports with that
`RULE` (or one given). The tf-keras suite runs over `tests.helpers.BINARY_OPTIMIZERS`,
made from `CONFORMANCE`; the Keras 3 one is tests/keras3/test_conformance.py. Both check
that each binary optimizer their package exports is listed here, so a new one is listed
once and tested the same way in both.

Plain Python (with `rethink_bnn.core`): the Keras 3 environment, which has no
TensorFlow, imports it; a class is imported only when a test asks for it.

Test-only hook: RETHINK_BNN_CONFORMANCE_PLUGINS names Python files (os.pathsep between
them), each imported at the end of this module, where it may `register` entries of its
own (a throwaway optimizer's, say). The variable reaches the subprocesses the tests start.
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from rethink_bnn.core import rules

__all__ = ["BAD_VALUES", "CONFORMANCE", "Entry", "FRONT_ENDS", "class_of",
           "exported_binary_optimizers", "one_per_class", "refusal", "register"]

FRONT_ENDS = {"tf_keras": "rethink_bnn.optimizers", "keras3": "rethink_bnn.keras3"}


def exported_binary_optimizers(front_end):
    """The binary optimizer classes `front_end`'s package exports (its base excluded)."""
    module = importlib.import_module(FRONT_ENDS[front_end])
    base = module.BinaryOptimizer
    return {obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, base) and obj is not base}


def class_of(rule, front_end):
    """The one class `front_end` exports with `RULE = rule`."""
    found = [c for c in exported_binary_optimizers(front_end) if vars(c).get("RULE") is rule]
    if len(found) != 1:
        raise LookupError(f"{FRONT_ENDS[front_end]} exports {len(found)} binary optimizers "
                          f"with RULE {rule!r} ({sorted(c.__name__ for c in found)}): give "
                          f"the class as Entry(..., classes={{{front_end!r}: ...}}).")
    return found[0]


class Entry:
    """One configuration of one binary optimizer.

    Args:
        rule: its `Rule` (`rethink_bnn.core.rules`).
        classes: {front end: a function returning the class}, for a class its front
            end does not export; by default each is `class_of(rule, front_end)`.
        reference: its rule written independently in numpy, `reference(weight,
            gradient, state, hyperparameters, **options) -> (new_state, flip)`; by
            default `tests.core.test_rules.REFERENCES[rule.name]`.
        **values: every hyperparameter (a float) and any option: the constructor
            values the tests use, which must flip weights in the first steps of the
            tests' problems (`tests.helpers.dense_bnn` on `toy_data`; gradients of
            either sign and of scale 0.01 to 1).
    """

    def __init__(self, rule, classes=None, reference=None, **values):
        names = [h.name for h in rule.hyperparameters]
        unknown = set(values) - set(names) - set(rule.options)
        missing = [n for n in names if n not in values]
        if unknown or missing:
            raise TypeError(f"an Entry of {rule.name} gives each of its hyperparameters "
                            f"{names} and options {list(rule.options)} only: unknown "
                            f"{sorted(unknown)}, missing {missing}.")
        self.rule, self.values = rule, dict(values)
        self._classes, self._reference = dict(classes or {}), reference

    def __repr__(self):
        return f"Entry({self.rule.name}, {self.values})"

    @property
    def hyperparameters(self):
        """{name: value} of the rule's hyperparameters, in declared order."""
        return {h.name: self.values[h.name] for h in self.rule.hyperparameters}

    @property
    def options(self):
        """{name: value} of every option of the rule (its default where not given)."""
        return {n: self.values.get(n, o.default) for n, o in self.rule.options.items()}

    def cls(self, front_end):
        """Its class in `front_end` ("tf_keras" or "keras3")."""
        if front_end in self._classes:
            return self._classes[front_end]()
        return class_of(self.rule, front_end)

    def make(self, front_end, **kwargs):
        """An optimizer of `front_end` with the entry's values; `kwargs` override them."""
        return self.cls(front_end)(**{**self.values, **kwargs})

    @property
    def reference(self):
        if self._reference is not None:
            return self._reference
        from tests.core.test_rules import REFERENCES

        return REFERENCES[self.rule.name]


# Each binary optimizer with values that flip weights of `dense_bnn` on `toy_data` in
# every step of the first epochs (about half of them in the first step, then tens per
# step at batch 32), and that train it: 29% training accuracy before, 59-70% in the
# third epoch with Adam on the rest (`tests.helpers.binary_adam`). Bop's τ is well below
# γ |g| here (|g| ~ 0.05 to 0.1); Bop2ndOrder's and CEMA's rules do not depend on the
# gradients' scale.
CONFORMANCE = {
    "bop": Entry(rules.BOP, threshold=1e-5, gamma=0.05),
    "bop2": Entry(rules.BOP2NDORDER, threshold=0.1, gamma=0.05, sigma=0.05),
    "bop2-unbiased": Entry(rules.BOP2NDORDER, threshold=0.5, gamma=0.05, sigma=0.05,
                           unbiased=True),
    "cema": Entry(rules.CEMA, gamma=0.1, alpha=0.05),
}


def register(key, entry):
    """Add `entry` under a new `key` (test-only: for a plugin, see the module)."""
    if key in CONFORMANCE:
        raise KeyError(f"the conformance registry has {key!r} already.")
    if not isinstance(entry, Entry):
        raise TypeError(f"register an Entry, got {entry!r}.")
    CONFORMANCE[key] = entry


def one_per_class(front_end):
    """{key: class}: the first entry of each class of `front_end`, for what depends on
    the class alone (its arguments, its errors)."""
    found = {}
    for key, entry in CONFORMANCE.items():
        cls = entry.cls(front_end)
        if cls not in found.values():
            found[key] = cls
    return found


# Values each kind of hyperparameter refuses, by name: (value, error). Both front ends
# refuse each where it enters, with the message `refusal` gives.
BAD_VALUES = {
    "rate": {"zero": (0.0, ValueError), "above-1": (1.5, ValueError),
             "negative": (-1e-3, ValueError), "nan": (float("nan"), ValueError),
             "inf": (float("inf"), ValueError), "subnormal": (1e-45, ValueError),
             "str": ("fast", TypeError), "callable": (lambda step: 0.1, TypeError)},
    "non-negative": {"negative": (-1e-8, ValueError), "nan": (float("nan"), ValueError),
                     "inf": (float("inf"), ValueError), "-inf": (-float("inf"), ValueError),
                     "str": ("fast", TypeError), "callable": (lambda step: 0.1, TypeError)},
}


def refusal(hyperparameter, value):
    """The start of the message (a regular expression) that refuses `value` for
    `hyperparameter` (a declaration), in either front end."""
    name = hyperparameter.name
    if callable(value):
        return rf"^{name} must be a float or a .*got the callable .*write it as a " \
               "LearningRateSchedule"
    if isinstance(value, str):
        return rf"^{name} must be a float or a"
    if hyperparameter.kind != "rate":
        return rf"^{name} must be a finite float >= 0"
    finite = value == value and abs(value) != float("inf")
    return rf"^{name} must be in \(0, 1\]" if finite else rf"^{name} must be finite and in \(0, 1\]"


def _load_plugins():
    for path in filter(None, os.environ.get("RETHINK_BNN_CONFORMANCE_PLUGINS", "").split(
            os.pathsep)):
        name = f"_conformance_plugin_{Path(path).stem}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


_load_plugins()
