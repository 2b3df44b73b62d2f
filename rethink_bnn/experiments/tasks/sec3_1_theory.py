"""Sec 3.1 of the reproducibility report: the paper's theoretical claims, tested on the
report's MNIST net (tf-keras only: their runs are `theory_runs`). The runners use the
training loop's machinery: validation before
anything loads, a run folder claimed once the data is there, crash-safe logs and tables
written whole."""

import math
from typing import Tuple

from zookeeper import ComponentField, Field

from rethink_bnn.experiments.data.bases import Dataset, Preprocessing
from rethink_bnn.experiments.config.zookeeper_internals import (base_getattr, configured_values,
                                             convert_to_snake_case)
from rethink_bnn.experiments.data import Mnist, ScaleToUnitRange
from rethink_bnn.experiments.tasks.registry import experiment
from rethink_bnn.experiments.training.fields import check_types
from rethink_bnn.experiments.runs.folder import RunFolder
from rethink_bnn.experiments.training.task import ConfigError, fields_of

__all__ = ["ApproximationViewpoint", "ArbitraryLr", "EXACT_SCALE", "REPORT_SCALE",
           "default_scale"]

# Theorem 1's exact form scales by a power of two (exact in floating point); the report
# by 0.01.
EXACT_SCALE, REPORT_SCALE = 2.0**-7, 0.01


def default_scale(exact):
    return EXACT_SCALE if exact else REPORT_SCALE


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
        from rethink_bnn.experiments.tasks.theory_runs import run_approximation_viewpoint

        return run_approximation_viewpoint(self)


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
        from rethink_bnn.experiments.tasks.theory_runs import run_arbitrary_lr

        return run_arbitrary_lr(self)
