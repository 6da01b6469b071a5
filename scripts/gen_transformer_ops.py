#!/usr/bin/python3
"""Fixtures for the transformer ops (issue 16): gelu (both forms), rmsnorm, rotary embeddings (NeoX and
GPT-J/"normal" layouts, LLaMA-3 frequency scaling), the SiLU-gated MLP and topk, with PyTorch 1.13
as the reference (values and gradients). Writes test/fixtures/transformer_ops.json.

Run with the system Python that has torch: /usr/bin/python3 scripts/gen_transformer_ops.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
rng = np.random.default_rng(16)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "transformer_ops.json")


def arr(t):
    t = t.detach()
    vals = [float(f"{v:.9g}") for v in t.double().flatten().tolist()]
    return {"shape": list(t.shape), "data": [v if math.isfinite(v) else str(v) for v in vals]}


def f32(shape, lo=-2.0, hi=2.0):
    return torch.tensor(rng.uniform(lo, hi, size=shape), dtype=torch.float32)


def value_and_grads(fn, inputs):
    """fn's output on float64 copies of the inputs, and the gradients of sum(out * upstream)."""
    xs = [x.detach().double().requires_grad_(True) for x in inputs]
    out = fn(*xs)
    up = f32(tuple(out.shape), -1.0, 1.0)
    (out * up.double()).sum().backward()
    return out, up, [x.grad for x in xs]


cases = {"gelu": [], "rmsnorm": [], "rope": [], "ropeTables": [], "gatedMlp": [], "topk": []}

# ---- gelu: PyTorch's default (exact erf form) and the tanh approximation
for approx in ["none", "tanh"]:
    x = f32((5, 13), -4.0, 4.0)
    x[0, :4] = torch.tensor([-10.0, -0.0, 0.0, 10.0])
    out, up, (g,) = value_and_grads(lambda t: F.gelu(t, approximate=approx), [x])
    cases["gelu"].append({"approximate": approx, "x": arr(x), "out": arr(out), "upstream": arr(up), "grad": arr(g)})

# ---- rmsnorm: x / sqrt(mean(x^2) + eps) over one axis (torch 1.13 has no rms_norm: written out)
for shape, axis, eps in [((4, 7), -1, 1e-6), ((2, 3, 16), -1, 1e-5), ((2, 5, 3), 1, 1e-6)]:
    x = f32(shape)
    fn = lambda t: t * torch.rsqrt(t.pow(2).mean(axis, keepdim=True) + eps)  # noqa: E731
    out, up, (g,) = value_and_grads(fn, [x])
    cases["rmsnorm"].append({"axis": axis, "eps": eps, "x": arr(x), "out": arr(out), "upstream": arr(up), "grad": arr(g)})


# ---- rotary embeddings
def inv_freqs(dim, theta, scaling):
    """1 / theta^(2i/dim), then (when given) the LLaMA-3 rescaling of HF transformers'
    _compute_llama3_parameters: long wavelengths divided by `factor`, short ones kept, and a
    linear blend in 1/wavelength between the two bands. Float64 throughout."""
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    if scaling is None:
        return inv
    factor, lo, hi, old = (scaling[k] for k in ["factor", "lowFreqFactor", "highFreqFactor", "originalMaxPositions"])
    wavelen = 2 * math.pi / inv
    low_wavelen = old / lo  # longer than this: low frequency band
    high_wavelen = old / hi  # shorter than this: high frequency band
    smooth = (old / wavelen - lo) / (hi - lo)
    blended = (1 - smooth) * inv / factor + smooth * inv
    out = torch.where(wavelen > low_wavelen, inv / factor, inv)
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(medium, blended, out)


def tables(max_pos, dim, theta, scaling):
    ang = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv_freqs(dim, theta, scaling)[None, :]
    return torch.cos(ang), torch.sin(ang)


def rope_neox(x, cos, sin):
    # HF LLaMA/Qwen: q * cos + rotate_half(q) * sin, with cos/sin repeated over both halves
    c = torch.cat([cos, cos], -1)
    s = torch.cat([sin, sin], -1)
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * c + rot * s


