"""Every task builds and trains a few steps; the small ones train for real."""

import json
import re

import pytest
import tensorflow_datasets as tfds
from zookeeper import configure

from rethink_bnn.experiments.tasks import GRIDS, TASKS
from tests.data.test_archives import needs_fashion

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def run_task(name, **config):
    instance = TASKS[name]()
    configure(instance, config)
    return instance.run()


@pytest.mark.parametrize("name", ["cifar10_bop", "cifar10_bop_study", "cifar10_latent_adam",
                                  "mnist_bop", "mnist_latent_adam"])
@pytest.mark.slow
def test_tasks_on_mock_data_run_a_few_steps(name, tmp_path):
    with tfds.testing.mock_data(num_examples=8):
        summary = run_task(name, epochs=1, batch_size=4, run_dir=str(tmp_path / name),
                           **{"dataset.data_dir": str(tmp_path / "tfds")})
    assert summary["epochs_run"] == 1 and summary["test_examples"] == 8
    # Latent kernels count too: ste_sign makes them 1-bit in the forward pass.
    assert summary["binary_weights"] == (10_352_000 if name.startswith("cifar10") else 93_088)
    assert (tmp_path / name / "checkpoints" / "checkpoint").is_file()


def test_sec_5_2_defaults_follow_the_paper():
    task = TASKS["cifar10_bop"]()
    configure(task, {})
    bop = task.binary_optimizer
    assert (task.batch_size, task.epochs, bop.threshold, bop.gamma) == (50, 500, 1e-8, 1e-4)
    decay = bop.gamma_schedule
    assert (decay.factor, decay.every_epochs, task.learning_rate) == (0.1, 100, 1e-2)
    assert task.stop_after_flipless_epochs == 10
    schedule = task.make_optimizer(steps_per_epoch=900).optimizers[0]._learning_rate
    assert float(schedule(100 * 900 - 1)) == pytest.approx(1e-4)
    assert float(schedule(100 * 900)) == pytest.approx(1e-5)
    assert float(schedule(250 * 900)) == pytest.approx(1e-6)


