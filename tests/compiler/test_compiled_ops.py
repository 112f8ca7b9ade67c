"""Every op of the CASES table compiled through LLVM vs the eager interpreter, in float64 and
float32, forward and gradient (the VJP's graph is compiled as part of the same program).

Tolerances: float64 results agree to ~1e-12 relative (differences come only from summation
order in reductions and matmul, FMA contraction, and the vectorized transcendentals, which
are within a few ulp); float32 to ~1e-5 relative for the same reasons at single precision.
"""
from __future__ import annotations

import numpy as np
import pytest

from opcheck import check_compiled, forward_and_grad_graph
from test_ops import CASES, _ids

TOL = {"f64": (1e-11, 1e-12), "f32": (2e-5, 1e-6)}


def _as(arrays, dtype):
    npt = np.float32 if dtype == "f32" else np.float64
    return [a.astype(npt) if a.dtype.kind == "f" else a for a in arrays]


@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_compiled_matches_eager(case, dtype):
    arrays = _as(case.arrays(), dtype)
    graph = forward_and_grad_graph(case.op, arrays, case.attrs)
    rtol, atol = TOL[dtype]
    check_compiled(graph, arrays, rtol, atol, label=f"{case.op} {dtype}")
