"""What both front ends' doctest modules share (tests/test_doctests.py,
tests/keras3/test_doctests.py): running a module's examples as a reader runs them, and
finding the public classes and functions that show none."""

import doctest
import importlib
import inspect
import tempfile

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run_examples(name, minimum, folder):
    """Run the examples of module `name`, each in a namespace of its own, as a reader
    would (nothing of the module's is there that the example does not import), their
    `tempfile.mkdtemp()` folders under `folder`; check that at least `minimum` of its
    docstrings hold examples (one deleted by mistake fails here)."""
    module = importlib.import_module(name)
    tests = [test for test in doctest.DocTestFinder().find(module) if test.examples]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    saved, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        for test in tests:
            test.globs = {}
            runner.run(test)
    finally:
        tempfile.tempdir = saved
    assert runner.failures == 0
    assert len(tests) >= minimum


def public_callables(modules):
    """(dotted name, object) of each class and function in the modules' `__all__`."""
    for name in modules:
        module = importlib.import_module(name)
        for public in module.__all__:
            value = getattr(module, public)
            if inspect.isclass(value) or inspect.isfunction(value):
                yield f"{name}.{public}", value


def without_examples(modules, run, exempt=()):
    """The public classes and functions of `modules` with no example (but those in
    `exempt`), and those whose example is in a module that `run` leaves out."""
    missing, not_run = [], []
    for name, value in public_callables(modules):
        if ">>>" not in (value.__doc__ or ""):
            missing += [] if name in exempt else [name]
        elif value.__module__ not in run:
            not_run.append(f"{name} ({value.__module__})")
    return missing, not_run
