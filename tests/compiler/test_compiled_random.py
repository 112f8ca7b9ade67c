"""Random ops compiled vs eager: uniform bit-identical, normal within a few ulp, and dropout
(a random op fused into an elementwise kernel) identical, for odd sizes and several steps."""
from __future__ import annotations

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.ops.random import dropout
from runtime.eager import Interpreter
from runtime.program import Program


def _run_both(graph, arrays):
    return Interpreter(graph).run(arrays), Program(graph, backend="llvm")(arrays)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 17)])
def test_uniform_is_bit_identical(shape, dtype):
    b = GraphBuilder(name="u")
    step = b.input("step", (), "i64")
    b.output(b.random_uniform(step, seed=1234, shape=shape, dtype=dtype),
             b.random_uniform(step, seed=-5, shape=shape, dtype=dtype, minval=1.0, maxval=2.0))
    for s in (0, 1, 2 ** 40 + 3):
        eager, compiled = _run_both(b.graph, [np.array(s, np.int64)])
        for e, c in zip(eager, compiled):
            np.testing.assert_array_equal(c, e)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_normal_matches_within_ulps(dtype):
    b = GraphBuilder(name="n")
    step = b.input("step", (), "i64")
    b.output(b.random_normal(step, seed=7, shape=(5, 13), dtype=dtype, mean=0.5, stddev=2.0))
    eager, compiled = _run_both(b.graph, [np.array(3, np.int64)])
    rtol = 1e-13 if dtype == "f64" else 2e-7
    np.testing.assert_allclose(compiled[0], eager[0], rtol=rtol, atol=rtol)


def test_dropout_fused_is_identical():
    b = GraphBuilder(name="drop")
    x = b.input("x", (9, 11))
    step = b.input("step", (), "i64")
    b.output(b.relu(dropout(b, x, step, 0.3, seed=99)))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(9, 11)).astype(np.float32)
    for s in (0, 5):
        eager, compiled = _run_both(b.graph, [xs, np.array(s, np.int64)])
        np.testing.assert_array_equal(compiled[0], eager[0])
    kept = np.count_nonzero(eager[0]) / np.count_nonzero(np.maximum(xs, 0))
    assert 0.4 < kept < 0.95
