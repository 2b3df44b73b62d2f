"""What a binary optimizer declares, for both front ends: the tf-keras optimizers
(`rethink_bnn.optimizers`) and the Keras 3 ones (`rethink_bnn.keras3`).

A hyperparameter's name, valid range, default, neutral value and meaning; an option's
default and meaning; and, for Bop and its successors, the whole declaration of each
(`BOP`, `BOP2NDORDER`, `CEMA`), which both front ends build their classes from. Plain
Python: importing this module loads neither TensorFlow nor Keras.
"""

import math
import numbers

__all__ = ["BOP", "BOP2NDORDER", "CEMA", "Hyperparameter", "Option", "Rule",
           "checked_option", "declare", "declared", "non_negative", "option", "rate",
           "symbol"]

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
        return (f"{self.name} ({self.symbol}): a float {self.valid_range} or a schedule of "
                f"the step, {default}; {self.about}.")


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


# Every hyperparameter some optimizer declared (`declare`), by name: what the functions
# that take a bare name check against. A name no optimizer declares is an error.
_DECLARED = {}


def declare(owner, hyperparameters):
    """Record `owner`'s (an optimizer class's name) hyperparameters; two optimizers may
    share a name only with the same range. Returns them as a tuple."""
    hyperparameters = tuple(hyperparameters)
    for h in hyperparameters:
        if not isinstance(h, Hyperparameter):
            raise TypeError(f"{owner} declares {h!r}: declare hyperparameters with "
                            "rethink_bnn.declarations.rate(...) or non_negative(...).")
        known = _DECLARED.setdefault(h.name, h)
        if known.kind != h.kind:
            raise TypeError(f"{owner} declares {h.name} as {h.kind}, but it is declared "
                            f"{known.kind} already: give it another name.")
    return hyperparameters


def declared(name):
    """The declaration of hyperparameter `name`; ValueError for a name that no binary
    optimizer declares."""
    if not isinstance(name, str) or name not in _DECLARED:
        raise ValueError(f"unknown hyperparameter {name!r}: the binary optimizers declare "
                         f"{', '.join(sorted(_DECLARED))}.")
    return _DECLARED[name]


def symbol(name):
    """The symbol of hyperparameter `name` as declared (γ for gamma), else `name`."""
    return _DECLARED[name].symbol if name in _DECLARED else name


class Rule:
    """Everything an optimizer declares, which each front end builds a class from: its
    name, its hyperparameters (the first plays Keras' learning rate's part), its state
    slots (one float per weight each), its options and the paper it comes from."""

    def __init__(self, name, hyperparameters, state, options=None, reference=""):
        self.name = name
        self.hyperparameters = declare(name, hyperparameters)
        self.state, self.options = tuple(state), dict(options or {})
        self.reference = reference

    def __repr__(self):
        return f"Rule({self.name!r})"

    def describe_arguments(self):
        """The Args section of a class built from this rule, from the declarations."""
        lines = [h.describe() for h in self.hyperparameters]
        lines += [f"{name}: default {o.default!r}; {o.about}." for name, o in
                  self.options.items()]
        return "\n".join(f"    {line}" for line in lines)


BOP = Rule(
    "Bop",
    (rate("gamma", "it is the adaptivity rate of the moving average of the gradient "
                   "(Bop's paper uses 1e-4 to 1e-2)", default=1e-4, neutral=0.0, symbol="γ"),
     non_negative("threshold", "the paper uses 1e-8 to 1e-5; 0 flips on any consistent "
                               "gradient", default=1e-8, neutral=math.inf, symbol="τ")),
    state=("m",),
    reference="Helwegen, Widdicombe, Geiger, Liu, Cheng, Nusselder. \"Latent Weights Do Not "
              "Exist: Rethinking Binarized Neural Network Optimization\", NeurIPS 2019. "
              "https://arxiv.org/abs/1906.02107",
)

BOP2NDORDER = Rule(
    "Bop2ndOrder",
    (rate("gamma", "it is the adaptivity rate of the moving average of the gradient "
                   "(Bop2ndOrder's paper uses 1e-7 to 1e-2)", default=1e-6, neutral=0.0,
          symbol="γ"),
     non_negative("threshold", "it is the flip threshold on m / sqrt(v), a signal-to-noise "
                               "ratio; 0 flips on any consistent gradient", default=1e-6,
                  neutral=math.inf, symbol="τ"),
     rate("sigma", "it is the adaptivity rate of the moving average of the squared "
                   "gradient (Bop2ndOrder's paper uses 1e-7 to 1e-2)", default=1e-2,
          neutral=0.0, symbol="σ")),
    state=("m", "v"),
    options={"unbiased": option(False, "the unbiased form: m/γ and v/σ (this step's) "
                                       "before comparing")},
    reference="Suarez-Ramirez, Gonzalez-Mendoza, Chang-Fernandez. \"Bop and Beyond: A "
              "Second Order Optimizer for Binarized Neural Networks\", CVPR Workshops 2021. "
              "https://arxiv.org/abs/2104.05124",
)
BOP2NDORDER_EPSILON = 1e-10  # the authors' constant in the denominator

CEMA = Rule(
    "CEMA",
    (rate("alpha", "it is the rate of CEMA's inertia (its paper uses 1e-5 to 1e-2)",
          default=1e-3, neutral=0.0, symbol="α"),
     rate("gamma", "it is the adaptivity rate of CEMA's moving average of the gradient",
          default=1e-1, neutral=0.0, symbol="γ")),
    state=("a", "i"),
    reference="Quist, Li, van Gemert. \"Understanding weight-magnitude hyperparameters in "
              "training binary networks\", ICLR 2023. https://arxiv.org/abs/2303.02452",
)
