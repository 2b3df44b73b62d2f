"""The paper's tasks on the Keras 3 front end (`front_end=keras3`), run as a user runs
them, `python -m rethink_bnn.train TASK front_end=keras3 ...`, under JAX, in processes
where TensorFlow, tf-keras and Larq cannot be imported: the same run folder as the
tf-keras front end's, and a run killed at any moment (mid-epoch, mid-checkpoint, its
newest checkpoint damaged) resumes to the same weights, optimizer state, loop state
and log as one never stopped, bit for bit; the figures draw its folders.

The resume and the sweep run where TensorFlow is not installed (CI's Keras 3
environment, ./setup.sh keras3): they are about running without it, and their eight
processes cost more CPU-seconds than the README's suite can spare."""

import csv
import importlib.util
import json
import os

import numpy as np
import pytest

from tests.keras3.conftest import TENSORFLOW, TF_KERAS, run_under

pytestmark = pytest.mark.skipif(importlib.util.find_spec("zookeeper") is None,
                                reason="the tasks need zookeeper (./setup.sh keras3 installs it)")
# The task processes below run under JAX whatever this process's backend is: the
# environment's JAX run of this module runs them, its PyTorch run would repeat them.
jax_processes = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") == "torch",
    reason="starts its task processes under JAX: this environment's JAX run runs them")
# Eight task processes, about 90 CPU-seconds: run in CI's Keras 3 environment (./setup.sh
# keras3), the one without TensorFlow, rather than in the README's suite.
without_tensorflow = pytest.mark.skipif(
    TENSORFLOW, reason="eight task processes (~90 CPU-s) about running without TensorFlow: "
                       "CI runs them in the Keras 3 environment (./setup.sh keras3)")

# Runs the command line with the tf-keras front end's libraries unimportable (an attempt
# to import one fails the test: where they are installed, it would load them) and, for a
# test, SIGKILL at a chosen moment (KILL_AT): "batch:E,B" after batch B of epoch E
# (0-based), "checkpoint:N" once checkpoint N's file is written, before its rename.
LAUNCH = """
import atexit, importlib.abc, os, runpy, signal, sys
HIDDEN, tried = ("tensorflow", "tf_keras", "larq", "larq_zoo", "tensorflow_datasets"), []
class Hide(importlib.abc.MetaPathFinder):  # as if not installed; each attempt recorded
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            tried.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
atexit.register(lambda: tried and print("tried to import:", sorted(set(tried)), file=sys.stderr))
kill = os.environ.get("KILL_AT")
if kill:
    import keras
    from rethink_bnn.experiments.frontends import keras3 as front
    from rethink_bnn.experiments.runs import array_checkpoints
    kind, at = kill.split(":")
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if kind == "batch":
        epoch, batch = map(int, at.split(","))
        class Kill(keras.callbacks.Callback):
            def on_epoch_begin(self, e, logs=None):
                self.epoch = e
            def on_train_batch_end(self, b, logs=None):
                if (self.epoch, b) == (epoch, batch):
                    die()
        made = front.FrontEnd.callbacks
        front.FrontEnd.callbacks = lambda self, t, s: [Kill()] + made(self, t, s)
    else:
        fsync = os.fsync
        def fsync_then_die(fd):
            fsync(fd)
            if os.readlink(f"/proc/self/fd/{fd}").endswith(f"ckpt-{at}.npz.tmp"):
                die()
        array_checkpoints.os.fsync = fsync_then_die
sys.argv = ["rethink_bnn.train", *sys.argv[1:]]
runpy.run_module("rethink_bnn.train", run_name="__main__")
"""


def train(*arguments, kill_at=None, expect=0):
    env = {"KILL_AT": kill_at} if kill_at else {}
    done = run_under("jax", "-c", LAUNCH, *arguments, **env)
    assert done.returncode == expect, done.stdout[-2000:] + done.stderr[-3000:]
    # where TensorFlow is installed, an attempt would load it (and its 3 CPU-seconds)
    assert "tried to import" not in done.stderr, done.stderr[-2000:]
    return done.stdout


