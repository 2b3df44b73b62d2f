"""The package's shape, as ARCHITECTURE.md promises it: no import cycle between modules
(function-level imports included), no function over 60 lines or module over 400; a
binary optimizer other than Bop (the default and the paper's) named only in its own
modules (tf-keras, its declaration, Keras 3), the exports and one experiment module; a
Keras 3 front end that imports nothing of TensorFlow's, Larq's or the tf-keras one's; the
tiers (library, experiments, command lines) importing downward only, zookeeper in the
experiments only; and every tf-keras module checking for Keras 2 before TensorFlow."""

import ast
import re
from pathlib import Path

import rethink_bnn

PACKAGE = Path(rethink_bnn.__file__).parent
MODULES = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(module, tree):
    """The package's modules that `module` imports anywhere in its code."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                if MODULES[module].name != "__init__.py":
                    parts = parts[:-1]
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _cycle(graph):
    """One import cycle of `graph` as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


TREES = {m: ast.parse(p.read_text()) for m, p in MODULES.items()}


def test_no_module_imports_one_that_imports_it_back():
    graph = {m: _imports(m, tree) for m, tree in TREES.items()}
    # a submodule's package __init__ runs first, but that is no import of ours
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}
    assert _cycle(graph) is None


def test_no_function_over_60_lines_and_no_module_over_400():
    long_functions = [f"{m}.{node.name} ({node.end_lineno - node.lineno + 1} lines)"
                      for m, tree in TREES.items() for node in ast.walk(tree)
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.end_lineno - node.lineno + 1 > 60]
    long_modules = [f"{m} ({n} lines)" for m, p in MODULES.items()
                    if (n := len(p.read_text().splitlines())) > 400]
    assert not long_functions and not long_modules


def test_a_binary_optimizer_is_named_in_its_modules_the_exports_and_its_experiments_only():
    """Its tf-keras module and, where it has one, its declaration (shared with the Keras 3
    front end) and its Keras 3 module; the two packages that export it; its experiments."""
    from rethink_bnn.optimizers import Bop, BinaryOptimizer, __all__ as exported
    import rethink_bnn.optimizers as optimizers

    classes = [getattr(optimizers, n) for n in exported]
    classes = [c for c in classes if isinstance(c, type) and issubclass(c, BinaryOptimizer)
               and c not in (BinaryOptimizer, Bop)]
    assert classes
    for cls in classes:
        named = sorted(m for m, p in MODULES.items()
                       if re.search(rf"\b{cls.__name__}\b", p.read_text()))
        own = {cls.__module__, "rethink_bnn.optimizers", "rethink_bnn.core.rules",
               "rethink_bnn.declarations",
               "rethink_bnn.keras3", cls.__module__.replace(".optimizers.", ".keras3.")}
        elsewhere = [m for m in named if m not in own]
        assert all(m.startswith("rethink_bnn.experiments.tasks.") for m in elsewhere) and len(
            elsewhere) <= 1, (cls.__name__, named)


KERAS3_MAY_IMPORT = {"rethink_bnn", "rethink_bnn._keras2", "rethink_bnn.core",
                     "rethink_bnn.core.declarations", "rethink_bnn.core.rules",
                     "rethink_bnn.core.schedules",
                     "rethink_bnn.events"}


