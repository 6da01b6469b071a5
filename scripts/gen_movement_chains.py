#!/usr/bin/env python3
"""Random chains of movement ops over small arange inputs, with numpy's result, into
test/fixtures/movement_chains.json (replayed by test/ops/movement_chains.test.ts).

Every movement op becomes index arithmetic in tsgrad (reshape -> // and %, pad -> a validity
gate, shrink -> an offset, flip -> a mirror, expand -> 0), simplified by symbolic rules that fold
div/mod using value ranges; a wrong rule reads the wrong element or out of bounds. Chains mix
reshape (to random factorizations, so views are re-split across axes), permute, expand, pad
(including negative pads), shrink, flip, `get` (ints, slices with steps of either sign, None,
'...', one int-tensor index), cat, transpose, flatten, unflatten, squeeze, unsqueeze, repeat,
split and `contiguous` (a kernel boundary mid-chain). Some chains end in a reduce or an elementwise
op so the index math is fused into it. Inputs are int32 aranges, so every comparison is exact.

Each chain: {"name", "shape" (the arange's), "ops": [[op, ...args]], "out": {shape, data}}.
Run from the repository root:  python3 scripts/gen_movement_chains.py   (numpy only, deterministic)
"""

import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "movement_chains.json")
rng = np.random.default_rng(2026)
MAX_NUMEL = 400


def factorizations(n, parts):
    """A random way to write n as a product of `parts` factors (ones allowed)."""
    dims = [1] * parts
    m = n
    p = 2
    primes = []
    while m > 1:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    for q in primes:
        dims[rng.integers(parts)] *= q
    return [int(d) for d in dims]


def slice_str(start, stop, step):
    s = lambda v: "" if v is None else str(v)
    return f"{s(start)}:{s(stop)}" + ("" if step is None else f":{step}")


def random_slice(n):
    step = int(rng.choice([1, 1, 2, 3, -1, -2]))
    start = None if rng.random() < 0.3 else int(rng.integers(-n, n))
    stop = None if rng.random() < 0.3 else int(rng.integers(-n - 1, n + 1))
    return slice_str(start, stop, step), slice(start, stop, step)


# ---- each op: (applies to numpy, json args) chosen from the current array ----

def op_reshape(x):
    dims = factorizations(x.size, int(rng.integers(1, 5)))
    return x.reshape(dims), ["reshape", dims]


def op_permute(x):
    order = [int(i) for i in rng.permutation(x.ndim)]
    return np.transpose(x, order), ["permute", order]


def op_expand(x):
    shape = list(x.shape)
    ones = [i for i, d in enumerate(shape) if d == 1]
    new = [int(d) if i not in ones else int(rng.integers(1, 4)) for i, d in enumerate(shape)]
    lead = [int(rng.integers(1, 3))] if rng.random() < 0.3 else []
    target = lead + new
    if np.prod(target) > MAX_NUMEL:
        return None
    return np.broadcast_to(x, target), ["expand", target]


def op_pad(x):
    pads = []
    for d in x.shape:
        lo = int(rng.integers(-min(d - 1, 2), 3)) if d > 1 else int(rng.integers(0, 3))
        hi = int(rng.integers(-min(d - 1 - max(lo, 0) - max(-lo, 0), 2), 3)) if d > 1 else int(rng.integers(0, 3))
        if d + lo + hi < 1:
            lo, hi = 0, 0
        pads.append([lo, hi])
    value = int(rng.choice([0, -1, 7]))
    y = x
    for ax, (lo, hi) in enumerate(pads):
        crop = [slice(None)] * y.ndim
        crop[ax] = slice(max(-lo, 0), y.shape[ax] - max(-hi, 0))
        y = y[tuple(crop)]
        width = [(0, 0)] * y.ndim
        width[ax] = (max(lo, 0), max(hi, 0))
        y = np.pad(y, width, constant_values=value)
    if y.size > MAX_NUMEL:
        return None
    return y, ["pad", pads, value]


