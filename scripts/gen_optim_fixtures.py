#!/usr/bin/env python3
"""Training-library references from PyTorch 1.13 into test/fixtures/optim.json (read by the
test/nn/optim_groups, lr_schedulers, clip_grad and grad_scaler tests).

- groups: torch.optim SGD/Adam/AdamW with two parameter groups (weight decay and lr per group, one
  group's lr changed after step 2) on a small least-squares problem; parameters after each step.
- schedulers: get_last_lr() after construction and after each step of LambdaLR (0.9 ** step),
  CosineAnnealingLR, LinearLR and the warmup + cosine schedule (Hugging Face's
  get_cosine_schedule_with_warmup written as a LambdaLR, with a minimum ratio), two groups each.
- clip: torch.nn.utils.clip_grad_norm_ (total norm and clipped gradients) for norm types 2, 1, inf
  and 3, clipping and not clipping.
- scaler: torch.cuda.amp.GradScaler needs CUDA (its unscale/update kernels have no CPU version in
  1.13), so its documented algorithm is run here with torch ops: loss scaled, grads unscaled,
  step skipped when a grad is inf/NaN, scale * backoff then; * growth after growthInterval clean
  steps. SGD in float32; gradients made non-finite (one element set to inf/NaN) at chosen steps.

Inputs are small integers / simple formulas the tests rebuild. Run from the repository root:
  /usr/bin/python3 scripts/gen_optim_fixtures.py
"""

import json
import math
import os

import torch
from fixture_values import enc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "optim.json")
torch.set_default_dtype(torch.float64)


def formula(n, a, b, c):
    """((i * a + b) % c) / c - 0.5: reproducible inputs (the tests compute the same values)."""
    return [((i * a + b) % c) / c - 0.5 for i in range(n)]


def problem():
    # loss = sum((x @ W + bias - y)^2) / rows, W [3, 4], bias [4], x [5, 3], y [5, 4]
    W = torch.tensor(formula(12, 7, 3, 11), dtype=torch.float32).reshape(3, 4).requires_grad_()
    bias = torch.tensor(formula(4, 5, 1, 7), dtype=torch.float32).requires_grad_()
    x = torch.tensor(formula(15, 3, 2, 13), dtype=torch.float32).reshape(5, 3)
    y = torch.tensor(formula(20, 11, 4, 17), dtype=torch.float32).reshape(5, 4)
    return W, bias, x, y


def loss_fn(W, bias, x, y):
    return ((x @ W + bias - y) ** 2).sum() / 5


def group_case(name, make, steps=5, lr_change=(2, 1, 0.02)):
    W, bias, x, y = problem()
    opt = make(W, bias)
    hist = []
    for s in range(steps):
        if s == lr_change[0]:
            opt.param_groups[lr_change[1]]["lr"] = lr_change[2]
        opt.zero_grad()
        loss_fn(W, bias, x, y).backward()
        opt.step()
        hist.append([[enc(v) for v in W.detach().flatten().tolist()], [enc(v) for v in bias.detach().tolist()]])
    return {"name": name, "lrChange": list(lr_change), "steps": hist}


def groups():
    return [
        group_case(
            "AdamW",
            lambda W, b: torch.optim.AdamW(
                [{"params": [W], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0, "lr": 0.05}], lr=0.01
            ),
        ),
        group_case(
            "Adam",
            lambda W, b: torch.optim.Adam(
                [{"params": [W], "betas": (0.8, 0.99)}, {"params": [b], "weight_decay": 0.01}], lr=0.03
            ),
        ),
        group_case(
            "SGD",
            lambda W, b: torch.optim.SGD(
                [{"params": [W], "momentum": 0.9, "nesterov": True}, {"params": [b], "lr": 0.2, "weight_decay": 0.5}],
                lr=0.1,
            ),
        ),
    ]


