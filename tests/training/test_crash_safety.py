"""Killed runs resume from their last complete epoch and end as uninterrupted ones, bit
for bit: with `deterministic=True`, a run made of five starts (four processes SIGKILLed,
each resumed by the next start) is the run of one. Real processes, real SIGKILL; the
reference run and the last start run in the test's own process (the kills need
processes, they do not, and a process costs about 5 CPU-seconds before it trains)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_task

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

INTERRUPT = str(Path(__file__).with_name("interrupt.py"))
# The first 640 of the 1,293 training digits: what is checked needs epochs, not examples.
CONFIG = {"epochs": 8, "flip_log_freq": 1, "deterministic": True, "dataset.train_limit": 640}
TASK = ["demo", *(f"{key}={value}" for key, value in CONFIG.items())]
STEPS_PER_EPOCH = 20  # batches of 32
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# (where the process is killed, its N, epochs complete then): see interrupt.py
KILLS = [
    ("step", STEPS_PER_EPOCH + 10, 1),  # in the middle of the second epoch
    ("best", 2, 2),  # checkpoint 2 recorded, its new best weights not yet committed
    ("shards", 4, 3),  # while checkpoint 4 is being written (epoch 4 a new best)
    ("state", 6, 5),  # checkpoint 6 written, not yet recorded
]


def _train(run_dir):
    """The task run to its end in this process (as `train` would run it)."""
    return run_task("demo", run_dir=str(run_dir), **CONFIG)


@pytest.fixture
def uninterrupted(tmp_path):
    run_dir = tmp_path / "uninterrupted"
    _train(run_dir)
    return run_dir


def _checkpoint_tensors(run_dir):
    """{name: array} of the latest checkpoint, without the checkpoint's own counter."""
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    return {n: np.asarray(reader.get_tensor(n))
            for n in reader.get_variable_to_shape_map()
            if not n.startswith("_CHECKPOINTABLE") and "save_counter" not in n}


def _final_state(run_dir):
    """{key: (dtype, shape, bytes)} of every saved tensor (model, optimizer, loop state):
    a resumed run saves each under the key an uninterrupted one does."""
    tensors = _checkpoint_tensors(run_dir)
    assert any(n.startswith("optimizer/") for n in tensors)
    return {name: (t.dtype.str, t.shape, t.tobytes()) for name, t in tensors.items()}


def _h5_arrays(path):
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.append((name, item[()]))
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


def _assert_same_h5(a, b):
    for (name_a, x), (name_b, y) in zip(_h5_arrays(a), _h5_arrays(b), strict=True):
        assert name_a == name_b
        np.testing.assert_array_equal(x, y)


def _summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def _kill_at(run_dir, point, n, tmp_path):
    """Start the run, wait until it stops at `point`, SIGKILL it; its stdout."""
    marker, out = tmp_path / f"stopped-{point}", tmp_path / f"stdout-{point}"
    with open(out, "w") as stdout:
        process = subprocess.Popen(
            [sys.executable, INTERRUPT, str(marker), point, str(n), *TASK, f"run_dir={run_dir}"],
            env=ENV, stdout=stdout, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 300
        while not marker.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        process.kill()
        process.wait()
    assert marker.exists(), f"never reached {point} {n}:\n{out.read_text()[-3000:]}"
    return out.read_text(), marker.read_text()


def test_a_run_killed_at_any_moment_resumes_and_ends_as_an_uninterrupted_one(
    uninterrupted, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    checkpoints = run_dir / "checkpoints"
    completed_before = 0
    for point, n, completed in KILLS:
        stdout, note = _kill_at(run_dir, point, n, tmp_path)
        if completed_before:
            assert (f"Resuming {run_dir} after epoch {completed_before} "
                    f"(from checkpoints/ckpt-{completed_before})." in stdout)
        if point == "shards":  # killed mid-write: the shards exist, the checkpoint not
            assert (checkpoints / f"ckpt-{n}_temp").is_dir()  # (removed by the next start)
            assert not (checkpoints / f"ckpt-{n}.index").exists()
        if point == "state":  # killed after the write: files there, yet not recorded
            assert (checkpoints / f"ckpt-{n}.index").exists()
        if point == "best":  # epoch 2 was a new best: its weights are still pending
            assert note == "pending best_weights.epoch-1.h5"
            assert (run_dir / "best_weights.epoch-1.h5").is_file()
        # The state file names the last complete checkpoint, which loads and is binary.
        assert tf.train.latest_checkpoint(str(checkpoints)).endswith(f"ckpt-{completed}")
        tensors = _checkpoint_tensors(run_dir)
        assert int(tensors["state/epoch/.ATTRIBUTES/VARIABLE_VALUE"]) == completed
        kernels = [t for name, t in tensors.items()
                   if name.startswith("model/") and "/kernel/" in name]
        assert kernels and all(np.array_equal(np.abs(k), np.ones_like(k)) for k in kernels)
        assert not (run_dir / "summary.json").exists()
        completed_before = completed

    capsys.readouterr()
    _train(run_dir)
    assert (f"Resuming {run_dir} after epoch {completed_before} "
            f"(from checkpoints/ckpt-{completed_before})." in capsys.readouterr().out)
    assert _final_state(run_dir) == _final_state(uninterrupted)
    # One row per epoch, each with the values of the uninterrupted run, flips included.
    assert (run_dir / "log.csv").read_text() == (uninterrupted / "log.csv").read_text()
    _assert_same_h5(run_dir / "best_weights.h5", uninterrupted / "best_weights.h5")
    assert not list(run_dir.glob("best_weights.epoch-*"))
    assert not list(checkpoints.glob("*_temp"))  # the cut-short save's leftovers: removed
    assert "flips/" in (run_dir / "log.csv").read_text().splitlines()[0]  # per layer too
    summary = _summary(run_dir)
    assert summary["epochs_run"] == 8 and summary["epochs_this_session"] == 8 - completed_before
    for key in ("test_accuracy", "best_epoch", "flips_total", "skipped_steps"):
        assert summary[key] == _summary(uninterrupted)[key], key
    assert summary["flips_total"] > 0
