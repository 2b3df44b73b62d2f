"""Task configurations as data: class names of components resolved to this package's
classes, a stored configuration checked, and a task rebuilt from a run folder's
config.json.

zookeeper looks a component's class name up among every component class loaded, and
larq-zoo (imported for the ImageNet networks) has classes named like ours (`Cifar10`,
`Mnist`): resolving names here keeps every run on this package's classes.
"""

import difflib
import json
import reprlib
import typing
from pathlib import Path

from zookeeper import ComponentField, configure

from rethink_bnn.experiments.config.zookeeper_internals import convert_to_snake_case, type_check

__all__ = ["StoredConfigError", "UnknownComponent", "check_stored_config",
           "flat_config", "own_components", "read_stored_config", "task_from_config"]

# Keys of a stored configuration that are no field: the task's name, the kind of run.
META_KEYS = ("task", "kind")


class UnknownComponent(ValueError):
    """A component field names a class this package does not have."""


class StoredConfigError(ValueError):
    """A stored configuration (a run folder's config.json, a sweep point's file) that is
    not one of this package's tasks; the message is one line saying what is wrong."""


# Component fields a user may set by class name, and the classes of ours they take.
def _choices():
    from rethink_bnn.experiments import data, models
    from rethink_bnn.experiments.tasks import TASKS
    from rethink_bnn.experiments.tasks.registry import has_binary_optimizer
    from rethink_bnn.experiments.training.optimizer_components import binary_optimizer_components
    from rethink_bnn.experiments.training.schedules import SCHEDULES

    def of(module, base):
        return {name: obj for name, obj in vars(module).items()
                if isinstance(obj, type) and issubclass(obj, base) and not name.startswith("_")
                and hasattr(obj, "__component_fields__")}

    from rethink_bnn.experiments.data.bases import Dataset, Preprocessing

    return {"dataset": of(data, Dataset), "preprocessing": of(data, Preprocessing),
            "model": {n: c for n, c in vars(models).items() if isinstance(c, type)
                      and hasattr(c, "__component_fields__")},
            "binary_optimizer": binary_optimizer_components(), "_schedule": SCHEDULES,
            # any task whose binary kernels a binary optimizer trains, whatever its base
            "point": {c.__name__: c for c in TASKS.values() if has_binary_optimizer(c)}}


def _field_choices(field, choices=None):
    """The classes component field `field` takes ({} if it is none of these): every
    `NAME_schedule` field takes a schedule."""
    choices = _choices() if choices is None else choices
    return choices.get("_schedule" if field.endswith("_schedule") else field, {})


def _our_class(field, name):
    """This package's class named `name` (any case) for component field `field`, or
    UnknownComponent listing the classes it takes."""
    choices = _field_choices(field)
    wanted = convert_to_snake_case(name)
    for class_name, cls in choices.items():
        if convert_to_snake_case(class_name) == wanted:
            return cls
    raise UnknownComponent(f"must name one of {', '.join(sorted(choices))}, got {name!r}")


def own_components(config, task_class=None):
    """`config` with class names of component fields (dataset=Cifar10, model=BinaryNet)
    turned into instances of this package's classes. zookeeper looks names up among
    every component class loaded, and larq-zoo's (imported for the ImageNet networks)
    share names with ours: `dataset=Cifar10` gave larq-zoo's Cifar10. An unknown name
    is an UnknownComponent error listing ours. Naming the class that `task_class`'s field
    holds already keeps the task's settings of it (`cifar10_bop binary_optimizer=Bop`
    is cifar10_bop's Bop, not Bop's defaults)."""
    choices, resolved = _choices(), dict(config)
    for key in sorted(config, key=lambda k: k.count(".")):  # a component before its fields
        value, field = config[key], key.rsplit(".", 1)[-1]
        if not _field_choices(field, choices) or not isinstance(value, str):
            continue
        try:
            cls = _our_class(field, value)
        except UnknownComponent as error:
            raise UnknownComponent(f"{key} {error}.") from None
        default = _default_component(task_class, key, resolved)
        resolved[key] = default if type(default) is cls else cls()
    return resolved


def _default_component(task_class, key, resolved):
    """What the component field at dotted `key` of `task_class` holds unless configured
    (the components above it as `resolved` names them), or None."""
    if task_class is None:
        return None
    instance, parts = task_class(), key.split(".")
    for depth, part in enumerate(parts):
        above = ".".join(parts[:depth + 1])
        if depth < len(parts) - 1 and above in resolved and not isinstance(resolved[above], str):
            instance = resolved[above]
            continue
        field = getattr(type(instance), "__component_fields__", {}).get(part)
        if not isinstance(field, ComponentField) or not field.has_default:
            return None
        instance = field.get_default(instance)
    return instance


def flat_config(config, prefix=""):
    """A resolved config (nested components as dicts with their class under "class", as
    config.json holds it) as zookeeper's flat {"key.sub": value} with components as
    instances of this package's classes."""
    flat = {}
    for key, value in config.items():
        if not prefix and key in META_KEYS:
            continue
        if isinstance(value, dict):
            flat[prefix + key] = value["class"]
            flat.update(flat_config({k: v for k, v in value.items() if k != "class"},
                                    f"{prefix}{key}."))
        else:
            flat[prefix + key] = tuple(value) if isinstance(value, list) else value
    return own_components(flat)


# --- a stored configuration checked -----------------------------------------------------

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 2


def _json_kind(value):
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {list: "a list", str: "a string", dict: "an object"}.get(type(value), "a number")


