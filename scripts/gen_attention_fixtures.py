#!/usr/bin/python3
"""Fixtures for scaledDotProductAttention (test/ops/attention.test.ts).

Reference: explicit PyTorch math in float64 (torch 1.13 has no F.scaled_dot_product_attention):
softmax(q k^T * scale + mask) v, with grouped-query attention done the obvious way, by repeating
each key/value head g times (repeat_interleave), and gradients dq, dk, dv by autograd of
sum(out * upstream). Inputs are float32 values; outputs and gradients are computed in float64.

Run: /usr/bin/python3 scripts/gen_attention_fixtures.py  (writes test/fixtures/attention.json)
"""
import json
import math
import os

import torch

torch.manual_seed(16)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "attention.json")


def arr(t):
    t = t.detach()
    dt = "bool" if t.dtype == torch.bool else "float32"
    data = [int(x) for x in t.reshape(-1).tolist()] if dt == "bool" else [
        (x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")))
        for x in t.double().reshape(-1).tolist()]
    return {"shape": list(t.shape), "dtype": dt, "data": data}


def rn(*shape):
    return torch.randn(*shape).float().double()  # float32 values


def reference(q, k, v, mask=None, causal=None, scale=None):
    n = q.dim()
    if n >= 3 and q.shape[-3] != k.shape[-3]:
        g = q.shape[-3] // k.shape[-3]
        k = k.repeat_interleave(g, dim=-3)
        v = v.repeat_interleave(g, dim=-3)
    tq, tk = q.shape[-2], k.shape[-2]
    s = q @ k.transpose(-1, -2) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if causal is not None:
        off = tk - tq if causal == "bottomRight" else 0
        keep = torch.arange(tk)[None, :] <= torch.arange(tq)[:, None] + off
        s = s.masked_fill(~keep, float("-inf"))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask
    return torch.softmax(s, -1) @ v


CASES = []


def case(name, q, k, v, mask=None, causal=None, scale=None):
    q, k, v = (t.clone().requires_grad_(True) for t in (q, k, v))
    out = reference(q, k, v, mask, causal, scale)
    up = rn(*out.shape)
    (out * up).sum().backward()
    opts = {}
    if causal is not None:
        opts["isCausal"] = True
        if causal == "bottomRight":
            opts["causalAlign"] = "bottomRight"
    if scale is not None:
        opts["scale"] = scale
    c = {"name": name, "q": arr(q), "k": arr(k), "v": arr(v), "opts": opts, "out": arr(out),
         "upstream": arr(up), "dq": arr(q.grad), "dk": arr(k.grad), "dv": arr(v.grad)}
    if mask is not None:
        c["mask"] = arr(mask if mask.dtype == torch.bool else mask.float().double())
    CASES.append(c)


B, D = 2, 8
case("mha", rn(B, 4, 5, D), rn(B, 4, 5, D), rn(B, 4, 5, D))
case("mha_causal_square", rn(B, 2, 6, D), rn(B, 2, 6, D), rn(B, 2, 6, D), causal="topLeft")
case("causal_topleft_tq<tk", rn(B, 2, 3, D), rn(B, 2, 7, D), rn(B, 2, 7, D), causal="topLeft")
case("causal_bottomright_prefill", rn(B, 2, 3, D), rn(B, 2, 7, D), rn(B, 2, 7, D), causal="bottomRight")
case("gqa_g3", rn(B, 6, 4, D), rn(B, 2, 5, D), rn(B, 2, 5, 6))
case("gqa_g4_causal_bottomright", rn(1, 8, 4, D), rn(1, 2, 9, D), rn(1, 2, 9, D), causal="bottomRight")
case("gqa_decode_tq1", rn(B, 4, 1, D), rn(B, 1, 7, D), rn(B, 1, 7, D))
case("mqa_scale", rn(1, 3, 4, 5), rn(1, 1, 6, 5), rn(1, 1, 6, 5), scale=0.25)
bm = torch.rand(B, 1, 4, 6) < 0.7
bm[..., 0] = True
case("gqa_bool_mask_bcast_heads", rn(B, 4, 4, D), rn(B, 2, 6, D), rn(B, 2, 6, D), mask=bm)
case("gqa_float_mask_per_head", rn(B, 4, 3, D), rn(B, 2, 5, D), rn(B, 2, 5, D), mask=rn(4, 3, 5))
case("no_heads_3d", rn(B, 5, D), rn(B, 6, D), rn(B, 6, 3), causal="bottomRight")

with open(OUT, "w") as f:
    json.dump({"generator": "scripts/gen_attention_fixtures.py", "torch": torch.__version__, "cases": CASES}, f)
print(f"wrote {len(CASES)} cases to {OUT}")