def test_the_core_imports_the_standard_library_and_itself_only():
    """The plain core (declarations, rules) is what both front ends share: no TensorFlow,
    Keras, numpy or front-end module, at module level or in a function."""
    import sys

    core = [m for m in MODULES if m.startswith("rethink_bnn.core")]
    assert {"rethink_bnn.core.declarations", "rethink_bnn.core.rules"} <= set(core)
    for module in core:
        assert {m for m in _imports(module, TREES[module])} <= set(core), module
        names = {a.name.partition(".")[0] for node in ast.walk(TREES[module])
                 if isinstance(node, ast.Import) for a in node.names}
        names |= {node.module.partition(".")[0] for node in ast.walk(TREES[module])
                  if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        assert names - {"rethink_bnn"} <= set(sys.stdlib_module_names), (module, names)


def test_the_keras3_front_end_imports_no_tensorflow_larq_or_tf_keras_module():
    """At module level none of tensorflow, tf_keras, larq (a function may import the
    TensorFlow backend it runs on); anywhere, of ours only the plain-Python modules."""
    front_end = [m for m in MODULES if m.startswith("rethink_bnn.keras3")]
    assert "rethink_bnn.keras3.bop" in front_end
    for module in front_end + ["rethink_bnn.declarations", "rethink_bnn._keras2",
                               "rethink_bnn"]:
        ours = {m for m in _imports(module, TREES[module])
                if not m.startswith("rethink_bnn.keras3")}
        assert ours <= KERAS3_MAY_IMPORT, (module, ours - KERAS3_MAY_IMPORT)
        top = [a.name for node in TREES[module].body if isinstance(node, ast.Import)
               for a in node.names]
        top += [node.module for node in TREES[module].body
                if isinstance(node, ast.ImportFrom) and node.module]
        assert not [n for n in top if n.partition(".")[0] in ("tensorflow", "tf_keras", "larq")
                    ], module


# The tiers, read from the folder names (ARCHITECTURE.md): the command lines on top, the
# experiments (everything zookeeper) under them, the two front ends and the core below.
COMMANDS = ("rethink_bnn.train", "rethink_bnn.plot", "rethink_bnn.export")
EXPERIMENTS = "rethink_bnn.experiments"


def _tier(module):
    if module.startswith(COMMANDS):
        return "commands"
    return "experiments" if module.startswith(EXPERIMENTS) else "library"


def _imports_third_party(tree, name):
    return any((isinstance(node, ast.Import) and any(a.name.partition(".")[0] == name
                                                     for a in node.names))
               or (isinstance(node, ast.ImportFrom) and not node.level
                   and (node.module or "").partition(".")[0] == name)
               for node in ast.walk(tree))


def test_no_library_module_imports_the_experiments_or_the_command_lines():
    """The library (core, both front ends, networks, the digits, events) never reaches up:
    `pip install rethink_bnn` works without the experiments' stack, and the experiments
    can move without touching it. The experiments never import the command lines."""
    upward = sorted((module, imported) for module, tree in TREES.items()
                    for imported in _imports(module, tree)
                    if (_tier(module), _tier(imported)) in {("library", "experiments"),
                                                             ("library", "commands"),
                                                             ("experiments", "commands")})
    assert not upward, upward


def test_every_module_that_imports_zookeeper_is_in_the_experiments():
    users = {m for m, tree in TREES.items() if _imports_third_party(tree, "zookeeper")}
    assert users and {_tier(m) for m in users} == {"experiments"}, sorted(
        m for m in users if _tier(m) != "experiments")


_TF_KERAS_LIBRARIES = {"tensorflow", "tf_keras", "larq", "larq_zoo", "tensorflow_datasets"}


def _guard_line(tree):
    """The line of a top-level `ensure_keras2(...)` call, or None."""
    for node in tree.body:
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "ensure_keras2"):
            return node.lineno
    return None


def test_every_tf_keras_module_checks_keras_2_before_it_imports_tensorflow():
    """The tf-keras front end starts with a plain call, no import hook: a module whose top
    level imports TensorFlow, tf-keras or Larq calls `ensure_keras2(__name__)` before it,
    or one of its packages does (so that a TensorFlow wired to Keras 3, or a missing `tf`
    extra, is one line naming the module the user imported)."""
    unguarded = []
    for module, tree in TREES.items():
        heavy = [node.lineno for node in tree.body
                 if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)
                 and any((name or "").partition(".")[0] in _TF_KERAS_LIBRARIES
                         for name in ([a.name for a in node.names] if isinstance(node, ast.Import)
                                      else [node.module]))]
        if not heavy:
            continue
        packages = [".".join(module.split(".")[:i]) for i in range(2, module.count(".") + 1)]
        guard = _guard_line(tree)
        if not ((guard and guard < min(heavy))
                or any(_guard_line(TREES[p]) for p in packages if p != module)):
            unguarded.append(module)
    assert not unguarded, unguarded
    # and the Keras 3 front end never asks for Keras 2
    assert not [m for m in TREES if m.startswith("rethink_bnn.keras3") and _guard_line(TREES[m])]
