#!/usr/bin/env python3
"""Gradients at special points (kinks, ties, zeros, infinities) from PyTorch.

Writes test/fixtures/grad_kinks.json, read by test/ops/grad_kinks.test.ts. Each case evaluates one
op in float32 at the exact points where its derivative is a matter of convention (relu at 0, a
clamp at its bound, maximum at a tie, 0**0, ...), then backpropagates ones (a sum for reductions)
and records the value and the gradient of every input. Non-finite numbers and -0.0 are written as
strings ("nan", "inf", "-inf", "-0").

Run: /usr/bin/python3 scripts/gen_torch_grad_fixtures.py   (needs PyTorch; npm test does not)
"""

import json
import os

import torch
import torch.nn.functional as F
from fixture_values import enc as enc_value

NAN, INF = float("nan"), float("inf")


def enc(v):
    return enc_value(v, neg_zero=True)


def case(name, op, fn, inputs, params=None, shape=None, signed_zero=False):
    """fn(*tensors) -> tensor; inputs: flat float lists (reshaped to `shape` when given)."""
    ts = []
    for data in inputs:
        t = torch.tensor(data, dtype=torch.float32)
        if shape is not None:
            t = t.reshape(shape)
        ts.append(t.requires_grad_(True))
    out = fn(*ts)
    out.backward(torch.ones_like(out))
    return {
        "name": name,
        "op": op,
        "params": params or {},
        "shape": list(ts[0].shape),
        "inputs": [[enc(v) for v in t.detach().reshape(-1).tolist()] for t in ts],
        "outShape": list(out.shape),
        "out": [enc(v) for v in out.detach().reshape(-1).tolist()],
        "grads": [[enc(v) for v in t.grad.reshape(-1).tolist()] for t in ts],
        "signedZero": signed_zero,
    }


