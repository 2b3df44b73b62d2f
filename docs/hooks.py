"""The docs build's generated parts (mkdocs hooks; mkdocs.yml names this file):

- `<!-- table: NAME -->` in a page becomes the table bench/table.py renders from the
  JSON in bench/results/ (no benchmark figure is typed by hand);
- `<!-- task-fields -->` becomes, for every task, what `python -m rethink_bnn.train
  TASK --help` prints: one source for the fields' meanings.
"""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
MARKER = re.compile(r"^<!-- table: (\w+) -->$", re.M)  # alone on its line


def _bench_tables():
    spec = importlib.util.spec_from_file_location("bench_table", ROOT / "bench" / "table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _task_fields():
    from rethink_bnn.experiments.cli.task_help import defaults, describe, describe_task
    from rethink_bnn.experiments.tasks import TASKS

    parts = ["The tasks (`python -m rethink_bnn.train --help`):", "", "```text",
             describe(TASKS), "```", ""]
    for name, cls in sorted(TASKS.items()):
        parts += [f"### {name}", "", "```text", describe_task(cls, defaults(cls)), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if MARKER.search(markdown):
        tables = _bench_tables()
        folder = ROOT / "bench" / "results"

        def table(match):
            if match.group(1) not in tables.RENDERERS:
                raise ValueError(f"{page.file.src_path}: no table {match.group(1)!r} in "
                                 f"bench/table.py (it has {', '.join(tables.RENDERERS)})")
            return tables.render(match.group(1), folder)
        markdown = MARKER.sub(table, markdown)
    if "<!-- task-fields -->" in markdown:
        markdown = markdown.replace("<!-- task-fields -->", _task_fields())
    return markdown
