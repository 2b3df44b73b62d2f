"""The paper's experiments as zookeeper tasks: `python -m rethink_bnn.train NAME key=value`.

Each task only sets fields (SPEC.md gives the values); the loop is `TrainingTask.run`.
"""

import logging
import math
import os
import subprocess
import sys
from typing import Tuple, Union

import numpy as np
import tensorflow as tf

from zookeeper import ComponentField, Field, task
from zookeeper.tf import Dataset, Preprocessing
from zookeeper.core.utils import convert_to_snake_case

from rethink_bnn.data import Cifar10, Cifar10Augmentation, Digits, FashionMnist, Mnist
from rethink_bnn.data import ImageNet2012, ImageNetPreprocessing, ScaleToUnitRange
from rethink_bnn.models import (
    BiRealNet,
    BinaryAlexNet,
    BinaryMLP,
    BinaryNet,
    MnistNet,
    XnorNet,
    mnist_net,
)
from rethink_bnn.optimizers import CaseOptimizer, is_binary_variable
from rethink_bnn.theory import (
    SignRecorder,
    approximation_table,
    arbitrary_lr_configurations,
    differing,
    retrain_batch_norm,
    with_real_kernels,
    write_table,
)
from rethink_bnn.training.run_folder import (
    RunFolder,
    read_csv,
    write_csv_atomically,
    write_json_atomically,
)
from rethink_bnn.training.task import (
    BopTraining,
    LatentTraining,
    LinearDecayBopTraining,
    evaluation_stream,
    fields_of,
    training_stream,
    versions,
)

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


class _OnImageNet(LinearDecayBopTraining):
    """Sec 5.3: ImageNet with Bop, the authors' settings: batch 1024, τ = 1e-8, γ 1e-4 →
    1e-6 and Adam 2.5e-3 → 5e-6, both linear over the run; ImageNet's validation set is
    the test set. Needs the manual download (dataset.manual_dir=...)."""

    dataset: Dataset = ComponentField(ImageNet2012)
    preprocessing: Preprocessing = ComponentField(ImageNetPreprocessing)
    input_shape: Tuple[int, int, int] = Field((224, 224, 3))
    num_classes: int = Field(1000)
    batch_size: int = Field(1024)
    threshold: float = Field(1e-8)
    gamma: float = Field(1e-4)
    final_gamma: float = Field(1e-6)
    learning_rate: float = Field(2.5e-3)
    final_learning_rate: float = Field(5e-6)
    shuffle_buffer: int = Field(10_000)


@experiment
class BinaryAlexnetImagenet(_OnImageNet):
    """Sec 5.3: Binary AlexNet (larq-zoo) on ImageNet with Bop, 150 epochs (paper: 41.1%
    top-1)."""

    model: tf.keras.Model = ComponentField(BinaryAlexNet)
    epochs: int = Field(150)


@experiment
class XnornetImagenet(_OnImageNet):
    """Sec 5.3: XNOR-Net (larq-zoo, l2 5e-7 on kernels) on ImageNet with Bop, 100 epochs
    (paper: 45.9% top-1)."""

    model: tf.keras.Model = ComponentField(XnorNet)
    epochs: int = Field(100)


