"""The same task on both front ends, as a user runs it, over several seeds: test accuracy
of `fashion_mnist_bop` (real Fashion-MNIST, offline from Debian's dataset-fashion-mnist)
on tf-keras with Larq and on Keras 3 (KERAS_BACKEND, default JAX), seeds run in turns.

    python bench/front_end_accuracy.py [--task fashion_mnist_bop] [--seeds 3] [--first-seed 0]
                                       [--epochs 3] [--out bench/results/front_end_accuracy.json]

Each run is `python -m rethink_bnn.train TASK front_end=F seed=S epochs=E` in a fresh
process and folder; the report gives each front end's accuracies, mean and standard
deviation, and whether the Keras 3 mean lies within the tf-keras runs' range widened by
their standard deviation (the spread the tf-keras task has over seeds).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from report import write_result

FRONT_ENDS = ("tf_keras", "keras3")


def run(task, front_end, seed, epochs, folder):
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    command = [sys.executable, "-m", "rethink_bnn.train", task, f"front_end={front_end}",
               f"seed={seed}", f"epochs={epochs}", f"run_dir={folder}", "verbose=0"]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"front_end_accuracy: {' '.join(command[2:])} failed:\n{done.stderr[-2000:]}")
    summary = json.loads((Path(folder) / "summary.json").read_text())
    return summary["test_accuracy"], summary["wall_time_s_this_session"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="fashion_mnist_bop")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="bench/results/front_end_accuracy.json")
    args = parser.parse_args(argv)
    results = {f: {"accuracy": [], "wall_s": []} for f in FRONT_ENDS}
    with tempfile.TemporaryDirectory(prefix="front_end_accuracy_") as scratch:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for front_end in FRONT_ENDS:  # in turns: the machine's load falls on both
                accuracy, wall = run(args.task, front_end, seed, args.epochs,
                                     os.path.join(scratch, f"{front_end}_{seed}"))
                results[front_end]["accuracy"].append(accuracy)
                results[front_end]["wall_s"].append(wall)
                print(f"{front_end} seed {seed}: test accuracy {accuracy:.4f} ({wall:.0f} s)",
                      flush=True)
    for entry in results.values():
        entry["mean"] = statistics.mean(entry["accuracy"])
        entry["sd"] = statistics.stdev(entry["accuracy"]) if args.seeds > 1 else 0.0
    theirs, ours = results["tf_keras"], results["keras3"]
    low = min(theirs["accuracy"]) - theirs["sd"]
    high = max(theirs["accuracy"]) + theirs["sd"]
    report = {"task": args.task, "epochs": args.epochs, "seeds": args.seeds,
              "first_seed": args.first_seed,
              "keras_backend": os.environ.get("KERAS_BACKEND", "jax"), "front_ends": results,
              "tf_keras_spread": [low, high], "keras3_mean_within": low <= ours["mean"] <= high}
    print(f"tf_keras {theirs['mean']:.4f} ± {theirs['sd']:.4f}, keras3 {ours['mean']:.4f} ± "
          f"{ours['sd']:.4f}: the Keras 3 mean is {'' if report['keras3_mean_within'] else 'not '}"
          f"within [{low:.4f}, {high:.4f}]")
    write_result(report, args.out)
    return report


if __name__ == "__main__":
    main()
