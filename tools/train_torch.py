#!/usr/bin/env python3
"""Trains the network of `descent train` with PyTorch and with descent, alternately in one run, and prints the
comparison as Markdown (the table in BENCHMARKS.md).

Both sides: Fashion-MNIST (Debian's dataset-fashion-mnist package), pixels scaled to [0, 1], an MLP 784-256-10
with ReLU, nn.Linear's initialisation U(-1/sqrt(in), 1/sqrt(in)), cross-entropy, batches of 128 reshuffled every
epoch by a seeded generator, the seven optimizers at the learning rates `descent train` uses by default, and the
same number of threads. For each seed, PyTorch trains all seven, then `descent train` does.

Usage (needs torch; build descent first with `cargo build --release`):
    apt-get install dataset-fashion-mnist
    /tmp/torchenv/bin/python tools/train_torch.py --descent target/release/descent --seeds 0,1,2 --threads 2
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
# label in descent's table, torch class, keyword arguments: `descent train`'s default optimizers
OPTIMIZERS = [
    ("SGD", "SGD", {"lr": 0.1}),
    ("Momentum", "SGD", {"lr": 0.01, "momentum": 0.9}),
    ("Nesterov", "SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("AdaGrad", "Adagrad", {"lr": 0.01}),
    ("RMSprop", "RMSprop", {"lr": 0.001}),
    ("AdaDelta", "Adadelta", {"lr": 1.0}),
    ("Adam", "Adam", {"lr": 0.001}),
]


def read_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    rank = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load():
    split = lambda kind: (
        torch.from_numpy(read_idx(f"{kind}-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255.0),
        torch.from_numpy(read_idx(f"{kind}-labels-idx1-ubyte.gz").astype(np.int64)),
    )
    return split("train"), split("t10k")


def train_torch(cls, kwargs, data, epochs, batch, seed):
    (x, y), (tx, ty) = data
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = getattr(torch.optim, cls)(model.parameters(), **kwargs)
    loss_fn = nn.CrossEntropyLoss()
    seconds, step_seconds, accuracy = [], 0.0, None
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        start = time.perf_counter()
        for i in range(0, len(y), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            before = time.perf_counter()
            opt.step()
            step_seconds += time.perf_counter() - before
        seconds.append(time.perf_counter() - start)
        with torch.no_grad():
            accuracy = (model(tx).argmax(1) == ty).float().mean().item()
    return accuracy, statistics.mean(seconds), step_seconds / sum(seconds)


def train_descent(binary, epochs, batch, seed, threads, labels):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(
        [binary, "train", "--dataset", "fashion-mnist", "--epochs", str(epochs), "--batch-size", str(batch),
         "--seed", str(seed), "--format", "json"],
        check=True, capture_output=True, text=True, env=env).stdout
    report = json.loads(out)
    results = {}
    for label in labels:
        rows = [r for r in report["rows"] if r["optimizer"] == label]
        seconds = [r["seconds"] for r in rows]
        steps = sum(r["step_seconds"] for r in rows)
        results[label] = (rows[-1]["test_accuracy"], statistics.mean(seconds), steps / sum(seconds))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="target/release/descent")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", default="", help="comma-separated labels: compare these optimizers only")
    args = parser.parse_args()
    chosen = [o for o in OPTIMIZERS if not args.only or o[0] in args.only.split(",")]
    torch.set_num_threads(args.threads)
    data = load()
    seeds = [int(s) for s in args.seeds.split(",")]
    ours, theirs = {}, {}
    for seed in seeds:
        for label, cls, kwargs in chosen:
            theirs.setdefault(label, []).append(train_torch(cls, kwargs, data, args.epochs, args.batch_size, seed))
        labels = [label for label, _, _ in chosen]
        for label, result in train_descent(args.descent, args.epochs, args.batch_size, seed, args.threads, labels).items():
            ours.setdefault(label, []).append(result)

    print(f"torch {torch.__version__}, Fashion-MNIST, MLP 784-256-10, batch {args.batch_size}, {args.epochs} epochs, "
          f"{args.threads} threads, seeds {args.seeds}, {time.strftime('%Y-%m-%d')}")
    print()
    print("| optimizer | descent accuracy | PyTorch accuracy | difference (pp) | descent s/epoch | PyTorch s/epoch "
          "| time ratio | descent step share | PyTorch step share |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, _, _ in chosen:
        mean = lambda runs, i: statistics.mean(r[i] for r in runs)
        a, b = mean(ours[label], 0), mean(theirs[label], 0)
        s, t = mean(ours[label], 1), mean(theirs[label], 1)
        print(f"| {label} | {100 * a:.2f}% | {100 * b:.2f}% | {100 * (a - b):+.2f} | {s:.2f} | {t:.2f} | {s / t:.2f} "
              f"| {100 * mean(ours[label], 2):.1f}% | {100 * mean(theirs[label], 2):.1f}% |")


if __name__ == "__main__":
    main()
