"""Sec 3.1 of the reproducibility report: the paper's theoretical claims, tested on the
report's MNIST net. The runners use the training loop's machinery: validation before
anything loads, a run folder claimed once the data is there, crash-safe logs and tables
written whole."""

import logging
import math
from typing import Tuple

import numpy as np
import tensorflow as tf
from zookeeper import ComponentField, Field

from rethink_bnn.experiments.data.bases import Dataset, Preprocessing
from rethink_bnn.experiments.config.zookeeper_internals import (base_getattr, configured_values,
                                             convert_to_snake_case)
from rethink_bnn.experiments.data import Mnist, ScaleToUnitRange, evaluation_stream, training_stream
from rethink_bnn.experiments.tasks.registry import experiment
from rethink_bnn.models import mnist_net
from rethink_bnn.optimizers import CaseOptimizer, is_binary_variable
from rethink_bnn.experiments.tasks.theory import (
    SignRecorder,
    approximation_table,
    arbitrary_lr_configurations,
    default_scale,
    differing,
    retrain_batch_norm,
    with_real_kernels,
    write_table,
)
from rethink_bnn.experiments.training.fields import check_types
from rethink_bnn.experiments.training.loop_callbacks import EpochLog
from rethink_bnn.experiments.training.metrics import accuracy
from rethink_bnn.experiments.runs.files import read_csv, write_csv_atomically
from rethink_bnn.experiments.runs.folder import RunFolder
from rethink_bnn.experiments.training.task import ConfigError, fields_of, versions

__all__ = ["ApproximationViewpoint", "ArbitraryLr"]


def _tensorboard(logs):
    """Scalars per epoch, as the training loop writes them: no graph and no profile of
    batch 2 (Keras' defaults), which cost each configuration seconds for nobody."""
    return tf.keras.callbacks.TensorBoard(str(logs / "tensorboard"), write_graph=False,
                                          profile_batch=0)


