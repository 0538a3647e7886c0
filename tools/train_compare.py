#!/usr/bin/env python3
"""Trains Fashion-MNIST with `descent train` over several seeds and prints each optimizer's mean final test
accuracy (and its spread) as a Markdown table, in the order given (the tables in BENCHMARKS.md).

Usage (needs Debian's dataset-fashion-mnist; build descent first with `cargo build --release`):
    python3 tools/train_compare.py --descent target/release/descent --seeds 0,1,2 --epochs 5 \\
        --optimizers 'adam;adam(state="int8");adam(state="bf16")'
"""

import argparse
import json
import statistics
import subprocess


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="target/release/descent")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", default="5")
    parser.add_argument("--optimizers", required=True, help="descent specs separated by ';'")
    args = parser.parse_args()
    specs = args.optimizers.split(";")
    accuracy = {spec: [] for spec in specs}
    seconds = {spec: [] for spec in specs}
    for seed in args.seeds.split(","):
        out = subprocess.run(
            [args.descent, "train", "--dataset", "fashion-mnist", "--epochs", args.epochs, "--seed", seed,
             "--format", "json", "--optimizers", *specs],
            check=True, capture_output=True, text=True).stdout
        report = json.loads(out)
        for run in report["optimizers"]:
            accuracy[run["optimizer"]].append(run["final_test_accuracy"])
        for row in report["rows"]:
            seconds[row["optimizer"]].append(row["seconds"])
    print("| optimizer | mean test accuracy | min–max over seeds | s/epoch |")
    print("|---|---|---|---|")
    for spec in specs:
        values = accuracy[spec]
        print(f"| `{spec}` | {100 * statistics.mean(values):.2f}% | {100 * min(values):.2f}–{100 * max(values):.2f}% "
              f"| {statistics.mean(seconds[spec]):.2f} |")


if __name__ == "__main__":
    main()
