"""Wall time to a test accuracy on real data, for any of the Fashion-MNIST tasks.

    python bench/time_to_accuracy.py [--target 0.78] [--runs 3] [--evals-per-epoch 4]
                                     [--max-epochs 6] [--tasks a,b,...] [--keep-training]
                                     [--out bench/results/time_to_accuracy.json]

Trains the report's MNIST net on Fashion-MNIST (offline, Debian's dataset-fashion-mnist)
as each task of `--tasks` defines it (default `fashion_mnist_bop` and
`fashion_mnist_latent_adam`: their hyperparameters, data pipeline and 90% training
split), `--runs` times each with seeds 0, 1, ..., alternating the tasks. The test set is
evaluated `--evals-per-epoch` times an epoch; a run stops at the first evaluation at or
above `--target`, or, with `--keep-training` (the side-by-side of Bop's family), trains
all `--max-epochs` and reports its last test accuracy, its flips per epoch and its
optimizer's state bytes per binary weight too. The time reported is training time to the
target (evaluations excluded, the first step's tracing included), and the median over
the runs.
"""

import argparse
import math
import statistics
import tempfile
import time

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from report import write_result
from zookeeper import configure

from rethink_bnn.experiments.tasks import TASKS as REGISTRY
from rethink_bnn.experiments.data import evaluation_stream, training_stream
from rethink_bnn.optimizers import binary_optimizers, is_binary_variable, leaf_optimizers

DEFAULT_TASKS = "fashion_mnist_bop,fashion_mnist_latent_adam"


class UntilAccuracy(tf.keras.callbacks.Callback):
    """Evaluates every `every` steps; stops at `target`. Keeps training time apart from
    evaluation time."""

    def __init__(self, test, target, every, keep_training=False):
        super().__init__()
        self.test, self.target, self.every = test, target, every
        self.keep_training = keep_training
        self.curve = []  # (training seconds, steps, test accuracy)
        self.reached = None
        self.flips = []  # per epoch, all binary kernels

    def on_epoch_begin(self, epoch, logs=None):
        self._flips_before = _total_flips(self.model.optimizer)

    def on_epoch_end(self, epoch, logs=None):
        after = _total_flips(self.model.optimizer)
        # None before: counters made in the epoch's first step (a model built by it), from 0
        self.flips.append(None if after is None else after - (self._flips_before or 0))

    def on_train_begin(self, logs=None):
        self.steps, self.evaluating, self.started = 0, 0.0, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every:
            return
        trained = time.perf_counter() - self.started - self.evaluating
        begin = time.perf_counter()
        _, accuracy = self.model.evaluate(self.test, verbose=0)
        self.evaluating += time.perf_counter() - begin
        self.curve.append((trained, self.steps, accuracy))
        if accuracy >= self.target and self.reached is None:
            self.reached = (trained, self.steps, accuracy)
            self.model.stop_training = not self.keep_training


def _total_flips(optimizer):
    """All binary optimizers' flips so far; None for latent weights (nothing counts them)."""
    counters = [b.flip_counts for b in binary_optimizers(optimizer) if b.flip_counts is not None]
    return sum(int(sum(c.numpy())) for c in counters) if counters else None


def state_bytes_per_binary_weight(model):
    """Bytes of optimizer state kept for each binary kernel weight: the binary optimizer's
    slots, or, for latent weights, Adam's moments of the kernels."""
    kernels = [v for v in model.trainable_variables if is_binary_variable(v)]
    n = sum(v.shape.num_elements() for v in kernels)
    binaries = binary_optimizers(model.optimizer)
    if binaries:
        slots = [s for b in binaries for v in b.binary_variables for s in b.state(v).values()]
    else:  # Adam's slots are named after their variable
        names = {v._shared_name for v in kernels}
        slots = [s for leaf in leaf_optimizers(model.optimizer) for s in leaf.variables
                 if s.name.split(":")[0].split("/", 1)[-1] in names]
    return sum(s.shape.num_elements() * s.dtype.size for s in slots) / n