def _checkpoint(folder, number):
    with np.load(folder / "checkpoints" / f"ckpt-{number}.npz") as archive:
        return {name: archive[name] for name in archive.files}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cifar10_archive(tmp_path_factory):
    from tests.data.test_archives import write_cifar10_archive

    folder = tmp_path_factory.mktemp("cifar10")
    write_cifar10_archive(folder, n_per_batch=12)  # 54 train, 6 validation, 12 test
    return folder


def _cifar10(folder, archive):
    # The task's loop, data, augmentation and optimizers; a small network, that the
    # test's cost is the resume's, not BinaryNet's.
    return ["cifar10_bop", "front_end=keras3", "epochs=3", "batch_size=10",
            "model=BinaryMLP", "model.units=(32,)", f"dataset.archive_dir={archive}",
            f"run_dir={folder}"]


@pytest.mark.slow
@without_tensorflow
@jax_processes
def test_cifar10_bop_killed_at_any_moment_resumes_bit_identical(tmp_path, cifar10_archive):
    whole = tmp_path / "whole"
    train(*_cifar10(whole, cifar10_archive))
    cut = tmp_path / "cut"
    arguments, checkpoints = _cifar10(cut, cifar10_archive), cut / "checkpoints"
    train(*arguments, kill_at="batch:1,2", expect=-9)  # mid-epoch 2: ckpt-1 kept
    assert sorted(p.name for p in checkpoints.iterdir()) == ["ckpt-1.npz"]
    train(*arguments, kill_at="checkpoint:2", expect=-9)  # writing ckpt-2: not renamed
    assert (checkpoints / ".ckpt-2.npz.tmp").is_file()
    train(*arguments, kill_at="batch:2,0", expect=-9)  # resumed, ckpt-2 written, killed
    assert sorted(p.name for p in checkpoints.iterdir()) == ["ckpt-1.npz", "ckpt-2.npz"]
    newest = checkpoints / "ckpt-2.npz"  # damaged: the run falls back to ckpt-1
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    out = train(*arguments)
    assert "after epoch 1 (from checkpoints/ckpt-1.npz; ckpt-2.npz could not be read" in out
    ours, theirs = _checkpoint(cut, 3), _checkpoint(whole, 3)
    assert sorted(ours) == sorted(theirs)
    assert any(k.startswith("model/") for k in ours) and "state/epoch" in ours
    for name in theirs:  # weights, optimizer state, augmentation stream, loop, best
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert _rows(cut / "log.csv") == _rows(whole / "log.csv")
    summaries = [json.loads((f / "summary.json").read_text()) for f in (cut, whole)]
    for key in ("test_accuracy", "test_loss", "flips_total", "best_epoch", "epochs_run"):
        assert summaries[0][key] == summaries[1][key], key


