# Fixture for test/ops/transcendentals.test.ts: float32 inputs of erf across its range (evenly
# spaced in [-4.5, 4.5], tiny magnitudes down to 1e-38, and every float next to |x| = 1 and 4,
# where the CPU's inline erf switches between its polynomials or saturates) with erf in float64 from
# scipy. `python3 scripts/gen_erf_sweep.py` writes test/fixtures/erf_sweep.json.
import json
import os

import numpy as np
import scipy
from scipy.special import erf

f32 = np.float32
xs = [np.linspace(-4.5, 4.5, 1801, dtype=f32)]
tiny = np.logspace(-38, 0, 153).astype(f32)
xs += [tiny, -tiny]
for edge in (1.0, 4.0):
    near = [f32(edge)]
    for _ in range(12):
        near = [np.nextafter(near[0], f32(0)), *near, np.nextafter(near[-1], f32(10))]
    near = np.array(near, dtype=f32)
    xs += [near, -near]
x = np.unique(np.concatenate(xs))
out = {
    "generator": "scripts/gen_erf_sweep.py",
    "scipy": scipy.__version__,
    "x": [float(v) for v in x],
    "erf": [float(v) for v in erf(x.astype(np.float64))],
}
path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "erf_sweep.json")
with open(path, "w") as f:
    json.dump(out, f)
print(len(x), "points ->", os.path.normpath(path))
