"""`python -m rethink_bnn.plot`: where figures go, and one line for every bad input."""

import json
import re

import pytest

from rethink_bnn.plot.__main__ import main
from tests.plot.images import assert_real_png, assert_real_svg

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


@pytest.mark.slow
def test_the_default_output_is_the_run_folders_figures_folder(training_run, capsys):
    assert main(["training", str(training_run)]) == 0
    path = training_run / "figures" / "training.png"
    assert capsys.readouterr().out == f"wrote {path}\n"
    assert_real_png(path)


def test_approximation_prints_and_writes_the_table_next_to_the_figure(
        approximation_run, tmp_path, capsys):
    out = tmp_path / "av" / "approximation.svg"
    assert main(["approximation", str(approximation_run), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    table = (tmp_path / "av" / "approximation.md").read_text()
    assert printed == table + f"wrote {out}\n"
    assert table.startswith("# Approximation viewpoint") and "| binary |" in table
    assert_real_svg(out)


@pytest.mark.slow
def test_sweep_takes_sigma(sweep_run, tmp_path):
    assert main(["sweep", str(sweep_run), "--sigma", "0", "-o", str(tmp_path / "s.png")]) == 0
    assert_real_png(tmp_path / "s.png")


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, message", [
    (["training", "{approximation}", "-o", "{tmp}/x.png"],
     "holds an approximation_viewpoint run, not a Bop training run or a latent-weight "
     "training run: the sec 5.2 figure cannot draw it; `python -m rethink_bnn.plot "
     "approximation {approximation}` does."),
    (["arbitrary_lr", "{tmp}/typo", "-o", "{tmp}/x.png"], "{tmp}/typo does not exist"),
    (["approximation", "{approximation}", "-o", "{approximation}/table.png"],
     "{approximation}/table.png is inside the run folder {approximation}, among the files "
     "the run writes: put it in {approximation}/figures or outside."),
    (["training", "{training}", "-o", "{training}/log.csv"],
     "cannot write a figure to {training}/log.csv: the name must end in .png, .svg or .pdf."),
    (["training", "{training}", "{training}"], "2 run folders: say where the figure goes"),
    (["sweep", "{sweep}", "--sigma", "-1"], "argument --sigma: must be >= 0"),
    (["histogram", "{training}"], "argument figure: invalid choice: 'histogram'"),
    (["sweep"], "the following arguments are required: RUN_DIR"),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(args, message, all_runs, tmp_path,
                                                          capsys):
    used = {k for text in [*args, message] for k in re.findall(r"{(\w+)}", text)} - {"tmp"}
    folders = {**{k: str(all_runs[k]) for k in used}, "tmp": str(tmp_path)}
    before = {k: _snapshot(all_runs[k]) for k in used}
    assert main([a.format(**folders) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message.format(**folders) in err
    assert {k: _snapshot(all_runs[k]) for k in used} == before
    assert list(tmp_path.iterdir()) == []


def _damaged_copy(run, tmp_path, damage):
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(run, copy)
    damage(copy)
    return copy


def _cut_log(run):
    text = (run / "log.csv").read_text()
    (run / "log.csv").write_text(text[: len(text) - 40])


def _words_in_log(run):
    lines = (run / "log.csv").read_text().splitlines()
    lines[2] = ",".join(["x"] * len(lines[2].split(",")))
    (run / "log.csv").write_text("\n".join(lines) + "\n")


def _binary_log(run):
    (run / "log.csv").write_bytes(bytes(range(256)) * 4)


def _garbage_config(run):
    (run / "config.json").write_text("{not json")


def _list_config(run):
    (run / "config.json").write_text("[1, 2]")


def _foreign_config(run):
    (run / "config.json").write_text('{"task": 5}')


def _foreign_component(run):
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": {"name": "x"}}))


def _cut_events(run):
    for events in (run / "tensorboard" / "steps").glob("events.out.tfevents.*"):
        events.write_bytes(events.read_bytes()[:30])


@pytest.mark.parametrize("figure, damage, message", [
    ("training", _cut_log, "log.csv is damaged at line"),
    ("training", _words_in_log, "log.csv is damaged at line 3"),
    ("training", _binary_log, "log.csv cannot be read ("),
    ("training", _garbage_config, "config.json cannot be read ("),
    ("training", _list_config, "config.json holds no run configuration"),
    ("training", _foreign_config, "is not a run's configuration (\"task\" must be"),
    ("training", _foreign_component, "is not a run's configuration (dataset must be a "
                                     "component"),
    ("sweep", _cut_events, "has event files but no readable batch_accuracy in them"),
])
def test_a_damaged_run_folder_is_one_line_exit_2_and_nothing_written(
        figure, damage, message, sweep_run, training_run, tmp_path, capsys):
    source = sweep_run / sorted(p.name for p in sweep_run.glob("gamma=*"))[0] \
        if figure == "sweep" else training_run
    damaged = _damaged_copy(source, tmp_path, damage)
    before = _snapshot(damaged)
    assert main([figure, str(damaged), "-o", str(tmp_path / "out" / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert _snapshot(damaged) == before and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_unwritable_output_is_one_line(training_run, tmp_path, capsys):
    assert main(["training", str(training_run), "-o", "/proc/x.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write /proc/x.png: ") and err.count("\n") == 1


def _one_line(capsys, *expected):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err


@pytest.mark.slow
def test_an_existing_file_outside_a_runs_figures_is_refused_unless_force(training_run,
                                                                        tmp_path, capsys):
    (tmp_path / "mine.png").write_bytes(b"mine")
    (tmp_path / "target.txt").write_text("mine too")
    (tmp_path / "link.png").symlink_to(tmp_path / "target.txt")
    (tmp_path / "folder.png").mkdir()
    for name in ("mine.png", "link.png"):
        assert main(["training", str(training_run), "-o", str(tmp_path / name)]) == 2
        _one_line(capsys, f"{tmp_path / name} already exists", "or pass --force")
    for force in ([], ["--force"]):
        assert main(["training", str(training_run), "-o", str(tmp_path / "folder.png"),
                     *force]) == 2
        _one_line(capsys, "folder.png is a folder")
    assert (tmp_path / "mine.png").read_bytes() == b"mine"
    # --force replaces the file, and the link itself, never what it points to
    for name in ("mine.png", "link.png"):
        assert main(["training", str(training_run), "-o", str(tmp_path / name), "--force"]) == 0
        assert_real_png(tmp_path / name)
        assert not (tmp_path / name).is_symlink()
    assert (tmp_path / "target.txt").read_text() == "mine too"


def test_the_table_beside_the_figure_is_refused_too_and_a_runs_figures_are_replaced(
        approximation_run, tmp_path, capsys):
    (tmp_path / "av.md").write_text("# my notes\n")
    assert main(["approximation", str(approximation_run), "-o", str(tmp_path / "av.svg")]) == 2
    _one_line(capsys, f"{tmp_path / 'av.md'} already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["av.md"]
    # in the run folder's own figures/: a rerun replaces the figure and its table
    for _ in range(2):
        assert main(["approximation", str(approximation_run)]) == 0
    assert (approximation_run / "figures" / "approximation.md").read_text().startswith(
        "# Approximation viewpoint")
    capsys.readouterr()


def test_a_figures_folder_that_links_into_the_run_is_no_figures_folder(training_run, tmp_path,
                                                                       capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(training_run, run, ignore=shutil.ignore_patterns("figures", "*.lock"))
    (run / "figures").symlink_to(run / "tensorboard")
    assert main(["training", str(run)]) == 2
    _one_line(capsys, f"is inside the run folder {run.resolve()}, among the files the run writes")
    assert not list((run / "tensorboard").glob("*.png"))
