"""What a run may do to a folder: only ours (marked) is used, `overwrite` deletes only what runs write, one run at a time (a lock
that a dead run does not keep), damaged files give one line and exit 2 changing
nothing, a damaged checkpoint falls back to the newest one that reads, lost best
weights are recovered, and Ctrl-C / SIGTERM leave a resumable folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn
from rethink_bnn.train import main
from rethink_bnn.experiments.training.loop_callbacks import BestWeights, LoopState
from rethink_bnn.experiments.runs.folder import (
    LOCK,
    MARKER,
    NotARunFolder,
    RunFolder,
    RunFolderBusy,
    RunFolderConflict,
    is_run_entry,
    read_csv,
)

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

DEMO = ["demo", "epochs=3", "dataset.train_limit=64"]  # 2 steps an epoch, 3 checkpoints
ROOT = str(Path(rethink_bnn.__file__).parents[1])
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
INTERRUPT = str(Path(__file__).with_name("interrupt.py"))
CONFIG = {"task": "demo", "epochs": 3}


def _tree(path):
    """Every file and folder under `path`, files with their bytes: a snapshot."""
    path = Path(path)
    if not path.exists():
        return None
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else "dir")
            for p in sorted(path.rglob("*"))}


def _one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.out + captured.err
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """`demo` for 3 epochs on 64 digits: checkpoints 2 and 3 kept, best weights, summary."""
    run_dir = tmp_path_factory.mktemp("base") / "run"
    assert main(DEMO + [f"run_dir={run_dir}", "verbose=0"]) == 0
    assert (run_dir / MARKER).is_file() and (run_dir / "checkpoints" / "ckpt-3.index").is_file()
    return run_dir


def _copy(run_dir, tmp_path, finished=True):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    if not finished:
        (copy / "summary.json").unlink()
    return copy


def _run(run_dir, *extra):
    return main(DEMO + [f"run_dir={run_dir}", "verbose=0", *extra])


# --- only our folders, and only our files ---------------------------------------------

def _write(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


NOT_OURS = {  # folders that no run wrote, or not only runs
    "a project": {"src/main.py": "print()\n", "README.md": "# mine\n",
                  "config.json": '{"name": "mine"}'},
    "a project naming a task": {"README.md": "# mine\n", "config.json": '{"task": "demo"}'},
    "only a config.json": {"config.json": '{"lr": 0.1}'},
    "only an unreadable config.json": {"config.json": "{lr: 0.1"},
    "notes": {"my_notes.txt": "keep me\n"},
    "hidden files": {".bashrc": "alias x=y\n", "log.csv": "epoch\n"},
    "an old run with notes": {"config.json": json.dumps(CONFIG), "log.csv": "epoch\n0\n",
                              "checkpoints/checkpoint": "", "my_notes.txt": "keep me\n"},
    "run files without a config": {"log.csv": "epoch\n0\n", "tensorboard/x": ""},
    "an unmarked run (0.1's layout)": {"config.json": json.dumps(CONFIG),
                                       "log.csv": "epoch\n1\n", "checkpoints/checkpoint": ""},
}


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("case", NOT_OURS)
def test_a_folder_that_is_not_a_run_folder_is_never_used_nor_deleted(case, overwrite, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    _write(folder, NOT_OURS[case])
    before = _tree(folder)
    with pytest.raises(NotARunFolder, match="is not a rethink_bnn run folder") as refused:
        RunFolder(folder).claim({**CONFIG, "epochs": 4}, overwrite=overwrite)
    assert _tree(folder) == before
    assert "choose an empty or new run_dir=..." in str(refused.value)


def test_overwrite_deletes_only_what_runs_write(tmp_path):
    folder = tmp_path / "run"
    user = {"my_notes.txt": "keep me\n", "notes/a.md": "mine\n", "src/main.py": "print()\n",
            "README.md": "# mine\n", "best_weights.h5.bak": "mine\n", "checkpoints.old": "x",
            "checkpoints/why.txt": "mine\n", "tensorboard/train/notes.md": "mine\n",
            "export/notes.txt": "mine\n", "export/config.json": "{}", "figures/notes.txt": "",
            "checkpoints/mine.tflite": "mine\n", "tensorboard/report.json": "{}"}
    RunFolder(folder).claim(CONFIG)
    runs = {"log.csv": "epoch\n0\n", "summary.json": "{}", "checkpoints/ckpt-1.index": "",
            "checkpoints/checkpoint": "", "checkpoints/ckpt-2_temp/part-0.index": "",
            "tensorboard/train/events.out.tfevents.1.x": "", "best_weights.h5": "",
            "best_weights.epoch-3.h5": "", "figures/f.png": "", "log.csv.tmp": "",
            "per_seed.csv": "", "seeds/seed_0/latent.csv": "", "table.md": "",
            "configs/a/signs.npz": "", "configs/a/tensorboard/events.out.tfevents.2": "",
            "identity.csv": "", "figures/approximation.md": "", "figures/old/x.md": "",
            # python -m rethink_bnn.export's: the old run's deployment and its accuracy
            "export/model.tflite": "", "export/report.json": "", "export/v2.tflite": "",
            "export/v2.report.json": "", "export/.model.tflite.tmp": ""}
    _write(folder, {**user, **runs})
    RunFolder(folder).release()
    with pytest.raises(RunFolderConflict, match=r"epochs: 3 there, 4 now\): choose another "
                                                r"run_dir=\.\.\., or pass overwrite=True"):
        RunFolder(folder).claim({**CONFIG, "epochs": 4})
    RunFolder(folder).claim({**CONFIG, "epochs": 4}, overwrite=True)
    left = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert left == set(user) | {MARKER, LOCK, "config.json"}
    assert not (folder / "seeds").exists() and not (folder / "configs").exists()
    assert all((folder / name).read_text() == text for name, text in user.items())
    assert json.loads((folder / "config.json").read_text())["epochs"] == 4
    assert all(is_run_entry(name.split("/")[0]) for name in runs)
    assert not any(is_run_entry(name) for name in ("my_notes.txt", "notes", "src", "README.md",
                                                    "best_weights.h5.bak", "checkpoints.old"))


@pytest.mark.slow
def test_an_unmarked_copy_of_a_run_is_refused_in_one_line_and_left_as_it_is(
        finished_run, tmp_path, capsys):
    run_dir = _copy(finished_run, tmp_path, finished=False)
    (run_dir / MARKER).unlink()
    (run_dir / LOCK).unlink()
    before = _tree(run_dir)
    assert _run(run_dir) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "is not a rethink_bnn run folder" in line
    assert _tree(run_dir) == before


def test_a_new_or_empty_folder_is_claimed_and_marked(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "new" / "run", tmp_path / "empty"):
        RunFolder(folder).claim(CONFIG)
        assert json.loads((folder / MARKER).read_text())["writes"]
        RunFolder(folder).release()


# --- damaged folders and bad run_dirs: one line, exit 2, nothing changed ---------------

def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_log(run_dir, edit):
    lines = (run_dir / "log.csv").read_text().splitlines(keepends=True)
    (run_dir / "log.csv").write_text("".join(edit(lines)))


DAMAGES = {  # damage(run folder), whether the run had finished, what the error says
    "truncated config.json": (lambda r: _truncate(r / "config.json"), True,
                              "config.json is damaged (not valid JSON"),
    "garbage config.json": (lambda r: (r / "config.json").write_text("garbage"), False,
                            "config.json is damaged (not valid JSON"),
    "config.json not UTF-8": (lambda r: (r / "config.json").write_bytes(b"\xff\xfe{"), False,
                              "config.json is damaged (not valid JSON"),
    "config.json a list": (lambda r: (r / "config.json").write_text("[1, 2]"), False,
                           "config.json is damaged (not a run's configuration)"),
    "config.json without a task": (lambda r: (r / "config.json").write_text("{}"), True,
                                   "config.json is damaged (not a run's configuration)"),
    "empty config.json": (lambda r: (r / "config.json").write_text(""), False,
                          "config.json is damaged"),
    "truncated summary.json": (lambda r: _truncate(r / "summary.json"), True,
                               "summary.json is damaged (not valid JSON"),
    "garbage summary.json": (lambda r: (r / "summary.json").write_text("\x00garbage"), True,
                             "summary.json is damaged (not valid JSON"),
    "summary.json not a summary": (lambda r: (r / "summary.json").write_text("[]"), True,
                                   "summary.json is damaged (not a run's summary)"),
    "a garbage row at the end of log.csv": (
        lambda r: _edit_log(r, lambda lines: lines + ["garbage\n"]), False,
        "log.csv line 5 is not a row of this run's log ('garbage'): delete that line"),
    "a garbage row in log.csv": (
        lambda r: _edit_log(r, lambda lines: lines[:2] + ["x,y\n"] + lines[2:]), False,
        "log.csv line 3 is not a row"),
    "a short row in log.csv": (lambda r: _edit_log(r, lambda lines: lines[:3] + ["2,0.5\n"]),
                               False, "log.csv line 4 is not a row"),
    "a negative epoch in log.csv": (
        lambda r: _edit_log(r, lambda lines: lines[:3] + ["-" + lines[3]]), True,
        "log.csv line 4 is not a row"),
    "a NUL byte in log.csv": (lambda r: _edit_log(r, lambda lines: lines + ["\x00\n"]), False,
                              "log.csv line 5 is not a row"),
    "no header in log.csv": (lambda r: _edit_log(r, lambda lines: lines[1:]), False,
                             "log.csv line 1 is not a row"),
    "log.csv not UTF-8": (lambda r: (r / "log.csv").write_bytes(b"epoch\n\xff\xfe\n"), False,
                          "log.csv is not a text file"),
    "no checkpoint readable": (
        lambda r: [p.unlink() for p in (r / "checkpoints").glob("ckpt-*.index")], False,
        "no checkpoint in {run}/checkpoints can be read (ckpt-3: its .index file is missing;"
        " ckpt-2: its .index file is missing): to train again from epoch 0, move "),
    "garbage state file, no checkpoint": (
        lambda r: [p.unlink() for p in (r / "checkpoints").glob("ckpt-*")]
        + [(r / "checkpoints" / "checkpoint").write_text("garbage")], False,
        "no checkpoint in {run}/checkpoints can be read (the state file"),
    "checkpoints a file": (lambda r: (shutil.rmtree(r / "checkpoints"),
                                      (r / "checkpoints").write_text("x")), False,
                           "checkpoints is not a folder: move it out of the run folder"),
    "tensorboard a file": (lambda r: (shutil.rmtree(r / "tensorboard"),
                                      (r / "tensorboard").write_text("x")), False,
                           "tensorboard is not a folder"),
    "log.csv a folder": (lambda r: ((r / "log.csv").unlink(), (r / "log.csv").mkdir()), False,
                         "log.csv is not a file"),
    "best_weights.h5 a folder": (lambda r: ((r / "best_weights.h5").unlink(),
                                            (r / "best_weights.h5").mkdir()), False,
                                 "best_weights.h5 is not a file"),
    "summary.json a folder": (lambda r: ((r / "summary.json").unlink(),
                                         (r / "summary.json").mkdir()), True,
                              "summary.json is not a file"),
    "a config of another run": (
        lambda r: (r / "config.json").write_text(
            (r / "config.json").read_text().replace('"epochs": 3', '"epochs": 5')), True,
        "holds a finished run with a different configuration (epochs: 5 there, 3 now)"),
}


@pytest.mark.parametrize("case", DAMAGES)
@pytest.mark.slow
def test_a_damaged_run_folder_gives_one_line_exit_2_and_changes_nothing(
        case, finished_run, tmp_path, capsys):
    damage, finished, message = DAMAGES[case]
    run_dir = _copy(finished_run, tmp_path, finished)
    damage(run_dir)
    before = _tree(run_dir)
    assert _run(run_dir) == 2
    assert message.format(run=run_dir) in _one_error_line(capsys)
    assert _tree(run_dir) == before


@pytest.mark.parametrize("case", ["truncated config.json", "garbage config.json",
                                  "config.json a list"])
@pytest.mark.slow
def test_overwrite_replaces_a_run_whose_config_is_damaged(case, finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    (run_dir / "my_notes.txt").write_text("keep me\n")
    DAMAGES[case][0](run_dir)
    assert _run(run_dir, "overwrite=True") == 0
    assert json.loads((run_dir / "summary.json").read_text())["epochs_this_session"] == 3
    assert (run_dir / "my_notes.txt").read_text() == "keep me\n"


def _a_file(tmp_path):
    (tmp_path / "file").write_text("mine\n")
    return tmp_path / "file"


BAD_RUN_DIRS = {  # run_dir(tmp_path), what the error says
    "a file": (_a_file, "is a file, not a folder: choose another run_dir=..."),
    "under a file": (lambda t: _a_file(t) / "run", "cannot be created: "),
    "a name too long": (lambda t: t / ("x" * 300), "cannot be used (File name too long)"),
    "a path too long": (lambda t: t.joinpath(*["x" * 200] * 25), "File name too long"),
    "/proc itself": (lambda t: Path("/proc/self"), "run_dir /proc/self is not writable"),
    "under /proc": (lambda t: Path("/proc/rethink_bnn_test/run"), "cannot be"),
    "the current folder": (lambda t: Path(ROOT), "is not a rethink_bnn run folder"),
    "a line break in its name": (lambda t: _a_file(t).rename(t / "a\nb") and t / "a\nb",
                                 "a\\nb is a file, not a folder"),
}


@pytest.mark.parametrize("case", BAD_RUN_DIRS)
def test_a_bad_run_dir_gives_one_line_and_exit_2(case, tmp_path, capsys):
    make, message = BAD_RUN_DIRS[case]
    run_dir = make(tmp_path)
    before = _tree(tmp_path)
    assert _run(run_dir, "overwrite=True") == 2
    assert message in _one_error_line(capsys)
    assert _tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder, so a not-writable run_dir cannot be made (CI runs as root)")
def test_a_run_dir_that_is_not_writable_gives_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir(mode=0o555)
    assert _run(tmp_path / "run") == 2
    assert "is not writable" in _one_error_line(capsys)


# --- checkpoints: the newest that reads -----------------------------------------------

def _data(run_dir, n):
    return next((run_dir / "checkpoints").glob(f"ckpt-{n}.data-*"))


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(data)


FALLBACKS = {  # damage, the checkpoint resumed from, what the Resuming line says besides
    "no state file": (lambda c: (c / "checkpoint").unlink(), 3, ")."),
    "garbage in the state file": (lambda c: (c / "checkpoint").write_text("garbage {"), 3,
                                  "; the state file checkpoints/checkpoint could not be read)."),
    "an empty state file": (lambda c: (c / "checkpoint").write_text(""), 3,
                            "; the state file checkpoints/checkpoint could not be read)."),
    "a state file not UTF-8": (lambda c: (c / "checkpoint").write_bytes(b"\xff\xfe"), 3,
                               "; the state file checkpoints/checkpoint could not be read)."),
    "a state file naming a lost checkpoint": (
        lambda c: (c / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n'), 3,
        "; ckpt-7 could not be read: its .index file is missing)."),
    "no newest .index": (lambda c: (c / "ckpt-3.index").unlink(), 2,
                         "; ckpt-3 could not be read: its .index file is missing)."),
    "a truncated newest .index": (lambda c: _truncate(c / "ckpt-3.index"), 2,
                                  "; ckpt-3 could not be read: not an sstable"),
    "no newest .data": (lambda c: _data(c.parent, 3).unlink(), 2,
                        "; ckpt-3 could not be read: its .data file is missing)."),
    "a truncated newest .data": (lambda c: _truncate(_data(c.parent, 3)), 2,
                                 "; ckpt-3 could not be read: Read less bytes than requested)."),
    "a corrupted newest .data": (lambda c: _flip_a_byte(_data(c.parent, 3)), 2,
                                 "; ckpt-3 could not be read: TensorBundle at ckpt-3 shard 0 "),
    "no .index and no state file": (
        lambda c: [(c / "ckpt-3.index").unlink(), (c / "checkpoint").unlink()], 2,
        "; ckpt-3 could not be read: its .index file is missing)."),
    "a save cut short": (lambda c: (c / "ckpt-4_temp").mkdir(), 3, ")."),
}


@pytest.mark.parametrize("case", FALLBACKS)
@pytest.mark.slow
def test_a_damaged_checkpoint_falls_back_to_the_newest_that_reads(case, finished_run,
                                                                  tmp_path, capsys):
    damage, resumed, note = FALLBACKS[case]
    run_dir = _copy(finished_run, tmp_path, finished=False)
    checkpoints = run_dir / "checkpoints"
    damage(checkpoints)
    assert _run(run_dir) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("Resuming"))
    start = f"Resuming {run_dir} after epoch {resumed} (from checkpoints/ckpt-{resumed}"
    assert line.startswith(start) and line.endswith(").") and line[len(start):].startswith(note)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_run"] == 3 and summary["epochs_this_session"] == 3 - resumed
    assert [row["epoch"] for row in read_csv(run_dir / "log.csv")] == ["1", "2", "3"]
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-3")
    assert sorted(p.name for p in checkpoints.glob("ckpt-*")) == [
        "ckpt-2.data-00000-of-00001", "ckpt-2.index", "ckpt-3.data-00000-of-00001",
        "ckpt-3.index"]
    # The run is whole again: the next start reports it as finished.
    assert _run(run_dir) == 0
    assert "holds a finished run of this configuration" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_without_its_checkpoints_says_it_starts_again(finished_run, tmp_path, capsys):
    """What the error for unreadable checkpoints suggests: move them aside."""
    run_dir = _copy(finished_run, tmp_path, finished=False)
    shutil.move(run_dir / "checkpoints", tmp_path / "aside")
    assert _run(run_dir) == 0
    assert (f"Starting {run_dir} from epoch 0: no checkpoint was complete (the log's 3 row(s) "
            "dropped).") in capsys.readouterr().out
    assert json.loads((run_dir / "summary.json").read_text())["epochs_this_session"] == 3
    assert [row["epoch"] for row in read_csv(run_dir / "log.csv")] == ["1", "2", "3"]


@pytest.mark.slow
def test_a_checkpoint_of_another_model_gives_one_line(finished_run, tmp_path, capsys):
    run_dir = _copy(finished_run, tmp_path, finished=False)
    for path in (run_dir / "checkpoints").glob("ckpt-3.*"):
        path.unlink()
    tf.train.Checkpoint(model=_model()).write(str(run_dir / "checkpoints" / "ckpt-3"))
    assert _run(run_dir) == 2
    assert (f"{run_dir}/checkpoints/ckpt-3 does not fit this run's model and optimizer ("
            in _one_error_line(capsys))


# --- best weights -------------------------------------------------------------------

BEST_WEIGHTS = {
    "missing": lambda p: p.unlink(),
    "truncated": _truncate,
    "garbage": lambda p: p.write_text("garbage"),
    "empty": lambda p: p.write_text(""),
}


@pytest.mark.parametrize("case", BEST_WEIGHTS)
@pytest.mark.slow
def test_a_run_whose_best_weights_are_lost_still_finishes(case, finished_run, tmp_path,
                                                          capsys):
    run_dir = _copy(finished_run, tmp_path, finished=False)
    BEST_WEIGHTS[case](run_dir / "best_weights.h5")
    assert _run(run_dir) == 0
    err = capsys.readouterr().err
    summary = json.loads((run_dir / "summary.json").read_text())
    original = json.loads((finished_run / "summary.json").read_text())
    kept = summary["best_epoch"] + 1 >= 2  # checkpoints 2 and 3 are kept
    assert summary["tested_weights"] == ("best" if kept else "last")
    assert "best_weights.h5" in summary["warning"] and summary["warning"] in err
    if kept:  # taken from the checkpoint, written again: what the run had
        assert summary["test_accuracy"] == original["test_accuracy"]
        assert "took the best epoch's weights" in summary["warning"]
    if kept:
        assert _h5_equal(run_dir / "best_weights.h5", finished_run / "best_weights.h5")


def _h5_equal(a, b):
    arrays = []
    for path in (a, b):
        with h5py.File(path, "r") as f:
            found = []
            f.visititems(lambda n, item: found.append((n, item[()]))
                         if isinstance(item, h5py.Dataset) else None)
            arrays.append(found)
    return all(n == m and np.array_equal(x, y) for (n, x), (m, y) in zip(*arrays, strict=True))


def _model():
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    model.compile(loss="mse")
    return model


@pytest.mark.parametrize("case", ["missing", "truncated"])
def test_best_weights_come_from_the_best_checkpoint_or_stay_the_last(case, tmp_path):
    model, state = _model(), LoopState()
    state.best_epoch.assign(0)  # the best epoch is the first: checkpoint 1
    best = BestWeights(state, tmp_path / "best_weights.h5")
    model.save_weights(str(best.path))
    tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt-1"))
    saved = model.get_weights()
    if case == "truncated":
        _truncate(best.path)
    else:
        best.path.unlink()
    for weights in model.trainable_variables:
        weights.assign(weights + 1.0)
    last = model.get_weights()
    assert best.load(model, tmp_path / "elsewhere")[0] == "last"  # no checkpoint: the last
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), last))
    tested, warning = best.load(model, tmp_path)
    assert tested == "best" and "took the best epoch's weights (epoch 1)" in warning
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), saved))
    assert best.load(model, tmp_path / "elsewhere") == ("best", None)  # written again


def test_best_weights_of_another_epoch_are_not_taken_for_the_best(tmp_path):
    """After a resume from an older checkpoint, best_weights.h5 may hold a later epoch's."""
    model, state = _model(), LoopState()
    state.best_epoch.assign(0)
    best = BestWeights(state, tmp_path / "best_weights.h5")
    tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt-1"))
    saved = model.get_weights()
    for weights in model.trainable_variables:
        weights.assign(weights + 1.0)
    best._save(model, best.path, epoch=1)  # epoch 2's
    tested, warning = best.load(model, tmp_path)
    assert tested == "best" and "holds epoch 2's weights, not the best epoch's, 1" in warning
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), saved))
    assert best.load(model, tmp_path) == ("best", None)  # written again, as epoch 1's


