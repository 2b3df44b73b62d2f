"""What per-step logging adds to a training step: FlipLogger, or BatchMetricLogger.

    python bench/flip_logging.py [--epochs 12] [--out bench/results/flip_logging.json]
    python bench/flip_logging.py --logger batch_metrics --out bench/results/batch_metric_logging.json

Trains a binary MLP on the bundled digits with `model.fit`, one epoch at a
time, alternating epochs without the logger and with it (every step; FlipLogger
per layer too, into the Keras logs and TensorBoard), and compares the median time
per step. The MLP's step takes a few milliseconds, so this is the worst case: a
logger's cost is a fixed amount per step (FlipLogger reads one vector per Bop,
BatchMetricLogger two scalars per metric), and it shrinks relative to a larger
model's step.
"""

import argparse
import statistics
import tempfile

import rethink_bnn as rb  # selects Keras 2 before TensorFlow loads
import tensorflow as tf
from report import write_result
from timing import StepTimer
from rethink_bnn.data import digits_arrays
from rethink_bnn.models import binary_mlp


LOGGERS = {
    "flip": lambda log_dir: rb.FlipLogger(log_dir=log_dir, update_freq=1, per_layer=True),
    "batch_metrics": lambda log_dir: rb.BatchMetricLogger(log_dir, update_freq=1),
}
LOGGER_NAMES = {"flip": "FlipLogger(update_freq=1, per_layer=True, log_dir)",
                "batch_metrics": "BatchMetricLogger(log_dir, update_freq=1)"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per variant")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--units", type=int, nargs="+", default=[256, 256],
                        help="hidden widths of the binary MLP (default 256 256)")
    parser.add_argument("--logger", choices=sorted(LOGGERS), default="flip")
    parser.add_argument("--out", default="bench/results/flip_logging.json")
    args = parser.parse_args(argv)

    (x, y), _ = digits_arrays()
    x = x / 127.5 - 1.0
    model = binary_mlp(units=tuple(args.units), seed=0)
    optimizer = rb.CaseOptimizer(
        (rb.is_binary_variable, rb.Bop(threshold=1e-6, gamma=1e-2)),
        default_optimizer=tf.keras.optimizers.Adam(1e-2),
    )
    model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log_dir = tempfile.mkdtemp(prefix="flip_logging_")
    variants = {"without": [], "with": [LOGGERS[args.logger](log_dir)]}
    step_times = {name: [] for name in variants}
    model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)  # trace and warm up
    for epoch in range(2 * args.epochs):
        name = "without" if epoch % 2 == 0 else "with"
        timer = StepTimer()
        model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0,
                  callbacks=[timer, *variants[name]])
        step_times[name].extend(timer.times()[1:])  # the first step of a fit is slower

    median = {k: 1e3 * statistics.median(v) for k, v in step_times.items()}
    result = {
        "model": "binary MLP 64-%s-10 on digits, batch %d"
        % ("-".join(map(str, args.units)), args.batch_size),
        "steps_per_variant": {k: len(v) for k, v in step_times.items()},
        "step_ms_median": median,
        "added_ms_per_step": median["with"] - median["without"],
        "overhead_ratio": median["with"] / median["without"],
    }
    result["logger"] = LOGGER_NAMES[args.logger]
    print(f"{result['logger']} on {result['model']}:")
    print(f"  step without {median['without']:.3f} ms, with {median['with']:.3f} ms: "
          f"+{result['added_ms_per_step']:.3f} ms per step, ratio {result['overhead_ratio']:.3f}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
