"""Reference values for flashAttention (test/ops/flash_attention.test.ts), from PyTorch.

out = softmax(q k^T * scale + mask) v, mask -inf above the diagonal when causal (PyTorch's
is_causal: the top-left aligned lower triangle), k and v repeated per group of query heads for
grouped-query attention, and the gradients of sum(out * w) with respect to
q, k and v. Run: /usr/bin/python3 scripts/gen_flash_attention_fixtures.py
"""
import json

import numpy as np
import torch

rng = np.random.default_rng(1234)


def case(name, B, H, T, S, D, Dv, causal, scale=None, Hk=None):
    Hk = Hk or H
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((B, H, T, D), (B, Hk, S, D), (B, Hk, S, Dv)))
    w = rng.standard_normal((B, H, T, Dv)).astype(np.float32)
    tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
    sc = scale if scale is not None else 1 / np.sqrt(D)
    # grouped-query attention: query head h reads k/v head h // (H / Hk)
    kk, vv = (t.repeat_interleave(H // Hk, dim=1) for t in (tk, tv))
    s = tq @ kk.transpose(-1, -2) * sc
    if causal:
        keep = torch.ones(T, S, dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    out = torch.softmax(s, -1) @ vv
    (out * torch.tensor(w, dtype=torch.float64)).sum().backward()
    arr = lambda t: {"shape": list(t.shape), "data": [float(x) for x in np.asarray(t, dtype=np.float64).ravel()]}
    return {
        "name": name,
        "causal": causal,
        "scale": scale,
        "q": arr(q),
        "k": arr(k),
        "v": arr(v),
        "w": arr(w),
        "out": arr(out.detach().numpy()),
        "dq": arr(tq.grad.numpy()),
        "dk": arr(tk.grad.numpy()),
        "dv": arr(tv.grad.numpy()),
    }


cases = [
    case("plain", 2, 2, 12, 12, 8, 8, False),
    case("causal", 2, 2, 12, 12, 8, 8, True),
    case("cross lengths, Dv != D, scale", 1, 3, 9, 14, 8, 5, False, scale=0.3),
    case("causal, T < S", 1, 2, 7, 10, 4, 6, True),
    case("odd sizes", 1, 1, 13, 13, 16, 16, True),
    case("grouped-query (4 query heads per k/v head)", 2, 8, 10, 10, 8, 8, True, Hk=2),
    case("grouped-query, T != S, Dv != D", 1, 6, 5, 11, 4, 3, False, scale=0.5, Hk=3),
]
with open("test/fixtures/flash_attention.json", "w") as f:
    json.dump({"generator": "scripts/gen_flash_attention_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
