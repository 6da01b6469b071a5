#!/usr/bin/env python3
"""Gradients at ties, from PyTorch, into test/fixtures/grad_ties.json (read by test/ops/grad_ties.test.ts).

A tie is a point where two inputs of an op (maximum, minimum, clamp with tensor bounds) or several
elements of a reduction (amax/amin) hold the same value: PyTorch splits the gradient evenly among
them. Inputs are small integers so ties are everywhere, at lengths that exercise vector loops with
remainders (37), OpenMP simd reductions and threaded kernels (48 x 700). Each case backpropagates a
small-integer upstream (loss = sum(out * upstream)) in float64, so expected values are exact.
argmax/argmin ties (forward only) take the first index, as numpy and PyTorch do.

maxPool2d: PyTorch routes a tied window's gradient to one element (its first maximum); tsgrad's
maxPool2d is a max reduction over each window and splits it evenly (as tinygrad does). The
reference here is that documented rule, computed by PyTorch as amax over unfolded windows.

Run from the repository root:  /usr/bin/python3 scripts/gen_grad_ties.py   (needs torch and numpy)
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from fixture_values import enc as enc_value

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "grad_ties.json")
rng = np.random.default_rng(15)
NEG_INF = float("-inf")


def enc(v):
    return enc_value(v, short_int=True)  # short: most values are small integers


def arr(a, dtype):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "dtype": dtype, "data": [enc(v) for v in a.reshape(-1)]}


def ints(shape, lo, hi):
    return rng.integers(lo, hi, size=shape).astype(np.float64)


CASES = []


def case(name, op, fn, inputs, dtype="float32", params=None, up_scale=None):
    """fn(*tensors) -> output; every input gets a gradient. up_scale(out) multiplies the upstream
    (large cases: the tie count, so the split gradients stay short integers in the file)."""
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = fn(*ts)
    up = ints(tuple(out.shape), -3, 4)
    if up_scale is not None:
        up = up * up_scale(out.detach().numpy())
    (out * torch.tensor(up)).sum().backward()
    CASES.append({
        "name": name,
        "op": op,
        "params": params or {},
        "inputs": [arr(x, dtype) for x in inputs],
        "upstream": arr(up, dtype),
        "out": arr(out.detach().numpy(), dtype),
        "grads": [arr(t.grad.numpy(), dtype) for t in ts],
    })


def arg_case(name, op, x, axis, keepdim=False):
    t = torch.tensor(x, dtype=torch.float64)
    f = torch.argmax if op == "argmax" else torch.argmin
    out = f(t) if axis is None else f(t, dim=axis, keepdim=keepdim)
    npf = np.argmax if op == "argmax" else np.argmin
    ref = npf(x) if axis is None else npf(x, axis=axis, keepdims=keepdim)
    assert np.array_equal(out.numpy(), ref), f"{name}: numpy and torch disagree"
    CASES.append({
        "name": name,
        "op": op,
        "params": {"axis": axis, "keepdim": keepdim},
        "inputs": [arr(x, "float32")],
        "out": arr(out.numpy(), "int32"),
    })


def tie_rows(n):
    """Rows of length n with ties placed where kernels split work: first/last, the remainder of a
    16-lane loop, a 3-way tie, every element equal, -inf everywhere, -inf but one, and no tie."""
    rows = []
    r = ints(n, 0, 5); r[0] = r[-1] = 9; rows.append(r)
    r = ints(n, 0, 5); r[n - 3] = r[n - 1] = 9; rows.append(r)
    r = ints(n, 0, 5); r[2] = r[17] = r[n - 2] = 9; rows.append(r)
    rows.append(np.full(n, 4.0))
    rows.append(np.full(n, NEG_INF))
    r = np.full(n, NEG_INF); r[n - 1] = -7; rows.append(r)
    rows.append(rng.permutation(n).astype(np.float64))
    return np.stack(rows)


def build():
    amax = lambda ax, kd=False: (lambda x: torch.amax(x, dim=ax, keepdim=kd))
    amin = lambda ax, kd=False: (lambda x: torch.amin(x, dim=ax, keepdim=kd))

    # ---- elementwise maximum/minimum: ties split 0.5/0.5, broadcast operands sum their halves
    for dt in ("float32", "float64", "float16"):
        case(f"maximum/ties_37/{dt}", "maximum", torch.maximum, [ints(37, 0, 3), ints(37, 0, 3)], dt)
    case("minimum/ties_37", "minimum", torch.minimum, [ints(37, 0, 3), ints(37, 0, 3)])
    case("maximum/broadcast_row", "maximum", torch.maximum, [ints((6, 37), 0, 3), ints(37, 0, 3)])
    case("minimum/broadcast_col", "minimum", torch.minimum, [ints((37, 5), 0, 3), ints((37, 1), 0, 3)])
    case("maximum/one_element_operand", "maximum", torch.maximum, [ints(40, 0, 3), np.array([1.0])])
    case("maximum/self", "maximumSelf", lambda x: torch.maximum(x, x), [ints(37, 0, 3)])
    case("minimum/self", "minimumSelf", lambda x: torch.minimum(x, x), [ints(37, 0, 3)])
    case("maximum/inf_ties", "maximum", torch.maximum,
         [np.array([NEG_INF, np.inf, NEG_INF, 1.0, -0.0]), np.array([NEG_INF, np.inf, 2.0, 1.0, 0.0])])

    # ---- clamp with tensor bounds: x at a bound keeps its gradient, the bound gets none; a bound
    # above the other follows PyTorch (max wins)
    # (x below lo == hi is left out: PyTorch's strict conditions give no input a gradient there)
    x = ints(37, 0, 6)
    lo = ints(37, 0, 3)
    hi = lo + ints(37, 0, 4)
    hi = np.where((hi == lo) & (x < lo), lo + 1, hi)
    x[[4, 20, 33]] = lo[[4, 20, 33]] = hi[[4, 20, 33]] = 2  # all three tied
    case("clamp/tensor_bounds_37", "clamp", lambda x, lo, hi: torch.clamp(x, lo, hi), [x, lo, hi])
    case("clamp/scalar_bounds_37", "clampScalar", lambda x: torch.clamp(x, 1.0, 3.0), [ints(37, 0, 5)],
         params={"min": 1, "max": 3})
    case("relu/zeros_37", "relu", torch.relu, [ints(37, -2, 3)])

    # ---- max/min reductions: each tied maximum gets upstream / (number of ties)
    for dt in ("float32", "float64", "float16"):
        case(f"max/axis1_rows/{dt}", "max", amax(1), [tie_rows(37)], dt, params={"axis": 1})
    case("max/axis0", "max", amax(0), [tie_rows(37).T.copy()], params={"axis": 0})
    case("max/axis1_keepdim", "max", amax(1, True), [tie_rows(21)], params={"axis": 1, "keepdim": True})
    case("max/full_1000", "max", lambda x: torch.amax(x), [ints(1000, 0, 6)], params={"axis": None})
    case("max/axes_0_2", "max", amax((0, 2), True), [ints((4, 5, 6), 0, 3)], params={"axis": [0, 2], "keepdim": True})
    big = ints((32, 1024), 0, 5)  # 32K iterations: a threaded kernel with a simd reduction per row
    big[3, :] = 2
    big[7, 1000:] = 9
    case("max/threaded_rows", "max", amax(1), [big], params={"axis": 1},
         up_scale=lambda out: (big == out[:, None]).sum(1))
    case("min/axis1_rows", "min", amin(1), [-tie_rows(37)], params={"axis": 1})
    case("min/axis0", "min", amin(0), [ints((37, 5), 0, 3)], params={"axis": 0})
    case("min/full_1000/float16", "min", lambda x: torch.amin(x), [ints(1000, 0, 6)], "float16", params={"axis": None})
    # prod: zeros tie for "the" zero: one zero gets the product of the others, two or more zeros
    # give every element 0 (PyTorch's rule); factors are +-1, +-2, 0.5 so products are exact
    def zero_rows(n):
        rows = []
        for zeros in ([], [0], [n - 1], [n - 3], [17], [0, n - 1], [3, 4, 30], list(range(n))):
            r = rng.choice([-1.0, 1.0, 2.0, -2.0, 0.5], size=n)
            r[[z for z in zeros if z < n]] = 0
            rows.append(r)
        return np.stack(rows)
    prod = lambda ax: (lambda x: torch.prod(x, dim=ax))
    case("prod/zero_rows_37", "prod", prod(1), [zero_rows(37)], params={"axis": 1})
    case("prod/zero_cols_37", "prod", prod(0), [zero_rows(37).T.copy()], params={"axis": 0})
    case("prod/full_with_one_zero", "prodAll", lambda x: torch.prod(x), [zero_rows(20)[1]])

    # a tied max feeding more math: the split gradient flows on through the product
    case("max/then_mul", "maxThenMul", lambda x, w: torch.amax(x, dim=1, keepdim=True) * w,
         [ints((5, 37), 0, 4), ints((5, 3), -2, 3)])

    # ---- maxPool2d, tsgrad's documented rule (even split), from amax over unfolded windows
    def pool_even(x, k, s):
        n, c, h, w = x.shape
        cols = F.unfold(x.reshape(n * c, 1, h, w), k, stride=s)  # (n*c, k*k, L)
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
        return torch.amax(cols, dim=1).reshape(n, c, oh, ow)
    case("maxPool2d/ties_k2", "maxPool2d", lambda x: pool_even(x, 2, 2), [ints((2, 3, 8, 8), 0, 3)],
         params={"kernel": 2, "stride": 2})
    case("maxPool2d/ties_k3_s1", "maxPool2d", lambda x: pool_even(x, 3, 1), [ints((1, 2, 7, 9), 0, 3)],
         params={"kernel": 3, "stride": 1})

    # ---- argmax/argmin ties: the first index
    rows = tie_rows(37)
    for op in ("argmax", "argmin"):
        x = rows if op == "argmax" else -rows
        arg_case(f"{op}/axis1_rows", op, x, 1)
        arg_case(f"{op}/axis0", op, x.T.copy(), 0)
        arg_case(f"{op}/keepdim", op, x, 1, True)
        arg_case(f"{op}/flat", op, ints((5, 37), 0, 3), None)
        arg_case(f"{op}/threaded_rows", op, big if op == "argmax" else -big, 1)


def main():
    build()
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/gen_grad_ties.py", "torch": torch.__version__, "cases": CASES}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT) // 1024} KiB)")


if __name__ == "__main__":
    main()