def op_shrink(x):
    arg = []
    for d in x.shape:
        s = int(rng.integers(0, d))
        e = int(rng.integers(s + 1, d + 1))
        arg.append([s, e])
    return x[tuple(slice(s, e) for s, e in arg)], ["shrink", arg]


def op_flip(x):
    axes = [i for i in range(x.ndim) if rng.random() < 0.5] or [int(rng.integers(x.ndim))]
    return np.flip(x, axes), ["flip", axes]


def op_get(x):
    items, idx = [], []
    used = 0
    for ax in range(x.ndim):
        r = rng.random()
        if r < 0.15 and x.ndim - used > 1:
            i = int(rng.integers(-x.shape[ax], x.shape[ax]))
            items.append(i)
            idx.append(i)
        else:
            s, sl = random_slice(x.shape[ax])
            items.append(s)
            idx.append(sl)
        used += 1
        if rng.random() < 0.1:
            items.append(None)
            idx.append(None)
    if rng.random() < 0.3 and len(items) > 1:  # trailing axes through '...'
        k = int(rng.integers(1, len(items)))
        tail = [it for it in items[k:] if it is None]
        if not tail:
            items = items[:k] + ["..."]
            idx = idx[:k] + [Ellipsis]
    y = x[tuple(idx)]
    if y.size == 0:
        return None
    return y, ["get", items]


def op_take(x):
    ax = int(rng.integers(x.ndim))
    n = x.shape[ax]
    k = int(rng.integers(1, 5))
    ind = [int(v) for v in rng.integers(-n, n, size=k)]
    return np.take(x, ind, axis=ax), ["take", ax, ind]


def op_cat(x):
    ax = int(rng.integers(x.ndim))
    if 2 * x.size > MAX_NUMEL:
        return None
    return np.concatenate([x, np.flip(x, ax)], axis=ax), ["catFlipped", ax]


def op_transpose(x):
    if x.ndim < 2:
        return None
    a, b = (int(v) for v in rng.choice(x.ndim, 2, replace=False))
    return np.swapaxes(x, a, b), ["transpose", a, b]


def op_flatten(x):
    s = int(rng.integers(x.ndim))
    e = int(rng.integers(s, x.ndim))
    shape = list(x.shape[:s]) + [int(np.prod(x.shape[s:e + 1]))] + list(x.shape[e + 1:])
    return x.reshape(shape), ["flatten", s, e]


def op_unflatten(x):
    ax = int(rng.integers(x.ndim))
    sizes = factorizations(x.shape[ax], 2)
    shape = list(x.shape[:ax]) + sizes + list(x.shape[ax + 1:])
    return x.reshape(shape), ["unflatten", ax, sizes]


def op_squeeze_unsqueeze(x):
    ones = [i for i, d in enumerate(x.shape) if d == 1]
    if ones and rng.random() < 0.5 and x.ndim > 1:
        ax = int(rng.choice(ones))
        return np.squeeze(x, ax), ["squeeze", ax]
    ax = int(rng.integers(x.ndim + 1))
    return np.expand_dims(x, ax), ["unsqueeze", ax]


def op_repeat(x):
    reps = [int(rng.integers(1, 3)) for _ in range(x.ndim)]
    if rng.random() < 0.3:
        reps = [2] + reps
    if np.prod(reps) * x.size > MAX_NUMEL:
        return None
    return np.tile(x, reps), ["repeat", reps]


def op_split(x):
    ax = int(rng.integers(x.ndim))
    n = x.shape[ax]
    if n < 2:
        return None
    size = int(rng.integers(1, n))
    pieces = int(np.ceil(n / size))
    k = int(rng.integers(pieces))
    sl = [slice(None)] * x.ndim
    sl[ax] = slice(k * size, min(n, (k + 1) * size))
    return x[tuple(sl)], ["split", size, ax, k]


def op_contiguous(x):
    return x, ["contiguous"]


OPS = [op_reshape, op_reshape, op_reshape, op_permute, op_permute, op_expand, op_pad, op_pad, op_shrink,
       op_shrink, op_flip, op_get, op_get, op_take, op_cat, op_transpose, op_flatten, op_unflatten,
       op_squeeze_unsqueeze, op_repeat, op_split, op_contiguous]


