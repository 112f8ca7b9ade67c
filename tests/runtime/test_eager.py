"""The eager interpreter: argument binding and checking, memory freeing, scans."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from compiler import GraphBuilder, InputError, KilnError, TensorType, VerificationError
from compiler.ops.scan import build_scan
from runtime.eager import Interpreter, run_graph


def dense_graph():
    """y = relu(x @ w + b), s = sum(y)."""
    b = GraphBuilder(name="dense")
    x = b.input("x", (2, 3), "f32")
    w = b.param("w", (3, 4), "f32")
    bias = b.param("b", (4,), "f32")
    y = b.relu(b.add(b.matmul(x, w), bias))
    b.output(y, b.sum(y))
    return b.graph


X = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], np.float32)
W = np.arange(12, dtype=np.float32).reshape(3, 4) / 10 - 0.5
B = np.array([0.1, -0.2, 0.3, -0.4], np.float32)


def expected_dense(x, w, b):
    y = np.maximum(x.astype(np.float64) @ w + b, 0)
    return y, y.sum()


# -- running ----------------------------------------------------------------------------------
def test_run_by_name_positionally_and_one_shot():
    g = dense_graph()
    want_y, want_s = expected_dense(X, W, B)
    it = Interpreter(g)
    for args in ({"x": X, "w": W, "b": B}, {"b": B, "x": X, "w": W}, [X, W, B], (X, W, B)):
        y, s = it.run(args)
        assert y.dtype == np.float32 and y.shape == (2, 4)
        assert s.dtype == np.float32 and s.shape == ()
        np.testing.assert_allclose(y, want_y, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(s, want_s, rtol=1e-6)
    y, s = run_graph(g, {"x": X, "w": W, "b": B})
    np.testing.assert_allclose(y, want_y, rtol=1e-6, atol=1e-6)


def test_repeated_runs_do_not_share_results():
    it = Interpreter(dense_graph())
    y1, _ = it.run([X, W, B])
    keep = y1.copy()
    y2, _ = it.run([X * 2, W, B])
    np.testing.assert_array_equal(y1, keep)  # the first result was not overwritten
    np.testing.assert_allclose(y2, expected_dense(X * 2, W, B)[0], rtol=1e-6, atol=1e-6)


def test_non_contiguous_arguments_are_read_correctly():
    big = np.asfortranarray(np.tile(X, (1, 1)))
    strided = np.zeros((2, 6), np.float32)
    strided[:, ::2] = X
    for x in (big, strided[:, ::2], X[::-1][::-1]):
        y, _ = Interpreter(dense_graph()).run([x, W, B])
        np.testing.assert_allclose(y, expected_dense(X, W, B)[0], rtol=1e-6, atol=1e-6)


def test_interpreter_verifies_the_graph():
    g = dense_graph()
    g.nodes[0].outputs[0].type = TensorType((9, 9), "f32")
    with pytest.raises(VerificationError):
        Interpreter(g)


# -- argument errors ----------------------------------------------------------------------------
GOOD = {"x": X, "w": W, "b": B}


@pytest.mark.parametrize("args, words", [
    (dict(GOOD, x=X.T.copy()), ["%x", "expected f32[2,3]", "[3, 2]"]),
    (dict(GOOD, w=np.zeros((3,), np.float32)), ["%w", "expected f32[3,4]", "[3]"]),
    (dict(GOOD, x=X.astype(np.float64)), ["%x", "expected f32[2,3]", "float64"]),
    (dict(GOOD, b=B.astype(np.int32)), ["%b", "expected f32[4]", "int32"]),
    (dict(GOOD, x=X.tolist()), ["%x", "numpy array", "f32[2,3]", "list"]),
    (dict(GOOD, b=1.5), ["%b", "numpy array", "f32[4]", "float"]),
    (dict(GOOD, b=None), ["%b", "numpy array", "NoneType"]),
    ({"x": X, "w": W}, ["missing", "%b"]),
    ({"x": X}, ["missing", "%w", "%b"]),
    (dict(GOOD, bias=B), ["no argument", "%bias", "%x, %w, %b"]),
    ([X, W], ["takes 3 argument(s)", "got 2"]),
    ([X, W, B, B], ["takes 3 argument(s)", "got 4"]),
    ([], ["takes 3 argument(s)", "got 0"]),
    ([W, X, B], ["%x", "expected f32[2,3]", "[3, 4]"]),
])
def test_bad_arguments_raise_input_error_naming_them(args, words):
    it = Interpreter(dense_graph())
    with pytest.raises(InputError) as info:
        it.run(args)
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert isinstance(info.value, KilnError) and isinstance(info.value, ValueError)


def test_scalar_argument_needs_a_zero_dimensional_array():
    b = GraphBuilder(name="s")
    t = b.input("t", (), "f64")
    b.output(b.mul(t, 2.0))
    it = Interpreter(b.graph)
    assert it.run([np.array(1.5)])[0] == 3.0
    with pytest.raises(InputError, match=r"%t.*f64\[\].*\[1\]"):
        it.run([np.array([1.5])])


# -- outputs that are arguments -------------------------------------------------------------------
def test_outputs_that_are_also_inputs():
    b = GraphBuilder(name="g")
    x = b.input("x", (3,), "f64")
    p = b.param("p", (2,), "i64")
    unused = b.input("unused", (1,), "bool")
    n = b.neg(x)
    b.output(x, n, x, p, n)
    xv = np.array([1.0, -2.0, 3.5])
    pv = np.array([7, -8])
    uv = np.array([True])
    for track in (False, True):
        out = Interpreter(b.graph).run({"x": xv, "p": pv, "unused": uv}, track_memory=track)
        assert len(out) == 5
        np.testing.assert_array_equal(out[0], [1.0, -2.0, 3.5])
        np.testing.assert_array_equal(out[1], [-1.0, 2.0, -3.5])
        np.testing.assert_array_equal(out[2], [1.0, -2.0, 3.5])
        np.testing.assert_array_equal(out[3], [7, -8])
        np.testing.assert_array_equal(out[4], [-1.0, 2.0, -3.5])
        assert out[3].dtype == np.int64
    np.testing.assert_array_equal(xv, [1.0, -2.0, 3.5])  # the argument is untouched


def test_outputs_are_arrays_and_can_be_fed_back():
    b = GraphBuilder(name="g")
    x = b.input("x", (), "f64")
    v = b.input("v", (3,), "f64")
    s = b.sum(b.mul(v, x))          # a full reduction
    m = b.max(v)
    b.output(s, m)
    it = Interpreter(b.graph)
    s_out, m_out = it.run([np.array(2.0), np.array([1.0, -3.0, 0.5])])
    for r in (s_out, m_out):
        assert isinstance(r, np.ndarray) and r.shape == () and r.dtype == np.float64
    assert s_out == -3.0 and m_out == 1.0
    s2, _ = it.run([s_out, np.array([1.0, 1.0, 1.0])])  # an output fed back as an input
    assert s2 == -9.0


def test_graph_without_nodes():
    b = GraphBuilder(name="id")
    x = b.input("x", (2,), "f32")
    b.output(x)
    (y,) = Interpreter(b.graph).run([np.array([1.0, 2.0], np.float32)])
    np.testing.assert_array_equal(y, [1.0, 2.0])


# -- memory ---------------------------------------------------------------------------------------
N = 1 << 19  # elements; f64 -> 4 MiB per array
NB = N * 8
CHAIN = 12   # tanh/add pairs: 24 intermediates


def chain_graph():
    """v <- add(tanh(v), x), CHAIN times: x stays live to the end, each v dies at once."""
    b = GraphBuilder(name="chain")
    x = b.input("x", (N,), "f64")
    v = x
    for _ in range(CHAIN):
        v = b.add(b.tanh(v), x)
    b.output(v)
    return b.graph


def test_intermediates_are_freed_in_the_accounting():
    g = chain_graph()
    it = Interpreter(g)
    xv = np.linspace(-1, 1, N)
    (out,) = it.run({"x": xv}, track_memory=True)
    intermediates = 2 * CHAIN * NB
    # Largest live set, by hand: x, the value being read and the one being written.
    assert it.peak_bytes == 3 * NB
    assert it.peak_bytes < intermediates / 5
    ref = xv
    for _ in range(CHAIN):
        ref = np.tanh(ref) + xv
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_intermediates_are_really_freed():
    g = chain_graph()
    it = Interpreter(g)
    xv = np.linspace(-1, 1, N)
    it.run({"x": xv})  # warm up (plans, caches)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        (out,) = it.run({"x": xv})
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # x already exists: at most two new arrays live at once (+ small change)
    assert peak < 2 * NB + NB // 2, peak
    assert out.shape == (N,)


def test_views_keep_their_buffer_counted():
    """A reshape view keeps its base alive: the accounting must not drop the base early."""
    b = GraphBuilder(name="views")
    x = b.input("x", (N,), "f64")
    a = b.exp(x)
    r = b.reshape(a, shape=(N // 4, 4))    # a view of a's buffer; a itself is now dead
    c = b.exp(r)
    b.output(b.add(r, c))
    it = Interpreter(b.graph)
    it.run({"x": np.zeros(N)}, track_memory=True)
    # At the add: a's buffer (through r), c and the result; x is dead by then.
    assert it.peak_bytes == 3 * NB


def test_aliases_are_not_counted_twice():
    b = GraphBuilder(name="alias")
    x = b.input("x", (N,), "f64")
    s = b.stop_gradient(x)
    t = b.add(s, x)
    b.output(t, s)
    it = Interpreter(b.graph)
    xv = np.ones(N)
    t_out, s_out = it.run({"x": xv}, track_memory=True)
    np.testing.assert_array_equal(t_out, 2.0)
    # x and (s, if it is x's buffer) plus t; a copy for s would be a third buffer
    buffers = 2 if np.shares_memory(s_out, xv) else 3
    assert it.peak_bytes == buffers * NB


def test_peak_includes_arguments():
    b = GraphBuilder(name="g")
    x = b.input("x", (1000,), "f64")
    y = b.input("y", (500,), "f32")
    b.output(b.sum(x), y)
    it = Interpreter(b.graph)
    it.run([np.zeros(1000), np.zeros(500, np.float32)], track_memory=True)
    assert it.peak_bytes == 8000 + 2000 + 8


# -- scan ---------------------------------------------------------------------------------------
def rnn_step(bb, c, xt, p):
    h, n = c
    (w,) = p
    pre = bb.add(bb.reshape(bb.matmul(bb.reshape(h, shape=(1, 3)), w), shape=(3,)), xt[0])
    h2 = bb.tanh(pre)
    return [h2, bb.add(n, 1)], [bb.mul(h2, 2.0), pre]


def numpy_rnn(xs, h0, w, reverse):
    T = xs.shape[0]
    h, n = h0.copy(), 0
    ys = np.zeros((T, 3))
    pres = np.zeros((T, 3))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        pre = h @ w + xs[t]
        h = np.tanh(pre)
        n += 1
        ys[t] = 2 * h
        pres[t] = pre
    return h, n, ys, pres


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T", [5, 1, 0])
def test_scan_matches_a_python_loop(reverse, T):
    b = GraphBuilder(name="rnn")
    xs = b.input("xs", (T, 3), "f64")
    h0 = b.input("h0", (3,), "f64")
    w = b.param("w", (3, 3), "f64")
    (h, n), (ys, pres) = build_scan(b, rnn_step, [h0, b.constant(0, "i64")], [xs], [w],
                                    reverse=reverse)
    b.output(h, n, ys, pres)
    rng = np.random.default_rng(T)
    args = {"xs": rng.normal(size=(T, 3)), "h0": rng.normal(size=3),
            "w": rng.normal(size=(3, 3)) * 0.5}
    got = Interpreter(b.graph).run(args)
    want = numpy_rnn(args["xs"], args["h0"], args["w"], reverse)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
    assert got[1].dtype == np.int64 and int(got[1]) == want[1] == T
    assert got[2].shape == (T, 3) and got[3].shape == (T, 3)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-12, atol=1e-12)
    if T == 0:
        np.testing.assert_array_equal(got[0], args["h0"])


def test_scan_results_do_not_alias_the_initial_carry():
    b = GraphBuilder(name="g")
    xs = b.input("xs", (2, 3), "f64")
    c0 = b.input("c0", (3,), "f64")
    # the body passes the carry through unchanged and emits it as ys
    (c,), (ys,) = build_scan(b, lambda bb, c, xt, p: ([c[0]], [c[0]]), [c0], [xs])
    b.output(c, ys)
    c0v = np.array([1.0, 2.0, 3.0])
    c_out, ys_out = Interpreter(b.graph).run({"xs": np.zeros((2, 3)), "c0": c0v})
    np.testing.assert_array_equal(c_out, c0v)
    np.testing.assert_array_equal(ys_out, [c0v, c0v])
    c_out[0] = 99.0
    assert c0v[0] == 1.0


def test_scan_with_scalar_carry_from_a_reduction_and_rank_1_xs():
    b = GraphBuilder(name="g")
    xs = b.input("xs", (3, 2), "f64")
    ts = b.input("ts", (3,), "f64")   # one scalar per step
    c0 = b.input("c0", (), "f64")

    def step(bb, c, x, p):
        # the new carry is a full reduction (a scalar); ys is built from the scalar x[1]
        return [bb.sum(bb.add(x[0], c[0]))], [bb.mul(x[1], c[0])]

    (c,), (ys,) = build_scan(b, step, [c0], [xs, ts])
    b.output(c, ys)
    xv = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    tv = np.array([10.0, 20.0, 30.0])
    c_out, ys_out = Interpreter(b.graph).run({"xs": xv, "ts": tv, "c0": np.array(0.5)})
    # by hand: c = 0.5 -> 1+2+2*0.5 = 4 -> 3+4+2*4 = 15 -> 5+6+2*15 = 41
    assert c_out.shape == () and c_out == 41.0
    np.testing.assert_array_equal(ys_out, [10.0 * 0.5, 20.0 * 4, 30.0 * 15])