@pytest.mark.slow
@jax_processes
def test_demo_leaves_the_run_folder_of_the_tf_keras_demo(tmp_path, request):
    folder = tmp_path / "demo"
    out = train("demo", "front_end=keras3", "epochs=2", "dataset.train_limit=320",
                f"run_dir={folder}")
    assert "Epoch 2/2" in out and "test accuracy" in out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["config"]["front_end"] == "keras3" and summary["epochs_run"] == 2
    assert summary["test_accuracy"] > 0.5  # ten classes: chance is 0.1
    assert summary["binary_weights"] == 84_480 and summary["flips_total"] > 0
    assert {"keras", "jax"} <= set(summary["versions"]) and "tensorflow" not in summary[
        "versions"]
    assert sorted(p.name for p in (folder / "tensorboard").iterdir()) == [
        "flips", "steps", "train", "validation"]
    from rethink_bnn import plot

    plot.save(plot.training_figure([folder]), tmp_path / "training.png")  # the figure reads it
    assert (tmp_path / "training.png").stat().st_size > 10_000
    header = set(_rows(folder / "log.csv")[0])
    if TF_KERAS:  # the same files, keys and columns as the tf-keras front end's demo
        theirs = request.getfixturevalue("training_run")
        from rethink_bnn.experiments.runs.layout import EXPORT_FOLDER, FIGURES_FOLDER

        tools = {"best_weights.h5", FIGURES_FOLDER, EXPORT_FOLDER}  # (the plot tests' output)
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            p.name for p in theirs.iterdir() if p.name not in tools)
        assert set(summary) == set(json.loads((theirs / "summary.json").read_text()))
        their_header = set(_rows(theirs / "log.csv")[0])
        per_layer = {c for c in header ^ their_header if "/" in c}  # layer names differ
        assert header - per_layer == their_header - per_layer
        from rethink_bnn.export.runs import ExportError, read_run

        with pytest.raises(ExportError, match="trained on front_end=keras3: the LCE export"):
            read_run(folder)  # tf-keras runs only: one line, before anything loads
    else:
        assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "flips", "pi",
                "gamma", "threshold", "learning_rate", "step"} <= header


@pytest.mark.slow
@without_tensorflow
@jax_processes
def test_a_sweep_of_keras3_points_runs_and_both_figures_draw_it(tmp_path):
    folder = tmp_path / "sweep"
    out = train("bop_sweep", "point=Demo", "point.front_end=keras3", "point.epochs=1",
                "point.flip_log_freq=1",  # the sweep figure reads per-step flips
                "point.dataset.train_limit=128", "vary=binary_optimizer.gamma=1e-3,1e-2",
                f"run_dir={folder}")
    assert "gamma=0.001: test accuracy" in out and "gamma=0.01: test accuracy" in out
    for figure, run in (("sweep", folder), ("training", folder / "gamma=0.01")):
        done = run_under("jax", "-c", LAUNCH.replace("rethink_bnn.train", "rethink_bnn.plot"),
                         figure, run, "-o", tmp_path / f"{figure}.png")
        assert done.returncode == 0, done.stderr[-2000:]
        assert (tmp_path / f"{figure}.png").stat().st_size > 10_000


@pytest.mark.slow
@without_tensorflow
@jax_processes
def test_on_two_devices_a_task_trains_as_on_one(tmp_path):
    """distribution=auto on JAX with several devices: DataParallel, the global batch
    split evenly over them (refused in one line otherwise)."""
    two = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 "  # first: XLA stops
                        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    common = ["demo", "front_end=keras3", "epochs=2", "dataset.train_limit=256"]
    logs = {}
    for name, extra in (("one", ["distribution=default"]), ("two", [])):
        done = run_under("jax", "-c", LAUNCH, *common, *extra, f"run_dir={tmp_path / name}",
                         **two)
        assert done.returncode == 0, done.stderr[-2000:]
        logs[name] = _rows(tmp_path / name / "log.csv")
    for one, two_rows in zip(logs["one"], logs["two"]):  # all-reduced: the same sums
        for key in ("loss", "val_loss", "flips"):
            assert float(two_rows[key]) == pytest.approx(float(one[key]), rel=1e-3), key
    odd = run_under("jax", "-c", LAUNCH, *common, "batch_size=33",
                    f"run_dir={tmp_path / 'odd'}", **two)
    assert odd.returncode == 2 and "must split evenly over the 2 replicas" in odd.stderr
    assert not (tmp_path / "odd").exists()