def check_stored_config(config):
    """Check that `config` (a stored configuration) is one
    of a task of ours: a JSON object naming a known task under "task", every other key
    a field of that task, each value of its field's type, each component an object with
    the name of one of our classes under "class" and that class's fields. Nothing is
    loaded or built.

    Raises:
        StoredConfigError: one line saying what is wrong, e.g. "dataset.class must name
            one of Cifar10, Digits, ..., got 'Foo'".
    """
    from rethink_bnn.experiments.tasks import TASKS

    if not isinstance(config, dict):
        raise StoredConfigError(f"it holds {_json_kind(config)}, not an object "
                                '{"task": NAME, ...}')
    if "task" not in config:
        raise StoredConfigError('it names no task (no "task" key)')
    name = config["task"]
    if not isinstance(name, str):
        raise StoredConfigError(f'"task" must be the name of a task, got {_SHORT.repr(name)}')
    if convert_to_snake_case(name) not in TASKS:
        close = difflib.get_close_matches(convert_to_snake_case(name), TASKS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise StoredConfigError(f"unknown task {_SHORT.repr(name)}{hint}")
    cls = TASKS[convert_to_snake_case(name)]
    # the kind of run the task makes (the theory tasks: their own name); none: the task's
    kind = getattr(cls, "run_kind", convert_to_snake_case(name))
    if config.get("kind", kind) != kind:
        raise StoredConfigError(f'"kind" of a {convert_to_snake_case(name)} run is '
                                f"{kind!r}, got {_SHORT.repr(config['kind'])}")
    _check_fields(cls, {k: v for k, v in config.items() if k not in META_KEYS}, "")


def _check_fields(cls, values, prefix, inherited=frozenset()):
    """`inherited`: the fields of the components above, which zookeeper passes down to a
    field of the same name."""
    fields = cls.__component_fields__
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise StoredConfigError(f"unknown key {_SHORT.repr(prefix + key)}: "
                                    f"{cls.__name__} has no such field{hint}")
        if isinstance(fields[key], ComponentField):
            _check_component(key, prefix + key, value, inherited | set(fields))
        else:
            _check_value(prefix + key, fields[key].type, value)


def _check_component(field, key, value, inherited):
    """A component: {"class": NAME, field: value, ...}, or only the class's NAME."""
    choices = ", ".join(sorted(_field_choices(field)))
    if isinstance(value, str):
        name, values, named_by = value, {}, key
    elif isinstance(value, dict) and "class" in value:
        name, values = value["class"], {k: v for k, v in value.items() if k != "class"}
        named_by = f"{key}.class"
    else:
        raise StoredConfigError(f'{key} must be a component {{"class": NAME, ...}} with NAME '
                                f"one of {choices}, got {_SHORT.repr(value)}")
    if not isinstance(name, str):
        raise StoredConfigError(f"{named_by} must name one of {choices}, got "
                                f"{_SHORT.repr(name)}")
    try:
        cls = _our_class(field, name)
    except UnknownComponent as error:
        raise StoredConfigError(f"{named_by} {error}") from None
    _check_fields(cls, values, f"{key}.", inherited)
    missing = sorted(k for k, f in cls.__component_fields__.items()
                     if k not in values and k not in inherited
                     and not isinstance(f, ComponentField)
                     and not f.has_default)
    if missing:  # e.g. a Linear schedule's end
        raise StoredConfigError(f"{key}.{missing[0]} has no value and no default: give "
                                f"{name} its {missing[0]}")


def _check_value(key, annotation, value):
    from rethink_bnn.experiments.training.fields import type_in_words

    candidate = tuple(value) if isinstance(value, list) else value  # JSON has no tuples
    allowed = typing.get_args(annotation) or (annotation,)
    # bool is an int to Python, not to a field of numbers
    wrong_bool = (isinstance(value, bool) and bool not in allowed
                  and (int in allowed or float in allowed))
    if wrong_bool or not type_check(candidate, annotation):
        raise StoredConfigError(f"{key} must be {type_in_words(annotation)}, got "
                                f"{_SHORT.repr(value)}")


def read_stored_config(path):
    """The stored configuration in the JSON file `path`, checked by `check_stored_config`.

    Raises:
        StoredConfigError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        inside = " (give its config.json)" if (path / "config.json").is_file() else ""
        raise StoredConfigError(f"{path} is a folder, not a configuration file{inside}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise StoredConfigError(f"{path} is not a task configuration (not a JSON text "
                                "file)") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        raise StoredConfigError(f"{path} cannot be read "
                                f"({getattr(error, 'strerror', None) or error})") from None
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as error:  # json's: not JSON, or nested too deep
        reason = " ".join(str(error).split())[:100] or "nested too deeply"
        raise StoredConfigError(f"{path} is not JSON ({reason})") from None
    try:
        check_stored_config(config)
    except StoredConfigError as error:
        raise StoredConfigError(f"{path} is not a task configuration (the config.json of a "
                                f"run folder): {error}") from None
    return config


def task_from_config(config):
    """The task of a resolved config (config.json of a run folder, of any version),
    configured; StoredConfigError for a config that is not one of a task of ours."""
    from rethink_bnn.experiments.tasks import TASKS

    check_stored_config(config)
    task = TASKS[convert_to_snake_case(config["task"])]()
    try:
        configure(task, flat_config(config))
    except (ValueError, TypeError) as error:  # what zookeeper refuses that the check let by
        raise StoredConfigError(str(error).strip().splitlines()[0]) from error
    return task
