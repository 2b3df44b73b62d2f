"""Markdown tables of the latest benchmark results, for docs/benchmarks.md.

    python bench/table.py [--results bench/results]

Reads the JSON the benchmarks wrote into bench/results/ and prints every table. The
docs build puts each where docs/benchmarks.md has the comment `table: NAME` on a line
(docs/hooks.py), so that no figure there is typed by hand.
"""

import argparse
import json
import statistics
from pathlib import Path


def train_step_tables(result):
    lines = []
    for batch, data in result["batch_sizes"].items():
        step, ratios = data["step_ms_median"], data["ratios"]
        fastest = data["step_ms_min"]
        lines += [f"**Batch {batch}**", "",
                  "| variant | median ms per step | round medians | fastest step | fastest / floor's |",
                  "|---|---|---|---|---|"]
        for name, ms in step.items():
            rounds = data["step_ms_by_round"][name]
            lines.append(f"| {name} | {ms:.1f} | {min(rounds):.0f}–{max(rounds):.0f} | "
                         f"{fastest[name]:.1f} | {fastest[name] / fastest['floor']:.3f} |")
        lines += ["", "| ratio | value | target |", "|---|---|---|"]
        for name, value in ratios.items():
            target = result["targets"].get(name)
            verdict = f"≤ {target}: {'met' if value <= target else '**missed**'}" if target else ""
            lines.append(f"| {name} | {value:.3f} | {verdict} |")
        lines.append("")
    update = result["update"]
    ms = update["update_ms"]
    state = result["optimizer_state_bytes_per_binary_weight"]
    lines += [
        "**Optimizer update alone** (10,352,000 BinaryNet binary weights, median of "
        f"{update['repeats']}, alternated)", "",
        "| | ms | / Larq's |", "|---|---|---|",
        f"| ours, in `SkipNonFinite` (the non-finite check) | {ms['ours']:.2f} | {update['ratio_ours_to_larq']:.3f} |",
        f"| ours, `Bop` alone | {ms['ours_unchecked']:.2f} | "
        f"{update['ratio_unchecked_to_larq']:.3f} |",
        f"| Larq's Bop | {ms['larq']:.2f} | 1 |", "",
        "**Optimizer state per binary weight**: "
        f"ours {state['ours']:.3f} bytes, Larq's {state['larq']:.3f}, "
        f"the latent-weight baseline's Adam {state['latent']:.3f} (plus its 4-byte latent "
        "weights).", "",
    ]
    return lines


def time_to_accuracy_table(result):
    lines = [f"Target test accuracy **{result['target_test_accuracy']}**, "
             f"{result['evaluations_per_epoch']} evaluations per epoch.", "",
             "| training | median s | each run (s) | median steps |", "|---|---|---|---|"]
    for name, s in result["summary"].items():
        median = f"{s['median_s']:.1f}" if s["median_s"] is not None else "not reached"
        runs = ", ".join(f"{t:.1f}" for t in s["times_s"])
        lines.append(f"| {name} | {median} | {runs} | {s['median_steps']} |")
    if result["ratio_bop_to_latent"]:
        lines += ["", f"Bop / latent: **{result['ratio_bop_to_latent']:.2f}**"]
    return lines + [""]


def family_table(result):
    """The side-by-side of Bop's family (`time_to_accuracy.py --keep-training`)."""
    lines = [f"{result['max_epochs']} epochs, {len(result['runs'][result['tasks'][0]])} seeds "
             f"each; time to test accuracy **{result['target_test_accuracy']}** (median, "
             "training time only).", "",
             "| task | last test accuracy (mean ± sd) | s to target | flips per epoch "
             "(first → last, mean) | state bytes / binary weight |", "|---|---|---|---|---|"]
    for name, s in result["summary"].items():
        median = f"{s['median_s']:.1f}" if s["median_s"] is not None else f"{s['reached']} reached"
        sd = s["final_test_accuracy_sd"]
        flips = s["flips_per_epoch_mean"]
        flips = ("— (latent weights)" if not flips or flips[0] is None or "latent" in name
                 else f"{flips[0]:,.0f} → {flips[-1]:,.0f}")
        lines.append(f"| {name} | {s['final_test_accuracy_mean']:.4f} ± {sd or 0:.4f} | "
                     f"{median} | {flips} | "
                     f"{s['state_bytes_per_binary_weight']:g} |")
    return lines + [""]


INFERENCE_VARIANTS = ("lce", "lce indirect", "lce indirect + xnnpack", "float tflite", "keras")


