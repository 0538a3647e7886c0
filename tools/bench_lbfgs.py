#!/usr/bin/env python3
"""Times torch.optim.LBFGS and `descent bench --optimizer lbfgs(...)` on the same 10M-parameter quadratic, alternately
in one run, and prints the ratio as a Markdown table (the one in BENCHMARKS.md).

The problem is J = ½·Σ cᵢ·θᵢ² with cᵢ = 1 + (i mod 100)/10 and θ starting at 0.5, in f32. Each step is one L-BFGS
iteration (max_iter=1, no line search, so one closure call per step) with a history of 10 pairs, once the history
is full: two dot products and two updates per remembered pair over all parameters, plus the closure. The closure
writes the gradient cᵢ·θᵢ: in PyTorch `torch.mul(c, p, out=p.grad)` and a dot product for the loss; in descent one
parallel pass that also sums the loss. "vs torch" is torch's median seconds per step over descent's.

Usage (needs torch; build descent first with `cargo build --release`):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python tools/bench_lbfgs.py --descent target/release/descent --threads 1,2
"""

import argparse
import json
import platform
import statistics
import subprocess
import time

import torch

SPEC = "lbfgs(max_iter=1, history_size=10)"


def time_torch(n, repeats):
    """Median seconds per step of torch.optim.LBFGS, after the history has filled."""
    p = torch.full((n,), 0.5)
    c = 1.0 + (torch.arange(n) % 100).to(torch.float32) * 0.1
    p.grad = torch.empty_like(p)
    opt = torch.optim.LBFGS([p], max_iter=1, history_size=10)

    def closure():
        torch.mul(c, p, out=p.grad)
        return 0.5 * torch.dot(p.grad, p)

    for _ in range(12):
        opt.step(closure)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step(closure)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_descent(binary, n, threads, repeats):
    out = subprocess.run(
        [binary, "bench", "--optimizer", SPEC, "--params", str(n), "--threads", str(threads), "--repeats",
         str(repeats), "--format", "json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["ns_per_param"] * n * 1e-9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="target/release/descent")
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {platform.processor() or platform.machine()}")
    print()
    print("| parameters | threads | descent s/iteration | torch.optim.LBFGS s/iteration | vs torch |")
    print("|---|---|---|---|---|")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(time_descent(args.descent, args.params, threads, args.repeats))
            theirs.append(time_torch(args.params, args.repeats))
        best_ours, best_theirs = min(ours), min(theirs)
        print(f"| {args.params:,} | {threads} | {best_ours:.3f} | {best_theirs:.3f} | {best_theirs / best_ours:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