@pytest.mark.parametrize("arguments, fragment", [
    ({"precision": "mixed_float16"}, "precision=mixed_float16 is not available on "
                                     "front_end=keras3"),
    ({"distribution": "mirrored"}, "distribution=mirrored is a tf.distribute strategy"),
    ({"weight_kind": "latent_unclipped"}, "on front_end=keras3, got 'latent_unclipped'"),
    ({"model": "XnorNet"}, "model=XnorNet has no Keras 3 network"),
    ({"front_end": "keras4"}, "front_end must be one of tf_keras, keras3, got 'keras4'"),
    ({"loss": "categorical_crossentropy"}, "takes one-hot labels"),
    # an epoch of 41 steps in executions of 2: refused once the data are there
    ({"steps_per_execution": 2}, "steps_per_execution=2 does not divide the 41 steps of an "
                                 "epoch: on front_end=keras3 use one that does, e.g. "
                                 "steps_per_execution=1"),
])
def test_what_keras3_cannot_run_is_refused_before_anything_is_written(arguments, fragment,
                                                                      tmp_path):
    from zookeeper import configure

    from rethink_bnn.experiments.tasks import TASKS
    from rethink_bnn.experiments.training.checks import ConfigError

    task = TASKS["demo"]()
    configure(task, {"front_end": "keras3", "run_dir": str(tmp_path / "never"), **arguments})
    with pytest.raises(ConfigError, match=fragment):
        task.run()
    assert not (tmp_path / "never").exists()


def test_deterministic_kernels_are_taken_where_the_backend_has_them():
    from zookeeper import configure

    from rethink_bnn.experiments.tasks import TASKS

    task = TASKS["demo"]()
    configure(task, {"front_end": "keras3", "deterministic": True})
    task.validate()  # JAX on a CPU is deterministic; on a GPU it needs XLA_FLAGS


@pytest.mark.parametrize("optimizer", ["Bop", "Bop2ndOrder", "CEMA"])
def test_a_keras3_task_makes_its_front_ends_optimizers_with_their_schedules(optimizer):
    import keras
    from zookeeper import configure

    import rethink_bnn.keras3 as rk
    from rethink_bnn.experiments.tasks import TASKS
    from rethink_bnn.keras3.schedules import Linear

    task = TASKS["demo"]()
    first = {"Bop": "gamma", "Bop2ndOrder": "sigma", "CEMA": "alpha"}[optimizer]
    configure(task, {"front_end": "keras3", "binary_optimizer": optimizer,
                     f"binary_optimizer.{first}_schedule": "Linear",
                     f"binary_optimizer.{first}_schedule.end": 1e-5,
                     "learning_rate_schedule": "StepDecay"})
    task.validate()
    made = task.make_optimizer(steps_per_epoch=10)
    assert isinstance(made, rk.SkipNonFinite)
    (binary,) = rk.binary_optimizers(made)
    assert type(binary) is getattr(rk, optimizer)
    ramp = keras.saving.deserialize_keras_object(binary.get_config()[first])
    assert isinstance(ramp, Linear) and ramp.end == 1e-5 and ramp.steps == 10 * task.epochs
    adam = [o for o in made.inner_optimizer.optimizers if o is not binary][0]
    assert isinstance(adam, keras.optimizers.Adam)
    assert isinstance(adam._learning_rate, keras.optimizers.schedules.ExponentialDecay)


@pytest.mark.parametrize("steps, accelerated, expected", [
    (41, False, 1), (41, True, 1), (180, True, 30), (64, True, 32), (96, False, 1)])
def test_steps_per_execution_auto_divides_the_epoch_on_an_accelerator(steps, accelerated,
                                                                       expected, monkeypatch):
    import keras
    from zookeeper import configure

    from rethink_bnn.experiments.frontends import keras3 as front
    from rethink_bnn.experiments.tasks import TASKS

    task = TASKS["demo"]()
    configure(task, {"front_end": "keras3"})
    assert task.steps_per_execution == "auto"
    monkeypatch.setattr(front, "_accelerated", lambda: accelerated)
    torch = keras.backend.backend() == "torch"  # Keras runs one step per call there
    assert front.FrontEnd().steps_per_execution(task, steps) == (1 if torch else expected)
