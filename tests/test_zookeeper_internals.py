"""The zookeeper names its package does not export, all in rethink_bnn/experiments/config/zookeeper_internals.py,
exist in the installed zookeeper (this test is what fails on an upgrade that removes one)."""

import importlib
import sys

import pytest

pytestmark = pytest.mark.experiments  # zookeeper comes with the extra


def test_every_name_exists_and_is_zookeepers_own():
    from rethink_bnn.experiments.config import zookeeper_internals

    for module_name, names in zookeeper_internals.NAMES.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert getattr(zookeeper_internals, name) is getattr(module, name), name


def test_a_name_that_is_gone_is_an_import_error_naming_the_module(monkeypatch):
    import zookeeper.core.utils

    monkeypatch.delattr(zookeeper.core.utils, "type_check")
    monkeypatch.delitem(sys.modules, "rethink_bnn.experiments.config.zookeeper_internals")
    with pytest.raises(ImportError, match=r"^rethink_bnn/experiments/config/zookeeper_internals\.py: "
                                          r"zookeeper\.core\.utils\.type_check is gone in "
                                          r"zookeeper 1\.4\.0 \(checked on zookeeper 1\.4\.0\)"):
        importlib.import_module("rethink_bnn.experiments.config.zookeeper_internals")


def test_configured_values_are_what_zookeeper_passes_down():
    """A value set in a child's configured values before zookeeper reads its fields is
    that child's value (sec 3.1's tasks pass their validation fraction down so)."""
    from zookeeper import ComponentField, Field, component, configure

    from rethink_bnn.experiments.config.zookeeper_internals import base_getattr, configured_values

    @component
    class Child:
        fraction: float = Field(0.1)

    @component
    class Parent:
        child: Child = ComponentField(Child)

        def __post_configure__(self):
            configured_values(base_getattr(self, "child")).setdefault("fraction", 0.5)

    parent, given = Parent(), Parent()
    configure(parent, {})
    configure(given, {"child.fraction": 0.25})
    assert (parent.child.fraction, given.child.fraction) == (0.5, 0.25)