def inference_table(result):
    lines = [f"Single image, one thread, median of {result['images']} images; "
             f"{result['machine']['cpu']} ({result['machine']['arch']}).", "",
             "| network | variant | median ms | p10–p90 ms | size (bytes) |",
             "|---|---|---|---|---|"]
    for name, data in result["networks"].items():
        for variant in INFERENCE_VARIANTS:
            size = data["bytes"]["keras float32 weights" if variant == "keras" else
                                 "float tflite" if variant == "float tflite" else "lce"]
            p10, p90 = data["p10_p90_ms"][variant]
            lines.append(f"| {name} | {variant} | {data['median_ms'][variant]:.2f} | "
                         f"{p10:.2f}–{p90:.2f} | {size:,} |")
    lines += ["", "| network | latency LCE / float TFLite | LCE indirect / float TFLite "
              "| LCE indirect + XNNPACK / float TFLite | size LCE / float TFLite | "
              "top-1 agreement LCE–Keras | LCE–float TFLite |", "|---|---|---|---|---|---|---|"]
    for name, data in result["networks"].items():
        r = data["ratios"]
        lines.append(f"| {name} | {r['latency lce / float tflite']:.2f} | "
                     f"{r['latency lce indirect / float tflite']:.2f} | "
                     f"{r['latency lce indirect + xnnpack / float tflite']:.2f} | "
                     f"{r['size lce / float tflite']:.3f} | "
                     f"{data['top1_agreement_with_keras']['lce']:.3f} | "
                     f"{data['lce_vs_float_tflite']['top1_agreement']:.3f} |")
    return lines + [""]



def bop_update_table(result):
    """`bop_update.py`: the update alone on BinaryNet's binary weights, against Larq's."""
    names = {"ours": "ours, `SkipNonFinite(Bop)`", "ours_unchecked": "ours, `Bop` alone",
             "larq": "Larq's Bop", "bop2ndorder": "`Bop2ndOrder`",
             "bop2ndorder_unbiased": "`Bop2ndOrder(unbiased=True)`", "cema": "`CEMA`"}
    ms, ratio = result["update_ms"], result["ratio_to_larq"]
    lines = [f"{result['binary_weights']:,} binary weights, median of {result['repeats']} "
             "updates, alternated.", "", "| | ms | / Larq's |", "|---|---|---|"]
    lines += [f"| {label} | {ms[key]:.2f} | {ratio.get(key, 1.0):.3f} |"
              for key, label in names.items() if key in ms]
    return lines + [""]


KERAS3_UPDATE_RUNS = (("JAX", "keras3_update_jax"), ("TensorFlow", "keras3_update_tensorflow"),
                      ("TensorFlow + XLA", "keras3_update_tensorflow_xla"),
                      ("PyTorch", "keras3_update_torch"))


def keras3_update_table(results):
    """`keras3_update.py`, one run per backend: ms (/ SGD with momentum; / the
    memory-traffic limit) per optimizer, and the copy bandwidth measured beside it."""
    runs = [(label, results[name]) for label, name in KERAS3_UPDATE_RUNS if name in results]
    if not runs:
        return ["*Not run yet: `bench/results/keras3_update_*.json`.*", ""]
    lines = ["| | " + " | ".join(label for label, _ in runs) + " |",
             "|---|" + "---|" * len(runs)]
    for optimizer in runs[0][1]["median_ms"]:
        cells = []
        for _, run in runs:
            limit = run.get("ratio_to_traffic_limit", {}).get(optimizer)
            cells.append(f"{run['median_ms'][optimizer]:.1f} "
                         f"({run['ratio_to_sgd_momentum'][optimizer]:.2f}"
                         + (f"; {limit:.2f})" if limit is not None else ")"))
        lines.append(f"| {optimizer} | " + " | ".join(cells) + " |")
    lines.append("| copy bandwidth, GB/s | " + " | ".join(
        f"{run.get('copy_bandwidth_gb_s', float('nan')):.1f}" for _, run in runs) + " |")
    return lines + [""]


def keras3_throughput_table(results):
    """`keras3_throughput.py`, one run per backend: images/s of Bop + Adam and of SGD with
    momentum, and their time ratio (timed in turns)."""
    lines = ["| backend, variant | Bop + Adam, images/s | SGD momentum, images/s | "
             "time, ours / SGD momentum |", "|---|---|---|---|"]
    for name in ("keras3_throughput_jax", "keras3_throughput_tensorflow",
                 "keras3_throughput_torch"):
        if name in results:
            run = results[name]
            for variant, data in run["variants"].items():
                rates = data["images_per_s"]
                lines.append(f"| Keras {run['keras']}, {run['backend']}, {variant} | "
                             f"{rates['Bop + Adam']:.1f} | {rates['SGD momentum']:.1f} | "
                             f"{data['ours_over_sgd_momentum_time']:.2f} |")
    return lines + [""]