class _TheoryTask:
    """Fields shared by the theory experiments (the report's MNIST net, sec 3.1), with
    the protocol of the report's code: batch 64, the whole training set (no validation
    split; `dataset.validation_fraction=0.1` holds out the last tenth instead)."""

    dataset: Dataset = ComponentField(Mnist)
    preprocessing: Preprocessing = ComponentField(ScaleToUnitRange)
    input_shape: Tuple[int, int, int] = Field((28, 28, 1))
    num_classes: int = Field(10)
    # passed down to the dataset's field of the same name (any dataset= chosen)
    validation_fraction: float = Field(0.0)
    batch_size: int = Field(64)
    # Evaluation only: a larger batch computes the same accuracy in fewer steps.
    evaluation_batch_size: int = Field(1000)
    shuffle_buffer: int = Field(10_000)
    run_dir: str = Field(lambda self: f"runs/{convert_to_snake_case(type(self).__name__)}")
    overwrite: bool = Field(False)

    # Fields that may change between runs into the same folder.
    resumable_fields = ()

    def __post_configure__(self):
        # The task's validation_fraction is the default of whichever dataset is chosen
        # (dataset=FashionMnist included), unless dataset.validation_fraction is given:
        # zookeeper passes a parent's value down only when it was configured.
        dataset = base_getattr(self, "dataset")
        configured_values(dataset).setdefault("validation_fraction", self.validation_fraction)

    def validate(self):
        """Check every field before anything loads or is written."""
        try:
            check_types(self)
        except TypeError as error:
            raise ConfigError(str(error)) from error
        for name in ("epochs", "batch_size", "evaluation_batch_size", "shuffle_buffer",
                     "seeds"):
            value = getattr(self, name, 1)
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}.")
        for name in ("seed", "first_seed"):
            value = getattr(self, name, 0)
            if not 0 <= value < 2**31:
                raise ConfigError(f"{name} must be in [0, 2**31), got {value}.")
        for name in ("learning_rate", "batch_norm_learning_rate", "scale"):
            value = getattr(self, name, 1.0)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a finite number > 0, got {value}.")
        if not str(self.run_dir).strip():
            raise ConfigError("run_dir must name a folder, got an empty string.")
        if self.dataset.image_shape not in (None, tuple(self.input_shape)):
            raise ConfigError(f"input_shape={tuple(self.input_shape)} does not match "
                              f"{type(self.dataset).__name__}'s images of shape "
                              f"{self.dataset.image_shape}: pass input_shape="
                              f"{self.dataset.image_shape}.".replace(" ", "", 0))
        try:
            self.dataset.validate()
        except ValueError as error:
            raise ConfigError(str(error)) from error

    def _open(self):
        """Claim the run folder (after the data loads); returns (folder, config, data)."""
        self.validate()
        folder = RunFolder(self.run_dir)
        name = convert_to_snake_case(type(self).__name__)
        config = {"task": name, "kind": name, **fields_of(self)}
        folder.check(config, self.overwrite, self.resumable_fields)
        data = (self.dataset.train(), self.dataset.test())
        folder.claim(config, self.overwrite, self.resumable_fields)
        return folder, config, data

    def _net(self, weight_kind, seed, initializer=None):
        # Larq warns about kernels without a constraint; Theorem 1's form omits it on purpose.
        larq_log = logging.getLogger("larq")
        level = larq_log.level
        larq_log.setLevel(logging.ERROR if weight_kind == "latent_unclipped" else level)
        try:
            return mnist_net(tuple(self.input_shape), self.num_classes,
                             weight_kind=weight_kind, seed=seed, initializer=initializer)
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
                          loss="sparse_categorical_crossentropy", metrics=[accuracy()])
            logs.mkdir(parents=True, exist_ok=True)
            model.fit(stream, epochs=self.epochs, steps_per_epoch=steps, verbose=0,
                      callbacks=[EpochLog(logs / "latent.csv"),
                                 _tensorboard(logs)])
            binary = model.evaluate(evaluation, verbose=0)[1]
            real = with_real_kernels(model)
            real.compile(loss="sparse_categorical_crossentropy", metrics=[accuracy()])
            latent = real.evaluate(evaluation, verbose=0)[1]
            retrain_batch_norm(real, stream, steps, self.epochs, self.learning_rate,
                               [EpochLog(logs / "batch_norm.csv")])
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
    scale: float = Field(lambda self: default_scale(self.exact))
    batch_norm_learning_rate: float = Field(1e-3)
    compare_every_step: bool = Field(False)

    def run(self):
        if self.exact:
            tf.config.experimental.enable_op_determinism()
        folder, config, ((train, n_train), (test, _)) = self._open()
        steps = math.ceil(n_train / self.batch_size)
        evaluation = evaluation_stream(test, self.preprocessing, self.evaluation_batch_size)
        weight_kind = "latent_unclipped" if self.exact else "latent"
        results = {}
        for name, initializer, kernel_optimizer in arbitrary_lr_configurations(self.scale):
            logs = folder.path / "configs" / name
            if not (logs / "signs.npz").is_file():
                tf.keras.backend.clear_session()
                tf.keras.utils.set_random_seed(self.seed)
                model = self._net(weight_kind, self.seed, initializer)
                kernels = [v for v in model.trainable_variables if is_binary_variable(v)]
                model.compile(
                    CaseOptimizer((is_binary_variable, kernel_optimizer()),
                                  default_optimizer=tf.keras.optimizers.Adam(
                                      self.batch_norm_learning_rate)),
                    loss="sparse_categorical_crossentropy", metrics=[accuracy()])
                recorder = SignRecorder(kernels, every_step=self.compare_every_step)
                logs.mkdir(parents=True, exist_ok=True)
                stream = training_stream(train, self.preprocessing, self.batch_size,
                                         self.seed, self.shuffle_buffer)
                model.fit(stream, epochs=self.epochs, steps_per_epoch=steps, verbose=0,
                          validation_data=evaluation,
                          callbacks=[recorder, EpochLog(logs / "log.csv"),
                                     _tensorboard(logs)])
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
                                           identity["epoch_differ_1_2"]), start=1)
        ])
        summary = {"task": config["task"], "config": config, "versions": versions(),
                   "scale": self.scale, "configurations": results, **identity}
        folder.write_summary(summary)
        folder.release()
        print(f"binary weights differing between configurations 2 and 3, per epoch: "
              f"{identity['epoch_differ_2_3']}; between 1 and 2: {identity['epoch_differ_1_2']}")
        return summary
