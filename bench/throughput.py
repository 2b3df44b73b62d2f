"""Training throughput (images per second) of BinaryNet at CIFAR-10 shape, as the sec 5.2
recipe trains it: per-step logging on or off, steps_per_execution 1 or 32, XLA, mixed
precision, against the forward/backward floor and Larq's CaseOptimizer.

    python bench/throughput.py [--batch-sizes 50 100] [--steps 64] [--rounds 2]
                               [--variants all|cpu] [--out bench/results/throughput.json]

Each variant trains through `model.fit` on the same `tf.data` pipeline of random
CIFAR-10-shaped batches (no dataset is needed, on any machine); a variant's time is the
wall time of one `fit` of `--steps` steps after a warm-up fit (tracing excluded), its
throughput steps × batch / time; variants take turns round after round and the median
over rounds is reported. Ratios compare two variants' same-round times. The JSON records
the device. Variants:

- floor: forward and backward only (every gradient computed, nothing applied);
- ours: `SkipNonFinite(CaseOptimizer(Bop, Adam))` as the tasks build it; "+ logging":
  with `FlipLogger` and `BatchMetricLogger` at every step (per layer), as the tasks log;
- "spe 32": `steps_per_execution=32`; "XLA": `jit_compile=True`; "mixed":
  `mixed_float16` (Keras' loss scaling);
- larq: Larq's `CaseOptimizer(Bop, Adam)` (legacy optimizer API).

`--variants cpu` times the ones a CPU can say something about (the logging and
steps_per_execution ratios); `all` adds XLA and mixed precision (for a GPU).
"""

import argparse
import platform
import statistics
import tempfile
import time

import rethink_bnn as rb  # selects Keras 2 before TensorFlow loads
import larq as lq
import numpy as np
import tensorflow as tf
from report import write_result
from train_step import GradientsOnly, _data, _larq

from rethink_bnn.models import binarynet

LOSS = "sparse_categorical_crossentropy"
TARGETS = {"logging on / off": 1.02}


def _ours():
    return rb.optimizers.SkipNonFinite(rb.CaseOptimizer(
        (rb.is_binary_variable, rb.Bop(threshold=1e-8, gamma=1e-4)),
        default_optimizer=tf.keras.optimizers.Adam(1e-2)))


def _logging():
    folder = tempfile.mkdtemp(prefix="throughput_")
    return [rb.callbacks.FlipLogger(folder, update_freq=1),
            rb.callbacks.BatchMetricLogger(folder, update_freq=1)]


# name -> (model factory, optimizer factory, compile options, callbacks factory, policy)
VARIANTS = {
    "floor": (lambda: GradientsOnly(binarynet(weight_kind="bop", seed=0)), lambda: "sgd", {},
              list, "float32"),
    "ours": (lambda: binarynet(weight_kind="bop", seed=0), _ours, {}, list, "float32"),
    "ours + logging": (lambda: binarynet(weight_kind="bop", seed=0), _ours, {}, _logging,
                       "float32"),
    "ours + logging, spe 32": (lambda: binarynet(weight_kind="bop", seed=0), _ours,
                               {"steps_per_execution": 32}, _logging, "float32"),
    "floor, spe 32": (lambda: GradientsOnly(binarynet(weight_kind="bop", seed=0)),
                      lambda: "sgd", {"steps_per_execution": 32}, list, "float32"),
    "larq": (lambda: binarynet(weight_kind="bop", seed=0), _larq, {}, list, "float32"),
    "ours + logging, spe 32, XLA": (lambda: binarynet(weight_kind="bop", seed=0), _ours,
                                    {"steps_per_execution": 32, "jit_compile": True},
                                    _logging, "float32"),
    "ours + logging, spe 32, mixed": (lambda: binarynet(weight_kind="bop", seed=0), _ours,
                                      {"steps_per_execution": 32}, _logging,
                                      "mixed_float16"),
    "ours + logging, spe 32, XLA, mixed": (lambda: binarynet(weight_kind="bop", seed=0), _ours,
                                           {"steps_per_execution": 32, "jit_compile": True},
                                           _logging, "mixed_float16"),
}
CPU_VARIANTS = ("floor", "ours", "ours + logging", "ours + logging, spe 32", "larq")