def sched_case(name, make, steps):
    p1 = torch.zeros(2, requires_grad=True)
    p2 = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.5}], lr=0.1)
    sch = make(opt)
    lrs = [list(sch.get_last_lr())]
    for _ in range(steps):
        opt.step()
        sch.step()
        lrs.append(list(sch.get_last_lr()))
    return {"name": name, "lrs": lrs}


def hf_warmup_cosine(warmup, total, min_ratio):
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def schedulers():
    S = torch.optim.lr_scheduler
    return [
        sched_case("LambdaLR", lambda o: S.LambdaLR(o, lambda s: 0.9**s), 12),
        sched_case("CosineAnnealingLR", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 25),
        sched_case("LinearLR", lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 8),
        sched_case("LinearLRDown", lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=6), 9),
        sched_case("warmupCosine", lambda o: S.LambdaLR(o, hf_warmup_cosine(4, 20, 0.1)), 24),
        sched_case("warmupCosineMin0", lambda o: S.LambdaLR(o, hf_warmup_cosine(3, 10, 0.0)), 12),
    ]


def clip():
    cases = []
    shapes = [[3, 4], [4], [2, 2, 3]]
    for norm_type in [2.0, 1.0, math.inf, 3.0]:
        for max_norm in [0.5, 100.0]:
            grads = [
                torch.tensor(formula(math.prod(s), 5 + k, k, 9 + 2 * k), dtype=torch.float32).reshape(s) * (k + 1)
                for k, s in enumerate(shapes)
            ]
            ps = [torch.zeros(s, dtype=torch.float32, requires_grad=True) for s in shapes]
            for p, g in zip(ps, grads):
                p.grad = g.clone()
            total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
            cases.append(
                {
                    "normType": enc(norm_type),
                    "maxNorm": max_norm,
                    "total": enc(total.item()),
                    "grads": [[enc(v) for v in p.grad.flatten().tolist()] for p in ps],
                }
            )
    return {"shapes": shapes, "cases": cases}


def scaler():
    """GradScaler's algorithm (see the module doc) over SGD in float32 (CPU torch has no float16
    matmul; the scaler's logic does not depend on the compute dtype)."""
    init_scale, growth, backoff, interval = 2.0**10, 2.0, 0.5, 3
    bad_steps = {2: "inf", 5: "nan", 6: "inf"}
    W, bias, x, y = problem()
    opt = torch.optim.SGD([W, bias], lr=0.1)
    scale = torch.tensor(init_scale, dtype=torch.float32)
    tracker = 0
    hist = []
    for s in range(10):
        opt.zero_grad()
        loss = loss_fn(W, bias, x, y)
        (loss * scale).backward()
        if s in bad_steps:  # the fixture's overflow: one gradient element non-finite
            W.grad[0, 0] = float(bad_steps[s])
        inv = 1.0 / scale
        grads = [W.grad * inv, bias.grad * inv]
        found = any((~torch.isfinite(g)).any().item() for g in grads)
        if not found:
            W.grad, bias.grad = grads
            opt.step()
        # update()
        if found:
            scale = scale * backoff
            tracker = 0
        else:
            tracker += 1
            if tracker == interval:
                scale = scale * growth
                tracker = 0
        hist.append(
            {
                "skipped": found,
                "scale": enc(scale.item()),
                "W": [enc(v) for v in W.detach().flatten().tolist()],
                "bias": [enc(v) for v in bias.detach().tolist()],
            }
        )
    return {
        "initScale": init_scale,
        "growthFactor": growth,
        "backoffFactor": backoff,
        "growthInterval": interval,
        "badSteps": {str(k): v for k, v in bad_steps.items()},
        "steps": hist,
    }


def main():
    data = {
        "torch": torch.__version__,
        "groups": groups(),
        "schedulers": schedulers(),
        "clip": clip(),
        "scaler": scaler(),
    }
    with open(OUT, "w") as f:
        json.dump(data, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