# --- one run at a time, and interrupts ---------------------------------------------

def test_a_lock_held_by_this_process_refuses_another_claim_but_not_a_reclaim(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.claim(CONFIG)
    other = subprocess.run(
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1]); "
         "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(folder.lock_file)],
        capture_output=True, text=True)
    assert other.returncode != 0 and "BlockingIOError" in other.stderr
    RunFolder(tmp_path / "run").claim(CONFIG)  # this process again: its earlier run ended
    folder.release()


def _our_lines(stderr):
    """Our lines in a subprocess's stderr (TensorFlow may log its own at start-up)."""
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted:"))]


def test_another_thread_of_this_process_is_refused_while_the_claiming_one_lives(tmp_path):
    folder = RunFolder(tmp_path / "run")
    results = []

    def claim_and_wait(wait):
        try:
            RunFolder(folder.path).claim(CONFIG)
            results.append("claimed")
            wait.wait(10)
        except RunFolderBusy as error:
            results.append(str(error))

    done = threading.Event()
    first = threading.Thread(target=claim_and_wait, args=(done,))
    first.start()
    while not results:
        time.sleep(0.01)
    second = threading.Thread(target=claim_and_wait, args=(threading.Event(),))
    second.start()
    second.join()
    assert results[1].startswith(f"{folder.path} is in use by another run (pid {os.getpid()}")
    with pytest.raises(RunFolderBusy):
        RunFolder(folder.path).check(CONFIG)
    done.set()
    first.join()
    RunFolder(folder.path).claim(CONFIG)  # that thread has ended: its run is over
    folder.release()


