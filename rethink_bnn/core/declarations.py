"""What a binary optimizer declares, for both front ends: the tf-keras optimizers
(`rethink_bnn.optimizers`) and the Keras 3 ones (`rethink_bnn.keras3`).

A hyperparameter's name, valid range, default, neutral value and meaning; an option's
default and meaning; and a `Rule`: the whole declaration of an optimizer with its
update function (Bop's and its successors' are in `rethink_bnn.core.rules`), which both
front ends build their classes from. Plain Python: importing this module loads neither
TensorFlow nor Keras.
"""

import inspect
import math
import numbers

__all__ = ["SMALLEST_RATE", "Hyperparameter", "Option", "Rule", "checked_option", "declare",
           "describe_invalid", "non_negative", "option", "rate", "valid_at_run_time"]

# float32's smallest normal: TensorFlow flushes float32 subnormals to zero on CPU, so a
# smaller rate is 0 at run time.
SMALLEST_RATE = 1.1754943508222875e-38


class Hyperparameter:
    """One hyperparameter an optimizer declares: its name, its valid range (a `RATE` in
    (0, 1], or `NON_NEGATIVE`: a finite float >= 0), what it is (for the messages), its
    default and its neutral value: the value for which the optimizer's rule changes no
    state and flips nothing (a step with an invalid hyperparameter gets every neutral
    value). The range rule is written once, here, for every optimizer that declares one."""

    RATE, NON_NEGATIVE = "rate", "non-negative"

    def __init__(self, name, kind, about, default=None, neutral=None, symbol=None):
        if kind not in (self.RATE, self.NON_NEGATIVE):
            raise ValueError(f"a hyperparameter's kind is {self.RATE!r} or "
                             f"{self.NON_NEGATIVE!r}, got {kind!r}.")
        if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
            raise ValueError(f"a hyperparameter's name is a Python identifier without a "
                             f"leading underscore, got {name!r}.")
        self.name, self.kind, self.about = name, kind, about
        self.symbol = symbol or name  # for figures and help: γ for gamma
        self.neutral = float(neutral if neutral is not None else
                             (0.0 if kind == self.RATE else math.inf))
        self.default = None if default is None else self.checked(default)

    def __repr__(self):
        return f"Hyperparameter({self.name!r}, {self.kind!r})"

    @property
    def valid_range(self):
        """The range in words, for the run-time messages."""
        return "in (0, 1]" if self.kind == self.RATE else "a finite float >= 0"

    def problem(self, number):
        """'' if the float `number` is valid, else why not, in words."""
        if self.kind == self.RATE:
            if not math.isfinite(number):
                return f"must be finite and in (0, 1], got {number!r}"
            if not SMALLEST_RATE <= number <= 1.0:
                return (f"must be in (0, 1] (and not below float32's smallest normal, "
                        f"1.2e-38), got {number!r}")
            return ""
        if not (math.isfinite(number) and number >= 0.0):
            return f"must be a finite float >= 0, got {number!r}"
        return ""

    def checked(self, number):
        """`number` (a real number: a float, an int, a numpy scalar) as a float if it is
        in range; ValueError (out of range) or TypeError (not a real number) otherwise."""
        if isinstance(number, (bool, str)) or not isinstance(number, numbers.Real):
            raise TypeError(f"{self.name} must be a float or a schedule, got "
                            f"{type(number).__name__} {number!r}.")
        problem = self.problem(float(number))
        if problem:
            raise ValueError(f"{self.name} {problem}: {self.about}.")
        return float(number)

    def describe(self):
        """One line for an optimizer's documentation: symbol, range, default, meaning."""
        default = "required" if self.default is None else f"default {self.default:g}"
        kind = self.valid_range if self.valid_range.startswith("a ") else (
            f"a float {self.valid_range}")
        return (f"{self.name} ({self.symbol}): {kind} or a schedule of the step, {default}; "
                f"{self.about}.")


def rate(name, about, default=None, neutral=0.0, symbol=None):
    """A hyperparameter valid in (0, 1], e.g. an adaptivity rate; neutral: 0 (an average
    with rate 0 does not move)."""
    return Hyperparameter(name, Hyperparameter.RATE, about, default, neutral, symbol)


def non_negative(name, about, default=None, neutral=math.inf, symbol=None):
    """A hyperparameter valid as a finite float >= 0, e.g. a threshold; neutral: ∞ (no
    average reaches an infinite threshold)."""
    return Hyperparameter(name, Hyperparameter.NON_NEGATIVE, about, default, neutral, symbol)


class Option:
    """An argument of an optimizer that is not a hyperparameter (a bool, a flag of the
    rule): its default and what it does."""

    def __init__(self, default, about):
        self.default, self.about = default, about

    def __repr__(self):
        return f"option({self.default!r}, {self.about!r})"