@needs_fashion
@pytest.mark.parametrize("name", ["fashion_mnist_bop", "fashion_mnist_latent_adam"])
@pytest.mark.slow
def test_fashion_mnist_tasks_on_a_slice(name, tmp_path):
    summary = run_task(name, epochs=1, run_dir=str(tmp_path),
                       **{"dataset.train_limit": 500})
    assert summary["test_examples"] == 10000 and 0.0 < summary["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_demo_learns_digits_well_above_chance(tmp_path):
    summary = run_task("demo", run_dir=str(tmp_path))
    assert summary["test_accuracy"] > 0.8  # chance: 0.1
    assert summary["best_epoch"] is not None and summary["flips_last_epoch"] > 0
    log = (tmp_path / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    # Restoring the best weights must not rewind the optimizer's flip counters.
    flips = header.index("flips")
    assert summary["best_epoch"] < 30  # 1-based: not the last epoch
    assert summary["flips_total"] == sum(float(r.split(",")[flips]) for r in log[1:])
    assert {"flips", "pi", "gamma", "learning_rate", "val_accuracy"} <= set(header)
    assert len(log) == 1 + 30
    assert json.loads((tmp_path / "config.json").read_text())["model"]["class"] == "BinaryMLP"


def test_sweep_runs_every_grid_point_into_its_own_folder(sweep_run):
    # sweep_run (conftest): bop_sweep point=Demo point.epochs=3, 320 digits, 2 processes
    sweep = json.loads((sweep_run / "sweep.json").read_text())
    assert len(sweep["points"]) == len(GRIDS["authors"]) == 5
    for (gamma, threshold, learning_rate), point in zip(GRIDS["authors"], sweep["points"]):
        bop = point["config"]["binary_optimizer"]
        assert bop["class"] == "Bop" and (bop["gamma"], bop["threshold"]) == (gamma, threshold)
        assert point["config"]["learning_rate"] == learning_rate
        assert point["config"]["epochs"] == 3 and point["config"]["dataset"]["train_limit"] == 320
    folders = sorted(p.name for p in sweep_run.iterdir() if p.name.startswith("gamma="))
    assert folders == sorted(f"gamma={g:g}_tau={t:g}" for g, t, _ in GRIDS["authors"])


@pytest.mark.slow
def test_training_stops_after_the_given_number_of_epochs_without_flips(tmp_path):
    # τ = 1e9: no average ever reaches it, so no weight flips.
    summary = run_task("demo", **{"binary_optimizer.threshold": 1e9}, stop_after_flipless_epochs=2, epochs=10,
                       run_dir=str(tmp_path), **{"dataset.train_limit": 64})
    assert summary["epochs_run"] == 2 and summary["stopped_without_flips"]
    assert summary["flips_last_epoch"] == 0


@pytest.mark.slow
def test_summary_counts_every_flip_of_the_run(tmp_path):
    summary = run_task("demo", epochs=3, run_dir=str(tmp_path), **{"dataset.train_limit": 64})
    rows = (tmp_path / "log.csv").read_text().splitlines()
    column = rows[0].split(",").index("flips")
    assert summary["flips_total"] == sum(float(r.split(",")[column]) for r in rows[1:]) > 0


@needs_fashion
@pytest.mark.slow
def test_fashion_mnist_bop_reaches_the_accuracy_we_measured(tmp_path):
    """One epoch on half of the 54,000 training images, tested on all 10,000: measured
    0.7737 test accuracy on the 2-core CI machine (TF 2.19.1; 0.7810 with seed=1) with
    the report's code's MNIST net; the bound leaves room for other CPUs' rounding. (All
    54,000 gave 0.7940, for twice the CPU time; 13,500 gave 0.7143 and 0.7481, too far
    apart to bound.)"""
    summary = run_task("fashion_mnist_bop", epochs=1, run_dir=str(tmp_path),
                       **{"dataset.train_limit": 27_000})
    assert summary["test_accuracy"] >= 0.74
    assert summary["flips_total"] > 0 and summary["binary_weights"] == 93_088


@pytest.mark.parametrize("name", ["approximation_viewpoint", "arbitrary_lr"])
def test_theory_tasks_follow_the_reports_code_batch_64_and_no_validation_split(name):
    from zookeeper.core.component import base_getattr

    task = TASKS[name]()
    configure(task, {"dataset": "FashionMnist"})
    assert task.batch_size == 64
    assert base_getattr(task, "dataset").validation_fraction == 0.0  # whatever the dataset
    override = TASKS[name]()
    configure(override, {"dataset.validation_fraction": 0.1})
    assert base_getattr(override, "dataset").validation_fraction == 0.1


# --- the sweep's points: any task with a binary optimizer, any of its number fields ------

def _sweep(argv):
    """bop_sweep configured from a command line's key=value arguments, and checked."""
    from rethink_bnn.experiments.cli.train import configured, parse

    sweep = configured(*parse(["bop_sweep", *argv]))
    sweep.validate()
    return sweep


def _documented_sweep_lines():
    """Every bop_sweep command line in README.md, docs/*.md, experiments/*.md and the docstrings of
    the CLI and the sweep: in code blocks (a backslash continues a line), in inline code,
    and the bare `point=...` of the README's table."""
    import shlex
    from pathlib import Path

    from rethink_bnn.experiments.cli import train
    from rethink_bnn.experiments.tasks import BopSweep

    root = Path(__file__).parents[1]
    docs = {str(p.relative_to(root)): p.read_text()
            for p in [root / "README.md", *sorted((root / "docs").glob("*.md")),
                      *sorted((root / "experiments").glob("*.md"))]}
    # a docstring's command lines stand alone, indented
    docs.update({name: re.sub(r"\n +(python -m rethink_bnn\.train [^\n]*)",
                              r"\n```\n\1\n```", doc)
                 for name, doc in [("train.py", train.__doc__), ("BopSweep", BopSweep.__doc__)]})
    lines = []
    for name, text in docs.items():
        text = re.sub(r"\\\n\s*", " ", text)
        blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
        spans = re.findall(r"`([^`\n]+(?:\n[^`\n]+)?)`", re.sub(r"```.*?```", "", text,
                                                                 flags=re.S))
        for snippet in [*"\n".join(blocks).splitlines(), *spans]:
            snippet = re.sub(r"(^|\s)#.*", "", snippet.replace("\n", " "))
            if "bop_sweep" not in snippet and not snippet.startswith("point="):
                continue
            words = shlex.split(snippet)
            if "bop_sweep" in words and len(words) > words.index("bop_sweep") + 1:
                lines.append((name, words[words.index("bop_sweep") + 1:]))
            elif words and words[0].startswith("point="):
                lines.append((name, words))
    return lines


S, G = "binary_optimizer.sigma", "binary_optimizer.gamma"
ROUND_SIGMA = f"vary={S}=1e-3,1e-2;{G}=1e-3,1e-2"


@pytest.mark.slow
def test_every_documented_sweep_line_is_accepted():
    lines = _documented_sweep_lines()
    # the README's own: a Bop2ndOrder point, varying σ and γ
    assert ("README.md", ["point=FashionMnistBop2ndOrder", ROUND_SIGMA]) in lines
    assert len(lines) >= 9
    for doc, argv in lines:
        sweep = _sweep(argv)
        assert len(sweep.points()) >= 3, (doc, argv)
    assert _sweep(["point=FashionMnistBop2ndOrder", ROUND_SIGMA]
                  ).points() == [{S: 1e-3, G: 1e-2},  # around σ = γ = 1e-2,
                                 {S: 1e-2, G: 1e-2},  # the centre once
                                 {S: 1e-2, G: 1e-3}]


def test_a_binary_optimizer_is_what_the_task_trains_with_not_its_base():
    from rethink_bnn.experiments.tasks.registry import has_binary_optimizer
    from rethink_bnn.experiments.training.task import TrainingTask

    for name, cls in TASKS.items():
        task = cls()
        configure(task, {})
        binary = isinstance(task, TrainingTask) and task.make_binary_optimizer(1) is not None
        assert has_binary_optimizer(cls) == binary, name
    assert has_binary_optimizer(TASKS["fashion_mnist_cema"])
    assert not has_binary_optimizer(TASKS["mnist_latent_adam"])


def test_a_later_optimizer_is_a_component_and_a_sweep_point_with_no_edit(monkeypatch):
    """An optimizer declared outside the package: its component has its fields, any task
    takes it as binary_optimizer, and the sweep varies its hyperparameters."""
    from zookeeper import ComponentField, task

    from rethink_bnn.experiments.tasks import Demo
    from rethink_bnn.optimizers import Bop
    from rethink_bnn.declarations import rate
    from rethink_bnn.experiments.training.optimizer_components import component_for

    class Later(Bop):
        HYPERPARAMETERS = (*Bop.HYPERPARAMETERS, rate("rho", "a later rate", default=1e-2))

        def __init__(self, threshold=1e-8, gamma=1e-4, rho=1e-2, name="Later", **kwargs):
            super().__init__(threshold=threshold, gamma=gamma, name=name, rho=rho, **kwargs)

    class LaterOptimizerDemo(Demo):
        """Digits, kernels trained by a later binary optimizer."""

        binary_optimizer = ComponentField(component_for(Later), rho=0.5)

    monkeypatch.setitem(TASKS, "later_optimizer_demo", task(LaterOptimizerDemo))
    sweep = _sweep(["point=LaterOptimizerDemo", "vary=binary_optimizer.rho=1e-3,1e-1"])
    assert sweep.points() == [{"binary_optimizer.rho": 1e-3}, {"binary_optimizer.rho": 1e-1}]
    point = TASKS["later_optimizer_demo"]()
    configure(point, {"binary_optimizer.rho": 0.25})
    optimizer = point.make_binary_optimizer(10)
    assert type(optimizer) is Later and float(optimizer.rho) == 0.25


def test_vary_takes_integer_and_nested_fields_and_passes_them_down():
    from rethink_bnn.experiments.config.stored import check_stored_config
    from rethink_bnn.experiments.training.task import ConfigError, fields_of

    sweep = _sweep(["point=Demo", "vary=seed=1,2;dataset.train_limit=64,128",
                    "point.dataset.train_limit=320"])
    points = sweep.points()
    assert points[0] == {"seed": 1, "dataset.train_limit": 320}
    assert points[-1] == {"seed": 0, "dataset.train_limit": 128}
    assert all(type(v) is int for p in points for v in p.values())  # not 1.0
    config = sweep.point_config({"task": "demo", **fields_of(sweep.point)}, points[1], "r")
    check_stored_config(config)  # the point's process reads it with --config
    # zookeeper gave the model and the digits' split the task's seed: varied with it
    assert (config["seed"], config["model"]["seed"], config["dataset"]["seed"]) == (2, 2, 2)
    assert config["dataset"]["train_limit"] == 320 and config["run_dir"] == "r"
    for argv, message in [
        (["point=Demo", "vary=epochs=1.5"], "vary: epochs takes integers, got 1.5."),
        (["point=Demo", "vary=input_shape=1,2"], "vary: input_shape is not a number field "
                                                 "of Demo (its number fields: batch_size, "),
        (["point=FashionMnistCema"], f"grid=authors sets {G}, binary_optimizer.threshold, "
                                     "learning_rate, and FashionMnistCema has no "
                                     "binary_optimizer.threshold: vary its own"),
    ]:
        with pytest.raises(ConfigError, match="^" + re.escape(message)):
            _sweep(argv)
    latent = TASKS["bop_sweep"]()
    configure(latent, {"point": TASKS["mnist_latent_adam"]()})
    with pytest.raises(ConfigError, match="point must be a task with a binary_optimizer field"):
        latent.validate()


def _sweep_into(folder):
    from rethink_bnn.train import main

    return main(["bop_sweep", "point=Demo", f"run_dir={folder}", "point.epochs=1",
                 "point.dataset.train_limit=64"])


@pytest.mark.parametrize("user_file", ["sweep.json", "notes.txt", "points/mine.json",
                                       "points/readme.txt", "mydata/x.csv"])
def test_a_sweep_never_writes_into_a_folder_holding_a_users_files(user_file, tmp_path,
                                                                  capsys):
    folder = tmp_path / "sweep"
    (folder / user_file).parent.mkdir(parents=True, exist_ok=True)
    (folder / user_file).write_text('{"mine": true}')
    before = sorted(str(p) for p in folder.rglob("*"))
    assert _sweep_into(folder) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run_dir ") and "is no sweep's folder" in err
    assert err.count("\n") == 1
    assert sorted(str(p) for p in folder.rglob("*")) == before
    assert (folder / user_file).read_text() == '{"mine": true}'


def test_a_sweeps_own_folder_is_its_to_rewrite(sweep_run, tmp_path):
    """An earlier sweep's folder (its summary, points and run folders) passes the check."""
    from rethink_bnn.experiments.tasks.sweep_processes import check_sweep_folder

    check_sweep_folder(str(sweep_run))
    check_sweep_folder(str(tmp_path / "new"))
    (tmp_path / "empty").mkdir()
    check_sweep_folder(str(tmp_path / "empty"))


@pytest.mark.slow
def test_a_sweep_whose_point_refuses_its_configuration_ends_in_one_line_exit_2(tmp_path, capfd):
    from rethink_bnn.train import main

    folder = tmp_path / "sweep"
    argv = ["bop_sweep", "point=Demo", f"run_dir={folder}", "point.epochs=1",
            "point.dataset.train_limit=64", "vary=batch_size=32,100000", "processes=1"]
    assert main(argv) == 2
    out, err = capfd.readouterr()
    err = err.strip().splitlines()
    # the point's own one line (its process shares the sweep's terminal), then the sweep's
    assert "error: batch_size=100000 is larger than the 64 training examples" in out + "\n".join(err)
    assert err[-1].startswith("error: 1 of 2 sweep points refused their configuration "
                              "(batch_size=100000; each said why above)")
    assert (folder / "batch_size=32" / "summary.json").is_file()  # the other point ran
    assert not (folder / "batch_size=100000").exists() or not any(
        (folder / "batch_size=100000").iterdir())


# Checks both front ends' points of a sweep, then says whether a device was started.
UNTOUCHED = """
import sys
from rethink_bnn.experiments.cli.train import configured, parse
for front_end in ("tf_keras", "keras3"):
    configured(*parse(["bop_sweep", f"point.front_end={front_end}", "point.deterministic=True",
                       "vary=seed=1,2"])).validate()
import jax._src.xla_bridge as xla_bridge
from tensorflow.python.eager import context
print(context.context()._context_handle is not None, bool(xla_bridge._backends))
"""


@pytest.mark.slow
def test_a_sweep_checks_its_points_without_starting_a_device(monkeypatch):
    """The sweep's own process trains nothing. A first variable (an optimizer's, a seed
    generator's) or a list of JAX's devices would start them, and TensorFlow maps nearly
    all of every visible GPU's memory then, JAX most of its GPUs': the points, each
    given a GPU, would find it taken. Its default point, CIFAR-10, on both front ends."""
    import os
    import subprocess
    import sys

    from rethink_bnn.experiments.training.task import ConfigError, TrainingTask

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", UNTOUCHED], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "False"]  # TensorFlow's, JAX's
    with pytest.raises(ConfigError, match="sweep point gamma=2: binary_optimizer.gamma"):
        _sweep(["point=Demo", f"vary={G}=0.1,2"])  # the declared ranges are still checked

    def built(*args, **kwargs):
        raise AssertionError("an optimizer was built")

    monkeypatch.setattr(TrainingTask, "make_optimizer", built)
    task = TASKS["demo"]()
    configure(task, {})
    with pytest.raises(AssertionError, match="an optimizer was built"):
        task.validate()  # a run's own check builds them


def test_every_point_has_its_own_exact_label():
    """`:g` showed 1234567 and 1234568 as 1.23457e+06: one folder for two points."""
    assert _sweep(["point=Demo", "vary=seed=1234567,1234568"]).labels() == [
        "seed=1234567", "seed=1234568"]
    assert _sweep(["point=Demo", f"vary={G}=0.1,0.1000001,1e-06"]).labels() == [
        "gamma=0.1", "gamma=0.1000001", "gamma=1e-06"]
    assert _sweep(["point=Demo", "vary=binary_optimizer.threshold=0,1234567.5"]
                  ).labels() == ["tau=0", "tau=1234567.5"]


def test_a_sweep_refuses_a_point_out_of_range_before_any_point_trains(tmp_path, capsys):
    from rethink_bnn.train import main

    folder = tmp_path / "sweep"
    assert main(["bop_sweep", "point=Demo", "point.binary_optimizer=Bop2ndOrder",
                 f"vary={S}=1e-2,0", f"run_dir={folder}", "point.epochs=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sweep point sigma=0: ") and "sigma" in err[30:]
    assert err.count("\n") == 1 and not folder.exists()


@pytest.mark.slow
def test_sigterm_to_a_sweep_stops_its_running_point_which_resumes(tmp_path):
    """A preemptible VM's SIGTERM reaches the sweep alone: the point it runs stops with
    it (its lock released), and the same command resumes the point."""
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "sweep"
    argv = [sys.executable, "-m", "rethink_bnn.train", "bop_sweep", "point=Demo",
            f"run_dir={folder}", "vary=seed=1", "point.epochs=500", "point.dataset.train_limit=64"]
    sweep = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    point_log = folder / "seed=1" / "log.csv"
    deadline = time.monotonic() + 120
    while not point_log.exists() and time.monotonic() < deadline:  # an epoch is done
        time.sleep(0.2)
    children = [int(p) for p in open(f"/proc/{sweep.pid}/task/{sweep.pid}/children").read().split()]
    assert children and point_log.exists()
    sweep.send_signal(signal.SIGTERM)
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 143, err[-2000:]
    assert "interrupted" in err
    for pid in children:  # every point stopped with the sweep
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_a_point_process_dies_with_a_sweep_that_is_killed(tmp_path):
    """SIGKILL cannot be passed on: the parent-death signal stops the point instead."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "from rethink_bnn.experiments.tasks.sweep_processes import _die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " preexec_fn=_die_with_parent())\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(300)\n")])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # reaped by init once it exits; until then it may linger as a zombie
        if open(f"/proc/{child}/stat").read().split(")")[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the point outlived the sweep")
