"""The package's shape, as ARCHITECTURE.md promises it: no import cycle between modules
(function-level imports included), no function over 60 lines or module over 400, and a
binary optimizer other than Bop (the default and the paper's) named in at most three
modules: its own, the package export and the experiments that use it."""

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


def test_a_binary_optimizer_is_named_in_its_module_the_export_and_its_experiments_only():
    from rethink_bnn.optimizers import Bop, BinaryOptimizer, __all__ as exported
    import rethink_bnn.optimizers as optimizers

    classes = [getattr(optimizers, n) for n in exported]
    classes = [c for c in classes if isinstance(c, type) and issubclass(c, BinaryOptimizer)
               and c not in (BinaryOptimizer, Bop)]
    assert classes
    for cls in classes:
        named = sorted(m for m, p in MODULES.items()
                       if re.search(rf"\b{cls.__name__}\b", p.read_text()))
        elsewhere = [m for m in named if m not in (cls.__module__, "rethink_bnn.optimizers")]
        assert len(named) <= 3 and all(m.startswith("rethink_bnn.experiments.")
                                       for m in elsewhere), (cls.__name__, named)
