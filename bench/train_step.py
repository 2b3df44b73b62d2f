"""Training-step cost on BinaryNet at CIFAR-10 shape: ours against the forward/backward
floor, Larq's own Bop, and the latent-weight baseline, side by side in one process.

    python bench/train_step.py [--batch-sizes 50 100] [--steps 6] [--rounds 3]
                               [--jit both|off|on] [--update-repeats 30]
                               [--out bench/results/train_step.json]

Every variant trains the same BinaryNet (10,352,000 binary weights) through `model.fit`
on the same `tf.data` pipeline of random CIFAR-10-shaped batches:

- floor: forward and backward only (every gradient computed, nothing applied);
- ours: `CaseOptimizer(Bop, Adam)`, and the same with `FlipLogger` (per step, per layer,
  TensorBoard);
- larq: Larq's `CaseOptimizer(Bop, Adam)` (legacy optimizer API);
- latent: the latent-weight baseline (ste_sign kernels clipped to [-1, 1], Adam);
- with `--jit`, the floor and ours again with `jit_compile=True` (XLA).

Variants take turns, round after round, so drift hits all alike; the step time of a
variant is the median over its timed steps (the first step of each `fit` is dropped),
and a ratio is the median over rounds of the ratio of two variants' same-round medians.
Then it times the optimizer update alone, ours and Larq's, on the same variables
(`bop_update.py`), and counts optimizer state bytes per binary weight. It prints a table
and writes JSON with ratios to the floor and to Larq.
"""

import argparse
import platform
import statistics
import tempfile

import rethink_bnn as rb  # selects Keras 2 before TensorFlow loads
import larq as lq
import numpy as np
import tensorflow as tf
from bop_update import measure as measure_update
from report import write_result
from timing import StepTimer, median_ms

from rethink_bnn.models import binarynet

LOSS = "sparse_categorical_crossentropy"
TARGETS = {  # ours / reference, from issue 6
    "ours / floor": 1.03,
    "ours / larq": 1.0,
    "update ours / larq": 1.0,
    "flip logging": 1.02,
}