@experiment
class BirealnetImagenet(_OnImageNet):
    """Sec 5.3: Bi-Real Net (larq-zoo) on ImageNet with Bop, 300 epochs (paper: 56.6%
    top-1)."""

    model: tf.keras.Model = ComponentField(BiRealNet)
    epochs: int = Field(300)


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
        shared = {k: v for k, v in _flatten(fields_of(self.point)).items()
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


def describe(width=100):
    """One line per task: its name and the start of its docstring's first paragraph."""
    lines = []
    for name, cls in sorted(TASKS.items()):
        summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        room = width - 31
        if len(summary) > room:
            summary = summary[: room - 1].rsplit(" ", 1)[0] + " …"
        lines.append(f"  {name:28s} {summary}")
    return "\n".join(lines)


class _TheoryTask:
    """Fields shared by the theory experiments (the report's MNIST net, sec 3.1)."""

    dataset: Dataset = ComponentField(Mnist)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    input_shape: Tuple[int, int, int] = Field((28, 28, 1))
    num_classes: int = Field(10)
    batch_size: int = Field(100)
    # Evaluation only: a larger batch computes the same accuracy in fewer steps.
    evaluation_batch_size: int = Field(1000)
    shuffle_buffer: int = Field(10_000)
    run_dir: str = Field(lambda self: f"runs/{convert_to_snake_case(type(self).__name__)}")
    overwrite: bool = Field(False)

    # Fields that may change between runs into the same folder.
    resumable_fields = ()

    def _open(self):
        """Claim the run folder (after the data loads); returns (folder, config, data)."""
        folder = RunFolder(self.run_dir)
        config = {"task": convert_to_snake_case(type(self).__name__), **fields_of(self)}
        folder.check(config, self.overwrite, self.resumable_fields)
        data = (self.dataset.train(), self.dataset.test())
        folder.claim(config, self.overwrite, self.resumable_fields)
        return folder, config, data

    def _net(self, weights, seed, initializer=None):
        # Larq warns about kernels without a constraint; Theorem 1's form omits it on purpose.
        larq_log = logging.getLogger("larq")
        level = larq_log.level
        larq_log.setLevel(logging.ERROR if weights == "latent_unclipped" else level)
        try:
            return mnist_net(tuple(self.input_shape), self.num_classes, weights=weights,
                             seed=seed, initializer=initializer)
        finally:
            larq_log.setLevel(level)


@experiment
class ApproximationViewpoint(_TheoryTask):
    """Sec 3.1.1 of the report: latent weights are no better a network than their signs.

    For each of `seeds` seeds: train the MNIST net with latent weights (ste_sign, clipped)
    and Adam for `epochs` epochs; test (a) the binary weights, (b) the real latent
    weights with the sign activations kept, (c) those latent weights frozen with
    BatchNorm retrained for `epochs` epochs. Writes table.csv/json/md (mean and standard
    deviation per row, one-way ANOVA across rows) and per_seed.csv; a rerun skips the
    seeds already done. Datasets: dataset=Mnist (default), FashionMnist, or Cifar10 with
    input_shape=(32,32,3).
    """

    epochs: int = Field(6)
    seeds: int = Field(10)
    first_seed: int = Field(0)
    learning_rate: float = Field(1e-3)
    # More (or other) seeds into the same folder reuse the seeds already done.
    resumable_fields = ("seeds", "first_seed")

    def run(self):
        folder, config, ((train, n_train), (test, n_test)) = self._open()
        steps = math.ceil(n_train / self.batch_size)
        evaluation = evaluation_stream(test, self.preprocessing, self.evaluation_batch_size)
        per_seed_file = folder.path / "per_seed.csv"
        done = {int(r["seed"]): r for r in read_csv(per_seed_file)}
        for seed in range(self.first_seed, self.first_seed + self.seeds):
            if seed in done:
                continue
            tf.keras.backend.clear_session()
            tf.keras.utils.set_random_seed(seed)
            logs = folder.path / "seeds" / f"seed_{seed}"
            stream = training_stream(train, self.preprocessing, self.batch_size, seed,
                                     self.shuffle_buffer)
            model = self._net("latent", seed)
            model.compile(tf.keras.optimizers.Adam(self.learning_rate),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            logs.mkdir(parents=True, exist_ok=True)
            model.fit(stream, epochs=self.epochs, steps_per_epoch=steps, verbose=0,
                      callbacks=[tf.keras.callbacks.CSVLogger(str(logs / "latent.csv")),
                                 tf.keras.callbacks.TensorBoard(str(logs / "tensorboard"))])
            binary = model.evaluate(evaluation, verbose=0)[1]
            real = with_real_kernels(model)
            real.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            latent = real.evaluate(evaluation, verbose=0)[1]
            retrain_batch_norm(real, stream, steps, self.epochs, self.learning_rate,
                               [tf.keras.callbacks.CSVLogger(str(logs / "batch_norm.csv"))])
            retrained = real.evaluate(evaluation, verbose=0)[1]
            row = {"seed": seed, "binary": binary, "latent": latent,
                   "latent+retrained BN": retrained}
            print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                                               if k != "seed"), flush=True)
            done[seed] = row
            write_csv_atomically(per_seed_file, [done[s] for s in sorted(done)])
        seeds = range(self.first_seed, self.first_seed + self.seeds)
        table = approximation_table([
            {k: (int(v) if k == "seed" else float(v)) for k, v in done[s].items()} for s in seeds
        ])
        write_table(folder.path, table, f"Approximation viewpoint: {type(self.dataset).__name__}, "
                                        f"{self.epochs} epochs, {self.seeds} seeds")
        folder.write_summary({"task": config["task"], "config": config, "versions": versions(),
                              "test_examples": n_test, "table": table["rows"],
                              "anova": table["anova"]})
        folder.release()  # (on an error, the lock goes with the process or the next claim)
        print((folder.path / "table.md").read_text())
        return table


