"""Task bases for Bop's successors: binary kernels trained by Bop2ndOrder or CEMA, the rest
by Adam. Every rate is linear over the run from its value to its `final_` value (None:
constant), as the published recipes ramp τ and σ up and γ and Adam's rate down."""

from typing import Optional

from zookeeper import Field

from rethink_bnn.optimizers import CEMA, Bop2ndOrder
from rethink_bnn.optimizers.hyperparameters import check
from rethink_bnn.optimizers.schedules import Linear
from rethink_bnn.training.task import ConfigError, TrainingTask, require

__all__ = ["Bop2ndOrderTraining", "CemaTraining", "linear_schedule"]


def linear_schedule(start, end, total_steps):
    """`start`, or a `Linear` schedule from `start` at step 0 to `end` at `total_steps`,
    up or down; `end` None means constant."""
    if end is None or end == start:
        return start
    return Linear(start, end, total_steps)


class _LinearRates(TrainingTask):
    """What the successors' bases share: kernels of the `bop` kind, Adam's rate linear
    from `learning_rate` to `final_learning_rate`, and each binary-optimizer rate checked
    (start and end) before anything loads."""

    run_kind = "bop"
    weight_kind: str = Field("bop")
    learning_rate: float = Field(1e-2)
    final_learning_rate: Optional[float] = Field(None)
    # The binary optimizer's hyperparameters, each with a `final_` field.
    scheduled = ()

    def validate(self, strategy=None):
        super().validate(strategy)  # makes the optimizer, which checks the start values
        require(self.learning_rate > 0, f"learning_rate (Adam's) must be > 0, got "
                 f"{self.learning_rate}.")
        require(self.final_learning_rate is None or self.final_learning_rate >= 0,
                f"final_learning_rate must be >= 0 or None, got {self.final_learning_rate}.")
        for name in self.scheduled:
            final = getattr(self, f"final_{name}")
            if final is None:
                continue
            try:
                check(name, final)
            except (TypeError, ValueError) as error:
                raise ConfigError(str(error).replace(name, f"final_{name}", 1)) from error

    def learning_rate_schedule(self, steps_per_epoch):
        return self.rate(self.learning_rate, self.final_learning_rate, steps_per_epoch)

    def rate(self, start, end, steps_per_epoch):
        """`start` to `end` linearly over the whole run."""
        return linear_schedule(start, end, self.epochs * steps_per_epoch)


class Bop2ndOrderTraining(_LinearRates):
    """Binary kernels trained by Bop2ndOrder (biased, or `unbiased=True`), the rest by
    Adam. Defaults: the optimizer's own (τ = 1e-6, γ = 1e-6, σ = 1e-2), constant."""

    threshold: float = Field(1e-6)
    final_threshold: Optional[float] = Field(None)
    gamma: float = Field(1e-6)
    final_gamma: Optional[float] = Field(None)
    sigma: float = Field(1e-2)
    final_sigma: Optional[float] = Field(None)
    unbiased: bool = Field(False)
    scheduled = ("threshold", "gamma", "sigma")

    def binary_optimizer(self, steps_per_epoch):
        return Bop2ndOrder(
            threshold=self.rate(self.threshold, self.final_threshold, steps_per_epoch),
            gamma=self.rate(self.gamma, self.final_gamma, steps_per_epoch),
            sigma=self.rate(self.sigma, self.final_sigma, steps_per_epoch),
            unbiased=self.unbiased)


class CemaTraining(_LinearRates):
    """Binary kernels trained by CEMA, the rest by Adam. Defaults: γ = 0.1, α = 1e-3,
    constant."""

    gamma: float = Field(1e-1)
    final_gamma: Optional[float] = Field(None)
    alpha: float = Field(1e-3)
    final_alpha: Optional[float] = Field(None)
    scheduled = ("gamma", "alpha")

    def binary_optimizer(self, steps_per_epoch):
        return CEMA(gamma=self.rate(self.gamma, self.final_gamma, steps_per_epoch),
                    alpha=self.rate(self.alpha, self.final_alpha, steps_per_epoch))
