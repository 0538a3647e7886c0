#!/usr/bin/env python3
"""Times torch.optim and `descent bench` on the same sizes and thread counts, alternately in one run, and prints
the ratios as a Markdown table (the one in BENCHMARKS.md).

For every configuration (parameters, tensors, dtype, threads) and optimizer it times, in this order, twice over:
  - descent (`descent bench --format json`, which also measures its memory-bandwidth baseline);
  - torch.optim's default CPU path (foreach=False), its foreach path, and its fused path where PyTorch has one
    (SGD, Adagrad, Adam, AdamW),
and keeps each one's better median. "vs X" columns are X's time over descent's: above 1, descent is faster.

Usage (needs torch; build descent first with `cargo build --release`):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python tools/bench_torch.py --descent target/release/descent \\
        --params 1e3,1e5,1e7 --tensors 1,10000 --dtypes f32,f64 --threads 1,2
"""

import argparse
import json
import platform
import statistics
import subprocess
import time

import torch

# descent spec, torch class, torch keyword arguments, whether torch has a fused CPU path
OPTIMIZERS = [
    ("momentum(lr=0.01)", "SGD", {"lr": 0.01, "momentum": 0.9}, True),
    ("adagrad", "Adagrad", {}, True),
    ("rmsprop", "RMSprop", {}, False),
    ("adadelta", "Adadelta", {}, False),
    ("adam", "Adam", {}, True),
    ("adamw", "AdamW", {}, True),
    # Compact state, against PyTorch's f32 state.
    ('adam(state="int8")', "Adam", {}, True),
    ('adam(state="bf16")', "Adam", {}, True),
    ('adam(state="bf16_stochastic")', "Adam", {}, True),
    ('adamw(state="int8")', "AdamW", {}, True),
    ("nadam", "NAdam", {}, False),
    ("radam", "RAdam", {}, False),
    ("adamax", "Adamax", {}, False),
    ("asgd", "ASGD", {}, False),
    ("rprop", "Rprop", {}, False),
    ("adafactor", "Adafactor", {}, False),
    # SparseAdam takes sparse gradients (here touching every row) and has a single path.
    ("sparse_adam", "SparseAdam", {}, False),
]
SINGLE_PATH = {"SparseAdam"}
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def lengths(params, tensors):
    return [params // tensors + (1 if k < params % tensors else 0) for k in range(tensors)]


def time_torch(cls, kwargs, variant, params, tensors, dtype, repeats):
    """Median seconds per step of torch.optim `cls` on `tensors` tensors holding `params` parameters."""
    ps = [torch.full((n,), 0.5, dtype=dtype) for n in lengths(params, tensors)]
    for p in ps:
        p.grad = (torch.arange(p.numel(), dtype=dtype) % 1000 - 499.5) * 1e-3
        if cls in SINGLE_PATH:
            p.grad = p.grad.to_sparse()
    options = {"default": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[variant]
    if cls in SINGLE_PATH:
        options = {}
    opt = getattr(torch.optim, cls)(ps, **kwargs, **options)
    for _ in range(2):
        opt.step()
    start = time.perf_counter()
    opt.step()
    single = time.perf_counter() - start
    batch = max(1, min(10_000, int(0.005 / max(single, 1e-9)) + 1))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batch):
            opt.step()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples)


def time_descent(binary, spec, params, tensors, dtype, threads, repeats):
    out = subprocess.run(
        [binary, "bench", "--optimizer", spec, "--params", str(params), "--tensors", str(tensors), "--dtype", dtype,
         "--threads", str(threads), "--repeats", str(repeats), "--format", "json"],
        check=True, capture_output=True, text=True).stdout
    row = json.loads(out)[0]
    return row["ns_per_param"] * params * 1e-9, row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="target/release/descent")
    parser.add_argument("--params", default="1e3,1e5,1e7")
    parser.add_argument("--tensors", default="1,10000")
    parser.add_argument("--dtypes", default="f32,f64")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--optimizers", default="", help="descent specs to run, separated by commas, or by semicolons when a spec has commas (default: all)")
    args = parser.parse_args()

    print(f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("| params | tensors | dtype | threads | optimizer | descent ns/param | vs bandwidth | vs torch default "
          "| vs torch foreach | vs torch fused |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for params in [int(float(p)) for p in args.params.split(",")]:
        for tensors in [int(t) for t in args.tensors.split(",")]:
            if tensors > params:
                continue
            for dtype in args.dtypes.split(","):
                for threads in [int(t) for t in args.threads.split(",")]:
                    torch.set_num_threads(threads)
                    separator = ";" if ";" in args.optimizers else ","
                    chosen = set(args.optimizers.split(separator)) if args.optimizers else None
                    for spec, cls, kwargs, has_fused in OPTIMIZERS:
                        if chosen is not None and spec not in chosen:
                            continue
                        variants = ["default"] if cls in SINGLE_PATH else (
                            ["default", "foreach"] + (["fused"] if has_fused else []))
                        best = {}
                        row = None
                        for _ in range(args.rounds):
                            seconds, row_now = time_descent(args.descent, spec, params, tensors, dtype, threads,
                                                            args.repeats)
                            if seconds < best.get("descent", float("inf")):
                                best["descent"], row = seconds, row_now
                            for variant in variants:
                                seconds = time_torch(cls, kwargs, variant, params, tensors, DTYPES[dtype], args.repeats)
                                best[variant] = min(best.get(variant, float("inf")), seconds)
                        ours = best["descent"]
                        ratio = lambda v: f"{best[v] / ours:.2f}" if v in best else "-"
                        print(f"| {params:.0e} | {tensors} | {dtype} | {threads} | {spec} | "
                              f"{ours * 1e9 / params:.3f} | {row['baseline_ratio']:.2f} | {ratio('default')} | "
                              f"{ratio('foreach')} | {ratio('fused')} |", flush=True)


if __name__ == "__main__":
    main()
