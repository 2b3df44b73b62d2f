"""The README's tf-keras example runs as written, in a fresh process, from an empty folder;
the development guide's commands name what exists, and CI runs the quick start's."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _usage_example():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## tf-keras with Larq\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_usage_example_runs_as_written(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _usage_example()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", result.stdout).group(1))
    assert accuracy > 0.6  # chance is 0.1
    assert (tmp_path / "runs" / "my_run" / "model.keras").is_file()
    assert list((tmp_path / "runs" / "my_run" / "flips").glob("events.out.tfevents.*"))


def test_the_development_sections_commands_name_files_that_exist_and_ci_runs_the_quick_starts():
    text = (ROOT / "README.md").read_text()
    development = (ROOT / "docs" / "development.md").read_text()
    section = development[:development.index("\n## Layout\n")]
    commands = "".join(re.findall(r"```bash\n(.*?)```", section, re.S))
    paths = re.findall(r"\btests/[\w/]+(?:\.py)?", commands)
    assert paths and all((ROOT / p).exists() for p in paths), paths
    markers = re.findall(r'-m "not (\w+)"', commands)  # the inner loop's, declared
    declared = (ROOT / "setup.cfg").read_text()
    assert markers and all(re.search(rf"^\s+{m}:", declared, re.M) for m in markers)
    quick_start = re.search(r"\./setup\.sh && (\.venv/bin/python -m pytest[^#\n]*?)\s*#", text)
    assert quick_start.group(1) in (ROOT / ".ci" / "run").read_text()