def _ctrl_c_as_in_a_terminal():
    # A child inherits an ignored SIGINT, and Python then leaves it ignored: a test
    # worker may have it ignored (a C library of an earlier test set SIG_IGN), a
    # terminal never.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(run_dir, marker, point="step", n=3):
    return subprocess.Popen(
        [sys.executable, INTERRUPT, str(marker), point, str(n), *DEMO, "verbose=0",
         "flip_log_freq=1", f"run_dir={run_dir}"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal)


def _wait_for(marker, process):
    deadline = time.time() + 120
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not marker.exists():
        process.kill()
        pytest.fail(f"never stopped: {process.communicate()[1][-3000:]}")


def _interrupt(process, sig, code, run_dir, epochs_done):
    """Send `sig`; the process must end with `code` and our one line; its stdout."""
    process.send_signal(sig)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()  # no process left behind, asleep at its stopping point
        pytest.fail(f"{signal.Signals(sig).name} did not stop the run: "
                    f"{process.communicate()[1][-3000:]}")
    assert process.returncode == code, err[-3000:]
    assert _our_lines(err) == [f"interrupted: {run_dir} can be resumed with the same command."]
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    assert latest.endswith(f"ckpt-{epochs_done}")
    return out


@pytest.mark.slow
def test_two_starts_one_runs_and_ctrl_c_or_sigterm_leave_it_resumable(tmp_path, capsys):
    """Real processes: the first holds the folder (stopped in epoch 2), a second start
    (in this process) is refused in one line without writing anything; Ctrl-C stops the
    first with one line, no traceback, exit 130; the next start has the lock, resumes,
    and is stopped in epoch 3 by SIGTERM (exit 143); the last one (in this process)
    resumes again and finishes."""
    run_dir = tmp_path / "run"
    first = _start(run_dir, tmp_path / "first", n=3)
    _wait_for(tmp_path / "first", first)

    def files():  # (the first's event writer may flush in the background)
        return {k: v for k, v in _tree(run_dir).items() if not k.startswith("tensorboard")}

    before = files()
    capsys.readouterr()
    assert main([*DEMO, f"run_dir={run_dir}"]) == 2
    [line] = _our_lines(capsys.readouterr().err)
    assert line == (f"error: {run_dir} is in use by another run (pid {first.pid}, since "
                    f"{line.split('since ')[1][:8]}): wait for it to finish or choose another "
                    "run_dir=...")
    assert files() == before
    _interrupt(first, signal.SIGINT, 130, run_dir, epochs_done=1)
    third = _start(run_dir, tmp_path / "third", n=5)  # the lock is free: it resumes
    _wait_for(tmp_path / "third", third)
    out = _interrupt(third, signal.SIGTERM, 143, run_dir, epochs_done=2)
    assert f"Resuming {run_dir} after epoch 1 (from checkpoints/ckpt-1)." in out
    assert main([*DEMO, "verbose=0", f"run_dir={run_dir}"]) == 0
    assert (f"Resuming {run_dir} after epoch 2 (from checkpoints/ckpt-2)."
            in capsys.readouterr().out)
    assert json.loads((run_dir / "summary.json").read_text())["epochs_run"] == 3


HOLD = ("import fcntl, json, os, sys, time; f = open(sys.argv[1], 'a+'); "
        "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); f.truncate(0); "
        "f.write(json.dumps({'pid': os.getpid(), 'since': '10:02:11', 'job': sys.argv[2]})); "
        "f.flush(); print('held', flush=True); time.sleep(60)")
CLUSTER = {"worker": ["localhost:1", "localhost:2"]}


@pytest.mark.slow
def test_a_folder_locked_by_another_process_is_refused_until_it_dies(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.claim(CONFIG)
    folder.release()
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(folder.lock_file), ""],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        before = _tree(folder.path)
        busy = (f"{folder.path} is in use by another run (pid {other.pid}, since 10:02:11): "
                "wait for it to finish or choose another run_dir=...")
        for attempt in (lambda: RunFolder(folder.path).check(CONFIG),  # the early probe
                        lambda: RunFolder(folder.path).claim(CONFIG)):
            with pytest.raises(RunFolderBusy) as refused:
                attempt()
            assert str(refused.value) == busy
        assert _tree(folder.path) == before
    finally:
        other.kill()  # SIGKILL: the lock goes with the process
        other.wait()
    RunFolder(folder.path).claim(CONFIG)
    RunFolder(folder.path).release()


def test_a_worker_of_the_job_whose_chief_holds_the_folder_is_not_refused(tmp_path,
                                                                         monkeypatch):
    """A non-chief worker checks the chief's folder, which the chief holds: refused only
    if another job (another TF_CONFIG cluster, or none) holds it."""
    folder = RunFolder(tmp_path / "run")
    folder.claim(CONFIG)
    folder.release()
    job = json.dumps(CLUSTER, sort_keys=True)
    chief = subprocess.Popen([sys.executable, "-c", HOLD, str(folder.lock_file), job],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert chief.stdout.readline().strip() == "held"
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": CLUSTER,
                                                    "task": {"type": "worker", "index": 1}}))
        RunFolder(folder.path).check(CONFIG)  # its own chief
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:3"]}}))
        with pytest.raises(RunFolderBusy):
            RunFolder(folder.path).check(CONFIG)
        monkeypatch.delenv("TF_CONFIG")
        with pytest.raises(RunFolderBusy):
            RunFolder(folder.path).check(CONFIG)
    finally:
        chief.kill()
        chief.wait()