def rope_normal(x, cos, sin):
    # GPT-J / llama.cpp "normal": adjacent pairs (x[2i], x[2i+1]) rotated by angle i
    xe, xo = x[..., 0::2], x[..., 1::2]
    return torch.stack([xe * cos - xo * sin, xe * sin + xo * cos], -1).flatten(-2)


LLAMA3 = {"factor": 8.0, "lowFreqFactor": 1.0, "highFreqFactor": 4.0, "originalMaxPositions": 8192}
for theta, scaling in [(10000.0, None), (500000.0, LLAMA3)]:
    # dim 8 at theta 500000: wavelengths 6.3, 167, 4443, 118000 cover the high, medium and low bands
    for layout, fn in [("neox", rope_neox), ("normal", rope_normal)]:
        B, H, T, D, start, max_pos = 2, 3, 5, 8, 7, 16
        x = f32((B, H, T, D))
        cos, sin = tables(max_pos, D, theta, scaling)
        c, s = cos[start:start + T], sin[start:start + T]
        out, up, (g,) = value_and_grads(lambda t: fn(t, c, s), [x])
        cases["rope"].append({"layout": layout, "theta": theta, "scaling": scaling, "maxPositions": max_pos,
                              "start": start, "x": arr(x), "out": arr(out), "upstream": arr(up), "grad": arr(g)})
    cos, sin = tables(64, 64, theta, scaling)
    cases["ropeTables"].append({"theta": theta, "scaling": scaling, "maxPositions": 64, "headDim": 64,
                                "cos": arr(cos), "sin": arr(sin)})

# ---- SiLU-gated MLP (LLaMA's FeedForward): down(silu(gate(x)) * up(x)); weights in torch's (out, in)
for bias in [False, True]:
    dim, hidden = 6, 10
    gate, upl, down = torch.nn.Linear(dim, hidden, bias), torch.nn.Linear(dim, hidden, bias), torch.nn.Linear(hidden, dim, bias)
    x = f32((2, 3, dim))
    params = [x, gate.weight, upl.weight, down.weight] + ([gate.bias, upl.bias, down.bias] if bias else [])

    def mlp(x, gw, uw, dw, gb=None, ub=None, db=None):
        return F.linear(F.silu(F.linear(x, gw, gb)) * F.linear(x, uw, ub), dw, db)

    out, up, grads = value_and_grads(mlp, params)
    names = ["x", "gate.weight", "up.weight", "down.weight", "gate.bias", "up.bias", "down.bias"]
    cases["gatedMlp"].append({"bias": bias, "inputs": {n: arr(p) for n, p in zip(names, params)}, "out": arr(out),
                              "upstream": arr(up), "grads": {n: arr(g) for n, g in zip(names, grads)}})

# ---- topk: tie-free inputs (torch does not promise an order among equal values)
def distinct(shape):
    n = int(np.prod(shape))
    return torch.tensor(rng.permutation(n).reshape(shape) * 0.37 - n * 0.15, dtype=torch.float32)


for shape, k, dim, largest in [((3, 50), 5, -1, True), ((3, 50), 7, 1, False), ((20, 4), 3, 0, True),
                               ((40,), 40, 0, False), ((2, 3, 9), 1, -1, True)]:
    x = distinct(shape)
    xs = x.double().requires_grad_(True)
    vals, idx = torch.topk(xs, k, dim=dim, largest=largest, sorted=True)
    up = f32(tuple(vals.shape), -1.0, 1.0)
    (vals * up.double()).sum().backward()
    cases["topk"].append({"k": k, "dim": dim, "largest": largest, "x": arr(x), "values": arr(vals),
                          "indices": arr(idx), "upstream": arr(up), "grad": arr(xs.grad)})
# special values: NaN counts as larger than inf; -inf, inf and both zeros (torch 1.13 on CPU)
x = torch.tensor([[1.0, float("nan"), -float("inf"), float("inf"), 3.0, -2.0]])
for largest in [True, False]:
    vals, idx = torch.topk(x, 3, largest=largest)
    cases["topk"].append({"k": 3, "dim": -1, "largest": largest, "x": arr(x), "values": arr(vals), "indices": arr(idx)})

with open(OUT, "w") as f:
    json.dump({"generator": "scripts/gen_transformer_ops.py", "torch": torch.__version__, "cases": cases}, f)
    f.write("\n")
print(f"wrote {OUT}")
