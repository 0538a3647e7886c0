#!/usr/bin/env python3
"""Times torch.optim.Muon and `descent bench --optimizer muon` on the same matrices and thread counts, alternately in
one run, and prints the ratios as a Markdown table (the one in BENCHMARKS.md).

For each shape and thread count it times, twice over, descent (`descent bench --rows`, one f32 matrix) and then
torch.optim.Muon (its single-tensor path, the only one it has), and keeps each one's better median of seconds per
step. "vs torch" is torch's time over descent's: above 1, descent is faster.

Usage (needs torch; build descent first with `cargo build --release`):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python tools/bench_muon.py --descent target/release/descent --shapes 1024x1024,4096x1024 \\
        --threads 1,2
"""

import argparse
import json
import platform
import statistics
import subprocess
import time

import torch


def time_torch(rows, cols, repeats):
    """Median seconds per step of torch.optim.Muon on one rows × cols f32 matrix."""
    p = torch.full((rows, cols), 0.5)
    p.grad = ((torch.arange(rows * cols, dtype=torch.float32) % 1000 - 499.5) * 1e-3).reshape(rows, cols)
    opt = torch.optim.Muon([p])
    for _ in range(2):
        opt.step()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_descent(binary, rows, cols, threads, repeats):
    out = subprocess.run(
        [binary, "bench", "--optimizer", "muon", "--params", str(rows * cols), "--rows", str(rows), "--threads",
         str(threads), "--repeats", str(repeats), "--format", "json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["ns_per_param"] * rows * cols * 1e-9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="target/release/descent")
    parser.add_argument("--shapes", default="1024x1024,4096x1024")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {platform.processor() or platform.machine()}")
    print()
    print("| shape | threads | descent s/step | torch.optim.Muon s/step | vs torch |")
    print("|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(time_descent(args.descent, rows, cols, threads, args.repeats))
                theirs.append(time_torch(rows, cols, args.repeats))
            best_ours, best_theirs = min(ours), min(theirs)
            print(f"| {rows}×{cols} | {threads} | {best_ours:.3f} | {best_theirs:.3f} | {best_theirs / best_ours:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
