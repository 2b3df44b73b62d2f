"""The documentation: a README within 12 KB; the site (mkdocs.yml) builds offline with
warnings as errors; its API reference has an entry for every public name of
`rethink_bnn` and `rethink_bnn.keras3`; its benchmark tables come from bench/results/ and
its task reference from the fields' declarations; and each Python example of the guides
is one the tests run (the README's, `tests/test_readme.py` and
`tests/keras3/test_scenario.py`)."""

import collections
import html.parser
import importlib
import importlib.util
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
pytestmark = pytest.mark.experiments  # the task reference reads the tasks (zookeeper)
needs_mkdocs = pytest.mark.skipif(importlib.util.find_spec("mkdocstrings") is None,
                                  reason="the docs extra is not installed (./setup.sh has it)")
# The modules whose public names (`__all__`) the API reference covers.
PUBLIC = ("rethink_bnn", "rethink_bnn.optimizers", "rethink_bnn.optimizers.schedules",
          "rethink_bnn.callbacks", "rethink_bnn.initializers", "rethink_bnn.models",
          "rethink_bnn.data", "rethink_bnn.plot", "rethink_bnn.export", "rethink_bnn.keras3",
          "rethink_bnn.keras3.augmentation", "rethink_bnn.keras3.initializers",
          "rethink_bnn.keras3.networks", "rethink_bnn.keras3.quantizers",
          "rethink_bnn.keras3.schedules")


def test_the_readme_is_at_most_12_kb_and_links_only_to_files_that_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 12 * 1024
    links = re.findall(r"\]\((?!https?:)([^)#]+)", text)
    assert links and all((ROOT / link).exists() for link in links), links


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as CI builds it: `mkdocs build --strict`, offline."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu",
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _inventory(site):
    """The names in the site's objects.inv (mkdocstrings' index of what it documented)."""
    data = (site / "objects.inv").read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode()
    return {line.split()[0] for line in body.splitlines()}


@needs_mkdocs
@pytest.mark.slow
def test_every_public_name_has_an_entry_in_the_api_reference(site):
    documented = _inventory(site)
    missing = []
    for name in PUBLIC:
        module = importlib.import_module(name)
        for public in module.__all__:
            if name == "rethink_bnn":  # the tf-keras names, documented where they live
                value = getattr(module, public)
                entry = (value.__name__ if isinstance(value, type(module))
                         else f"{value.__module__.rsplit('.', 1)[0]}.{public}")
                found = entry in documented or any(
                    f"rethink_bnn.{home}.{public}" in documented
                    for home in ("optimizers", "callbacks", "initializers"))
            else:
                found = f"{name}.{public}" in documented
            if not found:
                missing.append(f"{name}.{public}")
    assert not missing, missing


class _Read(dict):
    """The results, recording which a table reads."""

    def __init__(self, results):
        super().__init__(results)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@needs_mkdocs
