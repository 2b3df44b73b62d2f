"""Training throughput (images per second) of BinaryNet at CIFAR-10 shape on the Keras 3
front end, on the backend KERAS_BACKEND names (no TensorFlow needed on JAX or PyTorch),
as the sec 5.2 recipe trains it: uint8 images augmented on the device (`PadCropFlip`),
Bop for the binary kernels and Adam for the rest (`MultiOptimizer(BinaryOptimizerMap)`),
against the same network trained by Keras' SGD with momentum in the same run.

    KERAS_BACKEND=jax python bench/keras3_throughput.py [--batch-sizes 50 100]
        [--precisions float32 mixed_bfloat16] [--steps-per-execution 1 32] [--steps 16]
        [--network binarynet|binary_mlp] [--out bench/results/keras3_throughput_jax.json]

Each variant builds both models (Bop + Adam, and SGD with momentum), runs one warm-up
`fit` of each (compilation excluded), then times a `fit` of `--steps` steps (rounded up
to whole executions) on random uint8 batches, the two in turns for `--rounds` rounds;
a throughput is steps × batch / the median time, and the ratio of the two optimizers'
times is the median of each round's. `--network binary_mlp` (8×8 inputs) is the tiny
size that CI runs, to keep the script working where no GPU is.

`prepare` gives `bench/throughput.py` this front end's variants beside tf-keras' (in a
worker process per backend): the network on float inputs as that script's tf-keras
variants take them, fed as the tasks feed it (`keras3_data.batches`: on JAX from a copy
of the data kept on the device), with the optimizer the tasks build:

- ours: `SkipNonFinite(MultiOptimizer(BinaryOptimizerMap(Bop, Adam)))`; "+ logging":
  with `FlipLogger` and `BatchMetricLogger` at every step; "spe 32":
  `steps_per_execution=32`; "mixed": `mixed_bfloat16`;
- SGD momentum: Keras' own, on the same network (the cost of the rest of the step).
"""

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from report import write_result  # noqa: E402

from rethink_bnn import keras3 as rk  # noqa: E402
from rethink_bnn.keras3 import networks  # noqa: E402
from rethink_bnn.keras3.augmentation import PadCropFlip  # noqa: E402

SHAPES = {"binarynet": (32, 32, 3), "binary_mlp": (8, 8, 1)}


def recipe_model(network, seed=0):
    """uint8 images -> PadCropFlip (training) -> [-1, 1] -> the network."""
    shape = SHAPES[network]
    inputs = keras.Input(shape, dtype="uint8")
    x = PadCropFlip(4, seed=seed)(inputs)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(x)
    outputs = getattr(networks, network)(input_shape=shape, seed=seed)(x)
    return keras.Model(inputs, outputs)


def _optimizer(name):
    if name == "Bop + Adam":
        return keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
            rk.Bop(threshold=1e-8, gamma=1e-4), keras.optimizers.Adam(1e-2)))
    return keras.optimizers.SGD(1e-3, momentum=0.9)


def _prepared(network, batch, spe, steps, optimizer):
    """A compiled model (under the dtype policy in force), warmed up (compiled), and a
    function that times one fit."""
    keras.utils.set_random_seed(0)
    model = recipe_model(network)
    model.compile(_optimizer(optimizer), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=spe)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (steps * batch, *SHAPES[network]), np.uint8)
    y = rng.integers(0, 10, steps * batch)
    model.fit(x[:spe * batch], y[:spe * batch], batch_size=batch, verbose=0)  # compile

    def seconds():
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, verbose=0, shuffle=False)
        return time.perf_counter() - start
    return seconds


def variant(network, batch, precision, spe, steps, rounds):
    """Images per second of each optimizer (median over rounds, taken in turns so that
    the machine's drift hits both) and their ratio in the same rounds."""
    steps = spe * math.ceil(steps / spe)
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        timers = {name: _prepared(network, batch, spe, steps, name)
                  for name in ("Bop + Adam", "SGD momentum")}
        seconds = {name: [] for name in timers}
        for _ in range(rounds):
            for name, timer in timers.items():
                seconds[name].append(timer())
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
        keras.backend.clear_session()
    rates = {name: steps * batch / statistics.median(s) for name, s in seconds.items()}
    ratio = statistics.median(a / b for a, b in zip(seconds["Bop + Adam"],
                                                      seconds["SGD momentum"]))
    return {"images_per_s": rates, "ours_over_sgd_momentum_time": ratio,
            "seconds_by_round": seconds}


