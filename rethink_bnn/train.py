"""Run an experiment: `python -m rethink_bnn.train TASK [key=value ...] [--debug]`.

    python -m rethink_bnn.train demo                      # offline, about 30 s on 2 CPU cores
    python -m rethink_bnn.train demo --help               # every field of a task: default, meaning
    python -m rethink_bnn.train cifar10_bop               # sec 5.2, on a GPU
    python -m rethink_bnn.train cifar10_bop learning_rate=1e-3 run_dir=runs/report
    python -m rethink_bnn.train bop_sweep grid=report point.epochs=20
    python -m rethink_bnn.train --config runs/demo/config.json run_dir=runs/again

Bad input (an unknown task or key, a value of the wrong type or out of range, a batch
that does not split over the replicas, a dataset that cannot be found, a run folder
holding another configuration) prints one line saying what was wrong and how to fix it,
changes nothing on disk, and exits with code 2; `--debug` shows the traceback instead.
"""

import sys

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from rethink_bnn.experiments.extra import require_experiments

require_experiments("python -m rethink_bnn.train")  # one line, before zookeeper is imported

from rethink_bnn.experiments.cli.train import main  # noqa: E402

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