@pytest.mark.slow
def test_the_generated_parts_come_from_their_sources(site):
    spec = importlib.util.spec_from_file_location("bench_table", ROOT / "bench" / "table.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    source = (DOCS / "benchmarks.md").read_text()
    assert not re.search(r"^\|", source, re.M)  # no table typed by hand
    assert sorted(re.findall(r"<!-- table: (\w+) -->", source)) == sorted(tables.RENDERERS)
    results = _Read(tables.results_in(ROOT / "bench" / "results"))
    for render in tables.RENDERERS.values():
        render(results)
    assert results.read == set(results), "results no table shows"
    page = (site / "benchmarks" / "index.html").read_text()
    assert f"{results['bop_update']['update_ms']['ours']:.2f}" in page
    from rethink_bnn.experiments.cli.task_help import defaults, describe_task
    from rethink_bnn.experiments.tasks import TASKS

    tasks = (site / "tasks" / "index.html").read_text()
    help_text = describe_task(TASKS["demo"], defaults(TASKS["demo"]))
    fields = help_text.split("fields (key=default: meaning):\n")[1].splitlines()
    for line in fields[:10]:  # the fields, as --help prints them
        assert line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in tasks


def test_each_guides_python_example_is_one_the_tests_run():
    readme = (ROOT / "README.md").read_text()
    run = set(re.findall(r"```python\n(.*?)```", readme, re.S))
    assert len(run) == 2  # tests/test_readme.py, tests/keras3/test_scenario.py
    for page in sorted(DOCS.glob("*.md")):
        for example in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            assert example in run, f"{page.name}: an example no test runs"


def test_the_optimizers_all_lists_every_name_the_package_imports():
    """`rethink_bnn.optimizers.__all__` is written out (the docs read it without
    TensorFlow): a name imported there but not listed would vanish from the reference."""
    import inspect

    from rethink_bnn import optimizers

    imported = {name for name, value in vars(optimizers).items()
                if not name.startswith("_") and not inspect.ismodule(value)
                and getattr(value, "__module__", "").startswith("rethink_bnn.optimizers.")}
    assert imported == set(optimizers.__all__)


def test_both_front_ends_document_each_rules_arguments_from_its_declarations():
    from rethink_bnn import keras3, optimizers
    from rethink_bnn.core import rules

    for rule in (rules.BOP, rules.BOP2NDORDER, rules.CEMA):
        for cls in (getattr(optimizers, rule.name), getattr(keras3, rule.name)):
            # a section titled `Args:` alone: Google-style parsers read no other title
            assert f"\nArgs:\n{rule.describe_arguments()}\n" in cls.__doc__, cls
            assert rule.reference in cls.__doc__, cls


@needs_mkdocs
@pytest.mark.slow
def test_the_reference_shows_the_generated_arguments(site):
    """The Args are added to the docstrings at import (the build inspects the package)
    and the reference shows them as each class's parameters, as a written Args section."""
    from rethink_bnn.core import rules

    for page, module, kwargs in (("tf_keras", "optimizers", "jit_compile (weight_decay"),
                                 ("keras3", "keras3", "gradient_accumulation_steps")):
        html = (site / "api" / page / "index.html").read_text()
        assert html.count(kwargs) >= 3, page  # Bop, Bop2ndOrder, CEMA
        for rule in (rules.BOP, rules.BOP2NDORDER, rules.CEMA):
            # the class's own docstring: from its heading to its members
            start = html.index(f'id="rethink_bnn.{module}.{rule.name}"')
            own = html[start:html.index('class="doc doc-children"', start)]
            parameters = re.findall(r'<th class="field-name">Parameters:</th>(.*?)</table>',
                                    own, re.S)
            assert len(parameters) == 1, (page, rule.name)
            names = re.findall(r"<li>\s*<b><code>(.*?)</code></b>", parameters[0])
            assert names == [h.name for h in rule.hyperparameters] + list(rule.options) + [
                "name", "**kwargs"], (page, rule.name)
            assert "Args:" not in own and "Args (" not in own, (page, rule.name)


# What mkdocstrings' templates and Markdown write in a page's content: any other tag
# there, or one opened and not closed, is text of a docstring that Markdown took for HTML
# (`<name>/<index>/` outside backticks), which a browser hides.
_MARKUP = {"a", "b", "blockquote", "br", "code", "col", "colgroup", "details", "div", "em",
           "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li", "ol", "p", "pre", "small",
           "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead",
           "tr", "ul"}
_VOID = {"br", "col", "hr", "img"}


class _ContentTags(html.parser.HTMLParser):
    """The tags inside a page's content (the theme's `<div role="main">`): each name and
    each non-void tag's opened minus closed count."""

    def __init__(self):
        super().__init__()
        self.depth, self.seen, self.open = 0, {}, collections.Counter()

    def handle_starttag(self, tag, attrs):
        if not self.depth:
            self.depth = int(tag == "div" and ("role", "main") in attrs)
            return
        self.depth += tag == "div"
        self.seen.setdefault(tag, self.get_starttag_text())
        self.open[tag] += tag not in _VOID

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= tag == "div"
            self.open[tag] -= bool(self.depth) and tag not in _VOID
            self.seen.setdefault(tag, f"</{tag}>")


@needs_mkdocs
@pytest.mark.slow
def test_the_reference_shows_every_docstrings_angle_brackets(site):
    pages = sorted((site / "api").glob("*/index.html"))
    assert len(pages) == 3
    for page in pages:
        tags = _ContentTags()
        tags.feed(page.read_text())
        tags.close()
        assert "p" in tags.seen and "table" in tags.seen, page  # the content was parsed
        unknown = {tag: text for tag, text in tags.seen.items() if tag not in _MARKUP}
        assert not unknown, f"{page}: put in backticks: {unknown}"
        unclosed = {tag: n for tag, n in tags.open.items() if n}
        assert not unclosed, f"{page}: tags opened and not closed: {unclosed}"
    tf_keras = (site / "api" / "tf_keras" / "index.html").read_text()
    assert "<code>&lt;name&gt;/&lt;index&gt;/</code>" in tf_keras  # CaseOptimizer's
