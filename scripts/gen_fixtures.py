#!/usr/bin/env python3
"""Generate the reference fixtures for tsgrad's op tests (test/fixtures/ops/*.json).

Independent of tsgrad: every expected value comes from numpy/scipy (float64 math on the exact
values the tests feed in), and gradients of sum(out * upstream) come from central finite
differences in float64 on the same numpy reference function.

Run from the repository root:  python3 scripts/gen_fixtures.py
Requires numpy and scipy only. Output is deterministic (fixed seed).

Case format (one JSON file per category, {"cases": [...]}):
  name      unique test name
  kind      'method' (inputs[self].call(...args)), 'static' (Tensor.call(...args)),
            'getter' (inputs[self].call, a property such as T)
  call      method / static / property name
  self      index of the receiver tensor in inputs (method/getter)
  args      JSON arguments; {"$t": i} is inputs[i], {"$dtype": name} is dtypes[name],
            {"$undef": true} is undefined; arrays/objects are resolved recursively
  inputs    [{shape, dtype, data}], data flattened row-major; bool as 0/1
  grad      indices of inputs built with requiresGrad (only present for differentiable cases)
  out       {shape, dtype, data} or a list of them (split/chunk)
  upstream  same structure as out (float), present when grads are
  grads     per input: {shape, dtype, data} or null
  tol/gtol  optional {rtol, atol} overrides for forward / gradient comparison
  random    optional: only shape/dtype are compared (values are random)
Floats that are not finite are stored as the strings "nan", "inf", "-inf".
"""

import json
import math
import os

import numpy as np
from scipy import special

SEED = 1234
rng = np.random.default_rng(SEED)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "ops")

FLOATS = {"float16", "bfloat16", "float32", "float64"}
INTS = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
        "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32}


def T(i):
    return {"$t": i}


def DT(name):
    return {"$dtype": name}


UNDEF = {"$undef": True}


# ----------------------------------------------------------------------------- value helpers

def to_bf16(x):
    """float -> bfloat16 (round to nearest even), returned as float64."""
    f = np.asarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    u = ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def round_to(x, dtype):
    """The value x takes when stored in dtype (as float64 / int64 / bool)."""
    x = np.asarray(x)
    if dtype == "float32":
        return x.astype(np.float32).astype(np.float64)
    if dtype == "float64":
        return x.astype(np.float64)
    if dtype == "float16":
        return x.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return to_bf16(x)
    if dtype == "bool":
        return x.astype(bool)
    if dtype in INTS:
        if x.dtype.kind == "f":
            x = np.trunc(x)
            return x.astype(np.int64).astype(INTS[dtype]).astype(np.int64)
        return x.astype(np.int64).astype(INTS[dtype]).astype(np.int64)
    raise ValueError(dtype)


def fnum(v, digits):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if digits is None:
        return v
    r = float("%.*g" % (digits, v))
    return 0.0 if r == 0 else r


def enc(x, dtype, digits=8, stored=None):
    """Encode an array. stored: exact values to write (defaults to x rounded to `digits`)."""
    x = np.asarray(x)
    shape = list(x.shape)
    if dtype == "bool":
        data = [int(bool(v)) for v in x.ravel()]
    elif dtype in INTS:
        data = [int(v) for v in x.ravel()]
    else:
        src = x if stored is None else np.asarray(stored)
        if dtype in ("float16", "bfloat16"):
            digits = None  # exactly representable, write the full repr
        elif dtype == "float64" and digits is not None:
            digits = 17
        data = [fnum(v, digits) for v in src.ravel()]
    return {"shape": shape, "dtype": dtype, "data": data}


# random inputs: rounded to 3 decimals so JSON stays short; the float32 value is what we compute on
def rn(shape, scale=1.0):
    return np.round(rng.standard_normal(shape) * scale, 3)


def ru(shape, lo, hi):
    return np.round(rng.uniform(lo, hi, shape), 3)


def nz(shape, lo=0.05, hi=2.0):
    """|x| in [lo, hi] with random sign (away from kinks at 0)."""
    return np.round(rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape), 3)


def avoid(shape, lo, hi, kinks, margin=0.02):
    x = ru(shape, lo, hi)
    for _ in range(100):
        bad = np.zeros(x.shape, bool)
        for k in kinks:
            bad |= np.abs(x - k) < margin
        if not bad.any():
            return x
        x[bad] = ru(int(bad.sum()), lo, hi)
    raise RuntimeError("avoid")


def distinct(shape, lo=-3.0, hi=3.0, parity=None):
    """Distinct values with 3 decimals (no ties); parity 0/1 picks even/odd thousandths."""
    n = int(np.prod(shape)) if len(shape) else 1
    pool = np.arange(int(lo * 1000), int(hi * 1000))
    if parity is not None:
        pool = pool[pool % 2 == parity]
    v = rng.choice(pool, size=n, replace=False) / 1000.0
    return v.reshape(shape)


def ri(shape, lo, hi):
    return rng.integers(lo, hi, shape).astype(np.int64)


def rb(shape, p=0.5):
    return rng.random(shape) < p


def ties(shape, vals=(-1.0, -0.5, 0.0, 0.5, 1.0)):
    return rng.choice(np.array(vals), shape)


# ----------------------------------------------------------------------------- gradients

def sum_to(g, shape):
    shape = tuple(shape)
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g.reshape(shape)


def as_list(o):
    return list(o) if isinstance(o, (list, tuple)) else [o]


def total(out, ups):
    return sum(float(np.sum(np.asarray(o, np.float64) * u)) for o, u in zip(as_list(out), ups))


def fd_grad(ref, vals, i, ups, ew, h):
    x = vals[i].astype(np.float64)
    if ew:
        out_shape = np.asarray(as_list(ref(*vals))[0]).shape
        xb = np.broadcast_to(x, out_shape).copy()
        a = list(vals)
        a[i] = xb + h
        fp = np.asarray(as_list(ref(*a))[0], np.float64)
        a[i] = xb - h
        fm = np.asarray(as_list(ref(*a))[0], np.float64)
        return sum_to((fp - fm) / (2 * h) * ups[0], x.shape)
    g = np.zeros(x.size)
    flat = x.reshape(-1)
    for k in range(x.size):
        a = list(vals)
        xp = flat.copy()
        xp[k] += h
        a[i] = xp.reshape(x.shape)
        fp = total(ref(*a), ups)
        xp[k] -= 2 * h
        a[i] = xp.reshape(x.shape)
        fm = total(ref(*a), ups)
        g[k] = (fp - fm) / (2 * h)
    return g.reshape(x.shape)


# ----------------------------------------------------------------------------- case builder

CASES = {"elementwise": [], "reduce": [], "movement": [], "processing": [], "creation": []}
NAMES = set()


def case(cat, name, call, ins, args=(), ref=None, odt=None, kind="method", self_idx=0, grad=None,
         ew=False, tol=None, gtol=None, h=1e-5, random=False, out_shape=None):
    """ins: list of (values, dtype). ref(*vals) -> array or list of arrays (float64/int64/bool).

    grad: None -> all float inputs when the output is float; False -> none; list -> those inputs.
    ew: the op is elementwise (vectorized finite differences).
    """
    assert name not in NAMES, name
    NAMES.add(name)
    vals, inputs = [], []
    for x, dt in ins:
        x = np.asarray(x)
        v = round_to(x, dt)
        vals.append(v)
        stored = v if dt in ("float16", "bfloat16") else x
        inputs.append(enc(v, dt, digits=None, stored=stored))
    c = {"name": name, "kind": kind, "call": call}
    if kind != "static":
        c["self"] = self_idx
    c["args"] = list(args)
    c["inputs"] = inputs
    if random:
        c["random"] = True
        c["out"] = {"shape": list(out_shape), "dtype": odt, "data": []}
        CASES[cat].append(c)
        return c
    out = ref(*vals)
    multi = isinstance(out, (list, tuple))
    outs = as_list(out)
    if odt is None:
        odt = ins[self_idx][1] if ins else "float32"
    enc_outs = []
    rounded = []
    for o in outs:
        o = np.asarray(o)
        r = round_to(o, odt)
        rounded.append(r)
        enc_outs.append(enc(r, odt))
    c["out"] = enc_outs if multi else enc_outs[0]
    if tol:
        c["tol"] = tol
    if grad is None:
        grad = [i for i, (_, dt) in enumerate(ins) if dt in ("float32", "float64")] if odt in (
            "float32", "float64") else []
    if grad:
        ups = [round_to(rn(np.asarray(o).shape), odt) for o in outs]
        c["grad"] = grad
        ue = [enc(u, odt, digits=None, stored=np.round(u, 3) if odt == "float32" else u) for u in ups]
        c["upstream"] = ue if multi else ue[0]
        grads = []
        for i in range(len(ins)):
            if i in grad:
                g = fd_grad(ref, vals, i, ups, ew, h)
                grads.append(enc(g, ins[i][1]))
            else:
                grads.append(None)
        c["grads"] = grads
        if gtol:
            c["gtol"] = gtol
    CASES[cat].append(c)
    return c


F32 = "float32"
I32 = "int32"
LOOSE = {"rtol": 5e-4, "atol": 5e-5}


def f32(x):
    return (x, F32)


def i32(x):
    return (x, I32)


def bl(x):
    return (x, "bool")


# ============================================================================= elementwise
E = "elementwise"


def gelu(x):
    # PyTorch's default gelu (approximate='none'): the exact erf form
    return 0.5 * x * (1 + special.erf(x / np.sqrt(2)))


def softplus(x, beta=1.0):
    return np.logaddexp(0, beta * x) / beta


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = [
    # name, args, ref, input generator, differentiable, tolerance
    ("neg", [], lambda x: -x, lambda s: rn(s), True, None),
    ("exp", [], np.exp, lambda s: ru(s, -3, 3), True, None),
    ("exp2", [], np.exp2, lambda s: ru(s, -3, 3), True, None),
    ("log", [], np.log, lambda s: ru(s, 0.1, 5), True, None),
    ("log2", [], np.log2, lambda s: ru(s, 0.1, 5), True, None),
    ("sqrt", [], np.sqrt, lambda s: ru(s, 0.05, 5), True, None),
    ("rsqrt", [], lambda x: 1 / np.sqrt(x), lambda s: ru(s, 0.1, 5), True, None),
    ("reciprocal", [], lambda x: 1 / x, lambda s: nz(s, 0.5, 3), True, None),
    ("sin", [], np.sin, lambda s: ru(s, -6, 6), True, LOOSE),
    ("cos", [], np.cos, lambda s: ru(s, -6, 6), True, LOOSE),
    ("tan", [], np.tan, lambda s: ru(s, -1.2, 1.2), True, LOOSE),
    ("abs", [], np.abs, lambda s: nz(s), True, None),
    ("sign", [], np.sign, lambda s: ties(s, (-2.5, -1.0, 0.0, 0.5, 3.0)), False, None),
    ("square", [], np.square, lambda s: rn(s), True, None),
    ("floor", [], np.floor, lambda s: ties(s, (-2.5, -1.7, -0.5, -0.2, 0.0, 0.3, 0.5, 1.5, 2.7)), False, None),
    ("ceil", [], np.ceil, lambda s: ties(s, (-2.5, -1.7, -0.5, -0.2, 0.0, 0.3, 0.5, 1.5, 2.7)), False, None),
    ("round", [], np.round, lambda s: ties(s, (-2.5, -1.7, -1.5, -0.5, -0.2, 0.0, 0.5, 1.5, 2.5, 2.7)), False,
     None),
    ("trunc", [], np.trunc, lambda s: ties(s, (-2.5, -1.7, -0.5, -0.2, 0.0, 0.3, 0.5, 1.5, 2.7)), False, None),
    ("relu", [], lambda x: np.maximum(x, 0), lambda s: nz(s), True, None),
    ("sigmoid", [], sigmoid, lambda s: ru(s, -6, 6), True, None),
    ("tanh", [], np.tanh, lambda s: ru(s, -4, 4), True, LOOSE),
    ("gelu", [], gelu, lambda s: ru(s, -4, 4), True, LOOSE),
    ("silu", [], lambda x: x * sigmoid(x), lambda s: ru(s, -6, 6), True, None),
    ("leakyRelu", [], lambda x: np.where(x > 0, x, 0.01 * x), lambda s: nz(s), True, None),
    ("leakyRelu", [0.2], lambda x: np.where(x > 0, x, 0.2 * x), lambda s: nz(s), True, None),
    ("elu", [], lambda x: np.where(x > 0, x, np.expm1(x)), lambda s: nz(s, 0.05, 3), True, None),
    ("elu", [0.5], lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), lambda s: nz(s, 0.05, 3), True, None),
    ("softplus", [], softplus, lambda s: ru(s, -6, 6), True, LOOSE),
    ("softplus", [2], lambda x: softplus(x, 2.0), lambda s: ru(s, -4, 4), True, LOOSE),
    ("mish", [], lambda x: x * np.tanh(softplus(x)), lambda s: ru(s, -5, 5), True, LOOSE),
    ("hardswish", [], lambda x: x * np.clip(x + 3, 0, 6) / 6, lambda s: avoid(s, -5, 5, (-3, 3)), True, None),
    ("erf", [], special.erf, lambda s: ru(s, -2.5, 2.5), True, {"rtol": 1e-3, "atol": 2e-5}),
]