def _build(name):
    make_model, make_optimizer, options, make_callbacks, policy = VARIANTS[name]
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        model = make_model()
        model.compile(make_optimizer(), loss=LOSS, **options)
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
    return model, make_callbacks()


def measure(batch_sizes, steps, rounds, names):
    result = {}
    for batch_size in batch_sizes:
        data = _data(batch_size)
        built = {name: _build(name) for name in names}
        for model, callbacks in built.values():  # trace and warm up: two executions
            per_execution = int(model._steps_per_execution.numpy())
            model.fit(data, epochs=1, steps_per_epoch=2 * per_execution, callbacks=callbacks,
                      verbose=0)
        seconds = {name: [] for name in names}
        for round_ in range(rounds):
            order = names[round_ % len(names):] + names[: round_ % len(names)]
            for name in order:
                model, callbacks = built[name]
                start = time.perf_counter()
                model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=callbacks, verbose=0)
                seconds[name].append(time.perf_counter() - start)
        result[str(batch_size)] = {
            "images_per_s": {n: steps * batch_size / statistics.median(s)
                             for n, s in seconds.items()},
            "seconds_by_round": seconds,
            "ratios": _ratios(seconds),
        }
    return result


def _paired(seconds, a, b):
    return statistics.median(x / y for x, y in zip(seconds[a], seconds[b]))


def _ratios(seconds):
    pairs = {"logging on / off": ("ours + logging", "ours"),
             "spe 32 / spe 1 (with logging)": ("ours + logging, spe 32", "ours + logging"),
             "ours + logging / floor": ("ours + logging", "floor"),
             "ours + logging, spe 32 / floor, spe 32": ("ours + logging, spe 32", "floor, spe 32"),
             "ours / larq": ("ours", "larq"),
             "XLA / not (spe 32, logging)": ("ours + logging, spe 32, XLA",
                                             "ours + logging, spe 32"),
             "mixed / float32 (spe 32, logging)": ("ours + logging, spe 32, mixed",
                                                   "ours + logging, spe 32")}
    return {name: _paired(seconds, a, b) for name, (a, b) in pairs.items()
            if a in seconds and b in seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--steps", type=int, default=64, help="timed steps per fit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", choices=["all", "cpu"], default="all")
    parser.add_argument("--out", default="bench/results/throughput.json")
    args = parser.parse_args(argv)
    if args.steps < 32 or args.steps % 32:
        parser.error("--steps must be a multiple of 32 (whole executions of 32 steps)")
    names = list(VARIANTS) if args.variants == "all" else list(CPU_VARIANTS)
    gpus = tf.config.list_physical_devices("GPU")
    result = {
        "model": "BinaryNet, CIFAR-10 shape (32x32x3), 10,352,000 binary weights",
        "device": ([tf.config.experimental.get_device_details(g).get("device_name") for g in gpus]
                   or f"CPU only: {platform.machine()}, {len(tf.config.list_physical_devices('CPU'))}"
                      " CPU device(s)"),
        "tensorflow": tf.__version__, "larq": lq.__version__,
        "steps": args.steps, "rounds": args.rounds, "targets": TARGETS,
        "batch_sizes": measure(args.batch_sizes, args.steps, args.rounds, names),
    }
    for batch_size, measured in result["batch_sizes"].items():
        print(f"\nBinaryNet, batch {batch_size}, {args.steps} steps, median of {args.rounds} "
              f"rounds, on {result['device']}:")
        for name, rate in measured["images_per_s"].items():
            print(f"  {name:<38} {rate:9.1f} images/s")
        for name, ratio in measured["ratios"].items():
            target = TARGETS.get(name)
            verdict = "" if target is None else (
                f"  (target <= {target}: {'met' if ratio <= target else 'MISSED'})")
            print(f"  time ratio {name:<40} {ratio:.3f}{verdict}")
        rate = measured["images_per_s"].get("ours + logging, spe 32, XLA",
                                            measured["images_per_s"]["ours + logging, spe 32"])
        print(f"  the sec 5.2 recipe (500 epochs of 50,000 images) at {rate:.0f} images/s: "
              f"{500 * 50_000 / rate / 3600:.1f} h")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
