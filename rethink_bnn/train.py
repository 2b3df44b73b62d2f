"""`python -m rethink_bnn.train TASK [key=value ...] [--debug]`: the experiments' command
line (`--help` says how; the code is `rethink_bnn.experiments.cli.train`)."""

import sys

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from rethink_bnn.experiments.extra import TASK_MODULES, require_experiments

# One line, before zookeeper is imported; the tf-keras front end checks the rest.
require_experiments("python -m rethink_bnn.train", TASK_MODULES)

from rethink_bnn.experiments.cli.train import main  # noqa: E402

__all__ = ["main"]

if __name__ == "__main__":
    # Tracing a step makes objects by the hundred thousand, and Python's default
    # collection (every 700 new ones) walks them again and again: a collection every
    # 10,000 took a short demo run from 5.3 to 4.8 CPU-seconds. Only this program's
    # process: `main` called from a notebook leaves its collector as it is.
    import gc

    gc.set_threshold(10_000, 10, 10)
    sys.exit(main())
