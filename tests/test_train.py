"""The command line: one-line errors with exit code 2, and resuming an interrupted run."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from rethink_bnn.train import main

DEMO = ["demo", "epochs=1", "dataset.train_limit=64"]


def _error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "no task given"),
        (["cifar10_bpo"], "unknown task 'cifar10_bpo': did you mean 'cifar10_bop'?"),
        (["demo", "epoch=3"], "Key 'epoch' does not correspond to any field"),
        (["demo", "epochs"], "'epochs' is not of the form key=value"),
        (["demo", "model=Resnet"], "model"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in _error(capsys)


def test_help_lists_the_tasks(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "cifar10_bop" in out and "bop_sweep" in out and "demo" in out


def test_missing_dataset_exits_2_and_leaves_no_run_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["mnist_bop", f"run_dir={run_dir}", f"dataset.archive_dir={tmp_path}",
            f"dataset.data_dir={tmp_path / 'tfds'}", "dataset.download=False"]
    assert main(argv) == 2
    assert "dataset 'mnist' is not available" in _error(capsys)
    assert not run_dir.exists()
    with pytest.raises(Exception, match="not available"):
        main(argv + ["--debug"])


def test_a_finished_run_is_never_overwritten_by_another_config(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(DEMO + [f"run_dir={run_dir}"]) == 0
    summary = (run_dir / "summary.json").read_bytes()
    assert main(DEMO + [f"run_dir={run_dir}"]) == 0  # same config: reported, not redone
    assert "holds a finished run of this configuration" in capsys.readouterr().out
    assert main(["demo", "epochs=2", "dataset.train_limit=64", f"run_dir={run_dir}"]) == 2
    assert "different configuration (epochs: 1 there, 2 now)" in _error(capsys)
    assert (run_dir / "summary.json").read_bytes() == summary
    assert main(["demo", "epochs=2", "dataset.train_limit=64", f"run_dir={run_dir}",
                 "overwrite=True"]) == 0
    assert (run_dir / "summary.json").read_bytes() != summary


def _command(run_dir):
    return [sys.executable, "-m", "rethink_bnn.train", "demo", "epochs=8",
            "flip_log_freq=1", f"run_dir={run_dir}"]


def _final_state(run_dir):
    """Every saved tensor (model, optimizer, loop state), as a sorted list of
    (dtype, shape, bytes): the key of a variable reachable by two paths in the object
    graph depends on build order, its value does not."""
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    names = [n for n, _ in tf.train.list_variables(str(run_dir / "checkpoints"))
             if not n.startswith("_CHECKPOINTABLE") and "save_counter" not in n]
    assert any(n.startswith("optimizer/") for n in names)
    tensors = [np.asarray(reader.get_tensor(n)) for n in names]
    return sorted((t.dtype.str, t.shape, t.tobytes()) for t in tensors)


def test_a_killed_run_resumes_where_it_stopped_and_ends_as_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    uninterrupted, interrupted = tmp_path / "a", tmp_path / "b"
    subprocess.run(_command(uninterrupted), env=env, check=True, capture_output=True)

    process = subprocess.Popen(_command(interrupted), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # The manager's state file names a checkpoint only once it is complete.
    state_file = interrupted / "checkpoints" / "checkpoint"

    def saved_second_epoch():
        return state_file.exists() and '"ckpt-2"' in state_file.read_text()

    deadline = time.time() + 240
    while not saved_second_epoch() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (interrupted / "summary.json").exists(), "the run finished before the kill"
    stopped_at = int(tf.train.load_checkpoint(str(interrupted / "checkpoints"))
                     .get_tensor("state/epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    assert 2 <= stopped_at < 8

    resumed = subprocess.run(_command(interrupted), env=env, check=True, capture_output=True,
                             text=True)
    assert f"Resuming {interrupted} after epoch {stopped_at}." in resumed.stdout
    assert _final_state(uninterrupted) == _final_state(interrupted)
    rows = (interrupted / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(8))
