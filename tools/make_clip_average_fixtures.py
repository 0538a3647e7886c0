#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of gradient clipping and weight averaging that descent's tests
(crates/descent/tests/clip_average.rs) read.

- `torch.nn.utils.clip_grad_norm_` for p = 1, 2, inf and 3, with and without clipping, on three gradients of
  different lengths; a gradient with an infinity (with and without `error_if_nonfinite`); and
  `clip_grad_value_`. Each case keeps the gradients before and after, and the total norm returned.
- `torch.optim.swa_utils.AveragedModel` with its default average (SWA) and with
  `multi_avg_fn=get_ema_multi_avg_fn(decay)` (EMA), fed a sequence of parameter values.

In float32 and float64. Output: tests/fixtures/clip_average/fixtures.json

Regenerate (needs torch; CI does not):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch
    /tmp/torchenv/bin/python tools/make_clip_average_fixtures.py
"""

import json
import math
import os

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "clip_average")
LENGTHS = [7, 33, 130]
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def values(seed, n, scale):
    return [scale * math.sin(1.3 * i + 0.7 * seed) * (1 + 0.5 * math.cos(0.1 * i * seed)) for i in range(n)]


def grads(dtype, scale, seed=1):
    return [torch.tensor(values(seed + k, n, scale), dtype=dtype) for k, n in enumerate(LENGTHS)]


def finite_or_text(x):
    """JSON has no infinities or NaN: those are written as the strings "inf", "-inf" and "nan"."""
    return x if math.isfinite(x) else str(x)


def as_lists(tensors):
    return [[finite_or_text(v) for v in t.tolist()] for t in tensors]


def clip_cases(dtype):
    cases = []
    for p in [1.0, 2.0, math.inf, 3.0]:
        for max_norm in [0.5, 1e6]:
            g = grads(dtype, 2.0)
            before = as_lists(g)
            norm = torch.nn.utils.clip_grad_norm_(_params(g), max_norm, norm_type=p)
            cases.append({"kind": "norm", "max_norm": max_norm, "norm_type": "inf" if p == math.inf else p,
                          "error_if_nonfinite": False, "before": before, "after": as_lists(_grads),
                          "norm": norm.item()})
    g = grads(dtype, 1.0)
    g[1][5] = math.inf
    before = as_lists(g)
    norm = torch.nn.utils.clip_grad_norm_(_params(g), 1.0)
    cases.append({"kind": "norm", "max_norm": 1.0, "norm_type": 2.0, "error_if_nonfinite": False, "before": before,
                  "after": as_lists(_grads), "norm": finite_or_text(norm.item())})
    try:
        torch.nn.utils.clip_grad_norm_(_params(grads(dtype, 1.0)[:1] + [g[1]]), 1.0, error_if_nonfinite=True)
        raise AssertionError("expected an error")
    except RuntimeError:
        cases.append({"kind": "norm", "max_norm": 1.0, "norm_type": 2.0, "error_if_nonfinite": True,
                      "before": as_lists(grads(dtype, 1.0)[:1]) + [before[1]], "after": None, "norm": None})
    g = grads(dtype, 3.0)
    before = as_lists(g)
    torch.nn.utils.clip_grad_value_(_params(g), 1.25)
    cases.append({"kind": "value", "value": 1.25, "before": before, "after": as_lists(_grads)})
    return cases


_grads = []


def _params(gradients):
    """Parameters whose .grad are `gradients`; the clipped gradients are left in the global _grads."""
    params = []
    _grads.clear()
    for g in gradients:
        p = torch.nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        params.append(p)
        _grads.append(p.grad)
    return params


class Model(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(LENGTHS[0], dtype=dtype))
        self.b = torch.nn.Parameter(torch.zeros(LENGTHS[1], dtype=dtype))


def average_cases(dtype):
    cases = []
    for name, make in [("swa", lambda m: AveragedModel(m)),
                       ("ema", lambda m: AveragedModel(m, multi_avg_fn=get_ema_multi_avg_fn(0.9))),
                       ("ema_default", lambda m: AveragedModel(m, multi_avg_fn=get_ema_multi_avg_fn()))]:
        model = Model(dtype)
        averaged = make(model)
        inputs, outputs = [], []
        for t in range(12):
            with torch.no_grad():
                model.a.copy_(torch.tensor(values(t, LENGTHS[0], 1.0 + t), dtype=dtype))
                model.b.copy_(torch.tensor(values(t + 50, LENGTHS[1], 0.1), dtype=dtype))
            averaged.update_parameters(model)
            inputs.append([model.a.tolist(), model.b.tolist()])
            outputs.append([averaged.module.a.tolist(), averaged.module.b.tolist()])
        decay = {"swa": None, "ema": 0.9, "ema_default": 0.999}[name]
        cases.append({"kind": name, "decay": decay, "inputs": inputs, "averages": outputs})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    doc = {"torch": torch.__version__}
    for dtype_name, dtype in DTYPES.items():
        doc[dtype_name] = {"clip": clip_cases(dtype), "average": average_cases(dtype)}
    path = os.path.join(OUT, "fixtures.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
