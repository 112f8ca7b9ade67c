"""Big reductions and softmax split their work across threads (rows, or for column reductions
the kept columns): the generated kernels call GOMP_parallel, and the results equal the serial
kernel's bit for bit (each output element is one thread's) and the eager interpreter's within
rounding."""
from __future__ import annotations

import re

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.llvm.codegen import PARALLEL_MIN_ELEMENTS
from compiler.llvm.parallel import Threading, openmp_available
from compiler.pipeline import CompileOptions
from runtime.program import Program

ROWS, COLS = 97, 1031       # odd sizes: uneven thread shares, vector tails
assert ROWS * COLS >= PARALLEL_MIN_ELEMENTS


def _graph(dtype: str):
    b = GraphBuilder(name=f"rows_{dtype}")
    x = b.input("x", (ROWS, COLS), dtype)
    b.output(b.sum(b.square(x), axes=(1,)), b.max(x, axes=(1,)), b.mean(b.abs(x), axes=(-1,)),
             b.softmax(x, axis=1), b.log_softmax(b.mul(x, 2.0), axis=-1),
             # column reductions (the kept dim is split): a bias gradient, a mean, a max
             b.sum(x, axes=(0,)), b.mean(b.square(x), axes=(0,)), b.max(x, axes=(0,)))
    return b.graph


def _run(graph, x, threads: int):
    p = Program(graph, backend="llvm",
                compile_options=CompileOptions(threading=Threading(threads), cache=False))
    return p, p([x])


@pytest.mark.skipif(not openmp_available(), reason="libgomp is not loadable on this host")
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_row_reductions_and_softmax_run_on_all_threads_with_serial_results(dtype):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(ROWS, COLS)) * 3).astype(np.float32 if dtype == "f32" else np.float64)
    graph = _graph(dtype)
    par, got = _run(graph, x, 2)
    _, serial = _run(graph, x, 1)
    llvm = par.compiled.stage_text("llvm")
    # every kernel of this program is a reduction or a softmax, and each goes parallel
    kernels = par.compiled.kernels.kernels
    assert len(kernels) == 8
    # one region per kernel, each reading the run-time team size once
    assert len(re.findall(r'load i32, (?:i32\*|ptr) @"kiln_team_size"', llvm)) == len(kernels)
    want = Program(graph, backend="eager")([x])
    tol = 2e-5 if dtype == "f32" else 1e-12
    for g, s, w in zip(got, serial, want):
        np.testing.assert_array_equal(g, s)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
