"""The Keras 3 optimizers' update time on each backend, against Keras' own SGD with
momentum (one slot, as Bop) and Adam, and their state in bytes per binary weight.

    KERAS_BACKEND=jax python bench/keras3_update.py [--repeats 20] [--jit-compile] [--out F.json]

On variables shaped like BinaryNet's binary kernels (10,352,000 weights), one update of
each optimizer, compiled as the backend compiles a training step (JAX: `jax.jit` of
`stateless_apply`; TensorFlow: `tf.function` of `apply`; PyTorch: eager `apply`), timed
alternately so that drift hits all alike, beside a copy of the same weights where they
live (JAX: an XLA negation, on a GPU its memory; else numpy on every core), which gives
the memory bandwidth in the same minutes. Reports each median, its ratio to SGD with
momentum (target: at most 1.3 for Bop, which moves the same 20 bytes per weight), and
its ratio to the memory-traffic limit: the bytes an update must move (gradient read,
weight read and written, each state slot read and written) at the copy's bandwidth
(target: at most 2 for Bop). Bop2ndOrder and CEMA move 28 bytes, as Adam does: their
yardstick is Adam. The state target is 4 bytes per weight for Bop, as for the tf-keras
Bop.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from report import write_result  # noqa: E402

from rethink_bnn import keras3 as rk  # noqa: E402

KERNELS = [(3, 3, 3, 128), (3, 3, 128, 128), (3, 3, 128, 256), (3, 3, 256, 256),
           (3, 3, 256, 512), (3, 3, 512, 512), (4608, 1024), (1024, 1024), (1024, 10)]


def _step(optimizer, variables, gradients, jit_compile=False):
    """A function of no arguments that runs one update, compiled for the backend (on
    TensorFlow with XLA if `jit_compile`, as Keras compiles a training step where a GPU
    is visible)."""
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

        apply = tf.function(lambda: optimizer.apply(gradients, variables),
                            jit_compile=jit_compile)
        return lambda: apply() and None
    return lambda: optimizer.apply(gradients, variables)


def _copy(size):
    """A copy of `size` float32 where the update's memory is: on JAX an XLA negation (one
    read, one write, on the device: a GPU's memory); else numpy on every core."""
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        source, negate = jnp.asarray(np.ones(size, np.float32)), jax.jit(jnp.negative)
        return lambda: jax.block_until_ready(negate(source))
    return _parallel_copy(size)


def _parallel_copy(size):
    """A copy of `size` float32 on every core (numpy releases the GIL), as XLA's
    update runs: the memory bandwidth an update can reach."""
    source, target = np.random.default_rng(1).random(size, dtype=np.float32), np.empty(
        size, np.float32)
    cores = os.cpu_count() or 1
    bounds = np.linspace(0, size, cores + 1).astype(int)
    chunks = [(target[a:b], source[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    pool = ThreadPoolExecutor(cores)
    return lambda: list(pool.map(lambda pair: np.copyto(*pair), chunks))


# A tiny stand-in (CI: the script works where no GPU is; its figures mean nothing).
TINY_KERNELS = [(3, 3, 3, 8), (64, 10)]


def measure(repeats=20, warmup=3, jit_compile=False, kernels=KERNELS):
    rng = np.random.default_rng(0)
    optimizers = {"Bop": lambda: rk.Bop(), "Bop2ndOrder": lambda: rk.Bop2ndOrder(),
                  "CEMA": lambda: rk.CEMA(),
                  "SGD momentum": lambda: keras.optimizers.SGD(1e-3, momentum=0.9),
                  "Adam": lambda: keras.optimizers.Adam(1e-3)}
    gradients = [keras.ops.convert_to_tensor(rng.normal(0, 1e-4, s).astype("float32"))
                 for s in kernels]
    steps, state = {}, {}
    weights = sum(int(np.prod(s)) for s in kernels)
    for name, make in optimizers.items():
        variables = [keras.Variable(np.where(rng.random(s) < 0.5, -1.0, 1.0).astype("float32"))
                     for s in kernels]
        optimizer = make()
        steps[name] = _step(optimizer, variables, gradients, jit_compile)
        state[name] = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize
                          for v in optimizer.variables if len(v.shape)) / weights
    steps["copy"] = _copy(weights)
    times = {name: [] for name in steps}
    for repeat in range(warmup + repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if repeat >= warmup:
                times[name].append(time.perf_counter() - start)
    median = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    bandwidth = 2 * 4 * weights / median.pop("copy")  # bytes per ms, read + write
    # float32 weights: gradient read, weight read + written, each slot read + written
    traffic = {name: 12 + 2 * state[name] for name in median}
    result = {
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "jit_compile": jit_compile,
        "machine": platform.processor() or platform.machine(), "repeats": repeats,
        "binary_weights": sum(int(np.prod(s)) for s in kernels),
        "median_ms": median,
        "ratio_to_sgd_momentum": {n: m / median["SGD momentum"] for n, m in median.items()},
        "ratio_to_adam": {n: m / median["Adam"] for n, m in median.items()},
        "state_bytes_per_weight": state,
        "copy_bandwidth_gb_s": bandwidth / 1e6,
        "traffic_bytes_per_weight": traffic,
        "ratio_to_traffic_limit": {n: m / (traffic[n] * weights / bandwidth)
                                   for n, m in median.items()},
    }
    print(f"memory bandwidth (a copy of the weights): {bandwidth / 1e6:.1f} GB/s")
    for name in median:
        print(f"{name:>14}: {median[name]:8.2f} ms  x{result['ratio_to_sgd_momentum'][name]:.3f}"
              f" SGD momentum  x{result['ratio_to_adam'][name]:.3f} Adam"
              f"  x{result['ratio_to_traffic_limit'][name]:.2f} limit"
              f" ({traffic[name]:.0f} B/weight)  state {state[name]:.2f} B/weight")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--jit-compile", action="store_true",
                        help="TensorFlow: compile the update with XLA (Keras' default on a GPU)")
    parser.add_argument("--tiny", action="store_true",
                        help="two small kernels instead of BinaryNet's (a smoke test)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    suffix = "_xla" if args.jit_compile else ""
    out = args.out or f"bench/results/keras3_update_{keras.backend.backend()}{suffix}.json"
    write_result(measure(args.repeats, jit_compile=args.jit_compile,
                         kernels=TINY_KERNELS if args.tiny else KERNELS), out)
