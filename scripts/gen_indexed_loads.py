"""Fixtures for data-dependent loads (embedding, gather, tensor indexing) and their gradients.

Values and gradients come from PyTorch 1.13 (run with /usr/bin/python3); the gradient with a lazy
out-of-range index (which PyTorch rejects) is a numpy scatter-add over the in-range ids only.
Writes test/fixtures/indexed_loads.json:
    /usr/bin/python3 scripts/gen_indexed_loads.py
"""
import json
import os

import numpy as np
import torch

rng = np.random.default_rng(16)


def arr(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def iarr(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [int(v) for v in a.reshape(-1)]}


def randf(*shape):
    return rng.standard_normal(shape).astype(np.float32)


cases = []

# embedding: forward and the weight's gradient for an upstream gradient g (repeated ids add up)
for name, V, D, ids in [
    ("embedding/2d_ids_repeats", 11, 5, [[3, 0, 10, 3], [7, 7, 1, 0]]),
    ("embedding/1d", 6, 3, [5, 0, 2]),
    ("embedding/scalar_id", 4, 7, 2),
    ("embedding/wide_row", 9, 40, [[8, 1, 4], [0, 0, 6]]),
]:
    w = randf(V, D)
    ids_t = torch.tensor(ids, dtype=torch.int64)
    wt = torch.tensor(w, requires_grad=True)
    out = torch.nn.functional.embedding(ids_t, wt)
    g = randf(*out.shape)
    out.backward(torch.tensor(g))
    cases.append({"name": name, "op": "embedding", "x": arr(w), "index": iarr(ids), "out": arr(out.detach().numpy()),
                  "upstream": arr(g), "grad": arr(wt.grad.numpy())})

# gather along every dim of a 3-d input, index smaller than the input on the other dims
x = randf(4, 5, 6)
for dim, ishape in [(0, (3, 5, 2)), (1, (4, 7, 6)), (2, (2, 3, 9)), (-1, (4, 5, 1))]:
    size = x.shape[dim]
    idx = rng.integers(0, size, ishape)
    xt = torch.tensor(x, requires_grad=True)
    out = torch.gather(xt, dim, torch.tensor(idx))
    g = randf(*out.shape)
    out.backward(torch.tensor(g))
    cases.append({"name": f"gather/dim{dim}", "op": "gather", "dim": dim, "x": arr(x), "index": iarr(idx),
                  "out": arr(out.detach().numpy()), "upstream": arr(g), "grad": arr(xt.grad.numpy())})

# tensor (advanced) indexing: items are ints for tensor indices given as lists, strings for slices,
# None for a new axis; negative indices wrap as in numpy
y = randf(5, 4, 6)
S = slice(None)
for name, items in [
    ("get/one_tensor", [[4, 0, -1, 2]]),
    ("get/tensor_middle", [S, [[3, 0], [-4, 1]]]),
    ("get/two_adjacent", [S, [0, 3, -1], [5, 0, 2]]),
    ("get/two_broadcast", [[[1], [4]], [[0, 2, 3]]]),
    ("get/non_adjacent", [[0, 4, 2], S, [1, -6, 5]]),
    ("get/three", [[1, 2], [3, 0], [5, -1]]),
    ("get/with_slice", ["1:4", S, [5, 5, 0]]),
]:
    def conv(it):
        if isinstance(it, list):
            return torch.tensor(it, dtype=torch.int64)
        if isinstance(it, str):
            a, b = it.split(":")
            return slice(int(a), int(b))
        return it
    yt = torch.tensor(y, requires_grad=True)
    out = yt[tuple(conv(it) for it in items)]
    g = randf(*out.shape)
    out.backward(torch.tensor(g))
    enc = [{"tensor": iarr(it)} if isinstance(it, list) else (it if isinstance(it, str) else ":") for it in items]
    cases.append({"name": name, "op": "get", "items": enc, "x": arr(y), "out": arr(out.detach().numpy()),
                  "upstream": arr(g), "grad": arr(yt.grad.numpy())})

# the weight gradient when some lazy ids are out of range: those add nothing (numpy scatter-add)
V, D = 7, 3
w = randf(V, D)
ids = np.array([2, 9, 2, -1, 6, 7])
g = randf(len(ids), D)
grad = np.zeros((V, D), np.float32)
ok = (ids >= 0) & (ids < V)
np.add.at(grad, ids[ok], g[ok])
out = np.where(ok[:, None], w[np.clip(ids, 0, V - 1)], 0).astype(np.float32)
cases.append({"name": "embedding/lazy_out_of_range", "op": "embedding_lazy", "x": arr(w), "index": iarr(ids),
              "out": arr(out), "upstream": arr(g), "grad": arr(grad)})

path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "indexed_loads.json")
with open(path, "w") as f:
    json.dump({"generator": "scripts/gen_indexed_loads.py", "torch": torch.__version__, "cases": cases}, f)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
