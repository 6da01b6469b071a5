# numpy peer for `npm run bench`: the same cases as bench/run.ts, best-of-n wall times in ms as JSON.
import json, sys, time
import numpy as np

def best(fn, n):
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1e3)
    return min(ts)

rng = np.random.default_rng(0)
out = {"numpy": np.__version__}
for n in (256, 512, 1024, 2048):
    a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
    out[f"matmul{n}"] = best(lambda: a @ b, 10 if n < 2048 else 5)
x = rng.standard_normal(1 << 24, dtype=np.float32)
out["elementwise"] = best(lambda: np.maximum(x * 2 + 1, 0) * (1 / (1 + np.exp(-x))), 5)
y = np.empty_like(x)
out["copy"] = best(lambda: np.copyto(y, x), 5)
s = rng.standard_normal((4096, 4096), dtype=np.float32)
def softmax():
    m = s.max(axis=-1, keepdims=True); e = np.exp(s - m); return e / e.sum(axis=-1, keepdims=True)
out["softmax"] = best(softmax, 5)
json.dump(out, sys.stdout)