def option(default, about):
    """An optimizer's option, for `OPTIONS = {"name": option(default, about)}`."""
    return Option(default, about)


def checked_option(owner, name, declared_option, value):
    """`value` as the option's type (that of its default): a bool option takes True or
    False only (bool("no") would be True), another a value its type converts."""
    default = declared_option.default
    if isinstance(default, bool):
        numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in (
            "bool_", "bool")  # numpy 1 and numpy 2 name it differently
        if not isinstance(value, bool) and not numpy_bool:
            raise TypeError(f"{owner}'s {name} is True or False, got {value!r}.")
        return bool(value)
    return type(default)(value) if default is not None else value


def declare(owner, hyperparameters):
    """`owner`'s (an optimizer class's name) hyperparameters as a tuple, each checked to
    be a declaration. Each optimizer's names are its own: another may declare the same
    name with another range."""
    hyperparameters = tuple(hyperparameters)
    for h in hyperparameters:
        if not isinstance(h, Hyperparameter):
            raise TypeError(f"{owner} declares {h!r}: declare hyperparameters with "
                            "rethink_bnn.declarations.rate(...) or non_negative(...).")
    names = [h.name for h in hyperparameters]
    if len(set(names)) != len(names):
        raise TypeError(f"{owner} declares a hyperparameter twice: {names}.")
    return hyperparameters


def valid_at_run_time(ops, hyperparameters, values):
    """Scalar bool tensor: whether every value ({name: scalar tensor}, float32 or wider)
    is in its declared range: the constructor's rule (`Hyperparameter.problem`) as
    comparisons that run in a compiled step, on any backend (`ops`: `keras.ops` or the
    tf-keras front end's namespace). Each comparison is False for NaN."""
    checks = []
    for h in hyperparameters:
        value = values[h.name]
        if h.kind == Hyperparameter.RATE:
            checks.append(ops.logical_and(ops.greater_equal(value, SMALLEST_RATE),
                                          ops.less_equal(value, 1.0)))
        else:
            checks.append(ops.logical_and(ops.greater_equal(value, 0.0),
                                          ops.less(value, math.inf)))
    return ops.all(ops.stack(checks))


def describe_invalid(hyperparameters, values):
    """'gamma = nan (must be in (0, 1])', and the same for each other value ({name:
    float}) out of its declared range; '' if all are valid."""
    return ", ".join(f"{h.name} = {values[h.name]:g} (must be {h.valid_range})"
                     for h in hyperparameters
                     if h.name in values and h.problem(float(values[h.name])))


class Rule:
    """Everything an optimizer declares, which each front end builds a class from: its
    name, its hyperparameters (the first plays Keras' learning rate's part), its state
    slots (one float per weight each), its options, the paper it comes from, and its
    `update`: the rule as one function of the step, which both front ends call.

    `update(ops, weight, gradient, state, hyperparameters, **options)` takes tensors of
    one float dtype (float32 or wider; `state` and `hyperparameters` dicts by declared
    name), computes with `ops` only (`keras.ops`, or the tf-keras front end's namespace
    of the same names), and returns `(new_state, flip)`: the new value of each state
    slot by name, and a bool tensor, True where the ±1 weight flips. The neutral values
    of the hyperparameters must make it change no state and flip nothing."""

    def __init__(self, name, hyperparameters, state, options=None, reference="",
                 update=None):
        self.name = name
        self.hyperparameters = declare(name, hyperparameters)
        self.state, self.options = tuple(state), dict(options or {})
        self.reference = reference
        self.update = update

    def __repr__(self):
        return f"Rule({self.name!r})"

    def documented(self, doc, other_front_end, kwargs):
        """`doc` (a class's docstring) with its Args, from the declarations, and the
        paper: one source for both front ends' classes of this rule. `doc` is dedented
        first, so that its own sections (its Examples) line up with those added. The
        section is titled `Args:` alone, which Google-style parsers (the API reference's)
        read as the parameters; where they are declared goes in a sentence before it."""
        return inspect.cleandoc(doc or "") + (
            f"\n\nIts arguments are declared in `rethink_bnn.core.rules`, shared with the "
            f"{other_front_end} {self.name}.\n\nArgs:\n{self.describe_arguments()}\n"
            f"    name: the optimizer's name.\n    **kwargs: {kwargs}\n\n"
            f"Reference:\n    {self.reference}\n")

    def describe_arguments(self):
        """The Args section of a class built from this rule, from the declarations."""
        lines = [h.describe() for h in self.hyperparameters]
        lines += [f"{name}: default {o.default!r}; {o.about}." for name, o in
                  self.options.items()]
        return "\n".join(f"    {line}" for line in lines)
