#!/usr/bin/env python3
"""Writes the reference fixtures for optimizers with compact state (8-bit and bfloat16 moments).

8-bit: `bitsandbytes`' own Adam8bit, AdamW8bit and Lion8bit on the CPU (block-wise quantization, blocks of 256,
its dynamic maps), `min_8bit_size=0` so that every tensor is quantized.
bfloat16: the algorithm written out: `torch.optim.Adam`/`AdamW` (single-tensor path) and `lion_pytorch.Lion` in
`f32`, with every state tensor rounded to bfloat16 (to nearest even) after each step, which is what keeping the
moments in bfloat16 and computing in `f32` means.

Each case runs STEPS steps on two parameters, "w" (1000 elements: three full blocks and a partial one) and "M"
(3 × 100), with gradients from the hash of make_torch_fixtures.py, and records after every step:

    manifest.json          the cases: optimizer spec for descent, dtype of the state, parameters
    <case>.bin             for step 1..STEPS, for each parameter: its gradient (f32), its values after the step
                           (f32), then each moment: 8-bit: its codes (u8, one per element) and its blocks' scales
                           (f32); bfloat16: its values (f32, each exactly a bfloat16)
    maps.json              bitsandbytes' signed and unsigned dynamic maps

Regenerate (needs torch and bitsandbytes; CI does not):
    /tmp/torchenv/bin/pip install torch numpy bitsandbytes lion-pytorch
    /tmp/torchenv/bin/python tools/make_compact_fixtures.py
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torch_fixtures import value  # noqa: E402

import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
from lion_pytorch import Lion  # noqa: E402

STEPS = 15
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "compact")
PARAMS = [("w", [1000]), ("M", [3, 100])]

# name: (descent spec, constructor, state type)
CASES = {
    "adam_int8": ("adam(lr=0.01, state=\"int8\")", lambda p: bnb.optim.Adam8bit(p, lr=0.01, min_8bit_size=0), "int8"),
    "adamw_int8": ("adamw(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, state=\"int8\")",
                   lambda p: bnb.optim.AdamW8bit(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, min_8bit_size=0),
                   "int8"),
    "lion_int8": ("lion(lr=0.003, weight_decay=0.1, state=\"int8\")",
                  lambda p: bnb.optim.Lion8bit(p, lr=0.003, weight_decay=0.1, min_8bit_size=0), "int8"),
    "adam_bf16": ("adam(lr=0.01, state=\"bf16\")", lambda p: torch.optim.Adam(p, lr=0.01, foreach=False), "bf16"),
    "adamw_bf16": ("adamw(lr=0.01, weight_decay=0.1, state=\"bf16\")",
                   lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, foreach=False), "bf16"),
    "lion_bf16": ("lion(lr=0.003, weight_decay=0.1, state=\"bf16\")",
                  lambda p: Lion(p, lr=0.003, weight_decay=0.1), "bf16"),
}


def initial(k, shape):
    n = int(np.prod(shape))
    return torch.tensor([2.0 * value(k, 0, j) for j in range(n)], dtype=torch.float32).reshape(shape)


def gradient(k, step, shape):
    n = int(np.prod(shape))
    return torch.tensor([value(k, step, j) for j in range(n)], dtype=torch.float32).reshape(shape)


def run(case):
    _, build, kind = CASES[case]
    params = [torch.nn.Parameter(initial(k, shape)) for k, (_, shape) in enumerate(PARAMS)]
    opt = build(params)
    blob = bytearray()
    for step in range(1, STEPS + 1):
        grads = [gradient(k, step, shape) for k, (_, shape) in enumerate(PARAMS)]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for p, g in zip(params, grads):
            blob += g.numpy().astype("<f4").tobytes()
            blob += p.detach().numpy().astype("<f4").tobytes()
            state = opt.state[p]
            if kind == "int8":
                for codes, scales in [("state1", "absmax1"), ("state2", "absmax2")]:
                    if codes in state:
                        blob += state[codes].numpy().astype(np.uint8).tobytes()
                        blob += state[scales].numpy().astype("<f4").tobytes()
            else:
                for key in ["exp_avg", "exp_avg_sq"]:
                    if key in state:
                        state[key].copy_(state[key].bfloat16().float())
                        blob += state[key].numpy().astype("<f4").tobytes()
    with open(os.path.join(OUT, f"{case}.bin"), "wb") as f:
        f.write(blob)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for case in CASES:
        run(case)
    manifest = {
        "torch": torch.__version__,
        "bitsandbytes": bnb.__version__,
        "steps": STEPS,
        "params": [{"name": name, "shape": shape} for name, shape in PARAMS],
        "cases": [{"case": case, "spec": spec, "state": kind} for case, (spec, _, kind) in CASES.items()],
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "maps.json"), "w") as f:
        json.dump({"signed": F.create_dynamic_map(signed=True).tolist(),
                   "unsigned": F.create_dynamic_map(signed=False).tolist()}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
