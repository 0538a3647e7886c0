#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of L-BFGS that descent's parity test (crates/descent/tests/lbfgs.rs) reads.

Each case runs `torch.optim.LBFGS` for a few steps on an extended Rosenbrock function of six variables, held in two
parameters ("a", 4 elements, and "b", 2 × 1), and records after every step the loss the step returned, the
parameters and the whole state (func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad,
prev_loss).

The closure computes the loss and gradient in Python floats (f64), in a fixed order that the Rust test repeats, and
rounds them to the parameters' type, so both sides see the same values from the same parameters.

Output: tests/fixtures/lbfgs/<case>.<dtype>.json

Regenerate (needs torch; CI does not):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python tools/make_lbfgs_fixtures.py
"""

import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "lbfgs")
START = [-1.2, 1.0, -1.2, 1.0, 0.5, -0.7]
SHAPES = [("a", [4]), ("b", [2, 1])]

# name: (hyperparameters, steps, sign of the loss: -1 maximizes the negated function)
CASES = {
    # One iteration per step, so that every iteration starts from PyTorch's state: the tight comparison.
    "wolfe_single": ({"line_search_fn": "strong_wolfe", "max_iter": 1, "history_size": 5}, 40, 1.0),
    "fixed_single": ({"lr": 0.02, "max_iter": 1, "history_size": 5}, 40, 1.0),
    # The strong-Wolfe search brackets, interpolates and zooms on Rosenbrock's curved valley.
    "wolfe": ({"line_search_fn": "strong_wolfe"}, 4, 1.0),
    # A short history that fills and rolls over, few evaluations (the search runs out), maximizing −J.
    "wolfe_short": ({"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 7, "max_eval": 9,
                     "maximize": True}, 5, -1.0),
    # Fixed steps of η = 0.05 without a line search.
    "fixed": ({"lr": 0.05, "max_iter": 6, "history_size": 4}, 6, 1.0),
    # Large tolerances: the steps stop early on lack of progress.
    "tolerant": ({"line_search_fn": "strong_wolfe", "tolerance_change": 1e-3, "tolerance_grad": 1e-2}, 4, 1.0),
}


def rosenbrock(x):
    """The loss and gradient, in Python floats, in the order the Rust test uses."""
    n = len(x)
    loss = 0.0
    grad = [0.0] * n
    for i in range(n - 1):
        r = x[i + 1] - x[i] * x[i]
        s = 1.0 - x[i]
        loss = loss + 100.0 * r * r + s * s
        grad[i] = grad[i] - 400.0 * x[i] * r - 2.0 * s
        grad[i + 1] = grad[i + 1] + 200.0 * r
    return loss, grad


def run(case, dtype):
    hyper, steps, sign = CASES[case]
    values = START[:]
    params = []
    offset = 0
    for _, shape in SHAPES:
        count = 1
        for d in shape:
            count *= d
        params.append(torch.tensor(values[offset:offset + count], dtype=dtype).reshape(shape))
        offset += count
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.LBFGS(params, **hyper)

    def closure():
        x = [float(v) for p in params for v in p.detach().reshape(-1)]
        loss, grad = rosenbrock(x)
        offset = 0
        for p in params:
            count = p.numel()
            p.grad = torch.tensor([sign * g for g in grad[offset:offset + count]], dtype=dtype).reshape(p.shape)
            offset += count
        return torch.tensor(sign * loss, dtype=dtype)

    records = []
    for _ in range(steps):
        loss = opt.step(closure)
        state = opt.state[params[0]]
        flat = lambda t: [float(v) for v in t.reshape(-1)]
        scalar = lambda v: float(v) if v is not None else None
        records.append({
            "loss": float(loss),
            "params": [flat(p.detach()) for p in params],
            "func_evals": state["func_evals"],
            "n_iter": state["n_iter"],
            "d": flat(state["d"]) if "d" in state else [],
            "t": scalar(state.get("t")),
            "old_dirs": [flat(v) for v in state.get("old_dirs", [])],
            "old_stps": [flat(v) for v in state.get("old_stps", [])],
            "ro": [float(v) for v in state.get("ro", [])],
            "H_diag": scalar(state.get("H_diag")),
            "prev_flat_grad": flat(state["prev_flat_grad"]) if "prev_flat_grad" in state else [],
            "prev_loss": scalar(state.get("prev_loss")),
        })
    return {"torch": torch.__version__, "case": case, "dtype": str(dtype).removeprefix("torch."), "hyper": hyper,
            "sign": sign, "start": START, "shapes": [s for _, s in SHAPES], "names": [n for n, _ in SHAPES],
            "steps": records}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for case in CASES:
        for dtype in (torch.float32, torch.float64):
            record = run(case, dtype)
            with open(os.path.join(OUT, f"{case}.{record['dtype']}.json"), "w") as f:
                json.dump(record, f, indent=None, separators=(",", ":"))
                f.write("\n")


if __name__ == "__main__":
    main()