@experiment
class ArbitraryLr(_TheoryTask):
    """Sec 3.1.2 of the report / Theorem 1: the five initialization and optimizer
    configurations (Glorot + SGD s; Glorot + SGD 1; Glorot × s + SGD s; uniform + SGD s;
    uniform + Adam 0.01), BatchNorm by Adam in all, each logged per epoch (train and
    test accuracy: `val_accuracy` is the test set) to configs/<name>/.

    `exact=True` (default) is Theorem 1's exact form: s = 2**-7 (scaling exact in floating
    point), a straight-through estimator without the |w| <= 1 cut-off, no clipping,
    deterministic ops, one seed and data order. Then configurations 2 and 3 have the same
    binary weights at every step: identity.csv counts, per epoch (and per step with
    `compare_every_step`), the binary weights that differ between 2 and 3 (expected 0)
    and between 1 and 2 (expected many). `exact=False` is the report's form (s = 0.01,
    ste_sign with cut-off, weights clipped).
    """

    epochs: int = Field(100)
    seed: int = Field(0)
    exact: bool = Field(True)
    scale: float = Field(lambda self: 2.0**-7 if self.exact else 0.01)
    batch_norm_learning_rate: float = Field(1e-3)
    compare_every_step: bool = Field(False)

    def run(self):
        if self.exact:
            tf.config.experimental.enable_op_determinism()
        folder, config, ((train, n_train), (test, _)) = self._open()
        steps = math.ceil(n_train / self.batch_size)
        evaluation = evaluation_stream(test, self.preprocessing, self.evaluation_batch_size)
        weights = "latent_unclipped" if self.exact else "latent"
        results = {}
        for name, initializer, kernel_optimizer in arbitrary_lr_configurations(self.scale):
            logs = folder.path / "configs" / name
            if not (logs / "signs.npz").is_file():
                tf.keras.backend.clear_session()
                tf.keras.utils.set_random_seed(self.seed)
                model = self._net(weights, self.seed, initializer)
                kernels = [v for v in model.trainable_variables if is_binary_variable(v)]
                model.compile(
                    CaseOptimizer((is_binary_variable, kernel_optimizer()),
                                  default_optimizer=tf.keras.optimizers.Adam(
                                      self.batch_norm_learning_rate)),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
                recorder = SignRecorder(kernels, every_step=self.compare_every_step)
                logs.mkdir(parents=True, exist_ok=True)
                stream = training_stream(train, self.preprocessing, self.batch_size,
                                         self.seed, self.shuffle_buffer)
                model.fit(stream, epochs=self.epochs, steps_per_epoch=steps, verbose=0,
                          validation_data=evaluation,
                          callbacks=[recorder, tf.keras.callbacks.CSVLogger(str(logs / "log.csv")),
                                     tf.keras.callbacks.TensorBoard(str(logs / "tensorboard"))])
                np.savez(logs / "signs.npz", epochs=np.stack(recorder.epochs),
                         steps=np.stack(recorder.steps) if recorder.steps else np.zeros((0, 0)))
            last = read_csv(logs / "log.csv")[-1]
            results[name] = {"train_accuracy": float(last["accuracy"]),
                             "test_accuracy": float(last["val_accuracy"])}
            print(f"{name}: train {results[name]['train_accuracy']:.4f}, "
                  f"test {results[name]['test_accuracy']:.4f}", flush=True)
        first, second, third = (np.load(folder.path / "configs" / n / "signs.npz")
                                for n, _, _ in arbitrary_lr_configurations(self.scale)[:3])
        identity = {"epoch_differ_2_3": differing(second["epochs"], third["epochs"]),
                    "epoch_differ_1_2": differing(first["epochs"], second["epochs"])}
        if self.compare_every_step:
            identity["step_differ_2_3"] = differing(second["steps"], third["steps"])
            identity["step_differ_1_2"] = differing(first["steps"], second["steps"])
        write_csv_atomically(folder.path / "identity.csv", [
            {"epoch": e, "differ_2_3": a, "differ_1_2": b}
            for e, (a, b) in enumerate(zip(identity["epoch_differ_2_3"],
                                           identity["epoch_differ_1_2"]))
        ])
        summary = {"task": config["task"], "config": config, "versions": versions(),
                   "scale": self.scale, "configurations": results, **identity}
        folder.write_summary(summary)
        folder.release()
        print(f"binary weights differing between configurations 2 and 3, per epoch: "
              f"{identity['epoch_differ_2_3']}; between 1 and 2: {identity['epoch_differ_1_2']}")
        return summary
