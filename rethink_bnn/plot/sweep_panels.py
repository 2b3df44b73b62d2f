"""Which hyperparameters a sweep varied, read from its points' configurations, and how
the sweep figure names them: a binary optimizer's by their declared symbols (γ, τ, ...),
whichever optimizer it is."""

import sys
from collections import Counter

from rethink_bnn.core.rules import RULES

__all__ = ["label", "numbers", "sweep_panels"]

OPTIMIZER = "binary_optimizer."
# Shown in every title when all points have them: the paper's two.
ALWAYS = (OPTIMIZER + "gamma", OPTIMIZER + "threshold")


def symbol(name):
    """The declared symbol of a hyperparameter (γ for gamma), else its name: Bop's and
    its successors' (one symbol per name in all of them), or a binary optimizer class's
    of the tf-keras front end that is defined (a user's, which the sweep trained)."""
    for rule in RULES:
        for h in rule.hyperparameters:
            if h.name == name:
                return h.symbol
    binary = sys.modules.get("rethink_bnn.optimizers.binary")
    classes = list(binary.BinaryOptimizer.__subclasses__()) if binary else []
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        for h in cls.HYPERPARAMETERS:
            if h.name == name:
                return h.symbol
    return name


def numbers(config, prefix=""):
    """{dotted key: value} of the number fields of a nested configuration."""
    found = {}
    for key, value in config.items():
        if isinstance(value, dict):
            found.update(numbers(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[prefix + key] = value
    return found


def label(key):
    """How the figure names a key: binary_optimizer.gamma as γ, its schedule's end as
    "γ's end", learning_rate as Adam's rate, anything else as written."""
    if key.startswith(OPTIMIZER):
        name, _, rest = key[len(OPTIMIZER):].partition(".")
        if name.endswith("_schedule") and rest:
            return f"{symbol(name[:-len('_schedule')])}'s {rest}"
        return symbol(name) if not rest else key
    if key == "learning_rate":
        return "Adam's rate"
    return key


def sweep_panels(points):
    """(title, symbol, key, points) per swept key: those whose value differs between the
    points (each point's `values`: `numbers` of its config), each with the points that
    keep the others at their most common value. Without any, one panel of γ's values."""
    keys = sorted({k for p in points for k in p["values"]})
    common = [k for k in keys if all(k in p["values"] for p in points)]
    swept = [k for k in keys if len({p["values"].get(k) for p in points}) > 1
             and k.rpartition(".")[2] != "seed"]
    if not swept:  # one panel of γ (else of the first number) for the lone point
        swept = [ALWAYS[0]] if ALWAYS[0] in common else common[:1]
    shown = [k for k in keys if k in swept or (k in ALWAYS and k in common)]
    centre = {k: Counter(p["values"].get(k) for p in points).most_common(1)[0][0]
              for k in shown}
    panels = []
    for key in swept:
        members = [p for p in points
                   if all(p["values"].get(k) == centre[k] for k in swept if k != key)]
        # γ's panel runs from the largest value down, as in the paper's figure
        members.sort(key=lambda p: -p["values"][key] if key == ALWAYS[0] else p["values"][key])
        others = ", ".join(f"{label(k)} = {centre[k]:g}" for k in shown if k != key)
        title = f"{others}, {label(key)} varies" if others else f"{label(key)} varies"
        panels.append((title, label(key), key, members))
    return [panel for panel in panels if len(panel[3]) > 1] or panels[:1]
