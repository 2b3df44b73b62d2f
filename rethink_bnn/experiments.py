"""The paper's experiments as zookeeper tasks: `python -m rethink_bnn.train NAME key=value`.

Each task only sets fields (SPEC.md gives the values); the loop is `TrainingTask.run`.
"""

import os
import subprocess
import sys
from typing import Tuple, Union

import tensorflow as tf

from zookeeper import ComponentField, Field, task
from zookeeper.tf import Dataset, Preprocessing
from zookeeper.core.utils import convert_to_snake_case

from rethink_bnn.data import Cifar10, Cifar10Augmentation, Digits, FashionMnist, Mnist
from rethink_bnn.data import ScaleToUnitRange
from rethink_bnn.models import BinaryMLP, BinaryNet, MnistNet
from rethink_bnn.training.run_folder import RunFolder, write_json_atomically
from rethink_bnn.training.task import BopTraining, LatentTraining, _fields_of

__all__ = ["TASKS"]

TASKS = {}


def experiment(cls):
    """Register `cls` as a zookeeper task, runnable by its snake_case name."""
    cls = task(cls)
    TASKS[convert_to_snake_case(cls.__name__)] = cls
    return cls


class _OnCifar10:
    dataset: Dataset = ComponentField(Cifar10)
    preprocessing: Preprocessing = ComponentField(Cifar10Augmentation)
    model: tf.keras.Model = ComponentField(BinaryNet)
    input_shape: Tuple[int, int, int] = Field((32, 32, 3))


class _OnMnist:
    dataset: Dataset = ComponentField(Mnist)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    model: tf.keras.Model = ComponentField(MnistNet)
    input_shape: Tuple[int, int, int] = Field((28, 28, 1))


@experiment
class Cifar10Bop(_OnCifar10, BopTraining):
    """Sec 5.2: BinaryNet on CIFAR-10 with Bop, batch 50, 500 epochs, τ = 1e-8, γ = 1e-4
    decayed by 0.1 every 100 epochs, Adam 1e-2 for the rest (the report used 1e-3:
    `learning_rate=1e-3`); stops after 10 epochs without a flip."""

    batch_size: int = Field(50)
    epochs: int = Field(500)
    threshold: float = Field(1e-8)
    gamma: float = Field(1e-4)
    gamma_decay: float = Field(0.1)
    gamma_decay_epochs: int = Field(100)
    learning_rate: float = Field(1e-2)
    stop_after_flipless_epochs: int = Field(10)


@experiment
class Cifar10BopStudy(_OnCifar10, BopTraining):
    """One point of the sec 5.1 study: BinaryNet on CIFAR-10, batch 100, constant γ and τ
    (default: the authors' centre point γ = 1e-3, τ = 1e-6), Adam 1e-2."""

    batch_size: int = Field(100)
    epochs: int = Field(100)
    threshold: float = Field(1e-6)
    gamma: float = Field(1e-3)
    learning_rate: float = Field(1e-2)


@experiment
class Cifar10LatentAdam(_OnCifar10, LatentTraining):
    """The latent-weight baseline: BinaryNet with ste_sign kernels clipped to [-1, 1],
    Adam 5e-3 on everything, batch 256, 100 epochs."""

    batch_size: int = Field(256)
    epochs: int = Field(100)
    learning_rate: float = Field(5e-3)


@experiment
class MnistBop(_OnMnist, BopTraining):
    """The report's MNIST net trained with Bop (CPU scale): γ = 1e-3 decayed by 0.1 every
    3 epochs, τ = 1e-6, Adam 1e-3, batch 100, 10 epochs."""

    batch_size: int = Field(100)
    epochs: int = Field(10)
    threshold: float = Field(1e-6)
    gamma: float = Field(1e-3)
    gamma_decay: float = Field(0.1)
    gamma_decay_epochs: int = Field(3)
    learning_rate: float = Field(1e-3)


@experiment
class FashionMnistBop(MnistBop):
    """MnistBop on Fashion-MNIST (offline from Debian's dataset-fashion-mnist)."""

    dataset: Dataset = ComponentField(FashionMnist)


@experiment
class MnistLatentAdam(_OnMnist, LatentTraining):
    """The report's MNIST net with latent weights and Adam 1e-3 (sec 3.1.1), 6 epochs."""

    batch_size: int = Field(100)
    epochs: int = Field(6)
    learning_rate: float = Field(1e-3)


@experiment
class FashionMnistLatentAdam(MnistLatentAdam):
    """MnistLatentAdam on Fashion-MNIST."""

    dataset: Dataset = ComponentField(FashionMnist)


