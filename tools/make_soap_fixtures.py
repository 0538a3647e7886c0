#!/usr/bin/env python3
"""Writes tests/fixtures/soap/soap.json: SOAP from `pytorch-optimizer`, step by step.

For each configuration: the parameters' shapes and starting values, and for every step the gradients given, then
the parameters, `exp_avg`, `exp_avg_sq`, and each preconditioner's statistics `GG` and basis `Q` after it.

The shapes are chosen so that no statistic is rank-deficient when its basis is first computed (every unfolding of a
gradient has no more rows than columns): a repeated eigenvalue would leave the eigenvectors, and with them the
second moment's coordinates, up to the solver.

Usage:
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch pytorch-optimizer
    /tmp/torchenv/bin/python tools/make_soap_fixtures.py
"""

import json
import pathlib
from importlib.metadata import version

import torch
from pytorch_optimizer import SOAP

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "soap" / "soap.json"

CONFIGS = [
    # (name, dtype, hyperparameters, shapes, steps)
    ("default_f64", torch.float64, {"lr": 0.01, "precondition_frequency": 3}, [[6, 6], [4, 3, 4], [5]], 14),
    ("default_f32", torch.float32, {"lr": 0.01, "precondition_frequency": 3}, [[6, 6], [4, 3, 4], [5]], 14),
    ("options_f64", torch.float64,
     {"lr": 0.02, "betas": [0.9, 0.99], "shampoo_beta": 0.8, "weight_decay": 0.1, "precondition_frequency": 2,
      "max_precondition_dim": 5, "correct_bias": False, "normalize_gradient": True, "eps": 1e-6, "maximize": True},
     [[5, 40], [4, 3, 4], [6, 6]], 10),
    ("merge_dims_f64", torch.float64, {"lr": 0.01, "precondition_frequency": 4, "max_precondition_dim": 8,
                                       "merge_dims": True}, [[2, 4, 2, 4], [16, 8]], 10),
]


def main():
    cases = []
    for name, dtype, hyper, shapes, steps in CONFIGS:
        generator = torch.Generator().manual_seed(len(cases) + 1)
        params = [torch.nn.Parameter(torch.randn(*shape, generator=generator, dtype=dtype)) for shape in shapes]
        start = [p.detach().flatten().tolist() for p in params]
        kwargs = dict(hyper)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        optimizer = SOAP(params, **kwargs)
        records = []
        for _ in range(steps):
            grads = [torch.randn(*p.shape, generator=generator, dtype=dtype) for p in params]
            for p, g in zip(params, grads):
                p.grad = g.clone()
            optimizer.step()
            record = {"grads": [g.flatten().tolist() for g in grads], "params": [], "exp_avg": [], "exp_avg_sq": [],
                      "GG": [], "Q": []}
            for p in params:
                state = optimizer.state[p]
                record["params"].append(p.detach().flatten().tolist())
                record["exp_avg"].append(state["exp_avg"].flatten().tolist())
                record["exp_avg_sq"].append(state["exp_avg_sq"].flatten().tolist())
                record["GG"].append([m.flatten().tolist() if len(m) > 0 else None for m in state["GG"]])
                record["Q"].append([m.flatten().tolist() if len(m) > 0 else None for m in state["Q"]])
            records.append(record)
        cases.append({"name": name, "dtype": str(dtype).removeprefix("torch."), "hyperparameters": hyper,
                      "shapes": shapes, "start": start, "steps": records})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"torch": torch.__version__, "pytorch_optimizer": version("pytorch-optimizer"),
                               "cases": cases}))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
