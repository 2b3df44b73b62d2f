"""Task configurations as data: class names of components resolved to this package's
classes, and a task rebuilt from a run folder's config.json.

zookeeper looks a component's class name up among every component class loaded, and
larq-zoo (imported for the ImageNet networks) has classes named like ours (`Cifar10`,
`Mnist`): resolving names here keeps every run on this package's classes.
"""

from zookeeper import configure
from zookeeper.core.utils import convert_to_snake_case

__all__ = ["RENAMED_FIELDS", "UnknownComponent", "flat_config", "own_components",
           "task_from_config", "with_current_names"]

# Fields renamed since runs were first written: old name -> new name. Every reader of a
# stored configuration (a run folder's config.json, a summary's "config", a sweep
# point's file) passes it through `with_current_names`, so an earlier version's run
# resumes, compares, exports and plots as the same configuration.
RENAMED_FIELDS = {"weights": "weight_kind"}  # 0.1: Keras' `weights` are pretrained ones


def with_current_names(config):
    """A stored configuration with every field of RENAMED_FIELDS under its new name, in
    nested components too (a new name already there wins); anything but a dict is
    returned as it is, for its reader to reject."""
    if not isinstance(config, dict):
        return config
    current = {}
    for key, value in config.items():
        new = RENAMED_FIELDS.get(key)
        if new is not None and new in config:
            continue
        current[new or key] = with_current_names(value)
    return current


class UnknownComponent(ValueError):
    """A component field names a class this package does not have."""


# Component fields a user may set by class name, and the classes of ours they take.
def _choices():
    from rethink_bnn import data, models
    from rethink_bnn.experiments import TASKS
    from rethink_bnn.training.bases import BopTraining

    def of(module, base):
        return {name: obj for name, obj in vars(module).items()
                if isinstance(obj, type) and issubclass(obj, base) and not name.startswith("_")
                and hasattr(obj, "__component_fields__")}

    from zookeeper.tf import Dataset, Preprocessing

    return {"dataset": of(data, Dataset), "preprocessing": of(data, Preprocessing),
            "model": {n: c for n, c in vars(models).items() if isinstance(c, type)
                      and hasattr(c, "__component_fields__")},
            "point": {c.__name__: c for c in TASKS.values() if issubclass(c, BopTraining)}}


def own_components(config):
    """`config` with class names of component fields (dataset=Cifar10, model=BinaryNet)
    turned into instances of this package's classes. zookeeper looks names up among
    every component class loaded, and larq-zoo's (imported for the ImageNet networks)
    share names with ours: `dataset=Cifar10` gave larq-zoo's Cifar10. An unknown name
    is an UnknownComponent error listing ours."""
    choices, resolved = _choices(), dict(config)
    for key, value in config.items():
        field = key.rsplit(".", 1)[-1]
        if field not in choices or not isinstance(value, str):
            continue
        wanted = convert_to_snake_case(value)
        found = [c for n, c in choices[field].items() if convert_to_snake_case(n) == wanted]
        if not found:
            raise UnknownComponent(f"{key} must name one of {', '.join(sorted(choices[field]))}, "
                             f"got {value!r}.")
        resolved[key] = found[0]()
    return resolved


def flat_config(config, prefix=""):
    """A resolved config (nested components as dicts with their class under "class", as
    config.json holds it) as zookeeper's flat {"key.sub": value} with components as
    instances of this package's classes."""
    flat = {}
    for key, value in config.items():
        if key in ("task", "kind"):
            continue
        if isinstance(value, dict):
            flat[prefix + key] = value["class"]
            flat.update(flat_config({k: v for k, v in value.items() if k != "class"},
                                    f"{prefix}{key}."))
        else:
            flat[prefix + key] = tuple(value) if isinstance(value, list) else value
    return own_components(flat)


def task_from_config(config):
    """The task of a resolved config (config.json of a run folder, of any version),
    configured."""
    from rethink_bnn.experiments import TASKS

    config = with_current_names(config)
    task = TASKS[config["task"]]()
    configure(task, flat_config(config))
    return task
