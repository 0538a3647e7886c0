#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that descent's parity tests read.

Each case runs one `torch.optim` optimizer (the default CPU single-tensor path, `foreach=False`), or the reference
package of an optimizer torch.optim lacks (Lion: `lion-pytorch`, its authors' package; AdEMAMix and MARS:
`pytorch-optimizer`; Schedule-Free: `schedulefree`; Prodigy: `prodigyopt`), for STEPS steps
on a set of parameters in two parameter groups, and records every parameter and every state tensor after every step.
The vector set (most cases):

    group 0: "w" (1037 elements), "b" (7 elements)
    group 1: "c" (1 element), which has no gradient on steps 1, 2 and every fifth step

and the matrix set (Adafactor) has "W" (12 × 7), "u" (6), "T" (2 × 3 × 4) in group 0 and "V" (5 × 9) in group 1;
Muon's has "W" (12 × 7) and "M" (16 × 24) in group 0 and "V" (5 × 9) in group 1; SparseAdam's has "E" (20 × 6)
and "s" (7) in group 0 and "V" (5 × 3) in group 1, with gradients that leave some rows untouched (zero, and absent
from the sparse tensor PyTorch gets).

Initial parameters and gradients come from an integer hash (`value` below), so they are exact multiples of 1/2048
that both this script and the Rust tests compute without rounding; gradients change every step.

