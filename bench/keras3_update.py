"""The Keras 3 optimizers' update time on each backend, against Keras' own SGD with
momentum (one slot, as Bop) and Adam, and their state in bytes per binary weight.

    KERAS_BACKEND=jax python bench/keras3_update.py [--repeats 20] [--out bench/results/keras3_update_jax.json]

On variables shaped like BinaryNet's binary kernels (10,352,000 weights), one update of
each optimizer, compiled as the backend compiles a training step (JAX: `jax.jit` of
`stateless_apply`; TensorFlow: `tf.function` of `apply`; PyTorch: eager `apply`),
timed alternately so that drift hits all alike. Reports each median and its ratio to
SGD with momentum (no target: the figures of record are in benchmarks.md; the state
target is 4 bytes per weight for Bop, as for the tf-keras Bop).
"""

import argparse
import os
import platform
import statistics
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from report import write_result  # noqa: E402

from rethink_bnn import keras3 as rk  # noqa: E402

KERNELS = [(3, 3, 3, 128), (3, 3, 128, 128), (3, 3, 128, 256), (3, 3, 256, 256),
           (3, 3, 256, 512), (3, 3, 512, 512), (4608, 1024), (1024, 1024), (1024, 10)]


def _step(optimizer, variables, gradients):
    """A function of no arguments that runs one update, compiled for the backend."""
    backend = keras.backend.backend()
    optimizer.build(variables)
    if backend == "jax":
        import jax

        apply = jax.jit(optimizer.stateless_apply)
        state = {"optimizer": [v.value for v in optimizer.variables],
                 "weights": [v.value for v in variables]}

        def step():
            state["weights"], state["optimizer"] = apply(
                state["optimizer"], gradients, state["weights"])
            jax.block_until_ready(state["weights"])
        return step
    if backend == "tensorflow":
        import tensorflow as tf

        apply = tf.function(lambda: optimizer.apply(gradients, variables))
        return lambda: apply() and None
    return lambda: optimizer.apply(gradients, variables)


def measure(repeats=20, warmup=3):
    rng = np.random.default_rng(0)
    optimizers = {"Bop": lambda: rk.Bop(), "Bop2ndOrder": lambda: rk.Bop2ndOrder(),
                  "CEMA": lambda: rk.CEMA(),
                  "SGD momentum": lambda: keras.optimizers.SGD(1e-3, momentum=0.9),
                  "Adam": lambda: keras.optimizers.Adam(1e-3)}
    gradients = [keras.ops.convert_to_tensor(rng.normal(0, 1e-4, s).astype("float32"))
                 for s in KERNELS]
    steps, state = {}, {}
    for name, make in optimizers.items():
        variables = [keras.Variable(np.where(rng.random(s) < 0.5, -1.0, 1.0).astype("float32"))
                     for s in KERNELS]
        optimizer = make()
        steps[name] = _step(optimizer, variables, gradients)
        weights = sum(int(np.prod(s)) for s in KERNELS)
        state[name] = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize
                          for v in optimizer.variables if len(v.shape)) / weights
    times = {name: [] for name in steps}
    for repeat in range(warmup + repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if repeat >= warmup:
                times[name].append(time.perf_counter() - start)
    median = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    result = {
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "machine": platform.processor() or platform.machine(), "repeats": repeats,
        "binary_weights": sum(int(np.prod(s)) for s in KERNELS),
        "median_ms": median,
        "ratio_to_sgd_momentum": {n: m / median["SGD momentum"] for n, m in median.items()},
        "state_bytes_per_weight": state,
    }
    for name in median:
        print(f"{name:>14}: {median[name]:8.2f} ms  x{result['ratio_to_sgd_momentum'][name]:.3f}"
              f"  state {state[name]:.2f} B/weight")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or f"bench/results/keras3_update_{keras.backend.backend()}.json"
    write_result(measure(args.repeats), out)
