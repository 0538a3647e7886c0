#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of the learning-rate schedulers that descent's parity test
(crates/descent/tests/schedule.rs) reads.

Each case builds a `torch.optim` optimizer with two parameter groups of different learning rates, builds the
scheduler (or composition) that descent's spec names, and records every group's lr, and its momentum (or betas[0]),
after construction and after each `scheduler.step()`. ReduceLROnPlateau is fed a recorded metric sequence. WSD is
checked against Hugging Face transformers' `get_wsd_schedule`, the reference descent's WSD follows.

Python's floats are f64, so descent must agree to the last bit: the JSON keeps every float's repr.

Output: tests/fixtures/schedules/schedules.json

Regenerate (needs torch and transformers; CI does not):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch transformers
    /tmp/torchenv/bin/python tools/make_schedule_fixtures.py
"""

import json
import math
import os

import torch
from torch.optim import lr_scheduler as S
from torch.optim.swa_utils import SWALR
from transformers import get_wsd_schedule

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "schedules")
LRS = [0.1, 0.05]


def optimizer(kind):
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=LRS[0], momentum=0.9)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=LRS[0], betas=(0.9, 0.999))
    raise ValueError(kind)


def momentum(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def metrics(n):
    """A loss that falls, stalls, wobbles and falls again: plateaus of several lengths."""
    values = []
    for t in range(n):
        base = 1.0 / (1 + t // 7)
        values.append(base + 0.01 * math.sin(1.7 * t))
    return values


# name: (descent's spec, optimizer, steps, constructor of the torch scheduler)
CASES = {
    "step": ("StepLR(step_size=30, gamma=0.1)", "sgd", 300, lambda o: S.StepLR(o, step_size=30, gamma=0.1)),
    "step_half": ("step(step_size=3, gamma=0.5)", "sgd", 40, lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
    "multistep": ("MultiStepLR(milestones=[30, 80], gamma=0.1)", "sgd", 200,
                  lambda o: S.MultiStepLR(o, milestones=[30, 80], gamma=0.1)),
    "multistep_repeated": ("multistep(milestones=[2, 5, 5, 9])", "sgd", 20,
                           lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.1)),
    "constant": ("ConstantLR(factor=0.5, total_iters=3)", "sgd", 20,
                 lambda o: S.ConstantLR(o, factor=0.5, total_iters=3)),
    "constant_defaults": ("constant", "sgd", 20, lambda o: S.ConstantLR(o)),
    "linear_warmup": ("LinearLR(start_factor=0.25, end_factor=1.0, total_iters=4)", "sgd", 20,
                      lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4)),
    "linear_decay": ("linear(start_factor=1.0, end_factor=0.1, total_iters=50)", "sgd", 100,
                     lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=50)),
    "exponential": ("ExponentialLR(gamma=0.9)", "sgd", 100, lambda o: S.ExponentialLR(o, gamma=0.9)),
    "exponential_slow": ("exp(gamma=0.99)", "adam", 300, lambda o: S.ExponentialLR(o, gamma=0.99)),
    "polynomial": ("PolynomialLR(total_iters=6, power=2.0)", "sgd", 12,
                   lambda o: S.PolynomialLR(o, total_iters=6, power=2.0)),
    "polynomial_sqrt": ("poly(total_iters=100, power=0.5)", "sgd", 150,
                        lambda o: S.PolynomialLR(o, total_iters=100, power=0.5)),
    "cosine": ("CosineAnnealingLR(T_max=5, eta_min=0.01)", "sgd", 40,
               lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
    "cosine_long": ("cosine(T_max=100)", "adam", 300, lambda o: S.CosineAnnealingLR(o, T_max=100)),
    "warm_restarts": ("CosineAnnealingWarmRestarts(T_0=3, T_mult=2, eta_min=0.001)", "sgd", 60,
                      lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001)),
    "warm_restarts_fixed": ("sgdr(T_0=10)", "sgd", 100, lambda o: S.CosineAnnealingWarmRestarts(o, T_0=10)),
    "cyclic_triangular": ("CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=5)", "sgd", 60,
                          lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5)),
    "cyclic_triangular2": ("CyclicLR(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, mode=\"triangular2\")", "sgd",
                           40, lambda o: S.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                                    mode="triangular2")),
    "cyclic_exp_range": ("cyclic(base_lr=0.001, max_lr=0.006, step_size_up=4, step_size_down=6, mode=\"exp_range\", "
                         "gamma=0.97, base_momentum=0.85, max_momentum=0.95)", "adam", 80,
                         lambda o: S.CyclicLR(o, base_lr=0.001, max_lr=0.006, step_size_up=4, step_size_down=6,
                                              mode="exp_range", gamma=0.97, base_momentum=0.85, max_momentum=0.95)),
    "cyclic_no_momentum": ("cyclic(base_lr=0.01, max_lr=0.05, step_size_up=7, cycle_momentum=False)", "sgd", 50,
                           lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.05, step_size_up=7, cycle_momentum=False)),
    "onecycle": ("OneCycleLR(max_lr=1.0, total_steps=12)", "sgd", 12,
                 lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12)),
    "onecycle_groups": ("onecycle(max_lr=[0.1, 0.05], total_steps=300)", "adam", 300,
                        lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=300)),
    "onecycle_three_phase": ("OneCycleLR(max_lr=1.0, total_steps=12, anneal_strategy=\"linear\", three_phase=True)",
                             "sgd", 12, lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12,
                                                                anneal_strategy="linear", three_phase=True)),
    "onecycle_epochs": ("OneCycleLR(max_lr=0.5, epochs=4, steps_per_epoch=25, pct_start=0.25, div_factor=10.0, "
                        "final_div_factor=100.0)", "sgd", 100,
                        lambda o: S.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=25, pct_start=0.25,
                                               div_factor=10.0, final_div_factor=100.0)),
    "plateau": ("ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1)", "sgd", 100,
                lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, cooldown=1)),
    "plateau_max_abs": ("plateau(mode=\"max\", threshold_mode=\"abs\", threshold=0.01, patience=3, "
                        "min_lr=[0.01, 0.02], factor=0.3)", "sgd", 100,
                        lambda o: S.ReduceLROnPlateau(o, mode="max", threshold_mode="abs", threshold=0.01,
                                                      patience=3, min_lr=[0.01, 0.02], factor=0.3)),
    "lambda": ("LambdaLR(lr_lambda=\"0.95^epoch\")", "sgd", 100, lambda o: S.LambdaLR(o, lambda e: 0.95 ** e)),
    "lambda_groups": ("lambda(lr_lambda=[\"0.95^epoch\", \"1/(epoch+1)\"])", "sgd", 50,
                      lambda o: S.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (e + 1)])),
    "multiplicative": ("MultiplicativeLR(lr_lambda=\"0.95\")", "sgd", 100,
                       lambda o: S.MultiplicativeLR(o, lambda e: 0.95)),
    "sequential": ("LinearLR(start_factor=0.1, total_iters=3) until 3 then ExponentialLR(gamma=0.5)", "sgd", 20,
                   lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3),
                                                S.ExponentialLR(o, gamma=0.5)], milestones=[3])),
    "warmup_cosine": ("warmup(start_factor=0.01, total_iters=10) until 10 then cosine(T_max=90, eta_min=0.001)",
                      "adam", 100,
                      lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=10),
                                                   S.CosineAnnealingLR(o, T_max=90, eta_min=0.001)],
                                               milestones=[10])),
    "sequential_three": ("constant(factor=0.2, total_iters=100) until 5 then step(step_size=10, gamma=0.5) until 40 "
                         "then poly(total_iters=30)", "sgd", 80,
                         lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.2, total_iters=100),
                                                      S.StepLR(o, step_size=10, gamma=0.5),
                                                      S.PolynomialLR(o, total_iters=30)], milestones=[5, 40])),
    "chained": ("ConstantLR(factor=0.5, total_iters=2) * ExponentialLR(gamma=0.9)", "sgd", 20,
                lambda o: S.ChainedScheduler([S.ConstantLR(o, factor=0.5, total_iters=2),
                                              S.ExponentialLR(o, gamma=0.9)])),
    "chained_sequence": ("(warmup(start_factor=0.1, total_iters=4) until 4 then cosine(T_max=20)) * exp(gamma=0.98)",
                         "sgd", 40,
                         lambda o: S.ChainedScheduler([
                             S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=4),
                                                S.CosineAnnealingLR(o, T_max=20)], milestones=[4]),
                             S.ExponentialLR(o, gamma=0.98)])),
    "swa": ("SWALR(swa_lr=0.05, anneal_epochs=5)", "sgd", 20, lambda o: SWALR(o, swa_lr=0.05, anneal_epochs=5)),
    "swa_linear": ("swa(swa_lr=[0.01, 0.2], anneal_epochs=3, anneal_strategy=\"linear\")", "sgd", 10,
                   lambda o: SWALR(o, swa_lr=[0.01, 0.2], anneal_epochs=3, anneal_strategy="linear")),
    "swa_at_once": ("SWALR(swa_lr=0.02, anneal_epochs=0)", "sgd", 5, lambda o: SWALR(o, swa_lr=0.02, anneal_epochs=0)),
    "cosine_then_swa": ("cosine(T_max=10) until 10 then SWALR(swa_lr=0.01, anneal_epochs=5)", "sgd", 30,
                        lambda o: S.SequentialLR(o, [S.CosineAnnealingLR(o, T_max=10),
                                                     SWALR(o, swa_lr=0.01, anneal_epochs=5)], milestones=[10])),
}

# WSD against transformers: (spec, total, warmup, decay steps, decay type, min_lr_ratio)
WSD = {
    "wsd": ("WSD(total_steps=100, warmup_steps=10)", 100, 10, 20, "1-sqrt", 0.0),
    "wsd_linear": ("wsd(total_steps=200, warmup_steps=20, decay_fraction=0.1, decay=\"linear\", min_lr_ratio=0.1)",
                   200, 20, 20, "linear", 0.1),
    "wsd_cosine": ("wsd(total_steps=50, decay_fraction=0.5, decay=\"cosine\")", 50, 0, 25, "cosine", 0.0),
}


def record(opt, sched, steps, watched):
    lrs, momenta = [[g["lr"] for g in opt.param_groups]], [[momentum(g) for g in opt.param_groups]]
    for t in range(steps):
        opt.step()
        if watched is not None:
            sched.step(watched[t])
        else:
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        momenta.append([momentum(g) for g in opt.param_groups])
    return lrs, momenta


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, (spec, kind, steps, make) in CASES.items():
        opt = optimizer(kind)
        sched = make(opt)
        watched = metrics(steps) if isinstance(sched, S.ReduceLROnPlateau) else None
        lrs, momenta = record(opt, sched, steps, watched)
        cases.append({"name": name, "spec": spec, "optimizer": kind, "lrs": LRS, "momentum": 0.9,
                      "metrics": watched, "lr": lrs, "group_momentum": momenta})
    for name, (spec, total, warmup, decay, decay_type, floor) in WSD.items():
        opt = optimizer("sgd")
        sched = get_wsd_schedule(opt, num_warmup_steps=warmup, num_decay_steps=decay, num_training_steps=total,
                                 decay_type=decay_type, min_lr_ratio=floor)
        lrs, momenta = record(opt, sched, total + 10, None)
        cases.append({"name": name, "spec": spec, "optimizer": "sgd", "lrs": LRS, "momentum": 0.9,
                      "metrics": None, "lr": lrs, "group_momentum": momenta})
    path = os.path.join(OUT, "schedules.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
