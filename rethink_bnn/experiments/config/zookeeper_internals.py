"""Every zookeeper name we use that its package does not export, in one place.

Checked on zookeeper 1.4.0 (requirements.lock; the experiments extra pins it). zookeeper
exports `Field`, `ComponentField`, `component`, `factory`, `task` and `configure`; the
tasks also need how it names a task (`convert_to_snake_case`: the command line's task
names are zookeeper's own), reads a field without resolving it (`base_getattr`), tells a
component instance from a class, type-checks a value and parses a `key=value` value as
its CLI does; `component_without_fields` makes a component that has no fields without
zookeeper's warning about it; `configured_values` gives the values a component instance
was configured with, which zookeeper passes down to its children.
`tests/test_zookeeper_internals.py` checks each on the installed version.
"""

CHECKED_ON = "zookeeper 1.4.0"
NAMES = {
    "zookeeper.core.component": ("base_getattr",),
    "zookeeper.core.utils": ("convert_to_snake_case", "is_component_instance", "type_check",
                             "parse_value_from_string", "warn"),
}


class ZookeeperInternalsChanged(ImportError):
    """A zookeeper name rethink_bnn relies on is gone."""


def _load():
    import importlib

    import zookeeper

    found = {}
    for module_name, names in NAMES.items():
        module = importlib.import_module(module_name)
        for name in names:
            if not hasattr(module, name):
                raise ZookeeperInternalsChanged(
                    f"rethink_bnn/experiments/config/zookeeper_internals.py: {module_name}.{name} is gone in "
                    f"zookeeper {zookeeper.__version__} (checked on {CHECKED_ON}): "
                    "pip install \"zookeeper==1.4.0\" (the experiments extra pins it).")
            found[name] = getattr(module, name)
    return found


globals().update(_load())


def component_without_fields(cls):
    """`zookeeper.component(cls)` for a class that has no fields by design (a Constant
    schedule), without the warning zookeeper prints on stderr for one."""
    from zookeeper import component
    from zookeeper.core import utils

    original, utils.warn = utils.warn, lambda message: None
    try:
        return component(cls)
    finally:
        utils.warn = original


def configured_values(instance):
    """The dict of the values component `instance` was configured with (by name), which
    zookeeper reads when it passes a parent's field down: setting an entry before the
    component's own configuration is read makes it the configured value."""
    try:
        return instance.__component_configured_field_values__
    except AttributeError:
        raise ZookeeperInternalsChanged(
            "rethink_bnn/experiments/config/zookeeper_internals.py: a component instance has no "
            f"__component_configured_field_values__ in this zookeeper (checked on "
            f"{CHECKED_ON}): pip install \"zookeeper==1.4.0\".") from None


__all__ = [name for names in NAMES.values() for name in names] + [
    "component_without_fields", "configured_values"]
