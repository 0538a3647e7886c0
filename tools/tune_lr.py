#!/usr/bin/env python3
"""Tunes each optimizer's learning rate on Fashion-MNIST, then reports its test accuracy over several seeds as a
Markdown table (the tuned table in BENCHMARKS.md).

The rate is chosen on held-out training images (`descent train --validation`), never on the test set: for each
optimizer a grid of rates half a decade apart around its starting rate, widened while the best rate sits at an edge,
each trained once (seed --tune-seed) and measured on the last --validation training images. The best rate is then
trained from scratch on the full training set with every seed in --seeds and measured on the test images.

Usage (needs Debian's dataset-fashion-mnist; build descent first with `cargo build --release`):
    python3 tools/tune_lr.py --descent target/release/descent --seeds 0,1,2 --epochs 5 \\
        --optimizers 'sgd@0.1;adam@1e-3;lion(betas=(0.9, 0.99))@1e-4'
Each entry is SPEC@LR: a descent spec without `lr`, and the rate to start the search from.
"""

import argparse
import json
import statistics
import subprocess


def with_lr(spec, lr):
    """The spec with `lr` set: `adam` -> `adam(lr=0.001)`, `lion(betas=(0.9, 0.99))` -> `lion(betas=..., lr=...)`."""
    if spec.endswith(")"):
        return f"{spec[:-1]}, lr={lr:.3g})"
    return f"{spec}(lr={lr:.3g})"


def train(descent, epochs, seed, specs, validation=None):
    """The final accuracy of each spec, from `descent train` runs of at most 32 specs."""
    accuracy = {}
    for start in range(0, len(specs), 32):
        command = [descent, "train", "--dataset", "fashion-mnist", "--epochs", str(epochs), "--seed", str(seed),
                   "--format", "json", "--optimizers", *specs[start:start + 32]]
        if validation:
            command += ["--validation", str(validation)]
        report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        for run in report["optimizers"]:
            accuracy[run["optimizer"]] = 0.0 if run["diverged"] else run["final_test_accuracy"] or 0.0
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="target/release/descent")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tune-seed", default=100, type=int)
    parser.add_argument("--validation", default=10000, type=int)
    parser.add_argument("--epochs", default=5, type=int)
    parser.add_argument("--optimizers", required=True, help="SPEC@LR entries separated by ';'")
    args = parser.parse_args()
    entries = [entry.rsplit("@", 1) for entry in args.optimizers.split(";")]
    step = 10 ** 0.5

    # The search: every optimizer's grid goes into one run; optimizers whose best rate is at an edge get one more
    # rate beyond it, until none does.
    tried = {spec: {} for spec, _ in entries}
    pending = {spec: [float(lr) * step ** k for k in (-2, -1, 0, 1, 2)] for spec, lr in entries}
    while pending:
        specs = {with_lr(spec, lr): (spec, lr) for spec, rates in pending.items() for lr in rates}
        accuracy = train(args.descent, args.epochs, args.tune_seed, list(specs), args.validation)
        for label, (spec, lr) in specs.items():
            tried[spec][lr] = accuracy[label]
        pending = {}
        for spec, results in tried.items():
            rates = sorted(results)
            best = max(rates, key=results.get)
            if best == rates[0]:
                pending[spec] = [best / step]
            elif best == rates[-1]:
                pending[spec] = [best * step]
    chosen = {spec: max(results, key=results.get) for spec, results in tried.items()}

    finals = [with_lr(spec, chosen[spec]) for spec, _ in entries]
    accuracy = {label: [] for label in finals}
    for seed in args.seeds.split(","):
        run_accuracy = train(args.descent, args.epochs, seed, finals)
        for label in finals:
            accuracy[label].append(run_accuracy[label])
    print("| optimizer | rates tried (validation accuracy) | mean test accuracy | min–max over seeds |")
    print("|---|---|---|---|")
    for (spec, _), label in zip(entries, finals):
        grid = ", ".join(f"{'**' if lr == chosen[spec] else ''}{lr:.3g}{'**' if lr == chosen[spec] else ''} "
                         f"({100 * acc:.1f})" for lr, acc in sorted(tried[spec].items()))
        values = accuracy[label]
        print(f"| `{label}` | {grid} | {100 * statistics.mean(values):.2f}% | "
              f"{100 * min(values):.2f}–{100 * max(values):.2f}% |")


if __name__ == "__main__":
    main()
