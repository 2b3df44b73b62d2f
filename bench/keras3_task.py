"""Two epochs of `cifar10_bop front_end=keras3` through the command line, as a user runs
the paper's headline task, on CIFAR-10-shaped synthetic data (random uint8 images in the
official archive's layout, written here: no download), and the time the 500-epoch
recipe would take at the second epoch's speed:

    KERAS_BACKEND=jax python bench/keras3_task.py --out bench/results/keras3_task.json
    KERAS_BACKEND=jax python bench/keras3_task.py --tiny   # a smoke test (CI, bench/gpu.sh tiny)

The projection scales the second epoch (compiled, steady) to CIFAR-10's 45,000 training
images (the task holds out a tenth of 50,000 for validation) and 500 epochs; validation
of 5,000 images per epoch is scaled the same way, with the epoch.
"""

import argparse
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

CIFAR10_TRAIN = 45_000  # the task's training split: 50,000 less a tenth for validation
RECIPE_EPOCHS = 500


def write_archive(folder, per_batch, seed=0):
    """cifar-10-python.tar.gz with five training batches and a test batch of `per_batch`
    random 32×32×3 images each (rows of CHW bytes and labels, as the official one)."""
    rng = np.random.default_rng(seed)
    with tarfile.open(Path(folder) / "cifar-10-python.tar.gz", "w:gz", compresslevel=1) as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            rows = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch).tolist()
            payload = pickle.dumps({b"data": rows, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def run_task(archive, run_dir, extra):
    """The CLI's two epochs; (seconds of each epoch as the console reports them, wall
    seconds of the whole command, summary.json)."""
    command = [sys.executable, "-m", "rethink_bnn.train", "cifar10_bop", "front_end=keras3",
               "epochs=2", f"dataset.archive_dir={archive}", f"run_dir={run_dir}",
               "verbose=2", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"keras3_task: the task failed ({done.returncode}):\n{done.stderr[-3000:]}")
    epochs = [float(s) for s in re.findall(r"^Epoch \d+/2 \(([\d.]+) s\)", done.stdout, re.M)]
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    return epochs, wall, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-batch", type=int, default=2000,
                        help="images per archive batch (5 training batches, 1 test)")
    parser.add_argument("--steps-per-execution", default="1",
                        help="an integer, or auto (on a GPU: the largest divisor of the "
                             "epoch's steps up to 32)")
    parser.add_argument("--tiny", action="store_true",
                        help="a smoke test: 12 images per batch, batch 10, a small network")
    parser.add_argument("--out", help="write the report here (JSON)")
    args = parser.parse_args(argv)
    per_batch = 12 if args.tiny else args.per_batch
    extra = [f"steps_per_execution={args.steps_per_execution}"]
    if args.tiny:
        extra += ["batch_size=10", "model=BinaryMLP", "model.units=(32,)"]
    with tempfile.TemporaryDirectory(prefix="keras3_task_") as scratch:
        write_archive(scratch, per_batch)
        epochs, wall, summary = run_task(scratch, os.path.join(scratch, "run"), extra)
    held_out = summary["config"]["dataset"]["validation_fraction"]
    n_train = 5 * per_batch - int(round(5 * per_batch * held_out))  # as the dataset splits
    import keras

    report = {
        "backend": keras.backend.backend(), "device": _device(),
        "train_images": n_train, "batch_size": summary["config"]["batch_size"],
        "steps_per_execution": args.steps_per_execution,
        "network": summary["config"]["model"]["class"],
        "epoch_seconds": epochs, "command_wall_seconds": round(wall, 1),
        "test_accuracy": summary["test_accuracy"],
        "projected_recipe_hours": round(epochs[-1] * CIFAR10_TRAIN / n_train
                                        * RECIPE_EPOCHS / 3600, 2),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _device():
    import jax

    return str(jax.devices()[0]) if os.environ.get("KERAS_BACKEND") == "jax" else "cpu"


if __name__ == "__main__":
    main()