def throughput_table(result):
    """`throughput.py`: images/s per variant (median over rounds) and the paired ratios,
    per batch size; each front end's worker and versions."""
    lines = []
    for batch, data in result["batch_sizes"].items():
        lines += [f"**Batch {batch}**, {result['steps']} steps a fit, median of "
                  f"{result['rounds']} rounds", ""]
        for front_end, info in data.get("workers", {}).items():
            lines.append(f"- {front_end}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        lines += ["", "| variant | images/s | seconds by round |", "|---|---|---|"]
        for name, rate in data["images_per_s"].items():
            rounds = ", ".join(f"{s:.1f}" for s in data["seconds_by_round"][name])
            lines.append(f"| {name} | {rate:.1f} | {rounds} |")
        lines += ["", "| time ratio | value | target |", "|---|---|---|"]
        for name, value in data["ratios"].items():
            target = result["targets"].get(name)
            verdict = f"≤ {target}: {'met' if value <= target else '**missed**'}" if target else ""
            lines.append(f"| {name} | {value:.3f} | {verdict} |")
        lines.append("")
    return lines


def front_end_accuracy_table(results):
    """`front_end_accuracy.py` runs (one file per group of seeds): each seed's test
    accuracy on both front ends, and the mean ± sd over all seeds."""
    runs = sorted((results[n] for n in list(results) if n.startswith("front_end_accuracy")),
                  key=lambda run: run.get("first_seed", 0))
    seeds = [s for run in runs for s in range(run.get("first_seed", 0),
                                              run.get("first_seed", 0) + run["seeds"])]
    lines = ["| seed | " + " | ".join(map(str, seeds)) + " | mean ± sd | s per run |",
             "|---|" + "---|" * (len(seeds) + 2)]
    for front_end in runs[0]["front_ends"]:
        accuracy = [a for run in runs for a in run["front_ends"][front_end]["accuracy"]]
        walls = [w for run in runs for w in run["front_ends"][front_end]["wall_s"]]
        lines.append(f"| {front_end} | " + " | ".join(f"{a:.4f}" for a in accuracy)
                     + f" | {statistics.mean(accuracy):.4f} ± {statistics.stdev(accuracy):.4f} | "
                     f"{min(walls):.0f}–{max(walls):.0f} |")
    return lines + [""]


def logging_overhead_table(results):
    """`flip_logging.py` runs: the step with and without the logger, and the ratio."""
    lines = ["| run | model | ms per step without | with | added ms | ratio |",
             "|---|---|---|---|---|---|"]
    for name in ("flip_logging", "flip_logging_large", "batch_metric_logging"):
        if name in results:
            run = results[name]
            ms = run["step_ms_median"]
            lines.append(f"| {name} | {run['model']} | {ms['without']:.2f} | {ms['with']:.2f} | "
                         f"{run['added_ms_per_step']:.2f} | {run['overhead_ratio']:.3f} |")
    return lines + [""]


def _one(name, render):
    def table(results):
        if name not in results:
            return [f"*Not run yet: `bench/results/{name}.json`.*", ""]
        return render(results[name])
    return table


# <!-- table: NAME --> in docs/benchmarks.md -> the lines that replace it, from the
# results ({file stem: parsed JSON})
RENDERERS = {
    "train_step": _one("train_step", train_step_tables),
    "time_to_accuracy": _one("time_to_accuracy", time_to_accuracy_table),
    "family": _one("family", family_table),
    "inference": _one("inference", inference_table),
    "bop_update": _one("bop_update", bop_update_table),
    "keras3_update": keras3_update_table,
    "keras3_throughput": keras3_throughput_table,
    "throughput": _one("throughput", throughput_table),
    "front_end_accuracy": front_end_accuracy_table,
    "logging_overhead": logging_overhead_table,
}


def results_in(folder):
    """{file stem: parsed JSON} of every result in `folder`."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))}


def render(name, folder="bench/results"):
    """The Markdown of table `name` (a key of RENDERERS) from the results in `folder`."""
    return "\n".join(RENDERERS[name](results_in(folder)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default="bench/results")
    args = parser.parse_args(argv)
    for name in RENDERERS:
        print(f"<!-- table: {name} -->")
        print(render(name, args.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
