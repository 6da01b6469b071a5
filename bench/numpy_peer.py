# numpy peer for `npm run bench`: the same cases as bench/run.ts, timed the plain way (each call's
# result kept until the next call replaces it, as a user's loop does): the median of 7 calls after
# 2 warm-ups, in ms, as JSON.
import json, sys, time
import numpy as np

def plain(fn, n=7, warm=2):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); r = fn(); ts.append((time.perf_counter() - t0) * 1e3)
        del r
    return sorted(ts)[n // 2]

rng = np.random.default_rng(0)
out = {"numpy": np.__version__}
for n in (64, 256, 512, 1024, 2048):
    a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
    out[f"matmul{n}"] = plain(lambda: a @ b)
x = rng.standard_normal(1 << 24, dtype=np.float32)
out["elementwise"] = plain(lambda: np.maximum(x * 2 + 1, 0) * (1 / (1 + np.exp(-x))))
out["copy"] = plain(lambda: -x)
s = rng.standard_normal((4096, 4096), dtype=np.float32)
def softmax():
    m = s.max(axis=-1, keepdims=True); e = np.exp(s - m); return e / e.sum(axis=-1, keepdims=True)
out["softmax"] = plain(softmax)
small = rng.standard_normal(1000, dtype=np.float32)
def small_ops():
    y = small
    for i in range(100):
        y = y * np.float32(0.999) if i % 2 else y + np.float32(0.001)
    return y
out["smallops"] = plain(small_ops)
json.dump(out, sys.stdout)
