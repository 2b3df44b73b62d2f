"""The task bases by how the binary kernels are trained: by Bop (`BopTraining`, with γ and
Adam decayed linearly in `LinearDecayBopTraining`), or as latent weights by Adam
(`LatentTraining`). A task of `rethink_bnn.experiments` derives from one of them and
states only what differs."""

import tensorflow as tf
from zookeeper import Field

from rethink_bnn.optimizers import Bop
from rethink_bnn.training.task import TrainingTask, require

__all__ = ["BopTraining", "LatentTraining", "LinearDecayBopTraining"]


class BopTraining(TrainingTask):
    """Binary kernels trained by Bop, everything else by Adam (one CaseOptimizer).

    The defaults are the paper's sec 5.2 settings (τ = 1e-8, γ = 1e-4, decayed by 0.1
    when `gamma_decay_epochs` is set, Adam 1e-2); a task states what differs."""

    run_kind = "bop"
    weight_kind: str = Field("bop")
    threshold: float = Field(1e-8)
    gamma: float = Field(1e-4)
    # Multiply γ by `gamma_decay` every `gamma_decay_epochs` epochs (0: constant γ).
    gamma_decay: float = Field(0.1)
    gamma_decay_epochs: int = Field(0)
    # Adam's learning rate for the non-binary variables.
    learning_rate: float = Field(1e-2)

    def validate(self, strategy=None):
        super().validate(strategy)
        require(self.learning_rate > 0, f"learning_rate (Adam's) must be > 0, got "
                 f"{self.learning_rate}.")
        require(self.gamma_decay_epochs >= 0, "gamma_decay_epochs must be >= 0 (0: constant "
                 f"gamma), got {self.gamma_decay_epochs}.")
        require(not self.gamma_decay_epochs or 0 < self.gamma_decay <= 1,
                 f"gamma_decay must be in (0, 1], got {self.gamma_decay}.")

    def binary_optimizer(self, steps_per_epoch):
        return Bop(threshold=self.threshold, gamma=self.gamma_schedule(steps_per_epoch))

    def gamma_schedule(self, steps_per_epoch):
        """γ: constant, or multiplied by `gamma_decay` every `gamma_decay_epochs` epochs."""
        if not self.gamma_decay_epochs:
            return self.gamma
        return tf.keras.optimizers.schedules.ExponentialDecay(
            self.gamma, self.gamma_decay_epochs * steps_per_epoch, self.gamma_decay,
            staircase=True)


class LinearDecayBopTraining(BopTraining):
    """Bop and Adam with rates decayed linearly over the whole run (PolynomialDecay,
    power 1), as the ImageNet runs of sec 5.3: γ from `gamma` to `final_gamma`, Adam's
    learning rate from `learning_rate` to `final_learning_rate`. (`gamma_decay*` do not
    apply.)"""

    final_gamma: float = Field(1e-6)
    final_learning_rate: float = Field(5e-6)

    def validate(self, strategy=None):
        super().validate(strategy)
        require(0 <= self.final_gamma <= self.gamma, "final_gamma must be in [0, gamma="
                 f"{self.gamma}], got {self.final_gamma}.")
        require(0 <= self.final_learning_rate <= self.learning_rate, "final_learning_rate "
                 f"must be in [0, learning_rate={self.learning_rate}], got "
                 f"{self.final_learning_rate}.")

    def gamma_schedule(self, steps_per_epoch):
        return self._linear(self.gamma, self.final_gamma, steps_per_epoch)

    def learning_rate_schedule(self, steps_per_epoch):
        return self._linear(self.learning_rate, self.final_learning_rate, steps_per_epoch)

    def _linear(self, start, end, steps_per_epoch):
        return tf.keras.optimizers.schedules.PolynomialDecay(
            start, self.epochs * steps_per_epoch, end, power=1.0)


class LatentTraining(TrainingTask):
    """The latent-weight baseline: ste_sign kernels clipped to [-1, 1], all trained by Adam
    (default 5e-3, the authors' BinaryNet baseline)."""

    weight_kind: str = Field("latent")
    learning_rate: float = Field(5e-3)

    def validate(self, strategy=None):
        super().validate(strategy)
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}.")