EXTRA_SHAPES = {"exp": [(65,), ()], "log": [(65,)], "sqrt": [(1,)], "sigmoid": [(65,)], "relu": [(65,), ()],
                "neg": [()], "tanh": [(1,)], "gelu": [(33,)]}

for name, args, ref, gen, diff, tol in UNARY:
    shapes = [(7, 33)] + EXTRA_SHAPES.get(name, []) if not args else [(33,)]
    for s in shapes:
        sname = "x".join(map(str, s)) if s else "scalar"
        suffix = ("_" + "_".join(map(str, args))) if args else ""
        case(E, f"{name}{suffix}/f32_{sname}", name, [f32(gen(s))], args=args,
             ref=(lambda r: lambda x: r(x))(ref), ew=True, grad=None if diff else False, tol=tol,
             gtol=tol)

# integer unary
case(E, "neg/i32_33", "neg", [i32(ri((33,), -100, 100))], ref=lambda x: -x)
case(E, "neg/i32_min_wraps", "neg", [i32(np.array([-2**31, 2**31 - 1, 0, -5]))], ref=lambda x: -x)
case(E, "abs/i32_33", "abs", [i32(ri((33,), -100, 100))], ref=np.abs)
case(E, "square/i32_7", "square", [i32(ri((7,), -50, 50))], ref=np.square)
case(E, "sign/i32_7", "sign", [i32(np.array([-5, -1, 0, 0, 1, 7, 100]))], ref=np.sign)
case(E, "logicalNot/bool_7x33", "logicalNot", [bl(rb((7, 33)))], ref=np.logical_not, odt="bool")
case(E, "bitwiseNot/i32_33", "bitwiseNot", [i32(ri((33,), -1000, 1000))], ref=np.invert)
case(E, "bitwiseNot/bool_7", "bitwiseNot", [bl(rb((7,)))], ref=np.logical_not, odt="bool")

# binary float ops over shape pairs
PAIRS = [((33,), (33,)), ((7, 1), (1, 33)), ((65,), (3, 65)), ((), (7,)), ((1,), (7,)), ((3, 1, 5), (7, 1))]


def pname(a, b):
    f = lambda s: "x".join(map(str, s)) if s else "scalar"  # noqa: E731
    return f"{f(a)}+{f(b)}"


BIN = [
    ("add", lambda a, b: a + b, lambda s: rn(s), lambda s: rn(s)),
    ("sub", lambda a, b: a - b, lambda s: rn(s), lambda s: rn(s)),
    ("mul", lambda a, b: a * b, lambda s: rn(s), lambda s: rn(s)),
    ("div", lambda a, b: a / b, lambda s: rn(s), lambda s: nz(s, 0.5, 3)),
    ("maximum", np.maximum, lambda s: distinct(s, parity=0), lambda s: distinct(s, parity=1)),
    ("minimum", np.minimum, lambda s: distinct(s, parity=0), lambda s: distinct(s, parity=1)),
    ("pow", np.power, lambda s: ru(s, 0.5, 2.5), lambda s: ru(s, -2, 2)),
]
for name, ref, ga, gb in BIN:
    for sa, sb in PAIRS:
        case(E, f"{name}/f32_{pname(sa, sb)}", name, [f32(ga(sa)), f32(gb(sb))], args=[T(1)], ref=ref, ew=True,
             tol=LOOSE if name == "pow" else None, gtol=LOOSE if name == "pow" else None)
# tensor op number
case(E, "add/f32_7x33+number", "add", [f32(rn((7, 33)))], args=[2.5], ref=lambda a: a + np.float32(2.5), ew=True)
case(E, "sub/f32_65+number", "sub", [f32(rn((65,)))], args=[-1.25], ref=lambda a: a + 1.25, ew=True)
case(E, "mul/f32_65+number", "mul", [f32(rn((65,)))], args=[3], ref=lambda a: a * 3, ew=True)
case(E, "div/f32_33+number", "div", [f32(rn((33,)))], args=[4], ref=lambda a: a / 4, ew=True)
case(E, "maximum/f32_65+number", "maximum", [f32(avoid((65,), -2, 2, (0.25,)))], args=[0.25],
     ref=lambda a: np.maximum(a, 0.25), ew=True)
case(E, "minimum/f32_65+number", "minimum", [f32(avoid((65,), -2, 2, (0.25,)))], args=[0.25],
     ref=lambda a: np.minimum(a, 0.25), ew=True)
case(E, "pow/f32_33^3_negative_base", "pow", [f32(rn((33,)))], args=[3], ref=lambda a: a ** 3, ew=True)
case(E, "pow/f32_33^2_negative_base", "pow", [f32(nz((33,)))], args=[2], ref=lambda a: a ** 2, ew=True)
case(E, "pow/f32_33^0.5", "pow", [f32(ru((33,), 0.1, 4))], args=[0.5], ref=np.sqrt, ew=True)
case(E, "pow/f32_33^-1.5", "pow", [f32(ru((33,), 0.5, 4))], args=[-1.5], ref=lambda a: a ** -1.5, ew=True,
     tol=LOOSE, gtol=LOOSE)
case(E, "pow/f32_7^0", "pow", [f32(rn((7,)))], args=[0], ref=lambda a: a ** 0.0, ew=True)
# float64
case(E, "add/f64_7x1+1x33", "add", [(rn((7, 1)), "float64"), (rn((1, 33)), "float64")], args=[T(1)],
     ref=lambda a, b: a + b, ew=True, tol={"rtol": 1e-12, "atol": 1e-12}, gtol={"rtol": 1e-8, "atol": 1e-8})
case(E, "mul/f64_33", "mul", [(rn((33,)), "float64"), (rn((33,)), "float64")], args=[T(1)],
     ref=lambda a, b: a * b, ew=True, tol={"rtol": 1e-12, "atol": 1e-12}, gtol={"rtol": 1e-8, "atol": 1e-8})
case(E, "exp/f64_33", "exp", [(ru((33,), -3, 3), "float64")], ref=np.exp, ew=True,
     tol={"rtol": 1e-12, "atol": 1e-12}, gtol={"rtol": 1e-7, "atol": 1e-8})
case(E, "sin/f64_33", "sin", [(ru((33,), -6, 6), "float64")], ref=np.sin, ew=True,
     tol={"rtol": 1e-12, "atol": 1e-12}, gtol={"rtol": 1e-7, "atol": 1e-8})

# integer arithmetic
for name, ref in [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
                  ("maximum", np.maximum), ("minimum", np.minimum)]:
    case(E, f"{name}/i32_7x1+1x33", name, [i32(ri((7, 1), -1000, 1000)), i32(ri((1, 33), -1000, 1000))],
         args=[T(1)], ref=ref)
case(E, "add/i32_65+number", "add", [i32(ri((65,), -100, 100))], args=[7], ref=lambda a: a + 7)
case(E, "mul/i32_65+number", "mul", [i32(ri((65,), -100, 100))], args=[-3], ref=lambda a: a * -3)
case(E, "add/i32_wraparound", "add", [i32(np.array([2**31 - 1, 2**31 - 1, -2**31, 5])),
                                      i32(np.array([1, 2**31 - 1, -1, -7]))], args=[T(1)], ref=lambda a, b: a + b)
case(E, "sub/i32_wraparound", "sub", [i32(np.array([-2**31, -2**31, 2**31 - 1, 0])),
                                      i32(np.array([1, 2**31 - 1, -1, 2**31 - 1]))], args=[T(1)],
     ref=lambda a, b: a - b)
case(E, "mul/i32_wraparound", "mul", [i32(np.array([100000, 65536, -65536, 46341, 2**30, 123456789])),
                                      i32(np.array([100000, 65536, 65537, 46341, 4, 100]))], args=[T(1)],
     ref=lambda a, b: a * b)
case(E, "div/i32_true_division", "div", [i32(ri((33,), -50, 50)), i32(np.where(ri((33,), 1, 9) % 2 == 0,
                                                                             ri((33,), 1, 9), -ri((33,), 1, 9)))],
     args=[T(1)], ref=lambda a, b: a / b, odt=F32)
case(E, "add/i32+float_number_promotes", "add", [i32(ri((7,), -10, 10))], args=[2.5], ref=lambda a: a + 2.5,
     odt=F32)
case(E, "mul/i32+float_number_promotes", "mul", [i32(ri((7,), -10, 10))], args=[0.5], ref=lambda a: a * 0.5,
     odt=F32)
case(E, "add/i32+f32_promotes", "add", [i32(ri((7, 1), -10, 10)), f32(rn((1, 5)))], args=[T(1)],
     ref=lambda a, b: a + b, odt=F32, grad=[1])
case(E, "add/bool+i32", "add", [bl(rb((7,))), i32(ri((7,), -10, 10))], args=[T(1)], ref=lambda a, b: a + b,
     odt=I32)
case(E, "add/i8+u8_promotes_i16", "add", [(ri((7,), -128, 128), "int8"), (ri((7,), 0, 256), "uint8")], args=[T(1)],
     ref=lambda a, b: a + b, odt="int16")
case(E, "add/u8_wraparound", "add", [(np.array([250, 255, 128, 3]), "uint8"), (np.array([10, 1, 128, 4]), "uint8")],
     args=[T(1)], ref=lambda a, b: a + b, odt="uint8")
case(E, "add/f16+f32_promotes", "add", [(rn((7,)), "float16"), f32(rn((7,)))], args=[T(1)],
     ref=lambda a, b: a + b, odt=F32, grad=False)
case(E, "add/f16+f16", "add", [(rn((33,)), "float16"), (rn((33,)), "float16")], args=[T(1)],
     ref=lambda a, b: a + b, odt="float16", tol={"rtol": 1e-3, "atol": 1e-3})
case(E, "mul/f16+number", "mul", [(rn((33,)), "float16")], args=[0.5], ref=lambda a: a * 0.5, odt="float16",
     tol={"rtol": 1e-3, "atol": 1e-3})
case(E, "pow/i32_squared", "pow", [i32(ri((33,), -20, 20))], args=[2], ref=lambda a: a ** 2)
case(E, "pow/i32_tensor_exponent", "pow", [i32(ri((33,), -6, 7)), i32(ri((33,), 0, 5))], args=[T(1)],
     ref=lambda a, b: a ** b)

