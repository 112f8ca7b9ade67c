"""Property test (hypothesis): fusion and multi-output merging never change a result.

Random small graphs mix what the fusion rules and the merge care about: elementwise chains with
broadcasts (row vectors, column vectors), reductions over either axis, matmuls whose results
get a bias and an activation (contraction epilogues, also through a reshape), general reshapes
and transposes, values read several times, and stored values read by several stored
readers (multi-output merging). Each graph must give

(a) the same results eagerly before and after the full pass pipeline (``PassManager().run``
    on a copy: simplify, then the fusion plan), and
(b) the same results compiled (fused, epilogues, merged kernels; LLVM) as eagerly.

Shapes use sizes that are not multiples of the vector width. Values stay bounded (tanh,
sigmoid and relu between products; weights scaled by 1/sqrt(K)), so a tolerance relative to
each output's largest magnitude covers reassociated sums and FMA contraction: 1e-4 (f32) and
1e-10 (f64), far below what a wrong index or a dropped term gives (order 1).
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from compiler import GraphBuilder
from compiler.ir.graph import Graph
from compiler.passes.manager import PassManager
from runtime.eager import run_graph
from runtime.program import Program

TOL = {"f32": 1e-4, "f64": 1e-10}
NP = {"f32": np.float32, "f64": np.float64}
UNARY = ("neg", "tanh", "relu", "sigmoid", "abs")
BINARY = ("add", "sub", "mul", "maximum")


@st.composite
def graphs(draw) -> tuple[Graph, dict[str, np.ndarray]]:
    dt = draw(st.sampled_from(("f32", "f64")))
    m = draw(st.sampled_from((1, 3, 5, 9, 13)))
    n = draw(st.sampled_from((2, 7, 10, 17, m, m)))   # square: transposes keep the shape
    b = GraphBuilder(name="prop")
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arrays: dict[str, np.ndarray] = {}

    def inp(name, shape, scale=1.0):
        arrays[name] = (rng.normal(size=shape) * scale).astype(NP[dt])
        return b.input(name, shape, dt)

    full = (m, n)
    pool = [inp("x", full), inp("y", full)]
    rows = inp("r", (n,))            # a row vector, broadcast over rows
    cols = inp("c", (m, 1))          # a column vector, broadcast over columns
    wn = inp("wn", (n, n), 1 / np.sqrt(n))
    wm = inp("wm", (m, m), 1 / np.sqrt(m))
    pick = lambda: draw(st.sampled_from(pool))  # noqa: E731
    forced = []   # values that become outputs (stored: candidates for multi-output merging)

    for _ in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(("unary", "binary", "bcast", "reduce", "matmul",
                                     "matmul_left", "transpose", "transpose", "reshape",
                                     "fanout")))
        v = pick()
        if kind == "unary":
            out = b.op(draw(st.sampled_from(UNARY)), v)
        elif kind == "binary":
            out = b.op(draw(st.sampled_from(BINARY)), v, pick())
        elif kind == "bcast":
            out = b.op(draw(st.sampled_from(BINARY)), v, draw(st.sampled_from((rows, cols))))
        elif kind == "reduce":
            # reduce over rows (-> a row vector) or columns (-> a column vector via reshape),
            # then broadcast back into the matrix space
            if draw(st.booleans()):
                red = b.op(draw(st.sampled_from(("sum", "max", "mean"))), v, axes=(0,))
                out = b.mul(b.tanh(red), v)
            else:
                red = b.reshape(b.op(draw(st.sampled_from(("sum", "min"))), v, axes=(1,)),
                                shape=(m, 1))
                out = b.sub(v, b.tanh(red))
        elif kind == "matmul":
            # product + bias + activation: a contraction epilogue candidate
            out = b.op(draw(st.sampled_from(("tanh", "relu", "sigmoid"))),
                       b.add(b.matmul(v, wn), rows))
        elif kind == "matmul_left":
            mm = b.matmul(wm, v)
            if draw(st.booleans()):   # read through a reshape: [m,n] -> [m*n] -> [m,n]
                mm = b.reshape(b.relu(b.reshape(mm, shape=(m * n,))), shape=full)
            out = b.tanh(mm)
        elif kind == "transpose" and m == n:
            # a stored value read transposed by the next kernel, of the same shape (no merge)
            s = b.tanh(v)
            forced.append(s)
            out = b.add(b.transpose(b.sigmoid(s), perm=(1, 0)), pick())
        elif kind == "transpose":
            # transposed twice, with work in between (a view read, and an operand in memory)
            t = b.sigmoid(b.transpose(v, perm=(1, 0)))
            out = b.add(b.transpose(t, perm=(1, 0)), pick())
        elif kind == "fanout":
            # a stored (not cheap) value read by two stored readers: their kernels merge
            e = b.exp(b.tanh(v))
            forced.append(b.add(e, pick()))
            out = b.mul(e, pick())
            forced.append(out)
        else:
            # a general reshape (moves elements across rows) and back
            r = b.neg(b.reshape(v, shape=(n, m)))
            out = b.mul(b.reshape(r, shape=full), pick())
        pool.append(out)

    outs = [pool[-1]] + forced + draw(st.lists(st.sampled_from(pool[2:-1] or pool[-1:]),
                                               max_size=3))
    if draw(st.booleans()):
        outs.append(b.sum(pool[-1], axes=(1,)))
    b.output(*outs)
    return b.graph, arrays


def assert_close(got, want, dt, what):
    assert len(got) == len(want)
    for i, (a, e) in enumerate(zip(got, want)):
        assert a.shape == e.shape and a.dtype == e.dtype, (what, i)
        scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
        np.testing.assert_allclose(a, e, rtol=TOL[dt], atol=TOL[dt] * scale,
                                   err_msg=f"{what}: output {i}")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(graphs())
def test_fused_and_merged_graphs_agree_with_eager(case):
    g, arrays = case
    dt = g.inputs[0].dtype
    want = run_graph(g, arrays)
    passed, plan = PassManager().run(g)
    assert passed is not g
    assert_close(run_graph(passed, arrays), want, dt, f"after the pipeline\n{g}")
    got = Program(g, {}, backend="llvm")(arrays)
    assert_close(got, want, dt, f"compiled\n{g}")
