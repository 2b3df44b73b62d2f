"""Sec 5.1 of the paper: how γ and τ shape training. One point of the study, and the
sweep that trains every point of a grid into its own run folder: the paper's γ/τ grids,
or any hyperparameters of any task varied one at a time (`vary`)."""

import copy
import json
import os
import sys
import typing

from zookeeper import ComponentField, Field, configure

from rethink_bnn.experiments.config.zookeeper_internals import (
    base_getattr,
    convert_to_snake_case,
    is_component_instance,
)
from rethink_bnn.experiments.tasks.registry import OnCifar10, experiment, has_binary_optimizer
from rethink_bnn.experiments.tasks.sweep_processes import check_sweep_folder, raise_for, run_all
from rethink_bnn.experiments.runs.files import write_text_atomically
from rethink_bnn.core.rules import BOP
from rethink_bnn.experiments.runs.folder import RunFolder, write_json_atomically
from rethink_bnn.experiments.training.bases import BinaryOptimizerTraining
from rethink_bnn.experiments.training.optimizer_components import BinaryOptimizerComponent, component_for
from rethink_bnn.experiments.training.checks import without_devices
from rethink_bnn.experiments.training.task import ConfigError, TrainingTask, fields_of

__all__ = ["GRIDS", "BopSweep", "Cifar10BopStudy", "number_fields", "parse_axes",
           "sweep_points"]


@experiment
class Cifar10BopStudy(OnCifar10, BinaryOptimizerTraining):
    """One point of the sec 5.1 study: BinaryNet on CIFAR-10, batch 100, constant γ and τ
    (default: the authors' centre point γ = 1e-3, τ = 1e-6), Adam 1e-2."""

    batch_size: int = Field(100)
    epochs: int = Field(100)
    binary_optimizer: BinaryOptimizerComponent = ComponentField(
        component_for(BOP), threshold=1e-6, gamma=1e-3)


# Sec 5.1 grids: (γ, τ, Adam learning rate). One axis varies γ at a fixed τ, the other
# τ at a fixed γ; the shared centre point appears once.
GRIDS = {
    "authors": [(g, 1e-6, 1e-2) for g in (1e-2, 1e-3, 1e-4)]
    + [(1e-3, t, 1e-2) for t in (0.0, 1e-5)],
    "report": [(g, 1e-5, 1e-3) for g in (1e-1, 1e-2, 1e-3)]
    + [(1e-2, t, 1e-3) for t in (0.0, 1e-4)],
}


def _short(key):
    """A key's short form in folder names: the binary optimizer's fields by their own
    name, τ as tau (the paper's γ/τ folders: gamma=.._tau=..)."""
    key = key[len("binary_optimizer."):] if key.startswith("binary_optimizer.") else key
    return "tau" if key == "threshold" else key
# What a grid point sets.
_GRID_KEYS = ("binary_optimizer.gamma", "binary_optimizer.threshold", "learning_rate")


def parse_axes(text):
    """'binary_optimizer.gamma=1e-4,1e-3;learning_rate=1e-3' -> {"binary_optimizer.gamma":
    [0.0001, 0.001], "learning_rate": [0.001]}."""
    axes = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, values = part.partition("=")
        key = key.strip()
        try:
            numbers = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            numbers = []
        if not key or not numbers:
            raise ConfigError(
                f"vary must be KEY=V1,V2,...[;KEY=...] with numbers, got {part!r} (e.g. "
                "vary='binary_optimizer.gamma=1e-3,1e-2,1e-1')."
            )
        if key in axes:
            raise ConfigError(f"vary names {key} twice: give each hyperparameter one axis.")
        axes[key] = numbers
    return axes


def number_fields(component, prefix="", above=()):
    """{key: annotation} of a configured component's number fields (int or float, or
    Optional of one; not bool), a nested component's as component.key; a field that a
    component takes from a field of the same name above it is listed once, above."""
    found, fields = {}, component.__component_fields__
    for name, field in fields.items():
        if name in above:
            continue
        value = base_getattr(component, name)
        if is_component_instance(value):
            found.update(number_fields(value, f"{prefix}{name}.", {*above, *fields}))
        elif _number_kinds(field.type):
            found[prefix + name] = field.type
    return found