Output, under tests/fixtures/torch/:
    manifest.json         the cases: optimizer, dtype, groups, parameters, which state exists after each step,
                          the optimizer-wide scalars after each step (Prodigy's d), and the reference packages'
                          versions
    <case>.<dtype>.bin    little-endian floats: for step 1..STEPS, for each parameter in order, its values, then
                          the values of each state tensor it has at that step, in PyTorch's state-key order, each
                          row-major in its own shape; for cases with `evaluate_every`, on those steps, then every
                          parameter at the evaluation point and every parameter back at the training point

Also prodigy_quadratic.json: Prodigy's estimate of d, step by step, on a quadratic (see `prodigy_quadratic`).

Regenerate (needs torch; CI does not):
    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch numpy lion-pytorch pytorch-optimizer schedulefree prodigyopt
    /tmp/torchenv/bin/python tools/make_torch_fixtures.py [--only CASE,CASE...]
"""

import importlib
import importlib.metadata
import inspect
import json
import os
import sys

import numpy as np
import torch

STEPS = 50
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torch")

# Each set: name, shape, gradient scale (a power of two, so scaled gradients stay exact), group. The last parameter
# of every set is alone in group 1 and skips steps (see `has_grad`).
PARAM_SETS = {
    "vectors": [("w", [1037], 1.0, 0), ("b", [7], 1.0 / 64.0, 0), ("c", [1], 8.0, 1)],
    # Adafactor: a matrix with more rows than columns, a vector, a batch of matrices, and a wide matrix.
    "matrices": [("W", [12, 7], 1.0, 0), ("u", [6], 1.0 / 64.0, 0), ("T", [2, 3, 4], 1.0, 0), ("V", [5, 9], 8.0, 1)],
    # Muon: matrices only, one with more rows than columns (transposed for the iteration), one wide, one larger.
    "muon": [("W", [12, 7], 1.0, 0), ("M", [16, 24], 1.0 / 64.0, 0), ("V", [5, 9], 8.0, 1)],
    # SparseAdam: an embedding table, a vector and a small table; each step touches only some rows (see
    # `untouched_rows`), and PyTorch gets the gradient as a sparse tensor of the touched rows.
    "sparse": [("E", [20, 6], 1.0, 0), ("s", [7], 1.0 / 64.0, 0), ("V", [5, 3], 8.0, 1)],
    # References that count steps per parameter group (pytorch-optimizer's): every parameter gets a gradient on every
    # step, so that the group's count is each parameter's, and the group's count stands for the parameters' `step`.
    "dense": [("w", [1037], 1.0, 0), ("b", [7], 1.0 / 64.0, 0), ("d", [1], 8.0, 1)],
    # The same for an optimizer that treats matrices and vectors differently (MARS).
    "dense_matrices": [("W", [12, 7], 1.0, 0), ("u", [6], 1.0 / 64.0, 0), ("X", [5, 9], 8.0, 1)],
}
SPARSE_SETS = {"sparse"}
PARAMS = PARAM_SETS["vectors"]


def has_grad(name, step):
    """The parameter of group 1 ("c", "V") gets no gradient on steps 1 and 2 and on every fifth step."""
    return name not in ("c", "V") or (step > 2 and step % 5 != 0)


def untouched_rows(k, step, shape):
    """The rows (slices along the first dimension) that the sparse sets' gradient of step `step` leaves at zero."""
    return [r for r in range(shape[0]) if mix(k * 0x3C6EF372 + step * 0x1B873593 + r) % 3 == 0]


def length(shape):
    return int(np.prod(shape))


def mix(x):
    """A 32-bit integer hash (lowbias32)."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def value(param, step, index):
    """A pseudo-random multiple of 1/2048 in [-2, 2), exact in f32 and f64."""
    h = mix(param * 0x9E3779B1 + 0x632BE5AB)
    h = mix(h ^ ((step * 0x85EBCA77) & 0xFFFFFFFF))
    h = mix(h ^ ((index * 0xC2B2AE3D) & 0xFFFFFFFF))
    return ((h % 8192) - 4096) / 2048.0


def initial_param(k, length):
    return [2.0 * value(k, 0, j) for j in range(length)]


def gradient(k, step, length, scale):
    return [scale * value(k, step, j) for j in range(length)]


# name: (torch class, descent optimizer name, group-0 hyperparameters, group-1 overrides[, parameter set])
CASES = {
    "sgd_plain": ("SGD", "sgd", {"lr": 0.1}, {"lr": 0.05}),
    "sgd_default": ("SGD", "sgd", {}, {"weight_decay": 0.1}),
    "sgd_momentum": ("SGD", "sgd", {"lr": 0.05, "momentum": 0.9}, {"momentum": 0.5}),
    "sgd_dampening_wd": (
        "SGD", "sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}, {"lr": 0.02}),
    "sgd_nesterov_maximize": (
        "SGD", "sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05, "maximize": True},
        {"nesterov": False, "momentum": 0.8}),
    "adagrad_default": ("Adagrad", "adagrad", {}, {"lr": 0.1}),
    "adagrad_all": (
        "Adagrad", "adagrad",
        {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-6,
         "maximize": True},
        {"lr_decay": 0.0, "weight_decay": 0.0}),
    "rmsprop_default": ("RMSprop", "rmsprop", {}, {"alpha": 0.9}),
    "rmsprop_centered": ("RMSprop", "rmsprop", {"centered": True, "lr": 0.005}, {"alpha": 0.4}),
    "rmsprop_momentum": ("RMSprop", "rmsprop", {"momentum": 0.5, "weight_decay": 0.01}, {"momentum": 0.0}),
    "rmsprop_all": (
        "RMSprop", "rmsprop",
        {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "momentum": 0.8, "centered": True, "weight_decay": 0.1,
         "maximize": True},
        {"lr": 0.001}),
    "adadelta_default": ("Adadelta", "adadelta", {}, {"rho": 0.5}),
    "adadelta_all": (
        "Adadelta", "adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.1, "maximize": True},
        {"lr": 2.0}),
    "adam_default": ("Adam", "adam", {}, {"lr": 0.01}),
    "adam_amsgrad": ("Adam", "adam", {"lr": 0.01, "betas": [0.8, 0.99], "amsgrad": True}, {"amsgrad": False}),
    "adam_l2_maximize": (
        "Adam", "adam", {"lr": 0.01, "betas": [0.3, 0.99], "weight_decay": 0.1, "maximize": True},
        {"weight_decay": 0.0}),
    "adam_decoupled": (
        "Adam", "adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "eps": 1e-6},
        {"decoupled_weight_decay": False}),
    "adamw_default": ("AdamW", "adamw", {}, {"weight_decay": 0.0}),
    "adamw_amsgrad": (
        "AdamW", "adamw", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True, "maximize": True}, {"lr": 0.1}),
    "nadam_default": ("NAdam", "nadam", {}, {"lr": 0.01}),
    "nadam_all": (
        "NAdam", "nadam",
        {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1, "momentum_decay": 0.01, "maximize": True},
        {"decoupled_weight_decay": True}),
    "radam_default": ("RAdam", "radam", {}, {"lr": 0.01}),
    "radam_all": (
        "RAdam", "radam",
        {"lr": 0.01, "betas": [0.5, 0.9], "eps": 1e-6, "weight_decay": 0.1, "decoupled_weight_decay": True,
         "maximize": True},
        {"decoupled_weight_decay": False}),
    "adamax_default": ("Adamax", "adamax", {}, {"lr": 0.01}),
    "adamax_all": (
        "Adamax", "adamax", {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1, "maximize": True},
        {"weight_decay": 0.0}),
    "asgd_default": ("ASGD", "asgd", {}, {"lr": 0.05}),
    "asgd_all": (
        "ASGD", "asgd", {"lr": 0.02, "lambd": 1e-3, "alpha": 0.5, "t0": 10.0, "weight_decay": 0.05, "maximize": True},
        {"t0": 3.0}),
    "rprop_default": ("Rprop", "rprop", {}, {"lr": 0.05}),
    "rprop_all": (
        "Rprop", "rprop", {"lr": 0.02, "etas": [0.3, 1.5], "step_sizes": [1e-3, 0.05], "maximize": True},
        {"etas": [0.6, 1.1]}),
    "adafactor_default": ("Adafactor", "adafactor", {}, {"lr": 0.05}, "matrices"),
    "adafactor_all": (
        "Adafactor", "adafactor",
        {"lr": 0.02, "beta2_decay": -0.5, "eps": [1e-5, 1e-2], "d": 1.5, "weight_decay": 0.1, "maximize": True},
        {"eps": [None, 1e-3]}, "matrices"),
    "sparse_adam_default": ("SparseAdam", "sparse_adam", {}, {"lr": 0.01}, "sparse"),
    "sparse_adam_all": (
        "SparseAdam", "sparse_adam", {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "maximize": True},
        {"betas": [0.5, 0.9]}, "sparse"),
    "muon_default": ("Muon", "muon", {}, {"lr": 0.01}, "muon"),
    "muon_all": (
        "Muon", "muon",
        {"lr": 0.02, "weight_decay": 0.05, "momentum": 0.9, "nesterov": False, "ns_coefficients": [3.0, -3.2, 1.2],
         "eps": 1e-6, "ns_steps": 3, "adjust_lr_fn": "match_rms_adamw"},
        {"adjust_lr_fn": "spectral_unclamped", "nesterov": True}, "muon"),
    "lion_default": ("Lion", "lion", {}, {"lr": 3e-4}),
    "lion_all": ("Lion", "lion", {"lr": 1e-3, "betas": [0.95, 0.98], "weight_decay": 0.1}, {"weight_decay": 0.0}),
    "ademamix_default": ("AdEMAMix", "ademamix", {}, {"lr": 3e-3}, "dense"),
    "ademamix_warmup_l2": (
        "AdEMAMix", "ademamix",
        {"lr": 2e-3, "betas": [0.8, 0.99, 0.999], "alpha": 3.0, "t_alpha_beta3": 30.0, "weight_decay": 0.05,
         "eps": 1e-6, "maximize": True},
        {"t_alpha_beta3": 20.0, "weight_decay": 0.0}, "dense"),
    "ademamix_decoupled": (
        "AdEMAMix", "ademamix",
        {"lr": 1e-2, "weight_decay": 0.1, "weight_decouple": True, "alpha": 8.0, "t_alpha_beta3": 100.0},
        {"fixed_decay": True, "weight_decay": 0.01}, "dense"),
    "mars_default": ("MARS", "mars", {}, {"gamma": 0.05}, "dense_matrices"),
    "mars_lion_l2": (
        "MARS", "mars",
        {"mars_type": "lion", "lr": 1e-3, "lr_1d": 2e-3, "betas_1d": [0.8, 0.9], "weight_decay": 0.1,
         "weight_decay_1d": 0.05, "weight_decouple": False, "maximize": True},
        {"weight_decay": 0.0}, "dense_matrices"),
    "mars_optimize_1d": (
        "MARS", "mars",
        {"optimize_1d": True, "gamma": 0.1, "betas": [0.9, 0.95], "weight_decay": 0.1, "fixed_decay": True,
         "eps": 1e-6},
        {"gamma": 0.0}, "dense_matrices"),
    "mars_ams_cautious": (
        "MARS", "mars", {"ams_bound": True, "cautious": True, "gamma": 0.05, "weight_decay": 0.01},
        {"optimize_1d": True}, "dense_matrices"),
    "mars_lion_cautious": ("MARS", "mars", {"mars_type": "lion", "cautious": True, "lr": 1e-3}, {"gamma": 0.1},
                           "dense_matrices"),
    "mars_shampoo": ("MARS", "mars", {"mars_type": "shampoo", "lr": 0.02, "weight_decay": 0.01}, {"cautious": True},
                     "dense_matrices"),
    "adamw_schedulefree_default": ("AdamWScheduleFree", "adamw_schedulefree", {}, {"lr": 0.01}, "dense"),
    "adamw_schedulefree_all": (
        "AdamWScheduleFree", "adamw_schedulefree",
        {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.05, "warmup_steps": 10, "r": 1.0,
         "weight_lr_power": 1.5},
        {"warmup_steps": 0, "weight_decay": 0.0}, "dense"),
    "sgd_schedulefree_default": ("SGDScheduleFree", "sgd_schedulefree", {}, {"lr": 0.1}, "dense"),
    "sgd_schedulefree_all": (
        "SGDScheduleFree", "sgd_schedulefree",
        {"lr": 0.5, "momentum": 0.8, "weight_decay": 0.05, "warmup_steps": 7, "r": 0.5, "weight_lr_power": 3.0},
        {"momentum": 0.95, "warmup_steps": 0}, "dense"),
    "prodigy_default": ("Prodigy", "prodigy", {}, {"weight_decay": 0.01}, "dense"),
    "prodigy_all": (
        "Prodigy", "prodigy",
        {"lr": 0.5, "betas": [0.8, 0.99], "beta3": 0.95, "eps": 1e-6, "weight_decay": 0.05, "decouple": False,
         "use_bias_correction": True, "safeguard_warmup": True, "d0": 1e-4, "d_coef": 2.0, "growth_rate": 1.5},
        {"weight_decay": 0.0}, "dense"),
    "prodigy_no_momentum": ("Prodigy", "prodigy", {"betas": [0.0, 0.999], "d0": 1e-3}, {"eps": 1e-6}, "dense"),
    # β₃ = 1: s and the estimate's numerator as plain sums.
    "prodigy_plain_sums": ("Prodigy", "prodigy", {"beta3": 1.0, "d0": 1e-4, "growth_rate": 2.0}, {}, "dense"),
}

DTYPES = {"f32": (torch.float32, "<f4"), "f64": (torch.float64, "<f8")}

# Every case runs in f32; these also run in f64 (together they cover every option of every optimizer), which keeps
# the committed fixtures small.
F64_CASES = {
    "sgd_dampening_wd", "sgd_nesterov_maximize", "adagrad_all", "rmsprop_momentum", "rmsprop_all", "adadelta_all",
    "adam_amsgrad", "adam_l2_maximize", "adam_decoupled", "adamw_amsgrad", "nadam_all", "radam_all", "adamax_all",
    "asgd_all", "rprop_all", "adafactor_all", "muon_all", "sparse_adam_all", "lion_all",
    "ademamix_warmup_l2", "ademamix_decoupled", "mars_lion_l2", "mars_optimize_1d", "mars_ams_cautious", "adamw_schedulefree_all",
    "sgd_schedulefree_all", "prodigy_all", "prodigy_plain_sums",
}

# Optimizers that torch.optim lacks: the class of the reference package their authors publish.
REFERENCES = {"Lion": ("lion_pytorch", "Lion"), "AdEMAMix": ("pytorch_optimizer", "AdEMAMix"),
              "MARS": ("pytorch_optimizer", "MARS"), "AdamWScheduleFree": ("schedulefree", "AdamWScheduleFree"),
              "SGDScheduleFree": ("schedulefree", "SGDScheduleFree"), "Prodigy": ("prodigyopt", "Prodigy")}

# References that keep their step count and scalars in the parameter group (schedulefree's): the group's keys that
# stand for each parameter's `step` and scalar state.
GROUP_STATE = {"AdamWScheduleFree": ("k", ["lr_max", "weight_sum"]),
               "SGDScheduleFree": ("k", ["lr_max", "weight_sum"])}

# References that keep optimizer-wide scalars in their first parameter group (prodigyopt's estimate of d): the
# keys recorded after every step, as `global` in the case's manifest entry.
GLOBAL_STATE = {"Prodigy": ["d_numerator", "d_denom", "d", "d_max", "d_hat"]}

# Schedule-Free trains at one point and is evaluated at another: every EVALUATE_EVERY steps, the case also records
# the parameters after `eval()` (the evaluation point) and after `train()` again (the training point, which the
# round trip may change in its last bit).
EVALUATE_EVERY = 10


def reference_versions():
    """The version of each reference package the cases of optimizers that torch.optim lacks come from."""
    packages = sorted({module.replace("_", "-") for module, _ in REFERENCES.values()})
    return {package: importlib.metadata.version(package) for package in packages}


def optimizer_class(name):
    """torch.optim's class `name`, or the reference package's."""
    if name in REFERENCES:
        module, cls = REFERENCES[name]
        return getattr(importlib.import_module(module), cls)
    return getattr(torch.optim, name)


def torch_hyper(hyper):
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in hyper.items()}


def param_set(case):
    return PARAM_SETS[CASES[case][4] if len(CASES[case]) > 4 else "vectors"]


def describe_params(params):
    return [
        {"name": name, "shape": shape, "len": length(shape), "grad_scale": scale, "group": group,
         "grad_steps": [s for s in range(1, STEPS + 1) if has_grad(name, s)]}
        for name, shape, scale, group in params
    ]


def run_case(case, dtype_name):
    torch_name, _, hyper0, overrides = CASES[case][:4]
    params = param_set(case)
    sparse = len(CASES[case]) > 4 and CASES[case][4] in SPARSE_SETS
    dtype, np_dtype = DTYPES[dtype_name]
    hyper1 = {**hyper0, **overrides}
    tensors = [
        torch.tensor(initial_param(k, length(shape)), dtype=dtype).reshape(shape)
        for k, (_, shape, _, _) in enumerate(params)
    ]
    groups = [
        {"params": [t for t, spec in zip(tensors, params) if spec[3] == g], **torch_hyper(h)}
        for g, h in enumerate([hyper0, hyper1])
    ]
    # Group 0's hyperparameters are the constructor's defaults too: Adagrad takes `initial_accumulator_value` from the
    # constructor for every group, ignoring the groups' own.
    constructor = optimizer_class(torch_name)
    # The single-tensor path; Muon has only that one, and no `foreach` argument.
    foreach = {"foreach": False} if "foreach" in inspect.signature(constructor).parameters else {}
    opt = constructor(groups, **foreach, **torch_hyper(hyper0))
    evaluates = hasattr(opt, "eval")
    if evaluates:
        opt.train()
    blob = bytearray()
    present, step_counts, scalars, buffer_names, global_scalars = [], [], [], {}, []
    for step in range(1, STEPS + 1):
        for k, (name, shape, scale, _) in enumerate(params):
            grad = None
            if has_grad(name, step):
                grad = torch.tensor(gradient(k, step, length(shape), scale), dtype=dtype).reshape(shape)
                if sparse:
                    grad[untouched_rows(k, step, shape)] = 0
                    grad = grad.to_sparse(1)
            tensors[k].grad = grad
        opt.step()
        present_now, steps_now, scalars_now = [], [], []
        for k, (name, _, _, _) in enumerate(params):
            t = tensors[k]
            blob += t.detach().numpy().astype(np_dtype).tobytes()
            state = opt.state.get(t, {})
            # 0-dim entries other than the step (NAdam's mu_product, ASGD's eta and mu) are scalars, recorded in the
            # manifest.
            names = [key for key in state if key != "step" and state[key].dim() > 0]
            present_now.append(bool(state))
            group_state = GROUP_STATE.get(torch_name)
            if group_state and state:
                group = opt.param_groups[params[k][3]]
                steps_now.append(float(group[group_state[0]]))
                scalars_now.append({key: float(group[key]) for key in group_state[1]})
            elif "step" in state:
                steps_now.append(float(state["step"]))
            elif state and "step" in opt.param_groups[params[k][3]]:
                steps_now.append(float(opt.param_groups[params[k][3]]["step"]))
            else:
                steps_now.append(None)
            if not (group_state and state):
                scalars_now.append({key: float(v) for key, v in state.items() if key != "step" and v.dim() == 0})
            if state:
                if buffer_names.setdefault(name, names) != names:
                    sys.exit(f"{case}: state keys of {name} changed: {names}")
                for key in names:
                    blob += state[key].detach().numpy().astype(np_dtype).tobytes()
        if evaluates and step % EVALUATE_EVERY == 0:
            opt.eval()
            for t in tensors:
                blob += t.detach().numpy().astype(np_dtype).tobytes()
            opt.train()
            for t in tensors:
                blob += t.detach().numpy().astype(np_dtype).tobytes()
        present.append(present_now)
        step_counts.append(steps_now)
        scalars.append(scalars_now)
        global_scalars.append({key: float(opt.param_groups[0][key]) for key in GLOBAL_STATE.get(torch_name, [])})
    file = f"{case}.{dtype_name}.bin"
    with open(os.path.join(OUT, file), "wb") as f:
        f.write(blob)
    return {
        "case": case,
        "dtype": dtype_name,
        "file": file,
        "present": present,
        "step": step_counts,
        "scalars": scalars,
        **({"global": global_scalars} if torch_name in GLOBAL_STATE else {}),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **({"evaluate_every": EVALUATE_EVERY} if evaluates else {}),
        "buffers": [buffer_names.get(name, []) for name, _, _, _ in params],
        "params": describe_params(params),
        **({"untouched_rows": [[untouched_rows(k, step, shape) for k, (_, shape, _, _) in enumerate(params)]
                               for step in range(1, STEPS + 1)]} if sparse else {}),
    }


def prodigy_quadratic():
    """Prodigy's estimate of d where it has something to estimate: J(θ) = ½·Σ aᵢ·(θᵢ − cᵢ)² in f64 for 200 steps
    with the defaults (and with safeguarded warm-up and bias correction), each step's d and the final parameters.
    Written to prodigy_quadratic.json."""
    n = 64
    a = [1.0 + abs(value(7, 0, i)) for i in range(n)]
    c = [value(8, 0, i) for i in range(n)]
    runs = []
    for hyper in [{}, {"safeguard_warmup": True, "use_bias_correction": True, "betas": [0.9, 0.99]},
                  {"betas": [0.0, 0.999], "growth_rate": 1.1}]:
        theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        opt = optimizer_class("Prodigy")([theta], **torch_hyper(hyper))
        ds = []
        for _ in range(200):
            theta.grad = torch.tensor(a, dtype=torch.float64) * (theta.detach() - torch.tensor(c, dtype=torch.float64))
            opt.step()
            ds.append(opt.param_groups[0]["d"])
        runs.append({"hyper": hyper, "d": ds, "theta": theta.detach().tolist()})
    with open(os.path.join(OUT, "prodigy_quadratic.json"), "w") as f:
        json.dump({"a": a, "c": c, "runs": runs}, f)
        f.write("\n")


def main():
    """Writes every case, or with `--only CASE,...` those cases alone, kept with the others of the manifest."""
    only = set(sys.argv[sys.argv.index("--only") + 1].split(",")) if "--only" in sys.argv else None
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    manifest = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "steps": STEPS,
        "params": describe_params(PARAMS),
        "probes": [{"args": list(a), "value": value(*a)} for a in [(0, 0, 0), (2, 7, 1036), (1, 50, 3), (5, 1, 9)]],
        "cases": [],
    }
    if only is not None:
        with open(os.path.join(OUT, "manifest.json")) as f:
            manifest = json.load(f)
        manifest["cases"] = [c for c in manifest["cases"] if c["case"] not in only]
    manifest["references"] = reference_versions()
    for case, (_, optimizer, hyper0, overrides, *_) in CASES.items():
        if only is not None and case not in only:
            continue
        for dtype_name in DTYPES:
            if dtype_name == "f64" and case not in F64_CASES:
                continue
            record = run_case(case, dtype_name)
            record["optimizer"] = optimizer
            record["groups"] = [hyper0, {**hyper0, **overrides}]
            manifest["cases"].append(record)
    if only is None or "prodigy_quadratic" in only:
        prodigy_quadratic()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
