#!/usr/bin/env python3
"""Converts optimizer checkpoints between PyTorch and descent, and writes the interop fixtures descent's tests read.

A PyTorch `optimizer.state_dict()` saved with `torch.save` becomes a descent checkpoint (a safetensors file whose
header carries the optimizer kind, each group's hyperparameters, each parameter's name, shape and step count), and
back:

    python tools/torch_checkpoint.py to-descent OPTIM.pt OUT.safetensors --optimizer Adam \\
        --params w:3x4,b:5 [--dtype f32]
    python tools/torch_checkpoint.py to-torch IN.safetensors OUT.pt

`--params` names the parameters in PyTorch's order with their shapes (a PyTorch state dict has neither).
Hyperparameters that only steer PyTorch's implementation (foreach, fused, capturable, differentiable) are dropped
on the way in and restored to their defaults on the way out.

    python tools/torch_checkpoint.py fixtures

runs each torch.optim optimizer descent has for 5 steps on two groups, converts its checkpoint, continues for 5
more steps, and writes tests/fixtures/torch-checkpoint/: the converted checkpoints and a manifest with the gradients
of the continuation and PyTorch's parameters after each of its steps. It also checks that every conversion round
trips. Needs torch, numpy and safetensors (CI does not):

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy safetensors
    /tmp/torchenv/bin/python tools/torch_checkpoint.py fixtures
"""

import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "descent.checkpoint"
VERSION = "1"
# Keys of a PyTorch param group that choose an implementation, not the rule.
IMPLEMENTATION_KEYS = {"foreach", "fused", "capturable", "differentiable", "params", "initial_lr"}
# Keys a PyTorch class stores that its descent counterpart fixes by its kind.
FIXED_BY_KIND = {"AdamW": {"decoupled_weight_decay"}}
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def parse_params(text):
    """`w:3x4,b:5` -> [("w", [3, 4]), ("b", [5])]."""
    params = []
    for item in text.split(","):
        name, _, shape = item.partition(":")
        params.append((name or None, [int(d) for d in shape.split("x")] if shape else []))
    return params


def hyperparameters(optimizer, group):
    dropped = IMPLEMENTATION_KEYS | FIXED_BY_KIND.get(optimizer, set())
    out = {}
    for key, value in group.items():
        if key in dropped:
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def to_descent(state_dict, optimizer, params, dtype):
    """A descent checkpoint (tensors, metadata) from a PyTorch optimizer state dict."""
    tensors, records = {}, []
    for position, (name, shape) in enumerate(params):
        key = name if name is not None else str(position)
        state = state_dict["state"].get(position)
        record = {"name": name, "shape": shape, "state": None}
        if state:
            names, scalars = [], []
            step = state.get("step")
            for tensor_name, value in state.items():
                if tensor_name == "step" or value is None:
                    continue
                if value.dim() == 0:
                    # A 0-dim tensor other than the step (NAdam's mu_product) is a scalar in descent.
                    scalars.append([tensor_name, float(value)])
                    continue
                tensors[f"state.{key}.{tensor_name}"] = value.detach().to(DTYPES[dtype]).contiguous()
                names.append(tensor_name)
            record["state"] = {
                "step": None if step is None else float(step),
                "tensors": names,
                "scalars": scalars,
            }
            if not names and not scalars and step is None:
                record["state"] = None
        records.append(record)
    groups = [
        {"hyperparameters": hyperparameters(optimizer, g), "params": list(g["params"])}
        for g in state_dict["param_groups"]
    ]
    header = {
        "optimizer": optimizer,
        "dtype": dtype,
        "groups": groups,
        "params": records,
        "tensors": [],
        "metadata": None,
    }
    metadata = {"format": FORMAT, "version": VERSION, "descent": json.dumps(header)}
    return tensors, metadata


def to_torch(path):
    """A PyTorch optimizer state dict (and the optimizer's class name) from a descent checkpoint file."""
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
            sys.exit(f"{path}: not a descent checkpoint of version {VERSION}")
        header = json.loads(metadata["descent"])
        state = {}
        for position, record in enumerate(header["params"]):
            if record["state"] is None:
                continue
            key = record["name"] if record["name"] is not None else str(position)
            entry = {}
            if record["state"]["step"] is not None:
                entry["step"] = torch.tensor(record["state"]["step"], dtype=torch.float32)
            for name, value in record["state"]["scalars"]:
                entry[name] = torch.tensor(value, dtype=torch.float32)
            for name in record["state"]["tensors"]:
                entry[name] = f.get_tensor(f"state.{key}.{name}")
            state[position] = entry
    optimizer = header["optimizer"]
    groups = []
    for g in header["groups"]:
        group = dict(g["hyperparameters"])
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        group["params"] = g["params"]
        groups.append(group)
    return {"state": state, "param_groups": groups}, optimizer


# ---------------------------------------------------------------------------------------------------------------
# Fixtures