def build():
    C = []
    u = lambda name, op, fn, xs, **kw: C.append(case(name, op, fn, [xs], **kw))
    b = lambda name, op, fn, xs, ys, **kw: C.append(case(name, op, fn, [xs, ys], **kw))
    # ---- activations at their kinks ----
    u("abs", "abs", torch.abs, [-1.0, -0.0, 0.0, 1.0], signed_zero=True)
    u("relu", "relu", torch.relu, [-1.0, -0.0, 0.0, 1.0])
    u("leakyRelu", "leakyRelu", lambda x: F.leaky_relu(x, 0.01), [-1.0, 0.0, 1.0], params={"slope": 0.01})
    u("leakyRelu/0.2", "leakyRelu", lambda x: F.leaky_relu(x, 0.2), [-1.0, 0.0, 1.0], params={"slope": 0.2})
    u("elu", "elu", lambda x: F.elu(x, 1.0), [-1.0, 0.0, 1.0], params={"alpha": 1.0})
    u("elu/alpha0.5", "elu", lambda x: F.elu(x, 0.5), [-1.0, 0.0, 1.0], params={"alpha": 0.5})
    u("gelu", "gelu", lambda x: F.gelu(x, approximate="tanh"), [-1.0, 0.0, 1.0])
    u("silu", "silu", F.silu, [-1.0, 0.0, 1.0])
    u("sigmoid", "sigmoid", torch.sigmoid, [-100.0, 0.0, 100.0])
    u("tanh", "tanh", torch.tanh, [-20.0, 0.0, 20.0])
    u("mish", "mish", F.mish, [-1.0, 0.0, 1.0])
    u("hardtanh", "hardtanh", F.hardtanh, [-2.0, -1.0, 0.0, 1.0, 2.0], params={"min": -1, "max": 1})
    u("hardtanh/-2,3", "hardtanh", lambda x: F.hardtanh(x, -2.0, 3.0), [-2.0, 0.0, 3.0], params={"min": -2, "max": 3})
    u("relu6", "relu6", F.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0])
    u("hardsigmoid", "hardsigmoid", F.hardsigmoid, [-4.0, -3.0, 0.0, 3.0, 4.0])
    u("hardswish", "hardswish", F.hardswish, [-4.0, -3.0, 0.0, 3.0, 4.0])
    u("softplus", "softplus", F.softplus, [-1.0, 0.0, 19.9, 20.0, 20.1, 30.0], params={"beta": 1})
    u("softplus/beta2", "softplus", lambda x: F.softplus(x, beta=2), [-1.0, 0.0, 9.9, 10.0, 10.1], params={"beta": 2})
    # activations that may not exist on every branch (the test skips a missing method)
    u("selu", "selu", F.selu, [-1.0, 0.0, 1.0])
    u("celu", "celu", F.celu, [-1.0, 0.0, 1.0], params={"alpha": 1.0})
    u("celu/alpha2", "celu", lambda x: F.celu(x, 2.0), [-1.0, 0.0, 1.0], params={"alpha": 2.0})
    u("logsigmoid", "logsigmoid", F.logsigmoid, [-100.0, 0.0, 100.0])
    u("softsign", "softsign", F.softsign, [-1.0, -0.0, 0.0, 1.0])
    u("hardshrink", "hardshrink", lambda x: F.hardshrink(x, 0.5), [-0.5, 0.0, 0.5, 1.0], params={"lambd": 0.5})
    u("softshrink", "softshrink", lambda x: F.softshrink(x, 0.5), [-0.5, 0.0, 0.5, 1.0], params={"lambd": 0.5})
    # ---- clamp at its bounds (gradient 1 at the bound, unlike hardtanh) ----
    u("clip", "clip", lambda x: torch.clamp(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], params={"min": -1, "max": 1})
    u("clip/min", "clip", lambda x: torch.clamp(x, min=0.0), [-1.0, 0.0, 1.0], params={"min": 0})
    u("clip/max", "clip", lambda x: torch.clamp(x, max=0.0), [-1.0, 0.0, 1.0], params={"max": 0})
    b("clip/tensor-min", "clipMin", lambda x, m: torch.clamp(x, min=m), [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    b("clip/tensor-max", "clipMax", lambda x, m: torch.clamp(x, max=m), [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    # ---- piecewise-constant functions: zero gradient ----
    u("sign", "sign", torch.sign, [-1.0, -0.0, 0.0, 1.0], signed_zero=True)
    for fn in ("floor", "ceil", "round", "trunc"):
        u(fn, fn, getattr(torch, fn), [-1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 2.0])
    # ---- singular points ----
    u("sqrt", "sqrt", torch.sqrt, [0.0, 1.0, 4.0])
    u("rsqrt", "rsqrt", torch.rsqrt, [0.0, 1.0, 4.0])
    u("log", "log", torch.log, [0.0, 1.0, -1.0])
    u("log2", "log2", torch.log2, [0.0, 1.0])
    u("reciprocal", "reciprocal", torch.reciprocal, [0.0, -0.0, 2.0])
    u("exp", "exp", torch.exp, [-INF, 0.0, 1.0])
    # ---- ties ----
    b("maximum", "maximum", torch.maximum, [1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 3.0, -0.0])
    b("minimum", "minimum", torch.minimum, [1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 3.0, -0.0])
    u("maximum/scalar0", "maximumScalar", lambda x: torch.maximum(x, torch.zeros_like(x)), [-1.0, 0.0, 1.0], params={"value": 0})
    u("minimum/scalar0", "minimumScalar", lambda x: torch.minimum(x, torch.zeros_like(x)), [-1.0, 0.0, 1.0], params={"value": 0})
    u("max/ties", "max", lambda x: torch.amax(x), [1.0, 3.0, 3.0, 2.0])
    u("min/ties", "min", lambda x: torch.amin(x), [1.0, -3.0, -3.0, 2.0])
    u("max/axis1-ties", "max", lambda x: torch.amax(x, 1), [1.0, 3.0, 3.0, 2.0, 2.0, 2.0], params={"axis": 1}, shape=[2, 3])
    u("min/axis0-ties", "min", lambda x: torch.amin(x, 0), [1.0, 0.0, 3.0, 1.0, 2.0, 3.0], params={"axis": 0}, shape=[2, 3])
    u("max/all-equal", "max", lambda x: torch.amax(x), [5.0, 5.0, 5.0, 5.0])
    u("std/constant", "std", lambda x: torch.std(x), [1.0, 1.0, 1.0])
    u("var/constant", "var", lambda x: torch.var(x), [1.0, 1.0, 1.0])
    u("prod/zeros", "prod", lambda x: torch.prod(x, 1), [0.0, 2.0, 3.0, 0.0, 0.0, 3.0], params={"axis": 1}, shape=[2, 3])
    u("maxPool2d/ties", "maxPool2d", lambda x: F.max_pool2d(x, 2), [1.0, 1.0, 1.0, 1.0], params={"kernel": 2}, shape=[1, 1, 2, 2])
    # ---- pow ----
    b("pow", "pow", torch.pow, [0.0, 0.0, 0.0, 0.0, 2.0, -2.0, -2.0, -2.0], [0.0, 1.0, 2.0, -1.0, 0.0, 2.0, 3.0, 0.5])
    u("pow/scalar2", "powScalar", lambda x: x**2, [-1.0, 0.0, 1.0], params={"exponent": 2})
    u("pow/scalar0.5", "powScalar", lambda x: x**0.5, [0.0, 1.0, 4.0], params={"exponent": 0.5})
    u("pow/scalar0", "powScalar", lambda x: x**0, [-1.0, 0.0, 1.0], params={"exponent": 0})
    u("pow/scalar3", "powScalar", lambda x: x**3, [-1.0, 0.0, 1.0], params={"exponent": 3})
    u("pow/scalar2.5", "powScalar", lambda x: x**2.5, [0.0, 1.0, 4.0], params={"exponent": 2.5})
    u("pow/scalar-1", "powScalar", lambda x: x**-1, [0.0, 2.0], params={"exponent": -1})
    # ---- division, mod, where ----
    b("div", "div", torch.div, [1.0, 0.0, -1.0, 3.0], [0.0, 0.0, 0.0, 2.0])
    b("mod", "mod", torch.remainder, [5.5, -5.5, 5.5, -5.5, 3.0, 4.0], [2.0, 2.0, -2.0, -2.0, 1.5, 3.0])
    C.append(
        case(
            "where",
            "where",
            lambda x, y: torch.where(torch.tensor([True, False, True]), x, y),
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            params={"cond": [True, False, True]},
        )
    )
    # ---- losses at the ends of their range (PyTorch clamps the logs at -100 and the gradient's
    # denominator p (1 - p) at 1e-12) ----
    bce_t = [0.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    u("binaryCrossentropy/ends", "binaryCrossentropy",
      lambda p: F.binary_cross_entropy(p, torch.tensor(bce_t), reduction="none"),
      [0.0, 0.0, 1.0, 1.0, 0.5, 1e-30], params={"target": bce_t})
    bcel_t = [1.0, 1.0, 0.0, 0.5]
    u("binaryCrossentropyLogits/extremes", "binaryCrossentropyLogits",
      lambda x: F.binary_cross_entropy_with_logits(x, torch.tensor(bcel_t), reduction="none"),
      [-100.0, 0.0, 100.0, 0.0], params={"target": bcel_t})
    # ---- reductions over -inf rows ----
    u("logsumexp/all-neginf", "logsumexp", lambda x: torch.logsumexp(x, 1), [-INF, -INF, -INF, 0.0, 1.0, -INF], params={"axis": 1}, shape=[2, 3])
    u("softmax/all-neginf", "softmax", lambda x: torch.softmax(x, 1), [-INF, -INF, -INF, 0.0, 1.0, -INF], params={"axis": 1}, shape=[2, 3])
    u("logSoftmax/all-neginf", "logSoftmax", lambda x: torch.log_softmax(x, 1), [-INF, -INF, -INF, 0.0, 1.0, -INF], params={"axis": 1}, shape=[2, 3])
    return C


def main():
    torch.manual_seed(0)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "test", "fixtures", "grad_kinks.json")
    doc = {"generator": "scripts/gen_torch_grad_fixtures.py", "torch": torch.__version__, "cases": build()}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(doc['cases'])} cases to {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