def op_final(x):
    """A fused consumer: the index math ends up inside a reduce or an elementwise kernel."""
    r = rng.random()
    if r < 0.25 and x.ndim >= 1:
        ax = int(rng.integers(x.ndim))
        return x.sum(axis=ax, dtype=np.int64).astype(np.int32), ["sum", ax]
    if r < 0.4 and x.ndim >= 1:
        ax = int(rng.integers(x.ndim))
        if x.shape[ax] == 0:
            return None
        return x.max(axis=ax), ["max", ax]
    if r < 0.55:
        return x * 3 + 1, ["mulAdd", 3, 1]
    if r < 0.65 and x.ndim >= 1:
        return x + np.flip(x, 0), ["addFlipped", 0]
    return None


def chain(name, shape, n_ops):
    x = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    ops = []
    while len(ops) < n_ops:
        r = OPS[int(rng.integers(len(OPS)))](x)
        if r is None or r[0].size == 0 or r[0].size > MAX_NUMEL:
            continue
        x, op = r
        ops.append(op)
    if rng.random() < 0.4:
        r = op_final(x)
        if r is not None:
            x, op = r
            ops.append(op)
    x = np.array(x, order="C")  # (ascontiguousarray makes a 0-d result 1-d)
    return {"name": name, "shape": list(shape), "ops": ops,
            "out": {"shape": [int(d) for d in x.shape], "data": [int(v) for v in x.reshape(-1)]}}


def build():
    cases = [{
        # the planted div/mod folding off-by-one of issue 15: 20-23 where 1-4 belong
        "name": "issue15/permute_flatten_shrink_reshape",
        "shape": [20],
        "ops": [["reshape", [4, 5]], ["permute", [1, 0]], ["flatten", 0, 1], ["shrink", [[1, 17]]], ["reshape", [4, 4]]],
    }]
    x = np.arange(20, dtype=np.int32).reshape(4, 5).T.reshape(-1)[1:17].reshape(4, 4)
    cases[0]["out"] = {"shape": [4, 4], "data": [int(v) for v in x.reshape(-1)]}
    for i in range(300):
        ndim = int(rng.integers(1, 4))
        shape = [int(rng.integers(1, 7)) for _ in range(ndim)]
        if rng.random() < 0.3:
            shape = [int(rng.choice([12, 20, 24, 30, 36, 60]))]
        cases.append(chain(f"chain{i:03d}", shape, int(rng.integers(2, 8))))
    # the shape of bug, varied: re-split a permuted view, take an offset window of the
    # flat order, re-split it again (the window offset puts remainders at the edge of a range)
    for i in range(120):
        n = int(rng.choice([12, 20, 24, 30, 36, 48, 60]))
        dims = factorizations(n, int(rng.integers(2, 4)))
        x = np.arange(n, dtype=np.int32).reshape(dims)
        order = [int(v) for v in rng.permutation(len(dims))]
        flat = np.transpose(x, order).reshape(-1)
        length = int(rng.choice([d for d in range(2, n) if any(d % k == 0 for k in (2, 3, 4))]))
        off = int(rng.integers(0, n - length + 1))
        out_dims = factorizations(length, int(rng.integers(1, 4)))
        y = flat[off:off + length].reshape(out_dims)
        ops = [["reshape", dims], ["permute", order], ["flatten", 0, len(dims) - 1], ["shrink", [[off, off + length]]],
               ["reshape", out_dims]]
        if rng.random() < 0.5 and y.ndim > 1:
            order2 = [int(v) for v in rng.permutation(y.ndim)]
            y = np.transpose(y, order2).reshape(-1)
            ops += [["permute", order2], ["reshape", [length]]]
        cases.append({"name": f"window{i:03d}", "shape": [n], "ops": ops,
                      "out": {"shape": list(y.shape), "data": [int(v) for v in y.reshape(-1)]}})
    return cases


def main():
    cases = build()
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/gen_movement_chains.py", "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} chains to {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT) // 1024} KiB)")


if __name__ == "__main__":
    main()
