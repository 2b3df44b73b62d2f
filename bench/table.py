"""Markdown tables of the latest benchmark results, for benchmarks.md.

    python bench/table.py [--results bench/results]

Reads the JSON that `train_step.py` and `time_to_accuracy.py` wrote and prints the
tables benchmarks.md shows, so that no figure there is typed by hand.
"""

import argparse
import json
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default="bench/results")
    args = parser.parse_args(argv)
    folder = Path(args.results)
    for name, render in (("train_step.json", train_step_tables),
                         ("time_to_accuracy.json", time_to_accuracy_table),
                         ("family.json", family_table)):
        path = folder / name
        if path.is_file():
            print(f"<!-- from {path} -->")
            print("\n".join(render(json.loads(path.read_text()))))
        else:
            print(f"<!-- {path}: not run yet -->\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