def _number_kinds(annotation):
    """{int}, {float} or both for a number annotation (Optional too), else empty."""
    union = typing.get_origin(annotation) is typing.Union
    kinds = set(typing.get_args(annotation) if union else (annotation,)) - {type(None)}
    return kinds if kinds and kinds <= {int, float} else set()


def _value_at(config, key):
    """The value of dotted `key` in a nested config (fields_of's)."""
    for part in key.split("."):
        config = config[part]
    return config


def _with_value(config, key, value):
    """A copy of nested `config` with dotted `key` set to `value`, and with it every
    nested component's field of that name that held the same value (zookeeper gave it
    them from above: varying `seed` varies the model's seed too)."""
    config = copy.deepcopy(config)
    *path, name = key.split(".")
    node = config
    for part in path:
        node = node[part]

    def put(node, old):
        node[name] = value
        for child in node.values():
            if isinstance(child, dict) and name in child and child[name] == old:
                put(child, old)

    put(node, node.get(name))
    return config


def _shown(value):
    """A value as a folder name shows it, exactly: an integer in full (1234567, not
    1.23457e+06), a float in its short form where that reads back the same (1e-06, 0),
    else in full (1234567.0), so that two values never share a label."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def _label(values, with_learning_rate):
    """A point's folder name: its {key: value} as key=value_..."""
    return "_".join(f"{_short(k)}={_shown(v)}" for k, v in values.items()
                    if k != "learning_rate" or with_learning_rate)


def sweep_points(centre, axes):
    """The points that vary each axis in turn, the others at `centre`'s values: a list of
    {key: value} over every axis key, the shared centre point once."""
    points = []
    for key, values in axes.items():
        for value in values:
            point = {k: centre[k] for k in axes}
            point[key] = value
            if point not in points:
                points.append(point)
    return points