@experiment
class Demo(BopTraining):
    """A binary MLP on scikit-learn's bundled digits: offline, under a minute on 2 cores."""

    dataset: Dataset = ComponentField(Digits)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    model: tf.keras.Model = ComponentField(BinaryMLP)
    input_shape: Tuple[int, int, int] = Field((8, 8, 1))
    batch_size: int = Field(32)
    epochs: int = Field(30)
    threshold: float = Field(1e-6)
    gamma: float = Field(1e-2)
    learning_rate: float = Field(1e-2)
    flip_log_freq: Union[int, str] = Field("epoch")


# Sec 5.1 grids: (γ, τ, Adam learning rate). One axis varies γ at a fixed τ, the other
# τ at a fixed γ; the shared centre point appears once.
GRIDS = {
    "authors": [(g, 1e-6, 1e-2) for g in (1e-2, 1e-3, 1e-4)]
    + [(1e-3, t, 1e-2) for t in (0.0, 1e-5)],
    "report": [(g, 1e-5, 1e-3) for g in (1e-1, 1e-2, 1e-3)]
    + [(1e-2, t, 1e-3) for t in (0.0, 1e-4)],
}


@experiment
class BopSweep:
    """Sec 5.1: the γ/τ study, every grid point trained into its own run folder.

    `point` is the task each point runs (default `cifar10_bop_study`); configure it
    with `point.key=value` (e.g. `point.epochs=20`). Each point runs as its own
    process, `processes` at a time (one GPU each when GPUs are visible: set it to
    their number), as `python -m rethink_bnn.train <point> gamma=.. threshold=..
    learning_rate=.. run_dir=<run_dir>/gamma=.._tau=..`; a finished point is skipped
    and an unfinished one resumes. `sweep.json` lists every point's summary.
    """

    point: BopTraining = ComponentField(Cifar10BopStudy)
    grid: str = Field("authors")
    processes: int = Field(1)
    run_dir: str = Field("runs/bop_sweep")

    def run(self):
        if self.grid not in GRIDS:
            raise ValueError(f"grid must be one of {sorted(GRIDS)}, got {self.grid!r}.")
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes}.")
        name = convert_to_snake_case(type(self.point).__name__)
        shared = {k: v for k, v in _flatten(_fields_of(self.point)).items()
                  if k not in ("run_dir", "gamma", "threshold", "learning_rate")}
        commands = []
        for gamma, threshold, learning_rate in GRIDS[self.grid]:
            run_dir = os.path.join(self.run_dir, f"gamma={gamma:g}_tau={threshold:g}")
            overrides = {**shared, "gamma": gamma, "threshold": threshold,
                         "learning_rate": learning_rate, "run_dir": run_dir}
            args = [f"{k}={_cli_value(v)}" for k, v in overrides.items()]
            commands.append((run_dir, [sys.executable, "-m", "rethink_bnn.train", name, *args]))
        failed = _run_all(commands, self.processes)
        results = []
        for run_dir, _ in commands:
            folder = RunFolder(run_dir)
            results.append(folder.summary() if folder.finished else {"run_dir": run_dir,
                                                                      "finished": False})
        os.makedirs(self.run_dir, exist_ok=True)
        write_json_atomically(os.path.join(self.run_dir, "sweep.json"),
                              {"grid": self.grid, "point": name, "points": results})
        for (gamma, threshold, _), result in zip(GRIDS[self.grid], results):
            accuracy = result.get("test_accuracy")
            print(f"gamma={gamma:g} tau={threshold:g}: test accuracy "
                  f"{'unfinished' if accuracy is None else f'{accuracy:.4f}'}")
        if failed:
            raise RuntimeError(f"{len(failed)} sweep point(s) failed: {', '.join(failed)}")


def _flatten(config, prefix=""):
    flat = {}
    for key, value in config.items():
        if key == "task":
            continue
        if isinstance(value, dict):
            flat[f"{prefix}{key}"] = value["class"]
            flat.update(_flatten({k: v for k, v in value.items() if k != "class"},
                                 f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cli_value(value):
    return repr(tuple(value)) if isinstance(value, list) else str(value)


def _run_all(commands, processes):
    """Run the commands, `processes` at a time, each on its own GPU when GPUs exist."""
    gpus = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]
    if not gpus and processes > 1:
        gpus = [str(i) for i in range(processes)]
    failed, running = [], []
    for index, (run_dir, command) in enumerate(commands):
        env = dict(os.environ)
        if processes > 1:
            env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
        print(f"[{index + 1}/{len(commands)}] {' '.join(command[3:])}", flush=True)
        running.append((run_dir, subprocess.Popen(command, env=env)))
        if len(running) >= processes:
            run_dir, process = running.pop(0)
            if process.wait():
                failed.append(run_dir)
    for run_dir, process in running:
        if process.wait():
            failed.append(run_dir)
    return failed


def describe():
    """One line per task: its name and the first line of its docstring."""
    return "\n".join(
        f"  {name:28s} {((cls.__doc__ or '').strip().splitlines() or [''])[0]}"
        for name, cls in sorted(TASKS.items())
    )

