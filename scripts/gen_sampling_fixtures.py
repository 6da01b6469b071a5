#!/usr/bin/python3
"""Fixtures for the LLM sampler (src/llm/sampling.ts): for fixed float32 logits and options, the
probability vector the sampler draws from, computed here independently with numpy (full sorts, no
partial selection), in llama.cpp's default chain order: repetition penalty over the distinct last-N
tokens, top-k, top-p (softmax at temperature 1, keep the smallest most-likely set reaching p, ties to
the lower id), min-p (logit >= max + ln min_p), temperature, softmax. Temperature 0 is a one-hot at
the argmax of the penalized logits. Writes test/fixtures/llm_sampling.json.

Run: python3 scripts/gen_sampling_fixtures.py
"""
import json
import math
import os

import numpy as np

rng = np.random.default_rng(17)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "llm_sampling.json")
DEFAULTS = dict(temperature=0.8, topK=40, topP=0.95, minP=0.05, repetitionPenalty=1.0, repeatLastN=64)


def order(l):
    """ids by descending logit, ties to the lower id (a stable sort of -l)"""
    return np.argsort(-l.astype(np.float64), kind="stable")


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def reference(logits, opts, recent):
    o = {**DEFAULTS, **opts}
    l = logits.astype(np.float32).copy()
    if o["repetitionPenalty"] != 1 and o["repeatLastN"] > 0:
        window = recent[max(0, len(recent) - o["repeatLastN"]):]
        for t in sorted(set(window)):
            v = float(l[t])
            l[t] = np.float32(v * o["repetitionPenalty"] if v <= 0 else v / o["repetitionPenalty"])
    V = len(l)
    out = np.zeros(V)
    if o["temperature"] == 0:
        out[order(l)[0]] = 1
        return out
    alive = order(l)  # sorted candidates, best first
    lf = l.astype(np.float64)
    if 0 < o["topK"] < len(alive):
        alive = alive[: o["topK"]]
    if o["topP"] < 1 and len(alive) > 1:
        p = softmax(lf[alive])
        cum = np.cumsum(p)
        keep = int(np.argmax(cum >= o["topP"])) + 1 if cum[-1] >= o["topP"] else len(alive)
        alive = alive[:keep]
    if o["minP"] > 0 and len(alive) > 1:
        cut = lf[alive].max() + math.log(o["minP"])
        kept = alive[lf[alive] >= cut]
        alive = kept if len(kept) else alive[:1]
    out[alive] = softmax(lf[alive] / o["temperature"])
    return out


cases = []


def case(name, logits, opts, recent=()):
    logits = np.asarray(logits, dtype=np.float32)
    probs = reference(logits, opts, list(recent))
    cases.append(
        {
            "name": name,
            # float32 values round-trip through 9 significant digits; -inf as a string (JSON has none)
            "logits": [float(f"{v:.9g}") if np.isfinite(v) else "-inf" for v in logits],
            "opts": opts,
            "recent": [int(t) for t in recent],
            # the nonzero entries only: [id, probability]
            "probs": [[int(i), float(f"{probs[i]:.17g}")] for i in np.nonzero(probs)[0]],
        }
    )


small = rng.normal(0, 2, 12)
mid = rng.normal(0, 3, 200)
big = rng.normal(0, 1, 2000)
case("defaults/12", small, {})
case("defaults/200", mid, {})
case("plain temperature 1/12", small, {"temperature": 1, "topK": 0, "topP": 1, "minP": 0})
case("temperature 0.5, filters off/200", mid, {"temperature": 0.5, "topK": 0, "topP": 1, "minP": 0})
case("temperature 2, filters off/200", mid, {"temperature": 2, "topK": 0, "topP": 1, "minP": 0})
case("top-k 5/200", mid, {"temperature": 1, "topK": 5, "topP": 1, "minP": 0})
case("top-k larger than vocab/12", small, {"temperature": 1, "topK": 50, "topP": 1, "minP": 0})
case("top-p 0.9 without top-k/200", mid, {"temperature": 1, "topK": 0, "topP": 0.9, "minP": 0})
case("top-p 0.5 without top-k/2000", big, {"temperature": 1, "topK": 0, "topP": 0.5, "minP": 0})
case("top-p 0.999 without top-k/2000", big, {"temperature": 0.7, "topK": 0, "topP": 0.999, "minP": 0})
case("top-p tiny keeps one/200", mid, {"temperature": 1, "topK": 0, "topP": 1e-6, "minP": 0})
case("top-p after top-k/200", mid, {"temperature": 1, "topK": 20, "topP": 0.7, "minP": 0})
case("min-p 0.1/200", mid, {"temperature": 1, "topK": 0, "topP": 1, "minP": 0.1})
case("min-p 0.02/2000", big, {"temperature": 1.3, "topK": 0, "topP": 1, "minP": 0.02})
case("all filters/2000", big, {"temperature": 0.6, "topK": 100, "topP": 0.8, "minP": 0.05})
case("greedy/200", mid, {"temperature": 0})
recent = [int(t) for t in order(mid)[:6]] + [int(t) for t in order(-mid)[:4]] + [int(order(mid)[0])] * 3
case("repetition penalty 1.5/200", mid, {"temperature": 1, "topK": 0, "topP": 1, "minP": 0, "repetitionPenalty": 1.5}, recent)
case("repetition penalty window 4/200", mid, {"temperature": 1, "topK": 10, "topP": 1, "minP": 0, "repetitionPenalty": 1.3, "repeatLastN": 4}, recent)
case("greedy with penalty/200", mid, {"temperature": 0, "repetitionPenalty": 100}, [int(order(mid)[0])])
ties = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 0.5, 2.0, 2.0], dtype=np.float32)
case("ties at the top-k border/8", ties, {"temperature": 1, "topK": 2, "topP": 1, "minP": 0})
case("ties greedy/8", ties, {"temperature": 0})
masked = mid.copy()
masked[::3] = -np.inf
case("masked -inf logits/200", masked, {"temperature": 1, "topK": 0, "topP": 0.95, "minP": 0})

with open(OUT, "w") as f:
    json.dump({"generator": "scripts/gen_sampling_fixtures.py", "cases": cases}, f)
    f.write("\n")
print(f"wrote {len(cases)} cases to {OUT}")
