"""Vectorized special functions numpy lacks (erf), accurate to ~1e-15 in float64.

erf uses, for |x| <= 2, the series erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!,
whose terms are all positive (the alternating Maclaurin series cancels terms of ~1e3 at x = 3
and loses three digits); for |x| > 2 the continued fraction of erfc, evaluated backwards to a
fixed depth. Both are whole-array numpy operations; the result is within 8 ulp of the true
value (checked against mpmath in tests/compiler/test_special.py).
"""
from __future__ import annotations

import math

import numpy as np

_SERIES_TERMS = 60
_CF_DEPTH = 60
#: series below, continued fraction above: each is within 8 ulp (mpmath) on its side
_SERIES_LIMIT = 2.0


def erf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    z = x.astype(np.float64)
    a = np.abs(z)
    small = a <= _SERIES_LIMIT
    out = np.empty_like(z)

    xs = z[small]
    term = xs.copy()
    total = xs.copy()
    two_x2 = 2.0 * xs * xs
    for n in range(1, _SERIES_TERMS):
        term = term * two_x2 / (2 * n + 1)
        total += term
    out[small] = total * np.exp(-xs * xs) * (2.0 / math.sqrt(math.pi))

    xl = a[~small]
    frac = np.zeros_like(xl)
    for k in range(_CF_DEPTH, 0, -1):
        frac = (k / 2.0) / (xl + frac)
    erfc = np.exp(-xl * xl) / math.sqrt(math.pi) / (xl + frac)
    out[~small] = np.sign(z[~small]) * (1.0 - erfc)
    out[np.isnan(z)] = np.nan
    return out.astype(dtype, copy=False)
