#!/usr/bin/env python3
"""Reductions over special values, from numpy, into test/fixtures/special_reductions.json
(read by test/ops/reduce_special.test.ts).

Rows of all -inf, all +inf, NaN at the first element, inside the first vector chunk, in the middle,
in the remainder after the vector loop and last, -inf with +inf, signed zeros, and -inf but one
finite value, for sum/max/min/mean/prod/argmax/argmin/logsumexp/softmax/logSoftmax/cumsum. Row
lengths 37 (16- and 8-lane loops plus a remainder), 1000 (OpenMP simd reductions) and 32 x 1024
(threaded rows), along the last axis and along axis 0, in float32 and float16.

Inputs are not stored element by element: each is `base` (a formula both sides compute) with runs
[start, count, stride, value] written over it, so large shapes stay small on disk. Expected values
are computed in float64 by numpy with PyTorch's definitions where numpy has none (logsumexp shifts
by the max unless the max is infinite; softmax = exp(x - max) / sum; argmax/argmin take the first
NaN, else the first extreme). Checked against PyTorch when it is installed.

Run from the repository root:  python3 scripts/gen_special_reductions.py
"""

import json
import math
import os

import numpy as np
from fixture_values import enc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "special_reductions.json")
INF = float("inf")
NAN = float("nan")


def base_values(kind, n):
    i = np.arange(n)
    if kind == "wave":  # multiples of 1/4 in [-1.5, 1.5]: sums are exact in any order
        return ((i * 7) % 13 - 6) / 4.0
    if kind == "sign":  # +-1: products are exact in any order
        return np.where((i * 5) % 7 < 3, -1.0, 1.0)
    raise ValueError(kind)


def build_input(spec):
    n = int(np.prod(spec["shape"]))
    flat = base_values(spec["base"], n)
    for start, count, stride, value in spec["runs"]:
        flat[start:start + count * stride:stride] = dec(value)
    return flat.reshape(spec["shape"])


def dec(v):
    return {"nan": NAN, "inf": INF, "-inf": -INF}.get(v, v) if isinstance(v, str) else v