class GradientsOnly(tf.keras.Model):
    """The floor: `train_step` computes every gradient and applies none. One element of
    each gradient is returned, so no part of the backward pass can be pruned away."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def call(self, inputs, training=False):
        return self.inner(inputs, training=training)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compiled_loss(y, self.inner(x, training=True))
        grads = tape.gradient(loss, self.inner.trainable_variables)
        return {"loss": loss, "touch": tf.add_n([tf.reshape(g, [-1])[0] for g in grads])}


def _ours():
    return rb.CaseOptimizer(
        (rb.is_binary_variable, rb.Bop(threshold=1e-8, gamma=1e-4)),
        default_optimizer=tf.keras.optimizers.Adam(1e-2),
    )


def _larq():
    return lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold=1e-8, gamma=1e-4)),
        default_optimizer=tf.keras.optimizers.legacy.Adam(1e-2),
    )


def _variants(jit):
    """name -> (model, callbacks), each model compiled."""
    variants = {}

    def add(name, model, optimizer, jit_compile=False, callbacks=()):
        model.compile(optimizer, loss=LOSS, jit_compile=jit_compile)
        variants[name] = (model, list(callbacks))

    add("floor", GradientsOnly(binarynet(weight_kind="bop", seed=0)), "sgd")
    ours = binarynet(weight_kind="bop", seed=0)
    add("ours", ours, _ours())
    log_dir = tempfile.mkdtemp(prefix="train_step_")
    variants["ours + FlipLogger"] = (ours, [rb.FlipLogger(log_dir, update_freq=1)])
    add("larq", binarynet(weight_kind="bop", seed=0), _larq())
    add("latent", binarynet(weight_kind="latent", seed=0), tf.keras.optimizers.Adam(1e-2))
    if jit:
        add("floor (XLA)", GradientsOnly(binarynet(weight_kind="bop", seed=0)), "sgd", True)
        add("ours (XLA)", binarynet(weight_kind="bop", seed=0), _ours(), True)
    return variants


def _data(batch_size):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8 * batch_size, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, 8 * batch_size)
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch_size).prefetch(2)


def _state_bytes_per_binary_weight(model):
    binary = sum(v.shape.num_elements() for v in model.trainable_variables
                 if rb.is_binary_variable(v))
    optimizer = model.optimizer
    legacy = isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer)
    variables = optimizer.weights if legacy else optimizer.variables
    state = sum(v.shape.num_elements() * v.dtype.size for v in variables)
    return state / binary


def time_steps(batch_size, steps, rounds, jit):
    """Per variant: the step times of each round; and optimizer state per binary weight."""
    variants = _variants(jit)
    data = _data(batch_size)
    times = {name: [] for name in variants}
    for model, callbacks in variants.values():  # trace and warm up
        model.fit(data, epochs=1, steps_per_epoch=2, callbacks=callbacks, verbose=0)
    state = {
        "ours": _state_bytes_per_binary_weight(variants["ours"][0]),
        "larq": _state_bytes_per_binary_weight(variants["larq"][0]),
        "latent": _state_bytes_per_binary_weight(variants["latent"][0]),
    }
    for round_ in range(rounds):
        names = list(variants)
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            model, callbacks = variants[name]
            timer = StepTimer()
            model.fit(data, epochs=1, steps_per_epoch=steps + 2, callbacks=[timer, *callbacks],
                      verbose=0)
            times[name].append(timer.times()[1:])  # the first step of a fit is slower
    return times, state


def _paired_ratio(times, a, b):
    """Median over rounds of a's median step / b's, both from the same round: the machine's
    drift between rounds (a few percent on a shared CPU) cancels."""
    return statistics.median(median_ms(x) / median_ms(y) for x, y in zip(times[a], times[b]))


def _ratios(times):
    ratios = {
        "ours / floor": _paired_ratio(times, "ours", "floor"),
        "ours / larq": _paired_ratio(times, "ours", "larq"),
        "larq / floor": _paired_ratio(times, "larq", "floor"),
        "latent / floor": _paired_ratio(times, "latent", "floor"),
        "flip logging": _paired_ratio(times, "ours + FlipLogger", "ours"),
    }
    if "ours (XLA)" in times:
        ratios["ours (XLA) / ours"] = _paired_ratio(times, "ours (XLA)", "ours")
        ratios["floor (XLA) / floor"] = _paired_ratio(times, "floor (XLA)", "floor")
        ratios["ours (XLA) / floor (XLA)"] = _paired_ratio(times, "ours (XLA)", "floor (XLA)")
    return ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--jit", choices=["both", "off", "on"], default="both",
                        help="also time the floor and ours with jit_compile=True (both), or not")
    parser.add_argument("--update-repeats", type=int, default=30)
    parser.add_argument("--out", default="bench/results/train_step.json")
    args = parser.parse_args(argv)

    devices = tf.config.list_physical_devices("GPU")
    result = {
        "model": "BinaryNet, CIFAR-10 shape (32x32x3), 10,352,000 binary weights",
        "machine": f"{platform.machine()}, {len(tf.config.list_physical_devices('CPU'))} CPU "
        f"device(s), GPUs: {[tf.config.experimental.get_device_details(d).get('device_name') for d in devices]}",
        "tensorflow": tf.__version__,
        "larq": lq.__version__,
        "steps_per_variant": args.steps * args.rounds,
        "targets": TARGETS,
        "batch_sizes": {},
    }
    for batch_size in args.batch_sizes:
        times, state = time_steps(batch_size, args.steps, args.rounds, jit=args.jit != "off")
        everything = {name: [t for round_ in rounds for t in round_]
                      for name, rounds in times.items()}
        step_ms = {name: median_ms(t) for name, t in everything.items()}
        ratios = _ratios(times)
        result["batch_sizes"][str(batch_size)] = {
            "step_ms_median": step_ms,
            "step_ms_min": {name: 1e3 * min(t) for name, t in everything.items()},
            "step_ms_by_round": {name: [median_ms(r) for r in rounds]
                                 for name, rounds in times.items()},
            "ratios": ratios,
        }
        result["optimizer_state_bytes_per_binary_weight"] = state
        print(f"\nBinaryNet, batch {batch_size}: ms per step, median of "
              f"{args.steps * args.rounds} steps ({args.rounds} rounds)")
        for name, ms in step_ms.items():
            by_round = result["batch_sizes"][str(batch_size)]["step_ms_by_round"][name]
            print(f"  {name:<20} {ms:9.1f} ms   rounds {min(by_round):.0f}-{max(by_round):.0f}")
        print("  ratios (median over rounds of same-round ratios):")
        for name, ratio in ratios.items():
            target = TARGETS.get(name)
            verdict = "" if target is None else (
                f"  (target <= {target}: {'met' if ratio <= target else 'MISSED'})")
            print(f"  {name:<26} {ratio:.3f}{verdict}")

    print()
    update = measure_update(args.update_repeats)
    result["update"] = update
    result["ratios_update"] = {"update ours / larq": update["ratio_ours_to_larq"]}
    state = result["optimizer_state_bytes_per_binary_weight"]
    print(f"  optimizer state bytes per binary weight: ours {state['ours']:.3f}, "
          f"larq {state['larq']:.3f}, latent baseline (Adam) {state['latent']:.3f}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