def run(task_class, seed, target, evals_per_epoch, max_epochs, keep_training=False):
    task = task_class()
    # epochs: the run's length, which linear schedules span
    configure(task, {"seed": seed, "run_dir": tempfile.mkdtemp(prefix="tta_"),
                     "epochs": max_epochs})
    task.validate()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    train, n_train = task.dataset.train()
    test, _ = task.dataset.test()
    steps_per_epoch = math.ceil(n_train / task.batch_size)
    model = task.model
    model.compile(task.make_optimizer(steps_per_epoch), loss=task.loss, metrics=["accuracy"])
    until = UntilAccuracy(evaluation_stream(test, task.preprocessing, 1000), target,
                          steps_per_epoch // evals_per_epoch, keep_training)
    model.fit(training_stream(train, task.preprocessing, task.batch_size, seed,
                              task.shuffle_buffer),
              epochs=max_epochs, steps_per_epoch=steps_per_epoch, callbacks=[until], verbose=0)
    return {"seed": seed, "reached": until.reached, "curve": until.curve,
            "steps_per_epoch": steps_per_epoch, "flips_per_epoch": until.flips,
            "final_test_accuracy": until.curve[-1][2] if until.curve else None,
            "state_bytes_per_binary_weight": state_bytes_per_binary_weight(model)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, default=0.78, help="test accuracy to reach")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--evals-per-epoch", type=int, default=4)
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--tasks", default=DEFAULT_TASKS,
                        help="comma-separated task names (python -m rethink_bnn.train --help)")
    parser.add_argument("--keep-training", action="store_true",
                        help="train every run all --max-epochs, past the target")
    parser.add_argument("--out", default="bench/results/time_to_accuracy.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}")

    runs = {name: [] for name in names}
    for seed in range(args.runs):
        for name in names:
            result = run(REGISTRY[name], seed, args.target, args.evals_per_epoch,
                         args.max_epochs, args.keep_training)
            runs[name].append(result)
            reached = result["reached"]
            print(f"  {name:<14} seed {seed}: " + (
                f"{reached[2]:.4f} after {reached[0]:.1f} s ({reached[1]} steps)" if reached
                else f"not reached in {args.max_epochs} epochs "
                     f"(best {max(c[2] for c in result['curve']):.4f})"), flush=True)

    summary = {}
    for name, results in runs.items():
        times = [r["reached"][0] for r in results if r["reached"]]
        finals = [r["final_test_accuracy"] for r in results]
        summary[name] = {
            "reached": f"{len(times)} of {len(results)}",
            "median_s": statistics.median(times) if len(times) == len(results) else None,
            "times_s": times,
            "median_steps": statistics.median(r["reached"][1] for r in results if r["reached"])
            if times else None,
            "final_test_accuracy_mean": statistics.mean(finals),
            "final_test_accuracy_sd": statistics.stdev(finals) if len(finals) > 1 else None,
            "flips_per_epoch_mean": [None if None in epoch else statistics.mean(epoch)
                                     for epoch in zip(*(r["flips_per_epoch"] for r in results))],
            "state_bytes_per_binary_weight": results[0]["state_bytes_per_binary_weight"],
        }
    bop = summary.get("fashion_mnist_bop", {}).get("median_s")
    latent = summary.get("fashion_mnist_latent_adam", {}).get("median_s")
    result = {
        "task": "MNIST net (report) on Fashion-MNIST, first 90% of train; test accuracy",
        "tasks": names,
        "max_epochs": args.max_epochs,
        "keep_training": args.keep_training,
        "target_test_accuracy": args.target,
        "evaluations_per_epoch": args.evals_per_epoch,
        "summary": summary,
        "ratio_bop_to_latent": bop / latent if bop and latent else None,
        "runs": runs,
        "tensorflow": tf.__version__,
    }
    print(f"Time to test accuracy {args.target} (median of {args.runs}, training time only):")
    for name, s in summary.items():
        median = f"{s['median_s']:.1f} s" if s["median_s"] is not None else "not reached by all"
        sd = s["final_test_accuracy_sd"]
        print(f"  {name:<34} {median}   ({s['reached']} runs reached it; "
              f"median {s['median_steps']} steps); last test accuracy "
              f"{s['final_test_accuracy_mean']:.4f}" + (f" ± {sd:.4f}" if sd else "")
              + f"; state {s['state_bytes_per_binary_weight']:g} bytes per binary weight")
    if result["ratio_bop_to_latent"]:
        print(f"  bop / latent: {result['ratio_bop_to_latent']:.2f}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
