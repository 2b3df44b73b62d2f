"""The paper's experiments as zookeeper tasks: `python -m rethink_bnn.train NAME key=value`.

One module per paper section (as `experiments/` in the repository has one recipe per
section): `sec3_1_theory` (the report's theory experiments), `sec5_1_sweep` (γ and τ),
`sec5_2_cifar10`, `sec5_3_imagenet`, `successors` (Bop's successors) and
`cpu_scale` (MNIST, Fashion-MNIST, the demo).
Each task only sets fields; the loop is `rethink_bnn.experiments.training.task.TrainingTask.run`.
Every registered task is exported here under its class name (`TASKS` by its command
name).
"""

from rethink_bnn.experiments.tasks import (  # noqa: F401  (each module registers its tasks)
    cpu_scale,
    sec3_1_theory,
    sec5_1_sweep,
    sec5_2_cifar10,
    sec5_3_imagenet,
    successors,
)
from rethink_bnn.experiments.tasks.registry import TASKS, experiment
from rethink_bnn.experiments.tasks.sec5_1_sweep import GRIDS

globals().update({cls.__name__: cls for cls in TASKS.values()})

__all__ = ["GRIDS", "TASKS", "experiment", *sorted(cls.__name__ for cls in TASKS.values())]
