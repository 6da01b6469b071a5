#!/usr/bin/env python3
"""Reference values for symbolic shapes (test/fixtures/symbolic_decode.json).

Independent of tsgrad: numpy computes, in float64 on float32-rounded inputs, what a decode loop with
a KV cache reads at each position sp (the cache's first sp + 1 rows):
  - attention: softmax(q @ K[:, :, :sp+1].T / sqrt(D)) @ V[:, :, :sp+1]
  - rowsum:    K[:, :, :sp+1].sum(axis=2)             (a reduce over the symbolic axis)
  - rowmax:    K[:, :, :sp+1].max(axis=2)
  - logsm:     log_softmax of the scores over the symbolic axis

Run from the repository root:  /usr/bin/python3 scripts/gen_symbolic_fixtures.py
Requires numpy. Output is deterministic (fixed seed).
"""

import json
import os

import numpy as np

SEED = 1616
rng = np.random.default_rng(SEED)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "symbolic_decode.json")

B, H, MAX, D = 1, 2, 48, 8
K = rng.standard_normal((B, H, MAX, D)).astype(np.float32)
V = rng.standard_normal((B, H, MAX, D)).astype(np.float32)
positions = [0, 1, 2, 5, 17, 31, 46, 47]
Q = rng.standard_normal((len(positions), B, H, 1, D)).astype(np.float32)


def softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


cases = []
for i, sp in enumerate(positions):
    q = Q[i].astype(np.float64)
    k = K[:, :, : sp + 1].astype(np.float64)
    v = V[:, :, : sp + 1].astype(np.float64)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D)
    attn = softmax(scores, -1) @ v
    logsm = scores - scores.max(-1, keepdims=True)
    logsm = logsm - np.log(np.exp(logsm).sum(-1, keepdims=True))
    cases.append(
        {
            "sp": sp,
            "q": Q[i].reshape(-1).tolist(),
            "attention": attn.reshape(-1).tolist(),
            "rowsum": k.sum(axis=2).reshape(-1).tolist(),
            "rowmax": k.max(axis=2).reshape(-1).tolist(),
            "logsm": logsm.reshape(-1).tolist(),
        }
    )

with open(OUT, "w") as f:
    json.dump(
        {
            "B": B,
            "H": H,
            "MAX": MAX,
            "D": D,
            "K": K.reshape(-1).tolist(),
            "V": V.reshape(-1).tolist(),
            "cases": cases,
        },
        f,
    )
print(f"wrote {OUT}: {len(cases)} positions")
