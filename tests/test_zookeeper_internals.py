"""The zookeeper names its package does not export, all in rethink_bnn/zookeeper_internals.py,
exist in the installed zookeeper (this test is what fails on an upgrade that removes one)."""

import importlib
import sys

import pytest

pytestmark = pytest.mark.experiments  # zookeeper comes with the extra


def test_every_name_exists_and_is_zookeepers_own():
    from rethink_bnn import zookeeper_internals

    for module_name, names in zookeeper_internals.NAMES.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert getattr(zookeeper_internals, name) is getattr(module, name), name


def test_a_name_that_is_gone_is_an_import_error_naming_the_module(monkeypatch):
    import zookeeper.core.utils

    monkeypatch.delattr(zookeeper.core.utils, "type_check")
    monkeypatch.delitem(sys.modules, "rethink_bnn.zookeeper_internals")
    with pytest.raises(ImportError, match=r"^rethink_bnn/zookeeper_internals\.py: "
                                          r"zookeeper\.core\.utils\.type_check is gone in "
                                          r"zookeeper 1\.4\.0 \(checked on zookeeper 1\.4\.0\)"):
        importlib.import_module("rethink_bnn.zookeeper_internals")