PARAMS = [("w", [3, 4]), ("b", [5])]
CASES = [  # name, class, group 0 keys, group 1 keys
    ("sgd_momentum", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, {"lr": 0.02}),
    ("adagrad", "Adagrad", {"lr": 0.1, "lr_decay": 0.01}, {"lr": 0.05}),
    ("rmsprop_centered", "RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}, {"lr": 0.005}),
    ("adadelta", "Adadelta", {"lr": 1.0, "weight_decay": 0.01}, {"lr": 0.5}),
    ("adam_amsgrad", "Adam", {"lr": 0.01, "amsgrad": True}, {"lr": 0.002, "weight_decay": 0.1}),
    ("adamw", "AdamW", {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.002}),
    ("nadam", "NAdam", {"lr": 0.01, "momentum_decay": 0.01}, {"lr": 0.005}),
    ("radam", "RAdam", {"lr": 0.01, "betas": (0.9, 0.99)}, {"lr": 0.005, "decoupled_weight_decay": True,
                                                            "weight_decay": 0.1}),
    ("adamax", "Adamax", {"lr": 0.01}, {"lr": 0.005, "weight_decay": 0.1}),
    ("asgd", "ASGD", {"lr": 0.05, "t0": 3.0, "lambd": 1e-3}, {"lr": 0.02, "weight_decay": 0.1}),
    ("rprop", "Rprop", {"lr": 0.05, "etas": (0.4, 1.3)}, {"lr": 0.02, "maximize": True}),
    ("adafactor", "Adafactor", {"lr": 0.05, "beta2_decay": -0.6}, {"lr": 0.02, "weight_decay": 0.1}),
]
BEFORE, AFTER = 5, 5


def gradient(step, k, shape):
    """A deterministic gradient for parameter k at `step`: multiples of 1/1024 in [-2, 2)."""
    n = 1
    for d in shape:
        n *= d
    values = [((step * 7919 + k * 104729 + i * 7907) % 4096) / 1024.0 - 2.0 for i in range(n)]
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def make_fixtures():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torch-checkpoint")
    os.makedirs(out, exist_ok=True)
    manifest = {"torch": torch.__version__, "params": [[n, s] for n, s in PARAMS], "cases": []}
    for case, cls, g0, g1 in CASES:
        torch.manual_seed(0)
        params = [torch.nn.Parameter(gradient(0, k, shape) * 0.5) for k, (_, shape) in enumerate(PARAMS)]
        opt = getattr(torch.optim, cls)(
            [dict(params=[params[0]], **g0), dict(params=[params[1]], **g1)], foreach=False
        )

        def step(s):
            for k, p in enumerate(params):
                p.grad = gradient(s, k, list(p.shape))
            opt.step()

        for s in range(1, BEFORE + 1):
            step(s)
        saved = os.path.join(out, f"{case}.pt")
        torch.save(opt.state_dict(), saved)
        tensors, metadata = to_descent(torch.load(saved), cls, PARAMS, "f32")
        os.remove(saved)
        path = os.path.join(out, f"{case}.safetensors")
        save_file(tensors, path, metadata=metadata)
        # The conversion round trips: back to torch, the state dict is the one saved.
        back, back_cls = to_torch(path)
        assert back_cls == cls
        original = opt.state_dict()
        for position, state in original["state"].items():
            for name, value in state.items():
                if value is None:
                    continue
                assert torch.equal(back["state"][position][name], value), (case, name)
        restored = getattr(torch.optim, cls)(
            [dict(params=[params[0]], **g0), dict(params=[params[1]], **g1)], foreach=False
        )
        restored.load_state_dict(back)
        start = [p.detach().clone().reshape(-1).tolist() for p in params]
        grads, after = [], []
        for s in range(BEFORE + 1, BEFORE + AFTER + 1):
            grads.append([gradient(s, k, shape).reshape(-1).tolist() for k, (_, shape) in enumerate(PARAMS)])
            step(s)
            after.append([p.detach().reshape(-1).tolist() for p in params])
        manifest["cases"].append(
            {"case": case, "optimizer": cls, "file": f"{case}.safetensors", "start": start, "grads": grads,
             "after": after}
        )
        print(f"{case}: written", file=sys.stderr)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    to_d = commands.add_parser("to-descent", help="a torch.save'd optimizer state dict to a descent checkpoint")
    to_d.add_argument("input")
    to_d.add_argument("output")
    to_d.add_argument("--optimizer", required=True, help="the torch.optim class, e.g. Adam")
    to_d.add_argument("--params", required=True, help="names and shapes in PyTorch's order: w:3x4,b:5")
    to_d.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    to_t = commands.add_parser("to-torch", help="a descent checkpoint to a torch.save'd optimizer state dict")
    to_t.add_argument("input")
    to_t.add_argument("output")
    commands.add_parser("fixtures", help="write tests/fixtures/torch-checkpoint/")
    args = parser.parse_args()
    if args.command == "to-descent":
        tensors, metadata = to_descent(torch.load(args.input), args.optimizer, parse_params(args.params), args.dtype)
        save_file(tensors, args.output, metadata=metadata)
    elif args.command == "to-torch":
        state_dict, _ = to_torch(args.input)
        torch.save(state_dict, args.output)
    else:
        make_fixtures()


if __name__ == "__main__":
    main()