@experiment
class BopSweep:
    """Sec 5.1: the γ/τ study, every grid point trained into its own run folder.

    `point` is the task each point runs (default `cifar10_bop_study`): any task with a
    `binary_optimizer` field, whichever optimizer it holds; configure it with
    `point.key=value` (e.g. `point.epochs=20`). The points are the paper's `grid` (γ, τ
    and Adam's rate), or, with `vary`, any of the point task's number fields (nested
    ones as `binary_optimizer.key`, `dataset.key`) varied one at a time around its
    configured values: e.g. `point=FashionMnistCema
    vary='binary_optimizer.alpha=1e-4,1e-2;learning_rate=1e-4,1e-2'`. Each point runs as
    its own process, `processes` at a time (one GPU each when GPUs are visible: set it to
    their number), as `python -m rethink_bnn.train --config <run_dir>/points/<point>.json` with its run
    folder `<run_dir>/<key>=<value>_...`; a finished point is reported and an unfinished
    one resumes. `sweep.json` lists every point's summary.
    """

    point: TrainingTask = ComponentField(Cifar10BopStudy)
    grid: str = Field("authors")
    vary: str = Field("")
    processes: int = Field(1)
    run_dir: str = Field("runs/bop_sweep")

    def validate(self):
        """Check the sweep's own fields and every point's, before anything runs."""
        if self.grid not in GRIDS:
            raise ConfigError(f"grid must be one of {', '.join(sorted(GRIDS))}, got "
                              f"{self.grid!r}.")
        if isinstance(self.processes, bool) or self.processes < 1:
            raise ConfigError(f"processes must be an integer >= 1, got {self.processes}.")
        point = type(self.point).__name__
        if not has_binary_optimizer(type(self.point)):
            raise ConfigError(f"point must be a task with a binary_optimizer field (a "
                              f"binary-optimizer task), got {point}.")
        # This process trains nothing: no GPU a point is given may be taken here.
        with without_devices():
            self.point.validate(replicas=1)
        numbers = number_fields(self.point)
        missing = [k for k in _GRID_KEYS if k not in numbers]
        if not self.vary and missing:
            raise ConfigError(
                f"grid={self.grid} sets {', '.join(_GRID_KEYS)}, and {point} has no "
                f"{', '.join(missing)}: vary its own number fields instead, e.g. "
                f"vary='{sorted(numbers)[0]}=V1,V2' (its number fields: "
                f"{', '.join(sorted(numbers))}).")
        self.axes()
        self.check_points()

    def labels(self):
        """The folder name of each point, in order."""
        return [_label(values, bool(self.vary)) for values in self.points()]

    def check_points(self):
        """Every point configured and validated as its own process will be, so that a
        value out of range is refused before any point trains; ConfigError naming the
        point."""
        points = self.points()
        labels = [_label(values, bool(self.vary)) for values in points]
        for label in labels:
            if labels.count(label) > 1:
                raise ConfigError(f"vary: two points would share the folder {label}: give "
                                  "each value once.")
        base = fields_of(self.point)
        for values, label in zip(points, labels):
            config = self.point_config(base, values, os.path.join(self.run_dir, label))
            point = type(self.point)()
            try:
                configure(point, _flat(config, self.point))
                with without_devices():
                    point.validate(replicas=1)
            except (ConfigError, ValueError, TypeError) as error:
                why = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                raise ConfigError(f"sweep point {label}: {why}") from error

    def axes(self):
        """`vary` parsed, each value of an integer field an int; ConfigError for a key
        that is no number field of the point, or a fraction for an integer field."""
        numbers, axes = number_fields(self.point), parse_axes(self.vary)
        for key, values in axes.items():
            if key not in numbers:
                raise ConfigError(
                    f"vary: {key} is not a number field of {type(self.point).__name__} "
                    f"(its number fields: {', '.join(sorted(numbers))}).")
            if float not in _number_kinds(numbers[key]):  # an integer field
                fractions = [v for v in values if not v.is_integer()]
                if fractions:
                    raise ConfigError(f"vary: {key} takes integers, got {fractions[0]:g}.")
                axes[key] = [int(v) for v in values]
        return axes

    def points(self):
        """[{key: value}] of every point, in order."""
        if self.vary:
            axes, fields = self.axes(), fields_of(self.point)
            return sweep_points({key: _value_at(fields, key) for key in axes}, axes)
        return [dict(zip(_GRID_KEYS, point)) for point in GRIDS[self.grid]]

    def run(self):
        self.validate()
        check_sweep_folder(self.run_dir)
        name = convert_to_snake_case(type(self.point).__name__)
        base = {"task": name, **fields_of(self.point)}
        commands, labels = [], self.labels()
        for values, label in zip(self.points(), labels):
            run_dir = os.path.join(self.run_dir, label)
            # the point's whole configuration goes to the process as a file
            config = os.path.join(self.run_dir, "points", f"{label}.json")
            os.makedirs(os.path.dirname(config), exist_ok=True)
            write_text_atomically(config, json.dumps(self.point_config(base, values, run_dir),
                                                     indent=2) + "\n")
            commands.append((run_dir, [sys.executable, "-m", "rethink_bnn.train",
                                       "--config", config]))
        failed = run_all(commands, self.processes)
        results = []
        for run_dir, _ in commands:
            folder = RunFolder(run_dir)
            results.append(folder.summary() if folder.finished else {"run_dir": run_dir,
                                                                      "finished": False})
        write_json_atomically(os.path.join(self.run_dir, "sweep.json"), {
            "grid": None if self.vary else self.grid, "vary": self.axes() or None,
            "point": name, "points": results})
        for label, result in zip(labels, results):
            accuracy = result.get("test_accuracy")
            print(f"{label}: test accuracy "
                  f"{'unfinished' if accuracy is None else f'{accuracy:.4f}'}")
        if failed:
            raise_for(failed, len(commands))

    @staticmethod
    def point_config(base, values, run_dir):
        """The configuration file of one point: the point task's `base` configuration
        with the point's `values` (dotted keys into components) and its run_dir."""
        config = base
        for key, value in {**values, "run_dir": run_dir}.items():
            config = _with_value(config, key, value)
        return config


def _flat(config, point):
    """A point's nested configuration as zookeeper's flat {"key.sub": value}, each nested
    component as a new instance of the class `point` holds there (the config is made
    from `point`'s fields, so the classes are the same)."""
    flat = {}

    def walk(node, component, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                inner = base_getattr(component, key)
                flat[prefix + key] = type(inner)()
                walk({k: v for k, v in value.items() if k != "class"}, inner,
                     f"{prefix}{key}.")
            else:
                flat[prefix + key] = tuple(value) if isinstance(value, list) else value

    walk(config, point, "")
    return flat
