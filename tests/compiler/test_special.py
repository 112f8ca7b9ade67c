"""The eager reference erf (compiler/ops/_special.py) against mpmath's correctly rounded erf."""
import numpy as np
import pytest

from compiler.ops._special import erf

mpmath = pytest.importorskip("mpmath")   # in the [test] extra; always present in CI


def _true_erf(x: np.ndarray) -> np.ndarray:
    return np.array([float(mpmath.erf(mpmath.mpf(float(v)))) for v in x])


def test_erf_within_8_ulp_of_mpmath():
    # both sides of the series/continued-fraction switch at 2, tiny and saturated arguments
    x = np.concatenate([np.linspace(-7, 7, 6001), np.geomspace(1e-300, 1e-2, 40),
                        -np.geomspace(1e-300, 1e-2, 40), np.nextafter(2.0, [0.0, 3.0])])
    want = _true_erf(x)
    ulps = np.abs(erf(x) - want) / np.spacing(np.maximum(np.abs(want), np.finfo(float).tiny))
    assert ulps.max() <= 8, f"max error {ulps.max()} ulp at x = {x[ulps.argmax()]}"


def test_erf_special_values_and_float32():
    got = erf(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]))
    assert np.isnan(got[0]) and list(got[1:3]) == [1.0, -1.0]
    assert got[3] == 0.0 and got[4] == 0.0
    x32 = np.linspace(-3, 3, 101, dtype=np.float32)
    out = erf(x32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _true_erf(x32).astype(np.float32), rtol=1e-7, atol=1e-7)
