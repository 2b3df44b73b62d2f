"""One worker of a two-worker MultiWorkerMirroredStrategy run on localhost.

    python tests/training/multi_worker.py INDEX PORT0 PORT1 OUT.npz BATCH_NORM

Sets TF_CONFIG, lets `select_strategy("auto")` pick the strategy, trains the test model
(tests/training/test_distribution.py) and saves, after every step, this worker's binary
kernels and Bop's moving averages to OUT.npz.
"""

import json
import os
import sys

index, port0, port1, out, batch_norm = sys.argv[1:]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"localhost:{port0}", f"localhost:{port1}"]},
    "task": {"type": "worker", "index": int(index)},
})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from rethink_bnn.experiments.training.distribution import is_chief, select_strategy  # noqa: E402
from tests.training.test_distribution import train  # noqa: E402

strategy = select_strategy("auto")
assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), strategy
assert strategy.num_replicas_in_sync == 2
assert is_chief(strategy) == (index == "0")
steps = train(strategy, batch_norm)
np.savez(out, **{f"{kind}_{step}_{i}": value
                 for step, (kernels, averages) in enumerate(steps)
                 for kind, values in (("kernel", kernels), ("m", averages))
                 for i, value in enumerate(values)}, steps=len(steps))
