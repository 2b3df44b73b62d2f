"""Wall time to a test accuracy on real data: Bop + Adam against latent weights + Adam.

    python bench/time_to_accuracy.py [--target 0.78] [--runs 3] [--evals-per-epoch 4]
                                     [--max-epochs 6] [--out bench/results/time_to_accuracy.json]

Trains the report's MNIST net on Fashion-MNIST (offline, Debian's dataset-fashion-mnist)
as the tasks `fashion_mnist_bop` and `fashion_mnist_latent_adam` define it (their
hyperparameters, data pipeline and 90% training split), `--runs` times each with seeds
0, 1, ..., alternating the two. The test set is evaluated `--evals-per-epoch` times an
epoch; a run stops at the first evaluation at or above `--target`. The time reported
is training time to that point (evaluations excluded, the first step's tracing
included), and the median over the runs.
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

from rethink_bnn.experiments import FashionMnistBop, FashionMnistLatentAdam
from rethink_bnn.data import evaluation_stream, training_stream

TASKS = {"bop + adam": FashionMnistBop, "latent + adam": FashionMnistLatentAdam}


class UntilAccuracy(tf.keras.callbacks.Callback):
    """Evaluates every `every` steps; stops at `target`. Keeps training time apart from
    evaluation time."""

    def __init__(self, test, target, every):
        super().__init__()
        self.test, self.target, self.every = test, target, every
        self.curve = []  # (training seconds, steps, test accuracy)
        self.reached = None

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
        if accuracy >= self.target:
            self.reached = (trained, self.steps, accuracy)
            self.model.stop_training = True


def run(task_class, seed, target, evals_per_epoch, max_epochs):
    task = task_class()
    configure(task, {"seed": seed, "run_dir": tempfile.mkdtemp(prefix="tta_")})
    task.validate()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    train, n_train = task.dataset.train()
    test, _ = task.dataset.test()
    steps_per_epoch = math.ceil(n_train / task.batch_size)
    model = task.model
    model.compile(task.make_optimizer(steps_per_epoch), loss=task.loss, metrics=["accuracy"])
    until = UntilAccuracy(evaluation_stream(test, task.preprocessing, 1000), target,
                          steps_per_epoch // evals_per_epoch)
    model.fit(training_stream(train, task.preprocessing, task.batch_size, seed,
                              task.shuffle_buffer),
              epochs=max_epochs, steps_per_epoch=steps_per_epoch, callbacks=[until], verbose=0)
    return {"seed": seed, "reached": until.reached, "curve": until.curve,
            "steps_per_epoch": steps_per_epoch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, default=0.78, help="test accuracy to reach")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--evals-per-epoch", type=int, default=4)
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--out", default="bench/results/time_to_accuracy.json")
    args = parser.parse_args(argv)

    runs = {name: [] for name in TASKS}
    for seed in range(args.runs):
        for name, task_class in TASKS.items():
            result = run(task_class, seed, args.target, args.evals_per_epoch, args.max_epochs)
            runs[name].append(result)
            reached = result["reached"]
            print(f"  {name:<14} seed {seed}: " + (
                f"{reached[2]:.4f} after {reached[0]:.1f} s ({reached[1]} steps)" if reached
                else f"not reached in {args.max_epochs} epochs "
                     f"(best {max(c[2] for c in result['curve']):.4f})"), flush=True)

    summary = {}
    for name, results in runs.items():
        times = [r["reached"][0] for r in results if r["reached"]]
        summary[name] = {
            "reached": f"{len(times)} of {len(results)}",
            "median_s": statistics.median(times) if len(times) == len(results) else None,
            "times_s": times,
            "median_steps": statistics.median(r["reached"][1] for r in results if r["reached"])
            if times else None,
        }
    bop, latent = summary["bop + adam"]["median_s"], summary["latent + adam"]["median_s"]
    result = {
        "task": "MNIST net (report) on Fashion-MNIST, first 90% of train; test accuracy",
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
        print(f"  {name:<14} {median}   ({s['reached']} runs reached it; "
              f"median {s['median_steps']} steps)")
    if result["ratio_bop_to_latent"]:
        print(f"  bop / latent: {result['ratio_bop_to_latent']:.2f}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