def pattern_runs(pattern, start, stride, n):
    """Runs that write `pattern` over a row of n elements at start, start + stride, ..."""
    at = lambda j, v: [start + j * stride, 1, 1, enc(v)]
    whole = lambda v: [start, n, stride, enc(v)]
    return {
        "plain": [],
        "all-inf": [whole(-INF)],
        "all+inf": [whole(INF)],
        "all-0": [whole(-0.0)],
        "all+0": [whole(0.0)],
        "mixed0": [whole(0.0), [start, (n + 1) // 2, 2 * stride, -0.0]],
        "nan@first": [at(0, NAN)],
        "nan@3": [at(3, NAN)],
        "nan@mid": [at(n // 2, NAN)],
        "nan@rem": [at(n - 2, NAN)],
        "nan@last": [at(n - 1, NAN)],
        "nan+inf": [at(1, INF), at(n - 3, NAN)],
        "-inf+inf": [at(1, -INF), at(n - 3, INF)],
        "+inf@5": [at(5, INF)],
        "-inf@rem": [at(n - 2, -INF)],
        "-inf-but-one": [whole(-INF), at(n - 4, 2.5)],
    }[pattern]


PATTERNS = ["plain", "all-inf", "all+inf", "all-0", "all+0", "mixed0", "nan@first", "nan@3", "nan@mid",
            "nan@rem", "nan@last", "nan+inf", "-inf+inf", "+inf@5", "-inf@rem", "-inf-but-one"]


def spec_rows(rows, n, along, dtype, base="wave"):
    """One pattern per row; along=1: [rows, n] reduced over axis 1, along=0: [n, rows] over axis 0."""
    R = len(rows)
    runs = []
    for r, p in enumerate(rows):
        runs += pattern_runs(p, r * n, 1, n) if along == 1 else pattern_runs(p, r, R, n)
    shape = [R, n] if along == 1 else [n, R]
    return {"shape": shape, "dtype": dtype, "base": base, "runs": runs, "rows": rows}


# ---- references (float64, along one axis, keepdim) ----

def first_index(x, axis, extreme):
    nan = np.isnan(x)
    ext = np.where(nan, -INF, x)
    idx = np.argmax(ext, axis=axis) if extreme == "max" else np.argmin(np.where(nan, INF, x), axis=axis)
    has_nan = nan.any(axis=axis)
    return np.where(has_nan, np.argmax(nan, axis=axis), idx)


def logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    with np.errstate(all="ignore"):
        return np.squeeze(np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m, axis=axis)


def softmax(x, axis):
    with np.errstate(all="ignore"):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis):
    with np.errstate(all="ignore"):
        s = x - np.max(x, axis=axis, keepdims=True)
        return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


REFS = {
    "sum": lambda x, a: np.sum(x, axis=a),
    "max": lambda x, a: np.max(x, axis=a),
    "min": lambda x, a: np.min(x, axis=a),
    "mean": lambda x, a: np.mean(x, axis=a),
    "prod": lambda x, a: np.prod(x, axis=a),
    "argmax": lambda x, a: first_index(x, a, "max"),
    "argmin": lambda x, a: first_index(x, a, "min"),
    "logsumexp": logsumexp,
    "softmax": softmax,
    "logSoftmax": log_softmax,
    "cumsum": lambda x, a: np.cumsum(x, axis=a),
}
TORCH = {
    "sum": lambda t, a: t.sum(a), "max": lambda t, a: t.amax(a), "min": lambda t, a: t.amin(a),
    "mean": lambda t, a: t.mean(a), "prod": lambda t, a: t.prod(a), "argmax": lambda t, a: t.argmax(a),
    "argmin": lambda t, a: t.argmin(a), "logsumexp": lambda t, a: t.logsumexp(a),
    "softmax": lambda t, a: t.softmax(a), "logSoftmax": lambda t, a: t.log_softmax(a),
    "cumsum": lambda t, a: t.cumsum(a),
}


CASES = []


def add(name, op, spec, axis):
    x = build_input(spec)
    with np.errstate(all="ignore"):
        ref = np.asarray(REFS[op](x, axis))
    try:
        import torch  # optional cross-check of the numpy definitions
        with np.errstate(all="ignore"):
            t = TORCH[op](torch.tensor(x), axis).numpy()
        assert np.allclose(t, ref, rtol=1e-12, atol=0, equal_nan=True), f"{name}: torch disagrees"
    except ImportError:
        pass
    is_int = op in ("argmax", "argmin")
    out_dtype = "int32" if is_int else spec["dtype"]
    CASES.append({
        "name": name,
        "op": op,
        "axis": axis,
        "input": spec,
        "out": {"shape": list(ref.shape), "dtype": out_dtype, "data": [enc(v) for v in ref.reshape(-1)]},
    })


def build():
    row_ops = ["sum", "max", "min", "mean", "argmax", "argmin", "logsumexp", "softmax", "logSoftmax", "cumsum"]
    for dtype in ("float32", "float16"):
        for along in (1, 0):
            spec = spec_rows(PATTERNS, 37, along, dtype)
            for op in row_ops:
                add(f"{op}/rows37/axis{along}/{dtype}", op, spec, along)
            add(f"prod/rows37/axis{along}/{dtype}", "prod", spec_rows(PATTERNS, 37, along, dtype, "sign"), along)
    # simd reductions over 1000, and threaded kernels (32 rows of 1024)
    for op in ["sum", "max", "min", "mean", "argmax", "argmin", "logsumexp"]:
        add(f"{op}/rows1000/axis1/float32", op, spec_rows(PATTERNS, 1000, 1, "float32"), 1)
        add(f"{op}/rows1024x32/axis1/float32", op, spec_rows(PATTERNS * 2, 1024, 1, "float32"), 1)
        add(f"{op}/cols1000/axis0/float32", op, spec_rows(PATTERNS, 1000, 0, "float32"), 0)
    add("prod/rows1000/axis1/float32", "prod", spec_rows(PATTERNS, 1000, 1, "float32", "sign"), 1)
    add("softmax/rows1000/axis1/float32", "softmax", spec_rows(["plain", "all-inf", "nan@3", "+inf@5", "-inf-but-one"], 1000, 1, "float32"), 1)
    add("cumsum/rows100/axis1/float32", "cumsum", spec_rows(PATTERNS, 100, 1, "float32"), 1)


def attention_case():
    """A fully masked query row: softmax over all -inf is NaN (PyTorch's math path), other rows are
    ordinary. The mask is given as booleans and as an additive -inf mask."""
    rng = np.random.default_rng(17)
    q, k, v = (np.round(rng.standard_normal(s) * 4) / 4 for s in ((2, 4, 8), (2, 5, 8), (2, 5, 8)))
    mask = rng.random((4, 5)) < 0.6
    mask[:, 0] = True
    mask[2, :] = False  # query 2 sees no key
    with np.errstate(all="ignore"):
        s = q @ np.swapaxes(k, -1, -2) / math.sqrt(8)
        s = np.where(mask, s, -INF)
        out = softmax(s, -1) @ v
    arr = lambda a, dt="float32": {"shape": list(a.shape), "dtype": dt, "data": [enc(x) for x in a.reshape(-1)]}
    CASES.append({"name": "scaledDotProductAttention/fully_masked_row", "op": "sdpa",
                  "q": arr(q), "k": arr(k), "v": arr(v), "mask": arr(mask.astype(np.float64), "bool"),
                  "out": arr(out)})


def main():
    build()
    attention_case()
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/gen_special_reductions.py", "patterns": PATTERNS, "cases": CASES}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT) // 1024} KiB)")


if __name__ == "__main__":
    main()
