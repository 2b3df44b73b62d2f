"""Training throughput (images per second) of BinaryNet at CIFAR-10 shape, as the sec 5.2
recipe trains it, on both front ends in the same run: tf-keras (per-step logging on or
off, steps_per_execution 1 or 32, XLA, mixed precision, against the forward/backward
floor and Larq's CaseOptimizer) and Keras 3 on JAX and on TensorFlow.

    python bench/throughput.py [--front-ends tf_keras keras3-jax keras3-tensorflow]
        [--batch-sizes 50 100] [--steps 64] [--rounds 2] [--variants all|cpu]
        [--network binarynet|binary_mlp] [--out bench/results/throughput.json]

Each front end (each Keras 3 backend) runs in a worker process of its own, started
for each batch size (`throughput_tf_keras.prepare`, `keras3_throughput.prepare` say what
its variants are): it builds and warms up (compiles) its variants, then times one `fit`
of `--steps` steps of a variant when this process asks. The variants of every front end
take turns, round after round, so that the machine's drift hits them all; a
throughput is steps × batch / the median time over rounds, and a ratio of two
variants is the median of their same-round time ratios. The data are random batches of
the network's shape (no dataset is needed). The JSON records each worker's device and
versions. `--variants cpu` times the ones a CPU can say something about; `all` adds
XLA and mixed precision (for a GPU). A front end that is not installed is left out
and said so; `--network binary_mlp` is the tiny size the tests run.
"""

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import write_result  # noqa: E402

# front end -> (the module whose `prepare` builds its variants, KERAS_BACKEND, needs)
FRONT_ENDS = {
    "tf_keras": ("throughput_tf_keras", None, ("tensorflow", "tf_keras", "larq", "zookeeper")),
    "keras3-jax": ("keras3_throughput", "jax", ("keras", "jax", "zookeeper")),
    "keras3-tensorflow": ("keras3_throughput", "tensorflow", ("keras", "tensorflow",
                                                             "zookeeper")),
}
TARGETS = {"tf_keras: logging on / off": 1.02}
# ratio name -> (variant, variant), where both ran
PAIRS = {
    "logging on / off": ("ours + logging", "ours"),
    "spe 32 / spe 1 (with logging)": ("ours + logging, spe 32", "ours + logging"),
    "ours + logging / floor": ("ours + logging", "floor"),
    "ours + logging, spe 32 / floor, spe 32": ("ours + logging, spe 32", "floor, spe 32"),
    "ours / larq": ("ours", "larq"),
    "ours / SGD momentum": ("ours", "SGD momentum"),
    "XLA / not (spe 32, logging)": ("ours + logging, spe 32, XLA", "ours + logging, spe 32"),
    "mixed / float32 (spe 32, logging)": ("ours + logging, spe 32, mixed",
                                          "ours + logging, spe 32"),
}


def installed(front_end):
    return all(importlib.util.find_spec(name) for name in FRONT_ENDS[front_end][2])


def serve(front_end, network, batch_size, steps, variant_set):
    """A worker's life: build, say what is ready on the protocol's own descriptor (so
    that nothing the libraries print can mix in), then time the variant each stdin line
    names, one JSON number a line, until stdin closes."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    module = importlib.import_module(FRONT_ENDS[front_end][0])
    info, timers = module.prepare(network, batch_size, steps, variant_set)
    protocol.write(json.dumps({"ready": list(timers), **info}) + "\n")
    for line in sys.stdin:
        protocol.write(json.dumps(timers[line.strip()]()) + "\n")


class Worker:
    """One front end's worker process, its variants built and warmed up."""

    def __init__(self, front_end, args, batch_size):
        backend = FRONT_ENDS[front_end][1]
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # the workers share the device: none takes its whole memory up front
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        if backend:
            env["KERAS_BACKEND"] = backend
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", front_end, "--network",
             args.network, "--batch-sizes", str(batch_size), "--steps", str(args.steps),
             "--variants", args.variants], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env)
        self.info = json.loads(self._answer(f"{front_end} did not start"))
        self.front_end = front_end

    def _answer(self, failure):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"error: {failure} (exit status {self.process.wait()}; "
                             "its messages are above)")
        return line

    def seconds(self, name):
        try:
            self.process.stdin.write(name + "\n")
            self.process.stdin.flush()
        except OSError:  # it died since its last answer
            raise SystemExit(f"error: {self.front_end} stopped before timing {name} (exit "
                             f"status {self.process.wait()}; its messages are above)")
        return json.loads(self._answer(f"{self.front_end} stopped timing {name}"))

    def close(self, grace=60):
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure_batch(front_ends, args, batch_size):
    workers = []
    try:
        for front_end in front_ends:  # one at a time: each builds with the cores to itself
            workers.append(Worker(front_end, args, batch_size))
        keys = [(w, name) for w in workers for name in w.info["ready"]]
        seconds = {f"{w.front_end}: {name}": [] for w, name in keys}
        for round_ in range(args.rounds):
            shift = round_ % len(keys)
            for worker, name in keys[shift:] + keys[:shift]:
                seconds[f"{worker.front_end}: {name}"].append(worker.seconds(name))
    finally:
        for worker in workers:
            worker.close()
    return {
        "images_per_s": {k: args.steps * batch_size / statistics.median(s)
                         for k, s in seconds.items()},
        "seconds_by_round": seconds,
        "ratios": ratios(seconds, front_ends),
        "workers": {w.front_end: {k: v for k, v in w.info.items() if k != "ready"}
                    for w in workers},
    }