def test_a_run_that_finished_no_epoch_does_not_block_the_corrected_command(tmp_path, capsys):
    """A value that fails only once training began (or Ctrl-C in the first epoch) leaves
    a claimed folder without results: another configuration takes it over."""
    from rethink_bnn.experiments.runs.folder import RunFolder

    folder = RunFolder(tmp_path / "run")
    folder.claim({"task": "demo", "epochs": 3})
    folder.release()
    (tmp_path / "run" / "log.csv").write_text("epoch,loss\n")
    (tmp_path / "run" / "my_notes.txt").write_text("mine")
    assert folder.check({"task": "demo", "epochs": 4}) is True  # replaceable, no error
    folder.claim({"task": "demo", "epochs": 4})
    folder.release()
    assert "had not finished an epoch" in capsys.readouterr().out
    assert (tmp_path / "run" / "my_notes.txt").read_text() == "mine"
    assert not (tmp_path / "run" / "log.csv").exists()
    # with a finished epoch's checkpoint, a different configuration is refused
    (tmp_path / "run" / "checkpoints").mkdir()
    (tmp_path / "run" / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    import pytest
    from rethink_bnn.experiments.runs.folder import RunFolderConflict
    with pytest.raises(RunFolderConflict):
        folder.check({"task": "demo", "epochs": 5})