# idiv / mod: floor semantics (Python)
neg_den = ri((7, 5), 1, 8) * rng.choice([-1, 1], (7, 5))
case(E, "idiv/i32_33_negatives", "idiv", [i32(ri((33,), -30, 30)), i32(ri((33,), 1, 8) * rng.choice([-1, 1], 33))],
     args=[T(1)], ref=lambda a, b: a // b)
case(E, "mod/i32_33_negatives", "mod", [i32(ri((33,), -30, 30)), i32(ri((33,), 1, 8) * rng.choice([-1, 1], 33))],
     args=[T(1)], ref=lambda a, b: a % b)
case(E, "idiv/i32_7x1+1x5", "idiv", [i32(ri((7, 1), -40, 40)), i32(np.array([[-7, -3, 2, 3, 5]]))], args=[T(1)],
     ref=lambda a, b: a // b)
case(E, "mod/i32_7x1+1x5", "mod", [i32(ri((7, 1), -40, 40)), i32(np.array([[-7, -3, 2, 3, 5]]))], args=[T(1)],
     ref=lambda a, b: a % b)
case(E, "idiv/i32_by_number_3", "idiv", [i32(np.arange(-7, 8))], args=[3], ref=lambda a: a // 3)
case(E, "idiv/i32_by_number_-3", "idiv", [i32(np.arange(-7, 8))], args=[-3], ref=lambda a: a // -3)
case(E, "mod/i32_by_number_4", "mod", [i32(np.arange(-9, 10))], args=[4], ref=lambda a: a % 4)
case(E, "mod/i32_by_number_-4", "mod", [i32(np.arange(-9, 10))], args=[-4], ref=lambda a: a % -4)
case(E, "mod/f32_33_negatives", "mod", [f32(ru((33,), -10, 10)), f32(nz((33,), 0.5, 3))], args=[T(1)],
     ref=np.mod, grad=False, tol={"rtol": 1e-4, "atol": 1e-4})

# comparisons (-> bool)
for name, ref in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                  ("eq", np.equal), ("ne", np.not_equal)]:
    case(E, f"{name}/f32_7x1+1x33", name, [f32(ties((7, 1))), f32(ties((1, 33)))], args=[T(1)], ref=ref,
         odt="bool")
    case(E, f"{name}/f32_65+number", name, [f32(ties((65,)))], args=[0.5], ref=lambda a, r=ref: r(a, 0.5),
         odt="bool")
    case(E, f"{name}/i32_33", name, [i32(ri((33,), -3, 3)), i32(ri((33,), -3, 3))], args=[T(1)], ref=ref,
         odt="bool")
case(E, "lt/i32+float_number", "lt", [i32(ri((7,), -3, 3))], args=[0.5], ref=lambda a: a < 0.5, odt="bool")
case(E, "eq/bool_7", "eq", [bl(rb((7,))), bl(rb((7,)))], args=[T(1)], ref=np.equal, odt="bool")

# bitwise
for name, ref in [("bitwiseAnd", np.bitwise_and), ("bitwiseOr", np.bitwise_or), ("bitwiseXor", np.bitwise_xor)]:
    case(E, f"{name}/i32_7x1+1x33", name, [i32(ri((7, 1), -1000, 1000)), i32(ri((1, 33), -1000, 1000))],
         args=[T(1)], ref=ref)
    case(E, f"{name}/bool_33", name, [bl(rb((33,))), bl(rb((33,)))], args=[T(1)], ref=ref, odt="bool")
    case(E, f"{name}/i32_number", name, [i32(ri((33,), -1000, 1000))], args=[0x55], ref=lambda a, r=ref: r(a, 0x55))
case(E, "lshift/i32_33", "lshift", [i32(ri((33,), 0, 1000))], args=[3], ref=lambda a: a << 3)
case(E, "lshift/i32_wraparound", "lshift", [i32(np.array([2**30, 1, 3 << 29, 12345]))], args=[1],
     ref=lambda a: a << 1)
case(E, "rshift/i32_33", "rshift", [i32(ri((33,), 0, 100000))], args=[2], ref=lambda a: a >> 2)
case(E, "rshift/i32_negative_arithmetic", "rshift", [i32(np.array([-1, -2, -7, -8, -1000, -2**31]))], args=[2],
     ref=lambda a: a >> 2)
case(E, "lshift/u8_wraparound", "lshift", [(np.array([1, 3, 128, 255, 64]), "uint8")], args=[2],
     ref=lambda a: a << 2, odt="uint8")

# where, lerp, clip
case(E, "where/f32_7x1_1x33_7x33", "where", [bl(rb((7, 1))), f32(rn((1, 33))), f32(rn((7, 33)))],
     args=[T(1), T(2)], ref=np.where, ew=True, odt=F32)
case(E, "where/f32_number_branch", "where", [bl(rb((65,))), f32(rn((65,)))], args=[T(1), -1.5],
     ref=lambda c, a: np.where(c, a, -1.5), ew=True, odt=F32)
case(E, "where/i32_branches", "where", [bl(rb((7, 33))), i32(ri((7, 33), -9, 9)), i32(ri((33,), -9, 9))],
     args=[T(1), T(2)], ref=np.where, odt=I32)
case(E, "lerp/f32_tensor_weight", "lerp", [f32(rn((33,))), f32(rn((33,))), f32(ru((33,), 0, 1))],
     args=[T(1), T(2)], ref=lambda a, b, w: a + (b - a) * w, ew=True)
case(E, "lerp/f32_number_weight_broadcast", "lerp", [f32(rn((7, 1))), f32(rn((1, 33)))], args=[T(1), 0.3],
     ref=lambda a, b: a + (b - a) * np.float64(np.float32(0.3)), ew=True)
case(E, "clip/f32_7x33", "clip", [f32(avoid((7, 33), -2, 2, (-0.5, 0.75)))], args=[-0.5, 0.75],
     ref=lambda a: np.clip(a, -0.5, 0.75), ew=True)
case(E, "clip/i32_33", "clip", [i32(ri((33,), -20, 20))], args=[-5, 7], ref=lambda a: np.clip(a, -5, 7))

# casts
CAST_F = np.array([-100.99, -2.7, -2.5, -1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 0.99, 1.5, 2.7, 100.99, 1234.5])
case(E, "cast/f32_to_i32_truncates", "cast", [f32(CAST_F)], args=[DT("int32")], ref=lambda a: a, odt="int32")
case(E, "cast/f32_to_i32_by_name", "cast", [f32(CAST_F)], args=["int32"], ref=lambda a: a, odt="int32")
case(E, "cast/f32_to_i8_truncates", "cast", [f32(np.array([-100.99, -2.7, -0.5, 0.5, 2.7, 126.9]))],
     args=[DT("int8")], ref=lambda a: a, odt="int8")
case(E, "cast/f32_to_u8_truncates", "cast", [f32(np.array([0.0, 0.5, 2.7, 100.99, 254.9]))], args=[DT("uint8")],
     ref=lambda a: a, odt="uint8")
case(E, "cast/f32_to_bool", "cast", [f32(np.array([0.0, -0.0, 0.5, -2.0, 1e-3]))], args=[DT("bool")],
     ref=lambda a: a != 0, odt="bool")
case(E, "cast/f32_to_f16_rounds", "cast", [f32(rn((33,), 10))], args=[DT("float16")], ref=lambda a: a,
     odt="float16", tol={"rtol": 0, "atol": 0})
case(E, "cast/f32_to_bf16_rounds", "cast", [f32(rn((33,), 10))], args=[DT("bfloat16")], ref=lambda a: a,
     odt="bfloat16", tol={"rtol": 0, "atol": 0})
case(E, "cast/f32_to_f64", "cast", [f32(rn((7,)))], args=[DT("float64")], ref=lambda a: a, odt="float64",
     tol={"rtol": 0, "atol": 0})
case(E, "cast/i32_to_f32", "cast", [i32(ri((33,), -10**6, 10**6))], args=[DT("float32")], ref=lambda a: a, odt=F32)
case(E, "cast/i32_to_f16_rounds", "cast", [i32(np.array([2049, 2051, -4097, 1, 70, 65504]))],
     args=[DT("float16")], ref=lambda a: a, odt="float16", tol={"rtol": 0, "atol": 0})
case(E, "cast/i32_to_i8_wraps", "cast", [i32(np.array([300, -129, 127, 128, -1, 1000]))], args=[DT("int8")],
     ref=lambda a: a, odt="int8")
case(E, "cast/i32_to_u8_wraps", "cast", [i32(np.array([300, -1, 255, 256, -256, 7]))], args=[DT("uint8")],
     ref=lambda a: a, odt="uint8")
case(E, "cast/i32_to_i64", "cast", [i32(ri((7,), -10**6, 10**6))], args=[DT("int64")], ref=lambda a: a,
     odt="int64")
case(E, "cast/i32_to_bool", "cast", [i32(np.array([0, 1, -1, 7, 0]))], args=[DT("bool")], ref=lambda a: a != 0,
     odt="bool")
case(E, "cast/bool_to_f32", "cast", [bl(rb((7,)))], args=[DT("float32")], ref=lambda a: a.astype(np.float64),
     odt=F32)
case(E, "cast/u8_to_i32", "cast", [(np.array([0, 1, 200, 255]), "uint8")], args=[DT("int32")], ref=lambda a: a,
     odt=I32)
case(E, "float/i32", "float", [i32(ri((7,), -10, 10))], ref=lambda a: a, odt=F32)
case(E, "int/f32", "int", [f32(CAST_F)], ref=lambda a: a, odt=I32)
case(E, "half/f32", "half", [f32(rn((7,)))], ref=lambda a: a, odt="float16", tol={"rtol": 0, "atol": 0})
case(E, "bool/i32", "bool", [i32(np.array([0, 2, -3, 0]))], ref=lambda a: a != 0, odt="bool")
case(E, "cast/f32_to_f32_grad", "cast", [f32(rn((7,)))], args=[DT("float32")], ref=lambda a: a, ew=True)
case(E, "cast/f32_to_f64_grad", "cast", [f32(rn((7,)))], args=[DT("float64")], ref=lambda a: a, odt="float64",
     ew=True, grad=[0], tol={"rtol": 0, "atol": 0})

# ============================================================================= reduce
R = "reduce"




X2 = (7, 33)
X3 = (3, 7, 5)

REDUCE_AXES = [  # suffix, shape, args, np axis, keepdim
    ("all", X2, [], None, False),
    ("axis0", X2, [0], 0, False),
    ("axis1", X2, [1], 1, False),
    ("axis-1_keepdim", X2, [-1, {"keepdim": True}], -1, True),
    ("3d_axes0,2", X3, [[0, 2]], (0, 2), False),
    ("3d_axis1_keepdim", X3, [1, {"keepdim": True}], 1, True),
    ("all_keepdim", X3, [UNDEF, {"keepdim": True}], None, True),
    ("65", (65,), [0], 0, False),
    ("1", (1,), [], None, False),
]
for name, npf, gen, tol in [
    ("sum", np.sum, lambda s: rn(s), None),
    ("mean", np.mean, lambda s: rn(s), None),
    ("max", np.max, lambda s: distinct(s), None),
    ("min", np.min, lambda s: distinct(s), None),
    ("prod", np.prod, lambda s: ru(s, 0.8, 1.25) * rng.choice([-1, 1], s), LOOSE),
    ("logsumexp", special.logsumexp, lambda s: rn(s, 2), None),
]:
    for suffix, shape, args, ax, kd in REDUCE_AXES:
        if name == "logsumexp" and suffix == "1":
            continue
        case(R, f"{name}/f32_{'x'.join(map(str, shape))}_{suffix}", name, [f32(gen(shape))], args=args,
             ref=(lambda f, ax, kd: lambda x: f(x, axis=ax, keepdims=kd))(npf, ax, kd), tol=tol, gtol=tol)
for name, npf in [("var", np.var), ("std", np.std)]:
    for suffix, shape, args, ax, kd in REDUCE_AXES[:7]:
        case(R, f"{name}/f32_{'x'.join(map(str, shape))}_{suffix}", name, [f32(rn(shape))], args=args,
             ref=(lambda f, ax, kd: lambda x: f(x, axis=ax, keepdims=kd, ddof=1))(npf, ax, kd))
    case(R, f"{name}/f32_7x33_axis1_correction0", name, [f32(rn(X2))], args=[1, {"correction": 0}],
         ref=(lambda f: lambda x: f(x, axis=1, ddof=0))(npf))
    case(R, f"{name}/f32_7x33_all_correction0_keepdim", name, [f32(rn(X2))],
         args=[UNDEF, {"correction": 0, "keepdim": True}], ref=(lambda f: lambda x: f(x, ddof=0, keepdims=True))(npf))
# integer / bool reductions
case(R, "sum/i32_7x33_axis1", "sum", [i32(ri(X2, -100, 100))], args=[1], ref=lambda x: x.sum(1))
case(R, "sum/i32_all", "sum", [i32(ri((65,), -100, 100))], ref=lambda x: x.sum())
case(R, "sum/bool_to_i32", "sum", [bl(rb(X2))], args=[1], ref=lambda x: x.sum(1), odt=I32)
case(R, "mean/i32_to_f32", "mean", [i32(ri(X2, -100, 100))], args=[1], ref=lambda x: x.mean(1), odt=F32)
case(R, "max/i32_axis0", "max", [i32(ri(X2, -1000, 1000))], args=[0], ref=lambda x: x.max(0))
case(R, "min/i32_all", "min", [i32(ri(X2, -1000, 1000))], ref=lambda x: x.min())
case(R, "prod/i32_axis1", "prod", [i32(ri((4, 5), -4, 5))], args=[1], ref=lambda x: x.prod(1))
for name, npf in [("argmax", np.argmax), ("argmin", np.argmin)]:
    for suffix, shape, args, ax, kd in [("all", X2, [], None, False), ("axis0", X2, [0], 0, False),
                                        ("axis1", X2, [1], 1, False), ("axis-1_keepdim", X3, [-1, {"keepdim": True}], -1, True),
                                        ("65", (65,), [], None, False)]:
        case(R, f"{name}/f32_ties_{'x'.join(map(str, shape))}_{suffix}", name, [f32(ties(shape, (-2.0, -1.0, 0.0, 1.0, 2.0)))],
             args=args, ref=(lambda f, ax, kd: lambda x: f(x, axis=ax, keepdims=kd))(npf, ax, kd), odt=I32)
    case(R, f"{name}/i32_axis1", name, [i32(ri(X2, -5, 5))], args=[1], ref=(lambda f: lambda x: f(x, axis=1))(npf),
         odt=I32)
for name, npf in [("any", np.any), ("all", np.all)]:
    p = 0.1 if name == "any" else 0.9
    case(R, f"{name}/bool_all", name, [bl(rb(X2, p))], ref=(lambda f: lambda x: f(x))(npf), odt="bool")
    case(R, f"{name}/bool_axis1", name, [bl(rb(X2, p))], args=[1], ref=(lambda f: lambda x: f(x, axis=1))(npf),
         odt="bool")
    case(R, f"{name}/bool_axis0_keepdim", name, [bl(rb((7, 3), p))], args=[0, {"keepdim": True}],
         ref=(lambda f: lambda x: f(x, axis=0, keepdims=True))(npf), odt="bool")
    case(R, f"{name}/i32_axis1", name, [i32(ri((7, 3), 0, 2) * ri((7, 3), 0, 2))], args=[1],
         ref=(lambda f: lambda x: f(x, axis=1))(npf), odt="bool")
    case(R, f"{name}/f32_axis1", name, [f32(ties((7, 4), (0.0, 0.0, 1.5, -2.0)))], args=[1],
         ref=(lambda f: lambda x: f(x, axis=1))(npf), odt="bool")
for name, f in [("softmax", special.softmax), ("logSoftmax", special.log_softmax)]:
    case(R, f"{name}/f32_7x33_default", name, [f32(rn(X2, 2))], ref=(lambda f: lambda x: f(x, axis=-1))(f))
    case(R, f"{name}/f32_7x33_axis0", name, [f32(rn(X2, 2))], args=[0], ref=(lambda f: lambda x: f(x, axis=0))(f))
    case(R, f"{name}/f32_3x7x5_axis1", name, [f32(rn(X3, 2))], args=[1], ref=(lambda f: lambda x: f(x, axis=1))(f))
    case(R, f"{name}/f32_65", name, [f32(rn((65,), 3))], ref=(lambda f: lambda x: f(x, axis=-1))(f))
    case(R, f"{name}/f32_large_values_stable", name, [f32(rn((7, 5), 1) + 500)],
         ref=(lambda f: lambda x: f(x, axis=-1))(f))
case(R, "logsumexp/f32_large_values_stable", "logsumexp", [f32(rn((7, 5)) + 300)], args=[1],
     ref=lambda x: special.logsumexp(x, axis=1))
case(R, "cumsum/f32_65_default", "cumsum", [f32(rn((65,)))], ref=lambda x: np.cumsum(x, 0))
case(R, "cumsum/f32_7x33_default_axis0", "cumsum", [f32(rn(X2))], ref=lambda x: np.cumsum(x, 0))
case(R, "cumsum/f32_7x33_axis1", "cumsum", [f32(rn(X2))], args=[1], ref=lambda x: np.cumsum(x, 1))
case(R, "cumsum/f32_3x7x5_axis-1", "cumsum", [f32(rn(X3))], args=[-1], ref=lambda x: np.cumsum(x, -1))
case(R, "cumsum/f32_1", "cumsum", [f32(rn((1,)))], ref=lambda x: np.cumsum(x, 0))
case(R, "cumsum/i32_33", "cumsum", [i32(ri((33,), -50, 50))], ref=lambda x: np.cumsum(x, 0))

# ============================================================================= movement
M = "movement"
A = rn((7, 33))
case(M, "reshape/7x33_to_33x7", "reshape", [f32(A)], args=[[33, 7]], ref=lambda x: x.reshape(33, 7))
case(M, "reshape/minus1", "reshape", [f32(rn((3, 7, 5)))], args=[[-1, 5]], ref=lambda x: x.reshape(-1, 5))
case(M, "reshape/to_scalar", "reshape", [f32(rn((1, 1)))], args=[[]], ref=lambda x: x.reshape(()))
case(M, "reshape/from_scalar", "reshape", [f32(rn(()))], args=[[1, 1, 1]], ref=lambda x: x.reshape(1, 1, 1))
case(M, "reshape/i32", "reshape", [i32(ri((6,), -9, 9))], args=[[2, 3]], ref=lambda x: x.reshape(2, 3))
case(M, "permute/3d", "permute", [f32(rn((3, 7, 5)))], args=[[2, 0, 1]], ref=lambda x: x.transpose(2, 0, 1))
case(M, "permute/negative", "permute", [f32(rn((3, 7, 5)))], args=[[-1, -3, -2]], ref=lambda x: x.transpose(2, 0, 1))
case(M, "permute/4d", "permute", [f32(rn((2, 3, 1, 5)))], args=[[3, 1, 0, 2]], ref=lambda x: x.transpose(3, 1, 0, 2))
case(M, "expand/7x1_to_7x33", "expand", [f32(rn((7, 1)))], args=[[7, 33]], ref=lambda x: np.broadcast_to(x, (7, 33)))
case(M, "expand/new_leading_dims", "expand", [f32(rn((3,)))], args=[[2, 4, 3]],
     ref=lambda x: np.broadcast_to(x, (2, 4, 3)))
case(M, "expand/minus1_keeps", "expand", [f32(rn((1, 5)))], args=[[3, -1]], ref=lambda x: np.broadcast_to(x, (3, 5)))
case(M, "expand/i32", "expand", [i32(ri((1, 3), -5, 5))], args=[[4, 3]], ref=lambda x: np.broadcast_to(x, (4, 3)))
case(M, "pad/2d_zero", "pad", [f32(rn((7, 5)))], args=[[[1, 2], [0, 3]]], ref=lambda x: np.pad(x, ((1, 2), (0, 3))))
case(M, "pad/3d_value", "pad", [f32(rn((2, 3, 4)))], args=[[[0, 0], [2, 1], [1, 1]], {"value": 2.5}],
     ref=lambda x: np.pad(x, ((0, 0), (2, 1), (1, 1)), constant_values=2.5))
case(M, "pad/1d_65", "pad", [f32(rn((65,)))], args=[[[3, 0]]], ref=lambda x: np.pad(x, ((3, 0),)))
case(M, "pad/i32_value", "pad", [i32(ri((3, 3), -5, 5))], args=[[[1, 1], [1, 1]], {"value": -7}],
     ref=lambda x: np.pad(x, 1, constant_values=-7))
case(M, "shrink/2d", "shrink", [f32(A)], args=[[[1, 5], [3, 30]]], ref=lambda x: x[1:5, 3:30])
case(M, "shrink/with_null", "shrink", [f32(rn((3, 7, 5)))], args=[[None, [2, 3], [0, 4]]],
     ref=lambda x: x[:, 2:3, 0:4])
case(M, "flip/axis0", "flip", [f32(A)], args=[0], ref=lambda x: np.flip(x, 0))
case(M, "flip/axes", "flip", [f32(rn((3, 7, 5)))], args=[[0, 2]], ref=lambda x: np.flip(x, (0, 2)))
case(M, "flip/negative_axis", "flip", [f32(rn((3, 7, 5)))], args=[-1], ref=lambda x: np.flip(x, -1))
case(M, "flip/i32", "flip", [i32(ri((7,), -5, 5))], args=[0], ref=lambda x: x[::-1])
case(M, "transpose/default", "transpose", [f32(A)], ref=lambda x: x.T)
case(M, "transpose/3d_0_2", "transpose", [f32(rn((3, 7, 5)))], args=[0, 2], ref=lambda x: np.swapaxes(x, 0, 2))
case(M, "transpose/3d_-1_-2", "transpose", [f32(rn((3, 7, 5)))], args=[-1, -2], ref=lambda x: np.swapaxes(x, -1, -2))
case(M, "T/2d", "T", [f32(A)], kind="getter", ref=lambda x: x.T)
case(M, "flatten/default", "flatten", [f32(rn((3, 7, 5)))], ref=lambda x: x.reshape(-1))
case(M, "flatten/1_2", "flatten", [f32(rn((2, 3, 4, 5)))], args=[1, 2], ref=lambda x: x.reshape(2, 12, 5))
case(M, "flatten/start1", "flatten", [f32(rn((2, 3, 4)))], args=[1], ref=lambda x: x.reshape(2, 12))
case(M, "unflatten/dim1", "unflatten", [f32(rn((2, 12, 5)))], args=[1, [3, 4]], ref=lambda x: x.reshape(2, 3, 4, 5))
case(M, "unflatten/neg_dim", "unflatten", [f32(rn((2, 12)))], args=[-1, [2, -1]], ref=lambda x: x.reshape(2, 2, 6))
case(M, "squeeze/all", "squeeze", [f32(rn((1, 7, 1, 5)))], ref=lambda x: x.squeeze())
case(M, "squeeze/dim", "squeeze", [f32(rn((1, 7, 1, 5)))], args=[2], ref=lambda x: x.squeeze(2))
case(M, "squeeze/dim_not_one_noop", "squeeze", [f32(rn((1, 7, 1, 5)))], args=[1], ref=lambda x: x)
case(M, "unsqueeze/0", "unsqueeze", [f32(A)], args=[0], ref=lambda x: x[None])
case(M, "unsqueeze/-1", "unsqueeze", [f32(A)], args=[-1], ref=lambda x: x[..., None])
case(M, "unsqueeze/1", "unsqueeze", [f32(rn((65,)))], args=[1], ref=lambda x: x[:, None])
case(M, "cat/dim0", "cat", [f32(rn((2, 5))), f32(rn((7, 5))), f32(rn((1, 5)))], args=[[T(0), T(1), T(2)], 0],
     kind="static", ref=lambda a, b, c: np.concatenate([a, b, c], 0), odt=F32)
case(M, "cat/default_dim", "cat", [f32(rn((2, 5))), f32(rn((3, 5)))], args=[[T(0), T(1)]], kind="static",
     ref=lambda a, b: np.concatenate([a, b], 0), odt=F32)
case(M, "cat/dim1", "cat", [f32(rn((7, 33))), f32(rn((7, 1)))], args=[[T(0), T(1)], 1], kind="static",
     ref=lambda a, b: np.concatenate([a, b], 1), odt=F32)
case(M, "cat/dim-1_3d", "cat", [f32(rn((2, 3, 4))), f32(rn((2, 3, 2)))], args=[[T(0), T(1)], -1], kind="static",
     ref=lambda a, b: np.concatenate([a, b], -1), odt=F32)
case(M, "cat/i32", "cat", [i32(ri((3,), -5, 5)), i32(ri((4,), -5, 5))], args=[[T(0), T(1)], 0], kind="static",
     ref=lambda a, b: np.concatenate([a, b]), odt=I32)
case(M, "stack/dim0", "stack", [f32(rn((7, 5))), f32(rn((7, 5))), f32(rn((7, 5)))], args=[[T(0), T(1), T(2)], 0],
     kind="static", ref=lambda a, b, c: np.stack([a, b, c], 0), odt=F32)
case(M, "stack/dim1", "stack", [f32(rn((7, 5))), f32(rn((7, 5)))], args=[[T(0), T(1)], 1], kind="static",
     ref=lambda a, b: np.stack([a, b], 1), odt=F32)
case(M, "stack/dim-1", "stack", [f32(rn((33,))), f32(rn((33,)))], args=[[T(0), T(1)], -1], kind="static",
     ref=lambda a, b: np.stack([a, b], -1), odt=F32)
case(M, "split/size_uneven", "split", [f32(rn((7, 5)))], args=[3], ref=lambda x: [x[0:3], x[3:6], x[6:7]])
case(M, "split/sizes_dim1", "split", [f32(rn((4, 33)))], args=[[10, 20, 3], 1],
     ref=lambda x: [x[:, :10], x[:, 10:30], x[:, 30:]])
case(M, "chunk/3_of_7", "chunk", [f32(rn((7, 2)))], args=[3], ref=lambda x: [x[0:3], x[3:6], x[6:7]])
case(M, "chunk/2_dim1", "chunk", [f32(rn((3, 8)))], args=[2, 1], ref=lambda x: [x[:, :4], x[:, 4:]])
case(M, "repeat/2d", "repeat", [f32(rn((2, 3)))], args=[[2, 3]], ref=lambda x: np.tile(x, (2, 3)))
case(M, "repeat/new_dims", "repeat", [f32(rn((2, 3)))], args=[[2, 1, 2]], ref=lambda x: np.tile(x, (2, 1, 2)))
case(M, "repeat/ones", "repeat", [f32(rn((7,)))], args=[[1]], ref=lambda x: np.tile(x, (1,)))
GI = ri((7, 4), 0, 33)
case(M, "gather/dim1", "gather", [f32(A), i32(GI)], args=[1, T(1)], ref=lambda x, i: np.take_along_axis(x, i, 1))
GI0 = ri((3, 33), 0, 7)
case(M, "gather/dim0", "gather", [f32(A), i32(GI0)], args=[0, T(1)], ref=lambda x, i: np.take_along_axis(x, i, 0))
case(M, "gather/3d_dim-1", "gather", [f32(rn((2, 3, 5))), i32(ri((2, 3, 2), 0, 5))], args=[-1, T(1)],
     ref=lambda x, i: np.take_along_axis(x, i, -1))
case(M, "gather/smaller_index_other_dims", "gather", [f32(rn((4, 6))), i32(ri((2, 3), 0, 6))], args=[1, T(1)],
     ref=lambda x, i: np.take_along_axis(x[:2], i, 1))
for name, f in [("tril", np.tril), ("triu", np.triu)]:
    case(M, f"{name}/square", name, [f32(rn((5, 5)))], ref=(lambda f: lambda x: f(x))(f))
    case(M, f"{name}/k1_wide", name, [f32(rn((4, 7)))], args=[1], ref=(lambda f: lambda x: f(x, 1))(f))
    case(M, f"{name}/k-2_tall", name, [f32(rn((7, 4)))], args=[-2], ref=(lambda f: lambda x: f(x, -2))(f))
    case(M, f"{name}/batched", name, [f32(rn((2, 3, 4)))], ref=(lambda f: lambda x: f(x))(f))
    case(M, f"{name}/i32", name, [i32(ri((3, 3), 1, 9))], ref=(lambda f: lambda x: f(x))(f))
case(M, "contiguous/permuted", "contiguous", [f32(A)], ref=lambda x: x)


def np_index(items, tensors):
    out = []
    for it in items:
        if isinstance(it, dict) and "$t" in it:
            out.append(tensors[it["$t"]])
        elif it is None:
            out.append(None)
        elif it == "...":
            out.append(Ellipsis)
        elif isinstance(it, str):
            parts = it.split(":")
            out.append(slice(*[int(p) if p else None for p in parts]))
        else:
            out.append(it)
    return tuple(out)


def getcase(name, shape, items, idx=()):
    x = rn(shape)
    ins = [f32(x)] + [i32(np.asarray(i)) for i in idx]

    def ref(xv, *ts):
        return xv[np_index(items, [None] + list(ts))]
    case(M, f"get/{name}", "get", ins, args=items, ref=ref, grad=[0])


getcase("int", (7, 33), [2])
getcase("negative_int", (7, 33), [-1])
getcase("two_ints", (7, 33), [3, -4])
getcase("slice_1:5", (7, 33), ["1:5"])
getcase("slice_step2", (7, 33), [":", "::2"])
getcase("slice_reverse", (7, 33), ["::-1"])
getcase("slice_neg_start", (65,), ["-3:"])
getcase("slice_neg_step", (65,), ["60:5:-7"])
getcase("slice_and_int", (7, 33), [":", 3])
getcase("ellipsis_int", (3, 7, 5), ["...", 2])
getcase("none_axes", (7, 33), [None, ":", None])
getcase("mixed_slices", (3, 7, 5), [1, "2:", "::-2"])
getcase("tensor_1d", (7, 33), [T(1)], [np.array([0, 3, 3, 6])])
getcase("tensor_negative", (7, 33), [T(1)], [np.array([-1, 0, -7])])
getcase("tensor_2d", (7, 33), [T(1)], [np.array([[1, 2, 1], [0, 6, 5]])])
getcase("slice_then_tensor", (7, 33), [":", T(1)], [np.array([32, 0, 5, 5])])
getcase("two_tensors_broadcast", (7, 33), [T(1), T(2)], [np.array([[0], [2], [6]]), np.array([[1, 4, 32, 4]])])
getcase("3d_tensor_middle", (3, 7, 5), [":", T(1), "1:3"], [np.array([6, 0, 2])])
case(M, "get/i32_tensor_index", "get", [i32(ri((7, 5), -9, 9)), i32(np.array([4, 0, 4]))], args=[T(1)],
     ref=lambda x, i: x[i])


# ============================================================================= processing
P = "processing"
case(P, "matmul/7x33@33x5", "matmul", [f32(rn((7, 33))), f32(rn((33, 5)))], args=[T(1)], ref=np.matmul)
case(P, "matmul/65@65x7_vecmat", "matmul", [f32(rn((65,))), f32(rn((65, 7)))], args=[T(1)], ref=np.matmul)
case(P, "matmul/7x65@65_matvec", "matmul", [f32(rn((7, 65))), f32(rn((65,)))], args=[T(1)], ref=np.matmul)
case(P, "matmul/33@33_dot", "matmul", [f32(rn((33,))), f32(rn((33,)))], args=[T(1)], ref=np.matmul)
case(P, "matmul/1x1@1x1", "matmul", [f32(rn((1, 1))), f32(rn((1, 1)))], args=[T(1)], ref=np.matmul)
case(P, "matmul/batched_broadcast_rhs", "matmul", [f32(rn((2, 3, 7, 5))), f32(rn((5, 4)))], args=[T(1)],
     ref=np.matmul)
case(P, "matmul/batched_broadcast_both", "matmul", [f32(rn((2, 1, 4, 5))), f32(rn((3, 5, 6)))], args=[T(1)],
     ref=np.matmul)
case(P, "matmul/batched_vec", "matmul", [f32(rn((5,))), f32(rn((2, 5, 3)))], args=[T(1)], ref=np.matmul)
case(P, "matmul/65x65@65x65", "matmul", [f32(rn((65, 65))), f32(rn((65, 65)))], args=[T(1)], ref=np.matmul,
     grad=False)
case(P, "matmul/f64", "matmul", [(rn((7, 33)), "float64"), (rn((33, 5)), "float64")], args=[T(1)], ref=np.matmul,
     tol={"rtol": 1e-12, "atol": 1e-12}, gtol={"rtol": 1e-8, "atol": 1e-8})
case(P, "matmul/i32", "matmul", [i32(ri((3, 4), -5, 5)), i32(ri((4, 2), -5, 5))], args=[T(1)], ref=np.matmul)
case(P, "dot/7x33@33x5", "dot", [f32(rn((7, 33))), f32(rn((33, 5)))], args=[T(1)], ref=np.matmul)
case(P, "dot/33@33", "dot", [f32(rn((33,))), f32(rn((33,)))], args=[T(1)], ref=np.matmul)
case(P, "linear/bias", "linear", [f32(rn((4, 7))), f32(rn((7, 5))), f32(rn((5,)))], args=[T(1), T(2)],
     ref=lambda x, w, b: x @ w + b)
case(P, "linear/no_bias", "linear", [f32(rn((4, 7))), f32(rn((7, 5)))], args=[T(1)], ref=lambda x, w: x @ w)
case(P, "linear/batched", "linear", [f32(rn((2, 3, 7))), f32(rn((7, 5))), f32(rn((5,)))], args=[T(1), T(2)],
     ref=lambda x, w, b: x @ w + b)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    dh, dw = pair(dilation)
    n, c, hh, ww = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (hh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (ww + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow))
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def conv_t_ref(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    oph, opw = pair(output_padding)
    dh, dw = pair(dilation)
    n, cin, hh, ww = x.shape
    _, cog, kh, kw = w.shape
    cig = cin // groups
    fh = (hh - 1) * sh + dh * (kh - 1) + 1 + oph
    fw = (ww - 1) * sw + dw * (kw - 1) + 1 + opw
    full = np.zeros((n, cog * groups, fh, fw))
    for g in range(groups):
        xg = x[:, g * cig:(g + 1) * cig]
        wg = w[g * cig:(g + 1) * cig]
        for i in range(kh):
            for j in range(kw):
                full[:, g * cog:(g + 1) * cog, i * dh:i * dh + sh * (hh - 1) + 1:sh,
                     j * dw:j * dw + sw * (ww - 1) + 1:sw] += np.einsum("nchw,co->nohw", xg, wg[:, :, i, j])
    oh = (hh - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (ww - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    out = full[:, :, ph:ph + oh, pw:pw + ow]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


# self-check: convTranspose2d is the adjoint of conv2d (same stride/padding/dilation/groups)
for (cfg, xs, ws) in [(dict(stride=2, padding=1, dilation=1, groups=1), (1, 2, 7, 7), (3, 2, 3, 3)),
                      (dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=2), (2, 4, 8, 9), (6, 2, 3, 2))]:
    xx = rng.standard_normal(xs)
    ww = rng.standard_normal(ws)
    yy = conv2d_ref(xx, ww, **cfg)
    u = rng.standard_normal(yy.shape)
    back = conv_t_ref(u, ww, **cfg)
    if back.shape != xx.shape:  # pad with output_padding to reach x's shape
        op = (xs[2] - back.shape[2], xs[3] - back.shape[3])
        back = conv_t_ref(u, ww, output_padding=op, **cfg)
    assert back.shape == xx.shape, (back.shape, xx.shape)
    assert abs(np.sum(yy * u) - np.sum(xx * back)) < 1e-8 * (1 + abs(np.sum(yy * u)))


def conv_case(name, xs, ws, bias=False, **kw):
    ins = [f32(rn(xs)), f32(rn(ws, 0.5))]
    opts = dict(kw)
    if bias:
        ins.append(f32(rn((ws[0],))))
        opts["bias"] = T(2)
    jsopts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()}
    if bias:
        ref = lambda x, w, b: conv2d_ref(x, w, b, **kw)  # noqa: E731
    else:
        ref = lambda x, w: conv2d_ref(x, w, **kw)  # noqa: E731
    case(P, f"conv2d/{name}", "conv2d", ins, args=[T(1), jsopts] if jsopts else [T(1)], ref=ref)


conv_case("basic", (2, 3, 9, 9), (4, 3, 3, 3))
conv_case("bias", (1, 3, 7, 7), (5, 3, 3, 3), bias=True)
conv_case("stride2", (1, 2, 9, 9), (3, 2, 3, 3), stride=2)
conv_case("padding1", (1, 2, 7, 7), (3, 2, 3, 3), padding=1)
conv_case("padding_hw", (1, 2, 5, 6), (2, 2, 3, 3), padding=(1, 2))
conv_case("dilation2", (1, 2, 9, 9), (2, 2, 3, 3), dilation=2)
conv_case("groups2", (1, 4, 6, 6), (6, 2, 3, 3), groups=2, bias=True)
conv_case("depthwise", (1, 3, 6, 6), (3, 1, 3, 3), groups=3)
conv_case("stride_hw_nonsquare", (2, 1, 7, 5), (2, 1, 3, 2), stride=(2, 1))
conv_case("1x1", (2, 5, 4, 4), (3, 5, 1, 1))
conv_case("all_options", (2, 4, 8, 7), (4, 2, 3, 2), stride=2, padding=1, dilation=(1, 2), groups=2, bias=True)


def convt_case(name, xs, ws, bias=False, **kw):
    ins = [f32(rn(xs)), f32(rn(ws, 0.5))]
    opts = dict(kw)
    if bias:
        ins.append(f32(rn((ws[1] * kw.get("groups", 1),))))
        opts["bias"] = T(2)
    rename = {"output_padding": "outputPadding"}
    jsopts = {rename.get(k, k): (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()}
    if bias:
        ref = lambda x, w, b: conv_t_ref(x, w, b, **kw)  # noqa: E731
    else:
        ref = lambda x, w: conv_t_ref(x, w, **kw)  # noqa: E731
    case(P, f"convTranspose2d/{name}", "convTranspose2d", ins, args=[T(1), jsopts] if jsopts else [T(1)], ref=ref)


convt_case("basic", (1, 2, 4, 4), (2, 3, 3, 3))
convt_case("bias", (2, 2, 3, 3), (2, 3, 2, 2), bias=True)
convt_case("stride2", (1, 2, 4, 4), (2, 3, 3, 3), stride=2)
convt_case("stride2_padding1", (1, 2, 4, 5), (2, 2, 3, 3), stride=2, padding=1)
convt_case("output_padding", (1, 2, 3, 3), (2, 2, 3, 3), stride=2, padding=1, output_padding=1)
convt_case("dilation2", (1, 2, 4, 4), (2, 2, 3, 3), dilation=2)
convt_case("groups2", (1, 4, 3, 3), (4, 2, 3, 3), groups=2, bias=True)
convt_case("stride_hw", (1, 1, 3, 4), (1, 2, 2, 3), stride=(2, 1))


def pool_ref(x, k, stride=None, padding=0, dilation=1, mode="max", count_include_pad=True):
    kh, kw = pair(k)
    sh, sw = pair(stride if stride is not None else k)
    ph, pw = pair(padding)
    dh, dw = pair(dilation)
    n, c, hh, ww = x.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    ones = np.pad(np.ones((hh, ww)), ((ph, ph), (pw, pw)))
    oh = (hh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (ww + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    acc = np.full((n, c, oh, ow), -np.inf) if mode == "max" else np.zeros((n, c, oh, ow))
    cnt = np.zeros((oh, ow))
    for i in range(kh):
        for j in range(kw):
            sl = (slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
            patch = xp[(slice(None), slice(None)) + sl]
            if mode == "max":
                acc = np.maximum(acc, patch)
            else:
                acc = acc + patch
                cnt = cnt + ones[sl]
    if mode == "max":
        return acc
    return acc / (kh * kw) if count_include_pad else acc / cnt


def pool_case(name, op, xs, k, **kw):
    jsopts = {}
    for key, v in kw.items():
        jskey = {"count_include_pad": "countIncludePad"}.get(key, key)
        jsopts[jskey] = list(v) if isinstance(v, tuple) else v
    mode = "max" if op == "maxPool2d" else "avg"
    gen = (lambda s: distinct(s)) if mode == "max" else (lambda s: rn(s))
    case(P, f"{op}/{name}", op, [f32(gen(xs))], args=[list(k) if isinstance(k, tuple) else k] + ([jsopts] if jsopts else []),
         ref=lambda x: pool_ref(x, k, mode=mode, **kw))


pool_case("k2", "maxPool2d", (2, 3, 8, 8), 2)
pool_case("k3_s2", "maxPool2d", (1, 2, 9, 9), 3, stride=2)
pool_case("k3_s1_p1", "maxPool2d", (1, 2, 7, 7), 3, stride=1, padding=1)
pool_case("k2_dilation2", "maxPool2d", (1, 2, 7, 7), 2, stride=1, dilation=2)
pool_case("k2x3_odd", "maxPool2d", (1, 1, 7, 9), (2, 3))
pool_case("k2", "avgPool2d", (2, 3, 8, 8), 2)
pool_case("k3_s2", "avgPool2d", (1, 2, 9, 9), 3, stride=2)
pool_case("k3_s1_p1_include_pad", "avgPool2d", (1, 2, 7, 7), 3, stride=1, padding=1)
pool_case("k3_s1_p1_exclude_pad", "avgPool2d", (1, 2, 7, 7), 3, stride=1, padding=1, count_include_pad=False)
pool_case("k2x3_odd", "avgPool2d", (1, 1, 7, 9), (2, 3))


def layernorm_ref(x, axis=-1, eps=1e-5):
    m = x.mean(axis=axis, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axis, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


case(P, "layernorm/default", "layernorm", [f32(rn((7, 33)) * 2 + 1)], ref=layernorm_ref, tol=LOOSE, gtol=LOOSE)
case(P, "layernorm/3d_eps", "layernorm", [f32(rn((2, 7, 5)))], args=[-1, 1e-3], ref=lambda x: layernorm_ref(x, -1, 1e-3),
     tol=LOOSE, gtol=LOOSE)
case(P, "layernorm/axes_1_2", "layernorm", [f32(rn((2, 7, 5)))], args=[[1, 2]],
     ref=lambda x: layernorm_ref(x, (1, 2)), tol=LOOSE, gtol=LOOSE)


def bn_ref(x, w, b, m, inv):
    sh = (1, -1) + (1,) * (x.ndim - 2)
    r = (x - m.reshape(sh)) * inv.reshape(sh)
    if w is not None:
        r = r * w.reshape(sh)
    if b is not None:
        r = r + b.reshape(sh)
    return r


case(P, "batchnorm/4d_affine", "batchnorm",
     [f32(rn((2, 3, 4, 4))), f32(rn((3,))), f32(rn((3,))), f32(rn((3,))), f32(ru((3,), 0.5, 2))],
     args=[T(1), T(2), T(3), T(4)], ref=bn_ref)
case(P, "batchnorm/2d_no_affine", "batchnorm", [f32(rn((5, 3))), f32(rn((3,))), f32(ru((3,), 0.5, 2))],
     args=[None, None, T(1), T(2)], ref=lambda x, m, i: bn_ref(x, None, None, m, i))
case(P, "dropout/eval_identity", "dropout", [f32(rn((7, 33)))], args=[0.5], ref=lambda x: x)
case(P, "oneHot/7_to_5", "oneHot", [i32(np.array([0, 4, 2, 2, 1, 3, 0]))], args=[5],
     ref=lambda t: np.eye(5, dtype=np.int64)[t], odt=I32)
case(P, "oneHot/2d", "oneHot", [i32(ri((2, 3), 0, 4))], args=[4], ref=lambda t: np.eye(4, dtype=np.int64)[t],
     odt=I32)


def sdpa_ref(q, k, v, mask=None, causal=False):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        L, S = s.shape[-2], s.shape[-1]
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return special.softmax(s, axis=-1) @ v


case(P, "scaledDotProductAttention/basic", "scaledDotProductAttention",
     [f32(rn((2, 3, 5, 4))), f32(rn((2, 3, 6, 4))), f32(rn((2, 3, 6, 7)))], args=[T(1), T(2)], ref=sdpa_ref,
     tol=LOOSE, gtol=LOOSE)
case(P, "scaledDotProductAttention/causal", "scaledDotProductAttention",
     [f32(rn((1, 2, 5, 4))), f32(rn((1, 2, 5, 4))), f32(rn((1, 2, 5, 3)))], args=[T(1), T(2), {"isCausal": True}],
     ref=lambda q, k, v: sdpa_ref(q, k, v, causal=True), tol=LOOSE, gtol=LOOSE)
BM = rb((5, 6), 0.7)
BM[:, 0] = True
case(P, "scaledDotProductAttention/bool_mask", "scaledDotProductAttention",
     [f32(rn((2, 5, 4))), f32(rn((2, 6, 4))), f32(rn((2, 6, 3))), bl(BM)], args=[T(1), T(2), {"attnMask": T(3)}],
     ref=lambda q, k, v, m: sdpa_ref(q, k, v, m), grad=[0, 1, 2], tol=LOOSE, gtol=LOOSE)
case(P, "scaledDotProductAttention/float_mask", "scaledDotProductAttention",
     [f32(rn((2, 5, 4))), f32(rn((2, 6, 4))), f32(rn((2, 6, 3))), f32(rn((5, 6)))],
     args=[T(1), T(2), {"attnMask": T(3)}], ref=lambda q, k, v, m: sdpa_ref(q, k, v, m), grad=[0, 1, 2], tol=LOOSE,
     gtol=LOOSE)


def sparse_ce_ref(logits, y, ls=0.0, reduction="mean", ignore=-1):
    lp = special.log_softmax(logits, axis=-1)
    y = y.astype(np.int64)
    mask = (y != ignore) if ignore != -1 else np.ones(y.shape, bool)
    picked = np.take_along_axis(lp, np.where(mask, y, 0)[:, None], 1)[:, 0]
    un = -((1 - ls) * picked + ls * lp.mean(-1)) * mask
    if reduction == "mean":
        return un.sum() / mask.sum()
    return un.sum() if reduction == "sum" else un


Y7 = ri((7,), 0, 5)
case(P, "sparseCategoricalCrossentropy/mean", "sparseCategoricalCrossentropy", [f32(rn((7, 5), 2)), i32(Y7)],
     args=[T(1)], ref=sparse_ce_ref, grad=[0])
case(P, "sparseCategoricalCrossentropy/sum_smoothing", "sparseCategoricalCrossentropy",
     [f32(rn((7, 5), 2)), i32(Y7)], args=[T(1), {"labelSmoothing": 0.1, "reduction": "sum"}],
     ref=lambda x, y: sparse_ce_ref(x, y, 0.1, "sum"), grad=[0])
case(P, "sparseCategoricalCrossentropy/none", "sparseCategoricalCrossentropy", [f32(rn((7, 5), 2)), i32(Y7)],
     args=[T(1), {"reduction": "none"}], ref=lambda x, y: sparse_ce_ref(x, y, 0, "none"), grad=[0])
YI = np.array([0, 2, 1, 2, 4, 3, 2])
case(P, "sparseCategoricalCrossentropy/ignore_index", "sparseCategoricalCrossentropy", [f32(rn((7, 5), 2)), i32(YI)],
     args=[T(1), {"ignoreIndex": 2}], ref=lambda x, y: sparse_ce_ref(x, y, 0, "mean", 2), grad=[0])
case(P, "sparseCategoricalCrossentropy/33_classes", "sparseCategoricalCrossentropy",
     [f32(rn((4, 33))), i32(ri((4,), 0, 33))], args=[T(1)], ref=sparse_ce_ref, grad=[0])


def ce_ref(logits, y, reduction="mean", ls=0.0):
    c = logits.shape[1]
    lp = special.log_softmax(logits, axis=1)
    if y.dtype.kind in "iu":
        y = np.moveaxis(np.eye(c)[y], -1, 1)
    y = (1 - ls) * y + ls / c
    r = -(lp * y).sum(1)
    return r.mean() if reduction == "mean" else (r.sum() if reduction == "sum" else r)


case(P, "crossEntropy/indices_mean", "crossEntropy", [f32(rn((7, 5), 2)), i32(Y7)], args=[T(1)], ref=ce_ref,
     grad=[0])
case(P, "crossEntropy/indices_sum_smoothing", "crossEntropy", [f32(rn((7, 5), 2)), i32(Y7)],
     args=[T(1), {"reduction": "sum", "labelSmoothing": 0.2}], ref=lambda x, y: ce_ref(x, y, "sum", 0.2), grad=[0])
case(P, "crossEntropy/probs_target", "crossEntropy", [f32(rn((7, 5), 2)), f32(special.softmax(rn((7, 5)), 1))],
     args=[T(1)], ref=ce_ref, grad=[0])
case(P, "crossEntropy/3d_class_axis1_none", "crossEntropy", [f32(rn((2, 4, 3), 2)), i32(ri((2, 3), 0, 4))],
     args=[T(1), {"reduction": "none"}], ref=lambda x, y: ce_ref(x, y, "none"), grad=[0])


def bce_ref(p, y, reduction="mean"):
    r = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return r.mean() if reduction == "mean" else (r.sum() if reduction == "sum" else r)


def bce_logits_ref(x, y, reduction="mean"):
    r = -(y * -np.logaddexp(0, -x) + (1 - y) * -np.logaddexp(0, x))
    return r.mean() if reduction == "mean" else (r.sum() if reduction == "sum" else r)


YB = rb((7, 5)).astype(np.float64)
case(P, "binaryCrossentropy/mean", "binaryCrossentropy", [f32(ru((7, 5), 0.05, 0.95)), f32(YB)], args=[T(1)],
     ref=bce_ref, grad=[0])
case(P, "binaryCrossentropy/sum_soft_targets", "binaryCrossentropy", [f32(ru((33,), 0.05, 0.95)), f32(ru((33,), 0, 1))],
     args=[T(1), {"reduction": "sum"}], ref=lambda p, y: bce_ref(p, y, "sum"), grad=[0])
case(P, "binaryCrossentropy/none", "binaryCrossentropy", [f32(ru((7,), 0.05, 0.95)), f32(rb((7,)).astype(float))],
     args=[T(1), {"reduction": "none"}], ref=lambda p, y: bce_ref(p, y, "none"), grad=[0])
case(P, "binaryCrossentropyLogits/mean", "binaryCrossentropyLogits", [f32(rn((7, 5), 3)), f32(YB)], args=[T(1)],
     ref=bce_logits_ref, grad=[0])
case(P, "binaryCrossentropyLogits/sum_large_logits", "binaryCrossentropyLogits",
     [f32(np.array([-30.0, -5.0, 0.0, 5.0, 30.0, 2.0])), f32(np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.3]))],
     args=[T(1), {"reduction": "sum"}], ref=lambda x, y: bce_logits_ref(x, y, "sum"), grad=[0])
case(P, "binaryCrossentropyLogits/none", "binaryCrossentropyLogits", [f32(rn((33,), 2)), f32(ru((33,), 0, 1))],
     args=[T(1), {"reduction": "none"}], ref=lambda x, y: bce_logits_ref(x, y, "none"), grad=[0])

# ---- chains: ops applied to views (permuted / flipped / padded / strided inputs), so the index math of
# movement ops feeding compute ops is checked too. kind 'chain': args is a list of steps applied in order
# to inputs[self]; a step is {"call", "args"} (method) or {"call", "getter": true} (property).


def st(call, *args):
    return {"call": call, "args": list(args)}


TSTEP = {"call": "T", "getter": True}
case(M, "chain/permute_then_add_broadcast", "chain", [f32(rn((3, 7, 5))), f32(rn((5, 1, 7)))],
     args=[st("permute", [2, 0, 1]), st("add", T(1))], kind="chain", ref=lambda x, y: x.transpose(2, 0, 1) + y)
case(M, "chain/T_then_matmul", "chain", [f32(rn((33, 7))), f32(rn((33, 5)))], args=[TSTEP, st("matmul", T(1))],
     kind="chain", ref=lambda a, b: a.T @ b)
case(M, "chain/flip_then_cumsum", "chain", [f32(rn((7, 33)))], args=[st("flip", 1), st("cumsum", 1)], kind="chain",
     ref=lambda x: np.cumsum(x[:, ::-1], 1))
case(M, "chain/pad_then_sum0", "chain", [f32(rn((7, 5)))], args=[st("pad", [[1, 2], [3, 0]]), st("sum", 0)],
     kind="chain", ref=lambda x: np.pad(x, ((1, 2), (3, 0))).sum(0))
case(M, "chain/shrink_exp_sum1", "chain", [f32(rn((7, 33)))], args=[st("shrink", [[1, 6], [2, 30]]), st("exp"),
                                                                      st("sum", 1)],
     kind="chain", ref=lambda x: np.exp(x[1:6, 2:30]).sum(1))
case(M, "chain/expand_mul_sum0", "chain", [f32(rn((7, 1))), f32(rn((7, 33)))],
     args=[st("expand", [7, 33]), st("mul", T(1)), st("sum", 0)], kind="chain", ref=lambda x, y: (x * y).sum(0))
case(M, "chain/T_then_reshape", "chain", [f32(rn((4, 6)))], args=[TSTEP, st("reshape", [3, 8])], kind="chain",
     ref=lambda x: x.T.reshape(3, 8))
case(M, "chain/permute_reshape_permute", "chain", [f32(rn((2, 3, 4)))],
     args=[st("permute", [1, 2, 0]), st("reshape", [12, 2]), st("permute", [1, 0]), st("reshape", [4, 6])],
     kind="chain", ref=lambda x: x.transpose(1, 2, 0).reshape(12, 2).T.reshape(4, 6))
case(M, "chain/T_strided_get", "chain", [f32(rn((7, 33)))], args=[TSTEP, st("get", "::3", "1:")], kind="chain",
     ref=lambda x: x.T[::3, 1:])
case(M, "chain/strided_then_max", "chain", [f32(distinct((65,)))], args=[st("get", "::2"), st("max")], kind="chain",
     ref=lambda x: x[::2].max())
case(M, "chain/T_softmax", "chain", [f32(rn((7, 33)))], args=[TSTEP, st("softmax", -1)], kind="chain",
     ref=lambda x: special.softmax(x.T, -1))
case(M, "chain/flip_matmul_padded", "chain", [f32(rn((5, 6))), f32(rn((6, 3)))],
     args=[st("flip", 0), st("matmul", T(1)), st("pad", [[0, 0], [1, 1]])], kind="chain",
     ref=lambda x, w: np.pad(x[::-1] @ w, ((0, 0), (1, 1))))
case(M, "chain/sum_then_max", "chain", [f32(rn((3, 7, 5)))], args=[st("sum", 2), st("max", 0)], kind="chain",
     ref=lambda x: x.sum(2).max(0))
case(M, "chain/outer_then_sum_all", "chain", [f32(rn((7, 1))), f32(rn((1, 33)))], args=[st("mul", T(1)), st("sum")],
     kind="chain", ref=lambda x, y: (x * y).sum())
case(M, "chain/repeat_flip_conv", "chain", [f32(rn((1, 1, 3, 4))), f32(rn((2, 2, 2, 2)))],
     args=[st("repeat", [1, 2, 2, 1]), st("flip", 3), st("conv2d", T(1))], kind="chain",
     ref=lambda x, w: conv2d_ref(np.tile(x, (1, 2, 2, 1))[..., ::-1], w))
case(M, "chain/unsqueeze_expand_var", "chain", [f32(rn((7,))), f32(rn((3, 7)))], args=[st("unsqueeze", 0), st("expand", [3, 7]),
                                                                     st("mul", T(1)), st("var", 1)],
     kind="chain", ref=lambda x, y: (x[None] * y).var(1, ddof=1))
case(M, "chain/exp_log_roundtrip", "chain", [f32(ru((65,), 0.5, 3))], args=[st("log"), st("exp")], kind="chain",
     ref=lambda x: x)
case(M, "chain/gather_after_T", "chain", [f32(rn((33, 7))), i32(ri((7, 4), 0, 33))], args=[TSTEP, st("gather", 1, T(1))],
     kind="chain", ref=lambda x, i: np.take_along_axis(x.T, i, 1))

# ---- empty tensors (a zero-size axis)
case(M, "reshape/empty", "reshape", [f32(np.zeros((0, 3)))], args=[[3, 0]], ref=lambda x: x.reshape(3, 0), grad=False)
case(M, "cat/with_empty", "cat", [f32(rn((2, 3))), f32(np.zeros((0, 3)))], args=[[T(0), T(1)], 0], kind="static",
     ref=lambda a, b: np.concatenate([a, b]), odt=F32, grad=[0])
case(E, "add/empty", "add", [f32(np.zeros((0, 3))), f32(rn((3,)))], args=[T(1)], ref=lambda a, b: a + b, grad=False)
case(R, "sum/empty_axis0", "sum", [f32(np.zeros((0, 3)))], args=[0], ref=lambda x: x.sum(0), grad=False)

# ---- larger reductions / other integer widths
case(R, "sum/f32_4097", "sum", [f32(rn((4097,)))], ref=lambda x: x.sum(), grad=False, tol={"rtol": 1e-4, "atol": 1e-4})
case(R, "max/f32_65x65_axis0", "max", [f32(distinct((65, 65), -5, 5))], args=[0], ref=lambda x: x.max(0), grad=False)
case(R, "sum/f16_accumulates", "sum", [(ru((257,), 0, 1), "float16")], ref=lambda x: x.sum(), odt="float16",
     tol={"rtol": 2e-3, "atol": 0})
case(E, "add/i64_large", "add", [(np.array([3 * 10**9, -(2**40), 2**31, 7]), "int64"),
                                 (np.array([3 * 10**9, 5, 2**31, -8]), "int64")], args=[T(1)],
     ref=lambda a, b: a + b, odt="int64")
case(E, "mul/i64_large", "mul", [(np.array([100000, -(2**20), 3]), "int64"), (np.array([100000, 2**20, -5]), "int64")],
     args=[T(1)], ref=lambda a, b: a * b, odt="int64")
case(E, "add/u32_wraparound", "add", [(np.array([4294967295, 2**31, 5]), "uint32"), (np.array([1, 2**31, 7]), "uint32")],
     args=[T(1)], ref=lambda a, b: a + b, odt="uint32")
case(E, "sub/u32_wraparound", "sub", [(np.array([0, 5, 2**32 - 1]), "uint32"), (np.array([1, 7, 1]), "uint32")],
     args=[T(1)], ref=lambda a, b: a - b, odt="uint32")
case(E, "mul/i16_wraparound", "mul", [(np.array([300, -300, 32767, 2]), "int16"), (np.array([300, 300, 2, -16384]), "int16")],
     args=[T(1)], ref=lambda a, b: a * b, odt="int16")
case(E, "idiv/i64", "idiv", [(np.array([-7, 7, -(2**40), 2**40 + 1]), "int64"), (np.array([2, -2, 3, -3]), "int64")],
     args=[T(1)], ref=lambda a, b: a // b, odt="int64")

# ---- numerically hard inputs: extreme values must not produce NaN/inf in values or gradients
EXT = np.array([-100.0, -50.0, -20.0, -1.0, 0.5, 20.0, 50.0, 100.0])
for name, ref in [("sigmoid", sigmoid), ("tanh", np.tanh), ("softplus", softplus), ("silu", lambda x: x * sigmoid(x)),
                  ("gelu", gelu), ("mish", lambda x: x * np.tanh(softplus(x))), ("erf", special.erf),
                  ("elu", lambda x: np.where(x > 0, x, np.expm1(x))), ("exp", np.exp)]:
    xs = EXT if name != "exp" else np.array([-100.0, -87.0, -20.0, 0.0, 20.0, 80.0])
    case(E, f"{name}/f32_extreme_values", name, [f32(xs)], ref=ref, ew=True, tol={"rtol": 1e-4, "atol": 1e-6},
         gtol={"rtol": 1e-4, "atol": 1e-6}, h=1e-7)
case(R, "logSoftmax/f32_extreme_spread", "logSoftmax", [f32(np.array([[1000.0, 0.0, -1000.0], [-5.0, 80.0, 79.0]]))],
     ref=lambda x: special.log_softmax(x, -1), h=1e-6)
case(R, "softmax/f32_neg_inf_masked", "softmax", [f32(np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, -np.inf]]))],
     ref=lambda x: special.softmax(x, -1), grad=False)
case(R, "logsumexp/f32_neg_inf_entries", "logsumexp", [f32(np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, 3.0]]))],
     args=[1], ref=lambda x: special.logsumexp(x, 1), grad=False)
case(R, "prod/f32_with_zero_grad", "prod", [f32(np.array([[0.0, 2.0, 3.0, -1.5], [1.5, -2.0, 0.5, 4.0]]))], args=[1],
     ref=lambda x: x.prod(1))
case(R, "prod/f32_two_zeros_grad", "prod", [f32(np.array([0.0, 2.0, 0.0, 3.0]))], ref=lambda x: x.prod())
case(P, "sparseCategoricalCrossentropy/large_logits", "sparseCategoricalCrossentropy",
     [f32(np.array([[200.0, -200.0, 0.0], [-150.0, 150.0, 100.0]])), i32(np.array([1, 2]))], args=[T(1)],
     ref=sparse_ce_ref, grad=[0], h=1e-6)
case(P, "binaryCrossentropyLogits/extreme_logits", "binaryCrossentropyLogits",
     [f32(np.array([-100.0, 100.0, -100.0, 100.0])), f32(np.array([0.0, 1.0, 1.0, 0.0]))], args=[T(1), {"reduction": "none"}],
     ref=lambda x, y: bce_logits_ref(x, y, "none"), grad=[0], h=1e-6)
# IEEE special values (forward only)
case(E, "div/f32_by_zero_ieee", "div", [f32(np.array([1.0, -1.0, 0.0, 2.0])), f32(np.array([0.0, 0.0, 0.0, -0.0]))],
     args=[T(1)], ref=lambda a, b: np.array([np.inf, -np.inf, np.nan, -np.inf]), grad=False)
case(E, "log/f32_zero_and_negative", "log", [f32(np.array([0.0, -1.0, 1.0]))], ref=lambda x: np.array([-np.inf, np.nan, 0.0]),
     grad=False)
case(E, "sqrt/f32_negative_nan", "sqrt", [f32(np.array([-1.0, 0.0, 4.0]))], ref=lambda x: np.array([np.nan, 0.0, 2.0]),
     grad=False)
case(E, "exp/f32_overflow_inf", "exp", [f32(np.array([100.0, 89.0, -200.0]))], ref=lambda x: np.array([np.inf, np.inf, 0.0]),
     grad=False)
case(E, "ne/f32_nan", "ne", [f32(np.array([np.nan, 1.0, np.nan]))], args=[T(0)], ref=lambda a: np.isnan(a), odt="bool")
case(E, "lt/f32_nan", "lt", [f32(np.array([np.nan, 1.0, -np.inf]))], args=[2.0], ref=lambda a: np.array([False, True, True]),
     odt="bool")
case(E, "pow/f32_negative_base_integer_tensor_exponent", "pow", [f32(np.array([-2.0, -3.0, -1.5, 2.0, 0.0])),
                                                                  f32(np.array([3.0, 2.0, 2.0, -1.0, 2.0]))],
     args=[T(1)], ref=lambda a, b: a ** b, grad=False)
case(E, "pow/f32_zero_pow_zero", "pow", [f32(np.array([0.0, 0.0, 2.0])), f32(np.array([0.0, 2.0, 0.0]))], args=[T(1)],
     ref=lambda a, b: np.array([1.0, 0.0, 1.0]), grad=False)
# more dtype promotion
case(E, "mul/f16+i32_is_f16", "mul", [(np.array([0.5, -1.5, 2.0, 3.25]), "float16"), i32(np.array([2, 3, -4, 5]))],
     args=[T(1)], ref=lambda a, b: a * b, odt="float16", tol={"rtol": 0, "atol": 0})
case(E, "add/u8+i32_is_i32", "add", [(np.array([200, 255, 0]), "uint8"), i32(np.array([100, -300, -1]))], args=[T(1)],
     ref=lambda a, b: a + b, odt=I32)
case(E, "mul/bool+f32", "mul", [bl(np.array([True, False, True])), f32(np.array([1.5, 2.5, -3.0]))], args=[T(1)],
     ref=lambda a, b: a * b, odt=F32, grad=[1])
case(E, "add/bf16+bf16", "add", [(rn((33,)), "bfloat16"), (rn((33,)), "bfloat16")], args=[T(1)],
     ref=lambda a, b: a + b, odt="bfloat16", tol={"rtol": 0, "atol": 0})
case(E, "exp/f16", "exp", [(ru((33,), -3, 3), "float16")], ref=np.exp, odt="float16", tol={"rtol": 1e-3, "atol": 1e-3})
case(P, "matmul/f16", "matmul", [(ru((4, 33), -1, 1), "float16"), (ru((33, 3), -1, 1), "float16")], args=[T(1)],
     ref=np.matmul, odt="float16", tol={"rtol": 2e-3, "atol": 2e-3})
# 0-d tensors
case(E, "add/scalar+scalar", "add", [f32(rn(())), f32(rn(()))], args=[T(1)], ref=lambda a, b: a + b, ew=True)
case(R, "sum/scalar", "sum", [f32(rn(()))], ref=lambda x: x.sum())
case(M, "expand/scalar_to_3", "expand", [f32(rn(()))], args=[[3]], ref=lambda x: np.broadcast_to(x, (3,)))
# more indexing edge cases (numpy semantics)
getcase("slice_past_end_clamps", (7, 33), ["0:100", "30:40"])
getcase("empty_slice", (7, 33), ["5:2"])
getcase("neg_start_neg_step", (65,), ["-2::-5"])
getcase("ellipsis_then_none", (3, 7, 5), ["...", None])
getcase("int_then_ellipsis", (3, 7, 5), [-1, "..."])
getcase("none_on_1d", (7,), [None])
getcase("adjacent_tensors_middle", (3, 7, 5), [":", T(1), T(2)], [np.array([0, 6, 3]), np.array([4, 0, 4])])
getcase("tensors_separated_by_slice", (3, 7, 5), [T(1), ":", T(2)], [np.array([2, 0]), np.array([1, 4])])

# ---- larger shapes (forward only) for accumulation and loop structure
case(R, "cumsum/f32_1025", "cumsum", [f32(rn((1025,)))], ref=lambda x: np.cumsum(x), grad=False,
     tol={"rtol": 1e-4, "atol": 1e-4})
case(R, "argmax/f32_3x7x5_axis1", "argmax", [f32(distinct((3, 7, 5)))], args=[1], ref=lambda x: x.argmax(1), odt=I32)
case(R, "mean/f32_3x7x5_axes0,2_keepdim", "mean", [f32(rn((3, 7, 5)))], args=[[0, -1], {"keepdim": True}],
     ref=lambda x: x.mean((0, 2), keepdims=True))
case(P, "conv2d/larger_forward", "conv2d", [f32(rn((2, 8, 17, 17))), f32(rn((16, 8, 3, 3), 0.3)), f32(rn((16,)))],
     args=[T(1), {"bias": T(2), "padding": 1}], ref=lambda x, w, b: conv2d_ref(x, w, b, padding=1), grad=False)
case(P, "maxPool2d/larger_forward", "maxPool2d", [f32(rn((2, 4, 33, 33)))], args=[3, {"stride": 2}],
     ref=lambda x: pool_ref(x, 3, stride=2), grad=False)

# ---- small semantic edge cases (torch/numpy semantics)
case(M, "chunk/4_of_6_gives_3", "chunk", [f32(rn((6,)))], args=[4], ref=lambda x: [x[0:2], x[2:4], x[4:6]])
case(M, "split/size_larger_than_dim", "split", [f32(rn((3, 2)))], args=[5], ref=lambda x: [x])
case(M, "cat/single", "cat", [f32(rn((2, 3)))], args=[[T(0)], 1], kind="static", ref=lambda a: a, odt=F32)
case(M, "flatten/scalar_to_1", "flatten", [f32(rn(()))], ref=lambda x: x.reshape(1))
case(M, "squeeze/scalar", "squeeze", [f32(rn(()))], ref=lambda x: x)
case(M, "unsqueeze/scalar_-1", "unsqueeze", [f32(rn(()))], args=[-1], ref=lambda x: x.reshape(1))
case(E, "where/number_branches", "where", [bl(rb((7,)))], args=[1.5, -2], ref=lambda c: np.where(c, 1.5, -2.0), odt=F32)
# two JS numbers make float32 branches (JS has no integer type)
case(E, "where/int_number_branches", "where", [bl(rb((7,)))], args=[3, -2], ref=lambda c: np.where(c, 3.0, -2.0),
     odt=F32)
case(R, "mean/bool_to_f32", "mean", [bl(rb((7, 33)))], args=[1], ref=lambda x: x.mean(1), odt=F32)
case(R, "argmax/f32_all_equal_first", "argmax", [f32(np.full((7,), 2.0))], ref=lambda x: x.argmax(), odt=I32)
case("creation", "eye/1", "eye", [], args=[1], kind="static", ref=lambda: np.eye(1), odt=F32)
case("creation", "arange/float_inexact_step", "arange", [], args=[0, 0.3, 0.1], kind="static", ref=lambda: np.arange(0, 0.3, 0.1),
     odt=F32)
case("creation", "full/scalar_shape", "full", [], args=[[], 2.5], kind="static", ref=lambda: np.full((), 2.5), odt=F32)

# ============================================================================= creation
C = "creation"
case(C, "zeros/2x3", "zeros", [], args=[[2, 3]], kind="static", ref=lambda: np.zeros((2, 3)), odt=F32)
case(C, "zeros/int32", "zeros", [], args=[[4], {"dtype": DT("int32")}], kind="static", ref=lambda: np.zeros(4, np.int64),
     odt=I32)
case(C, "zeros/scalar", "zeros", [], args=[[]], kind="static", ref=lambda: np.zeros(()), odt=F32)
case(C, "ones/7x1", "ones", [], args=[[7, 1]], kind="static", ref=lambda: np.ones((7, 1)), odt=F32)
case(C, "ones/bool", "ones", [], args=[[3], {"dtype": DT("bool")}], kind="static", ref=lambda: np.ones(3, bool),
     odt="bool")
case(C, "full/float", "full", [], args=[[2, 3], 2.5], kind="static", ref=lambda: np.full((2, 3), 2.5), odt=F32)
# a JS number is float32 unless a dtype is given (JS has no integer type)
case(C, "full/int_value_is_float32", "full", [], args=[[3], 7], kind="static", ref=lambda: np.full(3, 7.0), odt=F32)
case(C, "full/dtype_opt", "full", [], args=[[3], 7, {"dtype": DT("float32")}], kind="static",
     ref=lambda: np.full(3, 7.0), odt=F32)
case(C, "full/bool", "full", [], args=[[2], True], kind="static", ref=lambda: np.full(2, True), odt="bool")
case(C, "empty/shape", "empty", [], args=[[2, 5]], kind="static", odt=F32, random=True, out_shape=(2, 5))
case(C, "arange/stop", "arange", [], args=[5], kind="static", ref=lambda: np.arange(5), odt=I32)
case(C, "arange/start_stop_step", "arange", [], args=[2, 11, 3], kind="static", ref=lambda: np.arange(2, 11, 3),
     odt=I32)
case(C, "arange/negative_step", "arange", [], args=[10, 0, -3], kind="static", ref=lambda: np.arange(10, 0, -3),
     odt=I32)
case(C, "arange/float_step", "arange", [], args=[0, 1, 0.25], kind="static", ref=lambda: np.arange(0, 1, 0.25),
     odt=F32)
case(C, "arange/float_start", "arange", [], args=[-1.5, 2], kind="static", ref=lambda: np.arange(-1.5, 2), odt=F32)
case(C, "arange/65", "arange", [], args=[65], kind="static", ref=lambda: np.arange(65), odt=I32)
case(C, "arange/empty", "arange", [], args=[3, 3], kind="static", ref=lambda: np.arange(3, 3), odt=I32)
case(C, "linspace/0_1_5", "linspace", [], args=[0, 1, 5], kind="static", ref=lambda: np.linspace(0, 1, 5), odt=F32)
case(C, "linspace/-1_2_7", "linspace", [], args=[-1, 2, 7], kind="static", ref=lambda: np.linspace(-1, 2, 7),
     odt=F32)
case(C, "linspace/one_step", "linspace", [], args=[3, 9, 1], kind="static", ref=lambda: np.linspace(3, 9, 1), odt=F32)
case(C, "linspace/descending_33", "linspace", [], args=[5, -3, 33], kind="static",
     ref=lambda: np.linspace(5, -3, 33), odt=F32)
case(C, "eye/3", "eye", [], args=[3], kind="static", ref=lambda: np.eye(3), odt=F32)
case(C, "eye/3x5", "eye", [], args=[3, 5], kind="static", ref=lambda: np.eye(3, 5), odt=F32)
case(C, "eye/5x2", "eye", [], args=[5, 2], kind="static", ref=lambda: np.eye(5, 2), odt=F32)
case(C, "zerosLike/f32", "zerosLike", [f32(rn((7, 3)))], ref=lambda x: np.zeros_like(x), odt=F32, grad=False)
case(C, "zerosLike/i32", "zerosLike", [i32(ri((4,), 0, 5))], ref=lambda x: np.zeros_like(x), odt=I32)
case(C, "onesLike/f32", "onesLike", [f32(rn((2, 3, 4)))], ref=lambda x: np.ones_like(x), odt=F32, grad=False)
case(C, "onesLike/i32", "onesLike", [i32(ri((5,), 0, 5))], ref=lambda x: np.ones_like(x), odt=I32)
case(C, "fullLike/f32", "fullLike", [f32(rn((3, 2)))], args=[2.5], ref=lambda x: np.full_like(x, 2.5), odt=F32,
     grad=False)
case(C, "fullLike/i32", "fullLike", [i32(ri((3,), 0, 5))], args=[-4], ref=lambda x: np.full_like(x, -4), odt=I32)


# ----------------------------------------------------------------------------- write
def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    total_bytes = 0
    for cat, cases in CASES.items():
        path = os.path.join(OUT_DIR, f"{cat}.json")
        body = {"generator": "scripts/gen_fixtures.py", "seed": SEED, "numpy": np.__version__, "cases": cases}
        text = json.dumps(body, separators=(",", ":"), allow_nan=False)
        with open(path, "w") as f:
            f.write(text + "\n")
        total_bytes += len(text)
        print(f"{path}: {len(cases)} cases, {len(text) / 1024:.0f} KiB")
    print(f"total: {sum(len(c) for c in CASES.values())} cases, {total_bytes / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
