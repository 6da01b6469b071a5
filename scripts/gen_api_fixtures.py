#!/usr/bin/env python3
"""Generate reference fixtures for the PyTorch-style ops and options (test/fixtures/ops/api_ops.json).

Independent of tsgrad: every expected value and gradient comes from PyTorch (torch.nn.functional
and Tensor methods, computed in float64 on the float32-rounded inputs the tests feed in; gradients
of sum(out * upstream) by torch.autograd).

Run from the repository root:  /usr/bin/python3 scripts/gen_api_fixtures.py
Requires numpy and torch. Output is deterministic (fixed seed). The case format is the one of
scripts/gen_fixtures.py (read by test/helpers.ts runCase): {"$t": i} in args is inputs[i].
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from fixture_values import enc

SEED = 4321
rng = np.random.default_rng(SEED)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "ops", "api_ops.json")
cases = []


def arr(a, dtype):
    a = np.asarray(a)
    if dtype.startswith("int") or dtype == "bool":
        data = [int(x) for x in a.reshape(-1)]
    else:
        data = [enc(x) for x in a.reshape(-1)]
    return {"shape": list(a.shape), "dtype": dtype, "data": data}


def f32(shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def distinct(shape, scale=4.0):
    """float32 values without ties (max/min pooling and cummax gradients are unique)."""
    n = int(np.prod(shape))
    v = (rng.permutation(n) - n / 2) * (scale / n) + rng.uniform(-0.01, 0.01, size=n)
    return v.astype(np.float32).reshape(shape)


def ints(shape, lo, hi):
    return rng.integers(lo, hi, size=shape).astype(np.int32)


def T(i):
    return {"$t": i}


def in_dtype(a):
    return "float32" if a.dtype == np.float32 else "bool" if a.dtype == np.bool_ else "int32"


def case(name, call, inputs, args, fn, grad=None, tol=None, gtol=None):
    """inputs: list of numpy arrays (float32 or int32); fn(*torch_tensors) -> tensor or tuple."""
    ts = []
    for i, a in enumerate(inputs):
        if a.dtype == np.float32:
            t = torch.tensor(a.astype(np.float64), dtype=torch.float64)
            if grad and i in grad:
                t.requires_grad_(True)
        elif a.dtype == np.bool_:
            t = torch.tensor(a)
        else:
            t = torch.tensor(a.astype(np.int64))
        ts.append(t)
    out = fn(*ts)
    outs = list(out) if isinstance(out, tuple) else [out]

    def out_arr(o):
        if o.dtype in (torch.int64, torch.int32):
            return arr(o.detach().numpy(), "int32")
        if o.dtype == torch.bool:
            return arr(o.detach().numpy().astype(np.int32), "bool")
        return arr(o.detach().numpy(), "float32")

    c = {
        "name": name,
        "kind": "method",
        "call": call,
        "self": 0,
        "args": args,
        "inputs": [arr(a, in_dtype(a)) for a in inputs],
        "out": [out_arr(o) for o in outs] if isinstance(out, tuple) else out_arr(out),
    }
    if grad:
        ups = []
        for o in outs:
            zero = not o.dtype.is_floating_point
            u = np.zeros(tuple(o.shape)) if zero else rng.uniform(-1, 1, size=tuple(o.shape))
            ups.append(arr(u.astype(np.float32), "float32"))
        # sum(out * upstream) with the float32-rounded upstream the test multiplies by
        total = 0
        for o, u in zip(outs, ups):
            if o.dtype.is_floating_point:
                uu = torch.tensor(np.array([float(x) for x in u["data"]], np.float64).reshape(u["shape"]))
                total = total + (o * uu).sum()
        gs = torch.autograd.grad(total, [ts[i] for i in grad], allow_unused=True)
        grads = [None] * len(inputs)
        for i, g in zip(grad, gs):
            grads[i] = arr((g if g is not None else torch.zeros_like(ts[i])).numpy(), "float32")
        c["grad"] = list(grad)
        c["upstream"] = ups if isinstance(out, tuple) else ups[0]
        c["grads"] = grads
    if tol:
        c["tol"] = tol
    if gtol:
        c["gtol"] = gtol
    cases.append(c)


# ---- pooling ------------------------------------------------------------------------------------
x55 = distinct((1, 2, 5, 5))
x67 = distinct((2, 1, 6, 7))
case("maxPool2d/ceil_k2", "maxPool2d", [x55], [2, {"ceilMode": True}],
     lambda x: F.max_pool2d(x, 2, ceil_mode=True), grad=[0])
case("maxPool2d/ceil_k3s2", "maxPool2d", [x67], [3, {"stride": 2, "ceilMode": True}],
     lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True), grad=[0])
case("maxPool2d/ceil_k3s2p1", "maxPool2d", [x67], [3, {"stride": 2, "padding": 1, "ceilMode": True}],
     lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), grad=[0])
case("maxPool2d/ceil_rect", "maxPool2d", [x67], [[2, 3], {"stride": [2, 2], "ceilMode": True}],
     lambda x: F.max_pool2d(x, (2, 3), (2, 2), ceil_mode=True), grad=[0])
case("maxPool2d/dilation", "maxPool2d", [x67], [2, {"stride": 1, "dilation": 2}],
     lambda x: F.max_pool2d(x, 2, 1, dilation=2), grad=[0])
case("maxPool2d/dilation_ceil", "maxPool2d", [x67], [2, {"stride": 2, "dilation": 2, "ceilMode": True}],
     lambda x: F.max_pool2d(x, 2, 2, dilation=2, ceil_mode=True), grad=[0])
case("maxPool2d/padding", "maxPool2d", [x55], [3, {"stride": 1, "padding": 1}],
     lambda x: F.max_pool2d(x, 3, 1, 1), grad=[0])
for cip in (True, False):
    tag = "incl" if cip else "excl"
    case(f"avgPool2d/ceil_k2_{tag}", "avgPool2d", [x55], [2, {"ceilMode": True, "countIncludePad": cip}],
         lambda x, cip=cip: F.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=cip), grad=[0])
    case(f"avgPool2d/ceil_k3s2p1_{tag}", "avgPool2d", [x67],
         [3, {"stride": 2, "padding": 1, "ceilMode": True, "countIncludePad": cip}],
         lambda x, cip=cip: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=cip), grad=[0])
    case(f"avgPool2d/p1_{tag}", "avgPool2d", [x67], [3, {"stride": 1, "padding": 1, "countIncludePad": cip}],
         lambda x, cip=cip: F.avg_pool2d(x, 3, 1, 1, count_include_pad=cip), grad=[0])
case("avgPool2d/divisorOverride", "avgPool2d", [x67], [[2, 3], {"stride": 2, "divisorOverride": 4}],
     lambda x: F.avg_pool2d(x, (2, 3), 2, divisor_override=4), grad=[0])
x17 = distinct((2, 3, 7))
case("maxPool1d/ceil_k3s2", "maxPool1d", [x17], [3, {"stride": 2, "ceilMode": True}],
     lambda x: F.max_pool1d(x, 3, 2, ceil_mode=True), grad=[0])
case("maxPool1d/p1_d2", "maxPool1d", [x17], [2, {"stride": 1, "padding": 1, "dilation": 2}],
     lambda x: F.max_pool1d(x, 2, 1, 1, dilation=2), grad=[0])
case("avgPool1d/ceil_p1_excl", "avgPool1d", [x17], [3, {"stride": 2, "padding": 1, "ceilMode": True,
                                                        "countIncludePad": False}],
     lambda x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), grad=[0])
case("avgPool1d/k2", "avgPool1d", [x17], [2], lambda x: F.avg_pool1d(x, 2), grad=[0])
for size, tsize in ((3, 3), ([2, 4], (2, 4)), ([4, None], (4, None)), (1, 1), ([3, 7], (3, 7)), ([2, 2], (2, 2))):
    label = "x".join("n" if s is None else str(s) for s in (size if isinstance(size, list) else [size]))
    case(f"adaptiveAvgPool2d/{label}", "adaptiveAvgPool2d", [x67], [size],
         lambda x, tsize=tsize: F.adaptive_avg_pool2d(x, tsize), grad=[0])
    case(f"adaptiveMaxPool2d/{label}", "adaptiveMaxPool2d", [x67], [size],
         lambda x, tsize=tsize: F.adaptive_max_pool2d(x, tsize), grad=[0])
for size in (3, 7, 1, 2):
    case(f"adaptiveAvgPool1d/{size}", "adaptiveAvgPool1d", [x17], [size],
         lambda x, size=size: F.adaptive_avg_pool1d(x, size), grad=[0])
    case(f"adaptiveMaxPool1d/{size}", "adaptiveMaxPool1d", [x17], [size],
         lambda x, size=size: F.adaptive_max_pool1d(x, size), grad=[0])

# ---- cumulative ---------------------------------------------------------------------------------
xc = f32((3, 5), -1.5, 1.5)
xz = xc.copy()
xz[1, 2] = 0.0
case("cumprod/axis0", "cumprod", [xc], [0], lambda x: torch.cumprod(x, 0), grad=[0])
case("cumprod/axis1_zero", "cumprod", [xz], [1], lambda x: torch.cumprod(x, 1), grad=[0])
case("cumprod/neg_axis", "cumprod", [xc], [-1], lambda x: torch.cumprod(x, -1), grad=[0])
xd = distinct((3, 6))
case("cummax/axis1", "cummax", [xd], [1], lambda x: tuple(torch.cummax(x, 1)), grad=[0])
case("cummax/axis0", "cummax", [xd], [0], lambda x: tuple(torch.cummax(x, 0)), grad=[0])
case("cummin/axis1", "cummin", [xd], [1], lambda x: tuple(torch.cummin(x, 1)), grad=[0])
ties = np.array([[1, 3, 3, 2, 5, 5], [4, 4, 1, 1, 0, 4]], np.float32)
case("cummax/ties", "cummax", [ties], [1], lambda x: tuple(torch.cummax(x, 1)))
case("cummin/ties", "cummin", [ties], [1], lambda x: tuple(torch.cummin(x, 1)))
case("logcumsumexp/axis1", "logcumsumexp", [f32((3, 5), -3, 3)], [1],
     lambda x: torch.logcumsumexp(x, 1), grad=[0])
case("logcumsumexp/axis0_large", "logcumsumexp", [f32((4, 2), 50, 90)], [0],
     lambda x: torch.logcumsumexp(x, 0), grad=[0])

# ---- activations and math -----------------------------------------------------------------------
xa = f32((3, 4), -3, 3)
unary = [
    ("logsigmoid", [], F.logsigmoid),
    ("softsign", [], F.softsign),
    ("hardshrink", [], lambda x: F.hardshrink(x, 0.5)),
    ("softshrink", [0.7], lambda x: F.softshrink(x, 0.7)),
    ("tanhshrink", [], F.tanhshrink),
    ("celu", [0.8], lambda x: F.celu(x, 0.8)),
    ("selu", [], F.selu),
    ("softmin", [1], lambda x: F.softmin(x, 1)),
    ("threshold", [0.3, -2], lambda x: F.threshold(x, 0.3, -2.0)),
    ("sinh", [], torch.sinh),
    ("cosh", [], torch.cosh),
    ("expm1", [], torch.expm1),
]
for name, args, fn in unary:
    case(f"{name}/basic", name, [xa], args, fn, grad=[0])
case("logsigmoid/large", "logsigmoid", [np.array([-100, -30, 0.5, 30, 100], np.float32)], [], F.logsigmoid, grad=[0])
case("expm1/small", "expm1", [np.array([1e-7, -3e-6, 2e-4, -1e-3, 0.0, -120, 5], np.float32)], [], torch.expm1,
     grad=[0], tol={"rtol": 1e-5, "atol": 0})
case("log1p/small", "log1p", [np.array([1e-7, -3e-6, 2e-4, -0.5, 0.0, 3, 1e6], np.float32)], [], torch.log1p,
     grad=[0], tol={"rtol": 1e-5, "atol": 0})
case("log10/basic", "log10", [f32((5,), 0.1, 100)], [], torch.log10, grad=[0])
case("glu/last", "glu", [f32((3, 4))], [], lambda x: F.glu(x, -1), grad=[0])
case("glu/axis0", "glu", [f32((4, 3))], [0], lambda x: F.glu(x, 0), grad=[0])
a2, b2 = f32((3, 4), -5, 5), f32((4,), -5, 5)
case("logaddexp/broadcast", "logaddexp", [a2, b2], [T(1)], torch.logaddexp, grad=[0, 1])
case("logaddexp/neg_inf", "logaddexp", [np.array([-np.inf, -np.inf, 1], np.float32),
                                         np.array([-np.inf, 2, -np.inf], np.float32)], [T(1)], torch.logaddexp)
spec = np.array([np.nan, np.inf, -np.inf, 0, -1.5], np.float32)
case("isnan/special", "isnan", [spec], [], torch.isnan)
case("isinf/special", "isinf", [spec], [], torch.isinf)
case("isfinite/special", "isfinite", [spec], [], torch.isfinite)

# ---- losses -------------------------------------------------------------------------------------
N, C = 6, 4
logits = f32((N, C), -2, 2)
tgt = np.array([0, 3, 1, 3, 2, -100], np.int32)
tgt_ok = ints((N,), 0, C)
w = f32((C,), 0.2, 2)
for red in ("mean", "sum", "none"):
    case(f"crossEntropy/weight_{red}", "crossEntropy", [logits, tgt_ok, w], [T(1), {"weight": T(2), "reduction": red}],
         lambda x, t, w, red=red: F.cross_entropy(x, t, weight=w, reduction=red), grad=[0])
    case(f"crossEntropy/ignore_{red}", "crossEntropy", [logits, tgt], [T(1), {"reduction": red}],
         lambda x, t, red=red: F.cross_entropy(x, t, reduction=red), grad=[0])
case("crossEntropy/ignore_custom", "crossEntropy", [logits, np.array([0, 3, 1, 3, 2, 1], np.int32)],
     [T(1), {"ignoreIndex": 3}], lambda x, t: F.cross_entropy(x, t, ignore_index=3), grad=[0])
case("crossEntropy/weight_ignore_smooth", "crossEntropy", [logits, tgt, w],
     [T(1), {"weight": T(2), "labelSmoothing": 0.2}],
     lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.2), grad=[0])
case("crossEntropy/weight_smooth_sum", "crossEntropy", [logits, tgt, w],
     [T(1), {"weight": T(2), "labelSmoothing": 0.1, "reduction": "sum"}],
     lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1, reduction="sum"), grad=[0])
x4 = f32((2, 3, 2, 2))
t4 = ints((2, 2, 2), 0, 3)
w3 = f32((3,), 0.5, 1.5)
case("crossEntropy/nchw_weight", "crossEntropy", [x4, t4, w3], [T(1), {"weight": T(2)}],
     lambda x, t, w: F.cross_entropy(x, t, weight=w), grad=[0])
probs = np.abs(f32((N, C), 0.1, 1))
probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
case("crossEntropy/probs_weight_smooth", "crossEntropy", [logits, probs, w],
     [T(1), {"weight": T(2), "labelSmoothing": 0.1}],
     lambda x, p, w: F.cross_entropy(x, p, weight=w, label_smoothing=0.1), grad=[0, 1])
case("crossEntropy/unbatched", "crossEntropy", [f32((C,)), np.array(2, np.int32)], [T(1)],
     lambda x, t: F.cross_entropy(x, t), grad=[0])
logp = F.log_softmax(torch.tensor(logits, dtype=torch.float64), 1).numpy().astype(np.float32)
for red in ("mean", "sum", "none"):
    case(f"nllLoss/weight_ignore_{red}", "nllLoss", [logp, tgt, w], [T(1), {"weight": T(2), "reduction": red}],
         lambda x, t, w, red=red: F.nll_loss(x, t, weight=w, reduction=red), grad=[0])
case("nllLoss/nchw", "nllLoss", [F.log_softmax(torch.tensor(x4, dtype=torch.float64), 1).numpy().astype(np.float32), t4],
     [T(1)], lambda x, t: F.nll_loss(x, t), grad=[0])
pb = f32((3, 4), 0.05, 0.95)
yb = (rng.uniform(size=(3, 4)) > 0.5).astype(np.float32)
wb = f32((4,), 0.2, 2)
case("binaryCrossentropy/weight", "binaryCrossentropy", [pb, yb, wb], [T(1), {"weight": T(2)}],
     lambda p, y, w: F.binary_cross_entropy(p, y, weight=w), grad=[0])
case("binaryCrossentropy/weight_sum", "binaryCrossentropy", [pb, yb, wb], [T(1), {"weight": T(2), "reduction": "sum"}],
     lambda p, y, w: F.binary_cross_entropy(p, y, weight=w, reduction="sum"), grad=[0])
xl = f32((3, 4), -4, 4)
pw = f32((4,), 0.3, 3)
xl0 = xl.copy()
xl0[0, :2] = 0.0  # the kink of softplus: the gradient is sigmoid(0) - t there
case("binaryCrossentropyLogits/posWeight", "binaryCrossentropyLogits", [xl0, yb, pw], [T(1), {"posWeight": T(2)}],
     lambda x, y, p: F.binary_cross_entropy_with_logits(x, y, pos_weight=p), grad=[0])
case("binaryCrossentropyLogits/posWeight_weight_none", "binaryCrossentropyLogits", [xl, yb, pw, wb],
     [T(1), {"posWeight": T(2), "weight": T(3), "reduction": "none"}],
     lambda x, y, p, w: F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=p, reduction="none"),
     grad=[0])
case("binaryCrossentropyLogits/soft_targets_large", "binaryCrossentropyLogits",
     [np.array([[-100, -3, 0.5, 80, 0, 0]], np.float32), np.array([[0.2, 1, 0, 0.7, 1, 0]], np.float32)], [T(1)],
     lambda x, y: F.binary_cross_entropy_with_logits(x, y), grad=[0])
xr, yr = f32((3, 5), -2, 2), f32((3, 5), -2, 2)
for red in ("mean", "sum", "none"):
    case(f"mseLoss/{red}", "mseLoss", [xr, yr], [T(1), {"reduction": red}],
         lambda x, y, red=red: F.mse_loss(x, y, reduction=red), grad=[0, 1])
    case(f"l1Loss/{red}", "l1Loss", [xr, yr], [T(1), {"reduction": red}],
         lambda x, y, red=red: F.l1_loss(x, y, reduction=red), grad=[0, 1])
case("smoothL1Loss/default", "smoothL1Loss", [xr, yr], [T(1)], lambda x, y: F.smooth_l1_loss(x, y), grad=[0, 1])
case("smoothL1Loss/beta", "smoothL1Loss", [xr, yr], [T(1), {"beta": 0.5, "reduction": "sum"}],
     lambda x, y: F.smooth_l1_loss(x, y, beta=0.5, reduction="sum"), grad=[0, 1])
case("smoothL1Loss/beta0", "smoothL1Loss", [xr, yr], [T(1), {"beta": 0.0}],
     lambda x, y: F.smooth_l1_loss(x, y, beta=0.0), grad=[0, 1])
case("huberLoss/delta", "huberLoss", [xr, yr], [T(1), {"delta": 0.7, "reduction": "none"}],
     lambda x, y: F.huber_loss(x, y, delta=0.7, reduction="none"), grad=[0, 1])
case("huberLoss/default", "huberLoss", [xr, yr], [T(1)], lambda x, y: F.huber_loss(x, y), grad=[0, 1])
lq = F.log_softmax(torch.tensor(f32((3, 4)), dtype=torch.float64), 1).numpy().astype(np.float32)
pt = probs[:3].copy()
pt[0, 1] = 0.0
for red in ("mean", "batchmean", "sum", "none"):
    case(f"klDiv/{red}", "klDiv", [lq, pt], [T(1), {"reduction": red}],
         lambda x, t, red=red: F.kl_div(x, t, reduction=red), grad=[0])
# (the gradient w.r.t. a target of 0 is NaN in PyTorch: checked with positive targets)
case("klDiv/target_grad", "klDiv", [lq, probs[3:6].copy()], [T(1), {"reduction": "sum"}],
     lambda x, t: F.kl_div(x, t, reduction="sum"), grad=[0, 1])
case("klDiv/logTarget", "klDiv", [lq, F.log_softmax(torch.tensor(logits[:3]), 1).numpy().astype(np.float32)],
     [T(1), {"reduction": "batchmean", "logTarget": True}],
     lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True), grad=[0, 1])

# ---- margin and likelihood losses ---------------------------------------------------------------
m1, m2 = f32((6,)), f32((6,))
ypm = np.array([1, -1, 1, -1, -1, 1], np.float32)
for red in ("mean", "none"):
    case(f"marginRankingLoss/{red}", "marginRankingLoss", [m1, m2, ypm], [T(1), T(2), {"margin": 0.3, "reduction": red}],
         lambda a, b, y, red=red: F.margin_ranking_loss(a, b, y, margin=0.3, reduction=red), grad=[0, 1])
case("hingeEmbeddingLoss/default", "hingeEmbeddingLoss", [f32((2, 3), -2, 2), ypm.reshape(2, 3)], [T(1)],
     lambda x, y: F.hinge_embedding_loss(x, y), grad=[0])
case("hingeEmbeddingLoss/margin_sum", "hingeEmbeddingLoss", [f32((2, 3), -2, 2), ypm.reshape(2, 3)],
     [T(1), {"margin": 0.5, "reduction": "sum"}],
     lambda x, y: F.hinge_embedding_loss(x, y, margin=0.5, reduction="sum"), grad=[0])
case("softMarginLoss/default", "softMarginLoss", [f32((2, 3), -3, 3), ypm.reshape(2, 3)], [T(1)],
     lambda x, y: F.soft_margin_loss(x, y), grad=[0])
e1, e2 = f32((6, 4)), f32((6, 4))
case("cosineEmbeddingLoss/margin", "cosineEmbeddingLoss", [e1, e2, ypm], [T(1), T(2), {"margin": 0.1}],
     lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.1), grad=[0, 1])
case("cosineEmbeddingLoss/none", "cosineEmbeddingLoss", [e1, e2, ypm], [T(1), T(2), {"reduction": "none"}],
     lambda a, b, y: F.cosine_embedding_loss(a, b, y, reduction="none"), grad=[0, 1])
an, po, ne = f32((5, 4)), f32((5, 4)), f32((5, 4))
case("tripletMarginLoss/default", "tripletMarginLoss", [an, po, ne], [T(1), T(2)],
     lambda a, p, n: F.triplet_margin_loss(a, p, n), grad=[0, 1, 2])
case("tripletMarginLoss/p1_swap", "tripletMarginLoss", [an, po, ne], [T(1), T(2), {"p": 1, "swap": True, "margin": 2}],
     lambda a, p, n: F.triplet_margin_loss(a, p, n, p=1, swap=True, margin=2.0), grad=[0, 1, 2])
counts = rng.integers(0, 6, size=(3, 4)).astype(np.float32)
case("poissonNllLoss/log_input", "poissonNllLoss", [f32((3, 4), -1, 1.5), counts], [T(1)],
     lambda x, t: F.poisson_nll_loss(x, t), grad=[0])
case("poissonNllLoss/rate_full", "poissonNllLoss", [f32((3, 4), 0.2, 4), counts], [T(1), {"logInput": False, "full": True}],
     lambda x, t: F.poisson_nll_loss(x, t, log_input=False, full=True), grad=[0])
gv = f32((3, 4), 0.1, 2)
case("gaussianNllLoss/full", "gaussianNllLoss", [f32((3, 4)), f32((3, 4)), gv], [T(1), T(2), {"full": True}],
     lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=True), grad=[0, 1, 2])
case("gaussianNllLoss/per_sample_var", "gaussianNllLoss", [f32((3, 4)), f32((3, 4)), f32((3,), 0.1, 2)],
     [T(1), T(2), {"reduction": "sum"}],
     lambda x, t, v: F.gaussian_nll_loss(x, t, v, reduction="sum"), grad=[0, 2])

# ---- more elementwise and movement --------------------------------------------------------------
xp = f32((2, 3, 2, 2), -2, 2)
case("prelu/channels", "prelu", [xp, f32((3,), 0, 0.5)], [T(1)], lambda x, w: F.prelu(x, w), grad=[0, 1])
case("prelu/single", "prelu", [xp, np.array([0.2], np.float32)], [T(1)], lambda x, w: F.prelu(x, w), grad=[0, 1])
case("logit/basic", "logit", [f32((5,), 0.05, 0.95)], [], torch.logit, grad=[0])
case("logit/eps", "logit", [np.array([0.0, 0.001, 0.5, 0.999, 1.0], np.float32)], [0.01],
     lambda x: torch.logit(x, 0.01), grad=[0])
case("xlogy/special", "xlogy", [np.array([0, 0, 0, 1, 2], np.float32), np.array([np.inf, np.nan, -1, np.nan, 0], np.float32)],
     [T(1)], torch.xlogy)
case("xlogy/zero_x", "xlogy", [np.array([0, 0, 1.5, 2, 0.5], np.float32), np.array([0, 3, 0.5, 4, 2], np.float32)],
     [T(1)], torch.xlogy, grad=[0])
maskf = (rng.uniform(size=(3, 4)) > 0.5)
case("maskedFill/broadcast", "maskedFill", [f32((3, 4)), maskf[0]], [T(1), -7.5],
     lambda x, m: x.masked_fill(m, -7.5), grad=[0])
xroll = f32((3, 4))
case("roll/axis1", "roll", [xroll], [1, 1], lambda x: torch.roll(x, 1, 1), grad=[0])
case("roll/neg_two_axes", "roll", [xroll], [[-1, 5], [0, 1]], lambda x: torch.roll(x, (-1, 5), (0, 1)), grad=[0])
case("roll/flat", "roll", [xroll], [5], lambda x: torch.roll(x, 5), grad=[0])

# ---- norms and distances ------------------------------------------------------------------------
xn = f32((3, 4))
xn0 = xn.copy()
xn0[1] = 0.0
case("normalize/default", "normalize", [xn], [], lambda x: F.normalize(x), grad=[0])
case("normalize/p1_axis0", "normalize", [xn], [{"p": 1, "axis": 0}], lambda x: F.normalize(x, p=1, dim=0), grad=[0])
case("normalize/zero_row", "normalize", [xn0], [], lambda x: F.normalize(x), grad=[0])
case("norm/all", "norm", [xn], [], lambda x: torch.linalg.vector_norm(x), grad=[0])
case("norm/p3_axis1", "norm", [xn], [3, 1], lambda x: torch.linalg.vector_norm(x, 3, 1), grad=[0])
# (p = Infinity cannot be written in JSON: test/ops/api_ops.test.ts checks it)
case("norm/p4_keepdim", "norm", [distinct((3, 4))], [4, 0, {"keepdim": True}],
     lambda x: torch.linalg.vector_norm(x, 4, 0, keepdim=True), grad=[0])
case("norm/p1_zero_row", "norm", [xn0], [1, 1], lambda x: torch.linalg.vector_norm(x, 1, 1))
case("norm/p2_zero_row", "norm", [xn0], [2, 1], lambda x: torch.linalg.vector_norm(x, 2, 1), grad=[0])
y1, y2 = f32((3, 5)), f32((3, 5))
case("cosineSimilarity/default", "cosineSimilarity", [f32((2, 3, 4)), f32((2, 3, 4))], [T(1)],
     lambda a, b: F.cosine_similarity(a, b), grad=[0, 1])
case("cosineSimilarity/axis_broadcast", "cosineSimilarity", [y1, f32((5,))], [T(1), {"axis": -1}],
     lambda a, b: F.cosine_similarity(a, b, dim=-1), grad=[0, 1])
case("pairwiseDistance/default", "pairwiseDistance", [y1, y2], [T(1)],
     lambda a, b: F.pairwise_distance(a, b), grad=[0, 1])
case("pairwiseDistance/p1_keepdim", "pairwiseDistance", [y1, y2], [T(1), {"p": 1, "keepdim": True}],
     lambda a, b: F.pairwise_distance(a, b, p=1, keepdim=True), grad=[0, 1])

# ---- attention scale ----------------------------------------------------------------------------
q, k, v = f32((2, 3, 4)), f32((2, 5, 4)), f32((2, 5, 4))


def sdpa(q, k, v, scale):
    return torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v


case("scaledDotProductAttention/scale", "scaledDotProductAttention", [q, k, v], [T(1), T(2), {"scale": 0.3}],
     lambda q, k, v: sdpa(q, k, v, 0.3), grad=[0, 1, 2])

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(allow_nan=False, obj={"generator": "scripts/gen_api_fixtures.py", "torch": torch.__version__, "cases": cases}, fp=f)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.relpath(OUT, ROOT)}")