def measure(network, batch_sizes, precisions, spes, steps, rounds):
    results = {}
    for batch in batch_sizes:
        for precision in precisions:
            for spe in spes:
                key = f"batch {batch}, {precision}, spe {spe}"
                results[key] = found = variant(network, batch, precision, spe, steps, rounds)
                rates = found["images_per_s"]
                print(f"{key:>36}: Bop + Adam {rates['Bop + Adam']:9.1f} img/s, SGD momentum "
                      f"{rates['SGD momentum']:9.1f} img/s (time x"
                      f"{found['ours_over_sgd_momentum_time']:.2f})", flush=True)
    return results


# name -> (Bop + Adam as the tasks build it (else SGD momentum), logging, spe, dtype policy)
WORKER_VARIANTS = {
    "ours": (True, False, 1, "float32"),
    "ours + logging": (True, True, 1, "float32"),
    "SGD momentum": (False, False, 1, "float32"),
    "ours + logging, spe 32": (True, True, 32, "float32"),
    "ours + logging, spe 32, mixed": (True, True, 32, "mixed_bfloat16"),
}
WORKER_CPU_VARIANTS = ("ours", "ours + logging")


def _worker_variant(name, network, batch_size, steps, gather_from):
    from rethink_bnn.experiments.frontends.keras3 import FrontEnd
    from rethink_bnn.experiments.frontends.keras3_data import batches

    bop, logging, spe, policy = WORKER_VARIANTS[name]
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = getattr(networks, network)(input_shape=SHAPES[network], seed=0)
        optimizer = (FrontEnd.optimizer(1e-2, rk.Bop(threshold=1e-8, gamma=1e-4)) if bop
                     else keras.optimizers.SGD(1e-3, momentum=0.9))
        model.compile(optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=spe)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    folder = tempfile.mkdtemp(prefix="throughput_")
    callbacks = ([rk.FlipLogger(folder, update_freq=1), rk.BatchMetricLogger(folder, 1)]
                 if logging else [])
    x, y, gather = gather_from
    stream = batches(x, y, batch_size, seed=0, gather=gather)

    def fit(count):
        model.fit(stream, steps_per_epoch=count, epochs=1, callbacks=callbacks, verbose=0,
                  shuffle=False)

    fit(2 * spe)  # compile and warm up: two executions

    def seconds():
        start = time.perf_counter()
        fit(steps)
        return time.perf_counter() - start
    return seconds


def prepare(network, batch_size, steps, variant_set):
    """(what ran them, {name: a function that times one fit of `steps` steps}) for
    `bench/throughput.py`, each variant compiled and warmed up first."""
    from rethink_bnn.experiments.frontends.keras3_data import gatherer

    names = list(WORKER_VARIANTS) if variant_set == "all" else list(WORKER_CPU_VARIANTS)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8 * batch_size, *SHAPES[network])).astype(np.float32)
    y = rng.integers(0, 10, 8 * batch_size)
    data = (x, y, gatherer(x, y, keras.backend.backend()))
    timers = {name: _worker_variant(name, network, batch_size, steps, data) for name in names}
    info = {"backend": keras.backend.backend(), "keras": keras.__version__,
            "device": _device(), "data_on_device": data[2] is not None}
    return info, timers


def _device():
    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--precisions", nargs="+", default=["float32"],
                        choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--steps-per-execution", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=16, help="timed steps per fit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--network", choices=sorted(SHAPES), default="binarynet")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = {"backend": keras.backend.backend(), "keras": keras.__version__,
              "device": _device(), "network": args.network, "steps": args.steps,
              "rounds": args.rounds,
              "variants": measure(args.network, args.batch_sizes, args.precisions,
                                  args.steps_per_execution, args.steps, args.rounds)}
    out = args.out or f"bench/results/keras3_throughput_{keras.backend.backend()}.json"
    write_result(result, out)
    return result


if __name__ == "__main__":
    main()
