"""The two task bases, by how the binary kernels are trained: by a binary optimizer
(`BinaryOptimizerTraining`: the `binary_optimizer` component, Bop by default), or as
latent weights by Adam (`LatentTraining`). A task of `rethink_bnn.experiments.tasks` derives
from one of them and states only what differs; the optimizer, its hyperparameters and
their schedules are fields (`binary_optimizer=NAME binary_optimizer.gamma=1e-3`)."""

from zookeeper import ComponentField, Field

from rethink_bnn.core.rules import BOP
from rethink_bnn.experiments.training.optimizer_components import BinaryOptimizerComponent, component_for
from rethink_bnn.experiments.training.task import TrainingTask

__all__ = ["BinaryOptimizerTraining", "LatentTraining"]


class BinaryOptimizerTraining(TrainingTask):
    """Binary kernels trained by `binary_optimizer`, everything else by Adam (one
    CaseOptimizer). Defaults: Bop with its declared τ = 1e-8 and γ = 1e-4 (the paper's
    sec 5.2), constant, and Adam 1e-2; a task states what differs."""

    run_kind = "bop"
    weight_kind: str = Field("bop")
    binary_optimizer: BinaryOptimizerComponent = ComponentField(component_for(BOP))
    learning_rate: float = Field(1e-2)

    def check_optimizer_fields(self):
        self.binary_optimizer.validate(self.epochs)
        self.binary_optimizer.optimizer_class_for(self.front_end)  # (made or not)
        super().check_optimizer_fields()

    def make_binary_optimizer(self, steps_per_epoch):
        return self.binary_optimizer.make(steps_per_epoch, self.epochs, self.front_end)


class LatentTraining(TrainingTask):
    """The latent-weight baseline: ste_sign kernels clipped to [-1, 1], all trained by Adam
    (default 5e-3, the authors' BinaryNet baseline)."""

    weight_kind: str = Field("latent")
    learning_rate: float = Field(5e-3)
