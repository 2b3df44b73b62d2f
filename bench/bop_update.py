"""Bop update time against Larq's Bop, and optimizer state bytes per binary weight.

    python bench/bop_update.py [--repeats 30] [--out bench/results/bop_update.json]

In one process, on variables shaped like BinaryNet's binary kernels (10,352,000
weights), times one `apply_gradients` of our Bop and of `larq.optimizers.Bop` (legacy
API), both inside `tf.function`, alternating the two so that drift hits both alike,
and reports the median of each and their ratio (target: ours / Larq's <= 1.0); ours also
without the non-finite gradient check (Bop not wrapped in SkipNonFinite), to show what
the check costs; Bop with its shared rule applied functionally (`flips.apply_rule`, as
Bop2ndOrder and CEMA are), which is what its in-place `bop_update` saves; and Bop's
successors Bop2ndOrder (biased and unbiased) and CEMA on the same weights. Also reports
each optimizer's state in bytes per binary weight (Bop's target: 4).
"""

import argparse
import platform
import statistics
import time

import rethink_bnn as rb  # selects Keras 2 before TensorFlow loads
import larq as lq
import numpy as np
import tensorflow as tf
from report import write_result

# BinaryNet for CIFAR-10 (the authors' network): six 3x3 convs, then three dense layers.
BINARYNET_KERNELS = [
    (3, 3, 3, 128), (3, 3, 128, 128), (3, 3, 128, 256), (3, 3, 256, 256),
    (3, 3, 256, 512), (3, 3, 512, 512), (4608, 1024), (1024, 1024), (1024, 10),
]


class _BopFunctional(rb.optimizers.Bop):
    """Bop whose rule runs as the base applies any rule: new tensors, then assigned."""

    update = rb.optimizers.BinaryOptimizer.update


def _kernels(seed):
    rng = np.random.default_rng(seed)
    return [
        tf.Variable(np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32))
        for shape in BINARYNET_KERNELS
    ]


def _gradients(seed):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(scale=1e-4, size=s).astype(np.float32)) for s in BINARYNET_KERNELS]


def _state_bytes(variables):
    return sum(v.shape.num_elements() * v.dtype.size for v in variables)


def _median_ms(times):
    return 1e3 * statistics.median(times)


def measure(repeats=30, warmup=5):
    """Time the update of ours (with and without the non-finite check) and Larq's Bop;
    prints a summary and returns the result as a dict."""
    grads = _gradients(1)
    n_weights = sum(int(np.prod(s)) for s in BINARYNET_KERNELS)
    runs = {}
    for name, optimizer in (
        ("ours", rb.optimizers.SkipNonFinite(rb.optimizers.Bop(threshold=1e-8, gamma=1e-4))),
        ("ours_unchecked", rb.optimizers.Bop(threshold=1e-8, gamma=1e-4)),
        ("ours_functional", _BopFunctional(threshold=1e-8, gamma=1e-4)),
        ("larq", lq.optimizers.Bop(threshold=1e-8, gamma=1e-4)),
        # Bop's successors on the same weights (their recipes' starting values)
        ("bop2ndorder", rb.optimizers.Bop2ndOrder(threshold=1e-5, gamma=1e-2, sigma=1e-7)),
        ("bop2ndorder_unbiased", rb.optimizers.Bop2ndOrder(threshold=1e-5, gamma=1e-2,
                                                           sigma=1e-7, unbiased=True)),
        ("cema", rb.optimizers.CEMA(gamma=1e-1, alpha=1e-3)),
    ):
        variables = _kernels(0)

        def apply(opt=optimizer, vs=variables):
            opt.apply_gradients(zip(grads, vs))

        step = tf.function(apply)
        runs[name] = dict(optimizer=optimizer, variables=variables, step=step, times=[])

    for _ in range(warmup):
        for run in runs.values():
            run["step"]()
    for _ in range(repeats):
        for run in runs.values():  # alternate: both see the same machine state
            start = time.perf_counter()
            run["step"]()
            run["times"].append(time.perf_counter() - start)

    ours, larq = runs["ours"], runs["larq"]
    same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(ours["variables"], larq["variables"]))
    same_as_functional = all(np.array_equal(a.numpy(), b.numpy()) for a, b in
                             zip(ours["variables"], runs["ours_functional"]["variables"]))
    result = {
        "binary_weights": n_weights,
        "repeats": repeats,
        "update_ms": {k: _median_ms(r["times"]) for k, r in runs.items()},
        "update_ms_min": {k: 1e3 * min(r["times"]) for k, r in runs.items()},
        "ratio_ours_to_larq": _median_ms(ours["times"]) / _median_ms(larq["times"]),
        "ratio_unchecked_to_larq": _median_ms(runs["ours_unchecked"]["times"])
        / _median_ms(larq["times"]),
        "ratio_to_larq": {k: _median_ms(r["times"]) / _median_ms(larq["times"])
                          for k, r in runs.items()},
        "state_bytes_per_binary_weight": {
            "ours": _state_bytes(runs["ours_unchecked"]["optimizer"].variables) / n_weights,
            "larq": _state_bytes(larq["optimizer"].weights) / n_weights,
            **{k: _state_bytes([s for v in runs[k]["variables"]
                                for s in runs[k]["optimizer"].state(v).values()]) / n_weights
               for k in ("bop2ndorder", "bop2ndorder_unbiased", "cema")},
        },
        "weights_equal_after_run": same,
        "weights_equal_to_functional": same_as_functional,
        "ratio_functional_to_unchecked": _median_ms(runs["ours_functional"]["times"])
        / _median_ms(runs["ours_unchecked"]["times"]),
        "machine": f"{platform.machine()}, {len(tf.config.list_physical_devices('CPU'))} CPU "
        f"device(s), GPUs: {len(tf.config.list_physical_devices('GPU'))}",
        "tensorflow": tf.__version__,
    }
    print(f"Bop update on {n_weights:,} BinaryNet binary weights, median of {repeats}:")
    ms = result["update_ms"]
    print(f"  ours {ms['ours']:8.2f} ms   larq {ms['larq']:8.2f} ms"
          f"   ratio ours/larq {result['ratio_ours_to_larq']:.3f} (target <= 1.0)")
    print(f"  ours without the non-finite check (Bop not wrapped in SkipNonFinite) "
          f"{ms['ours_unchecked']:8.2f} ms   ratio {result['ratio_unchecked_to_larq']:.3f}")
    print(f"  ours, the rule applied functionally {ms['ours_functional']:8.2f} ms   / in place "
          f"{result['ratio_functional_to_unchecked']:.3f} (same weights: {same_as_functional})")
    for name in ("bop2ndorder", "bop2ndorder_unbiased", "cema"):
        print(f"  {name:<22} {ms[name]:8.2f} ms   ratio to larq's Bop "
              f"{result['ratio_to_larq'][name]:.3f}")
    b = result["state_bytes_per_binary_weight"]
    print(f"  state bytes per binary weight: ours {b['ours']:.4f}  larq {b['larq']:.4f} (target 4);"
          f" Bop2ndOrder {b['bop2ndorder']:.1f}, CEMA {b['cema']:.1f}")
    print(f"  same weights after {warmup + repeats} steps: {same}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per optimizer")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--out", default="bench/results/bop_update.json")
    args = parser.parse_args(argv)
    write_result(measure(args.repeats, args.warmup), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