def _paired(seconds, a, b):
    return statistics.median(x / y for x, y in zip(seconds[a], seconds[b]))


def ratios(seconds, front_ends):
    """Each front end's own pairs, then each Keras 3 backend's "ours" (and "+ logging")
    against tf-keras', as time ratios (above 1: slower than the second)."""
    found = {}
    for front_end in front_ends:
        for name, (a, b) in PAIRS.items():
            a, b = f"{front_end}: {a}", f"{front_end}: {b}"
            if a in seconds and b in seconds:
                found[f"{front_end}: {name}"] = _paired(seconds, a, b)
    for front_end in front_ends:
        for variant in ("ours", "ours + logging", "ours + logging, spe 32"):
            a, b = f"{front_end}: {variant}", f"tf_keras: {variant}"
            if front_end != "tf_keras" and a in seconds and b in seconds:
                found[f"{a} / {b}"] = _paired(seconds, a, b)
    return found


def report(result, steps, rounds):
    for batch_size, measured in result["batch_sizes"].items():
        print(f"\n{result['network']}, batch {batch_size}, {steps} steps, median of "
              f"{rounds} rounds:")
        for front_end, info in measured["workers"].items():
            print(f"  {front_end}: {json.dumps(info)}")
        for name, rate in measured["images_per_s"].items():
            print(f"  {name:<46} {rate:9.1f} images/s")
        for name, ratio in measured["ratios"].items():
            target = TARGETS.get(name)
            verdict = "" if target is None else (
                f"  (target <= {target}: {'met' if ratio <= target else 'MISSED'})")
            print(f"  time ratio {name:<62} {ratio:.3f}{verdict}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--front-ends", nargs="+", choices=list(FRONT_ENDS),
                        default=list(FRONT_ENDS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--steps", type=int, default=64, help="timed steps per fit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", choices=["all", "cpu"], default="all")
    parser.add_argument("--network", choices=["binarynet", "binary_mlp"], default="binarynet")
    parser.add_argument("--out", default="bench/results/throughput.json")
    parser.add_argument("--serve", choices=list(FRONT_ENDS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 32 or args.steps % 32:
        parser.error("--steps must be a multiple of 32 (whole executions of 32 steps)")
    if args.serve:
        return serve(args.serve, args.network, args.batch_sizes[0], args.steps, args.variants)
    front_ends = [f for f in args.front_ends if installed(f)]
    for missing in sorted(set(args.front_ends) - set(front_ends)):
        print(f"{missing}: not installed here ({', '.join(FRONT_ENDS[missing][2])}), left out")
    if not front_ends:
        parser.error("none of the front ends asked for is installed here")
    result = {
        "network": {"binarynet": "BinaryNet, CIFAR-10 shape (32x32x3), 10,352,000 binary "
                                 "weights", "binary_mlp": "the demo's MLP (8x8x1)"}[args.network],
        "front_ends": front_ends, "steps": args.steps, "rounds": args.rounds,
        "targets": TARGETS,
        "batch_sizes": {str(b): measure_batch(front_ends, args, b) for b in args.batch_sizes},
    }
    for batch_size, measured in result["batch_sizes"].items():
        devices = {str(info.get("device")) for info in measured["workers"].values()}
        if len(devices) > 1:  # e.g. a JAX without its CUDA plugin beside a GPU TensorFlow
            print(f"note: batch {batch_size}: the front ends ran on different devices "
                  f"({', '.join(sorted(devices))}); their cross ratios compare devices")
    report(result, args.steps, args.rounds)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
