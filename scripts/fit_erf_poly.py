# The coefficients of tg_erff (src/renderer/c.ts, the C renderer's inline float32 erf), fitted with
# numpy/scipy: |x| <= 1: erf(x) = x * P(x^2), P of degree 6 fitted for relative error; above:
# erf(x) = 1 - exp(Q(|x| - 1)), Q of degree 8 fitted to log(erfc(x)) on [1, 4]. Minimax by
# Lawson's iteratively reweighted least squares on a dense grid. Prints the fits' errors and the
# coefficients as float32 literals (highest degree last). `python3 scripts/fit_erf_poly.py`
import numpy as np
from scipy.special import erf, erfc


def lawson(x, f, w, deg, iters=200):
    """Polynomial (increasing powers) minimizing max |w (p(x) - f)| on the grid x."""
    V = np.vander(x, deg + 1, increasing=True)
    u = np.ones_like(x) / len(x)
    for _ in range(iters):
        sw = np.sqrt(u)
        c, *_ = np.linalg.lstsq(V * (sw * w)[:, None], sw * w * f, rcond=None)
        e = np.abs(w * (V @ c - f))
        u = u * e
        u /= u.sum()
    return c, e.max()


t = np.linspace(1e-12, 1.0, 20001)
fa = erf(np.sqrt(t)) / np.sqrt(t)
ca, ea = lawson(t, fa, 1 / fa, 6)
x = np.linspace(1.0, 4.0, 20001)
cb, eb = lawson(x - 1.0, np.log(erfc(x)), np.ones_like(x), 8)
lit = lambda cs: ", ".join("%.9ef" % np.float32(c) for c in cs)
print(f"P (x^2), relative error {ea:.3g}: {lit(ca)}")
print(f"Q (|x| - 1), error of log(erfc) {eb:.3g}: {lit(cb)}")
