"""Convolution, pooling, gather and scatter-add compiled through LLVM vs the eager interpreter.

Every case compiles the op *and* its VJP graph (as tests/opcheck.py ``forward_and_grad_graph``
builds it; the cases of one family share one program, which keeps the cold-cache compile time
of this file down), in float64 and float32, over shapes chosen to reach every edge of the
lowering and of the generated loops: vector tails (channel counts not a multiple of the
vector width), size-1 and zero-size dims, 1x1 kernels (the patch matrix is a view of the input:
no im2col), kernels as large as the image, strides larger than the kernel (pixels no window
reads), "same" padding with even kernels (asymmetric), dilation, and operands read through
transposed views.

Beyond agreement with eager: out-of-range gather/scatter indices raise InputError from the
compiled program (never a crash or a stray read/write), also from inside a scan body, and
big kernels, which split across threads, give bit-identical results for 1 and 2 threads.

Tolerances: float64 ~1e-11 relative (summation order in the GEMM; pooling follows the
reference's order); float32 2e-5 relative with an absolute floor for conv results near zero
(sums of up to a few hundred products).
"""
from __future__ import annotations

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.errors import InputError
from compiler.ir import dtypes
from compiler.llvm import parallel
from compiler.llvm.parallel import Threading
from compiler.ops import get_op
from compiler.ops.scan import build_scan
from compiler.passes.autodiff import gradients
from compiler.pipeline import CompileOptions
from opcheck import check_compiled, cotangent_weights, forward_and_grad_graph
from runtime.eager import Interpreter
from runtime.program import Program

TOL = {"f64": (1e-11, 1e-12), "f32": (2e-5, 1e-5)}
NP = {"f32": np.float32, "f64": np.float64}


def _cast(arrays, dtype):
    return [a.astype(NP[dtype]) if a.dtype.kind == "f" else a for a in arrays]


def _check(op, arrays, attrs, dtype, seed=0):
    """One op and its VJP, in a program of its own."""
    arrays = _cast(arrays, dtype)
    graph = forward_and_grad_graph(op, arrays, attrs, seed)
    check_compiled(graph, arrays, *TOL[dtype], label=f"{op} {attrs} {dtype}")


def _check_many(cases, dtype, name):
    """Several ops, each with the VJP of ``sum(out * R)`` (as forward_and_grad_graph builds
    it), as independent parts of ONE program: one compile (one GEMM per dtype, LLVM's fixed
    costs once) instead of one per case, which keeps the cold-cache run of this file short.
    ``cases``: (label, op, arrays, attrs); a mismatch names the case and the output."""
    b = GraphBuilder(name=name)
    arrays, labels, outputs, terms, wrt = [], [], [], [], []
    for j, (label, op, arrs, attrs) in enumerate(cases):
        arrs = _cast(arrs, dtype)
        ins = [b.input(f"c{j}_a{i}", a.shape, dtypes.from_numpy(a.dtype))
               for i, a in enumerate(arrs)]
        out = b.op(op, *ins, **attrs)
        outs = list(out) if isinstance(out, tuple) else [out]
        arrays += arrs
        outputs += outs
        labels += [f"{label}: {op} output {i}" for i in range(len(outs))]
        if not get_op(op).differentiable:
            continue
        mine = [b.sum(b.mul(o, b.constant(w)))
                for o, w in zip(outs, cotangent_weights(outs, j)) if w is not None]
        if mine:
            terms += mine
            wrt += [(v, f"{label}: d{op}/d operand {i}") for i, v in enumerate(ins)
                    if dtypes.is_float(v.dtype)]
    grads = []
    if terms:
        loss = terms[0]
        for t in terms[1:]:
            loss = b.add(loss, t)
        grads = gradients(b.graph, loss, [v for v, _ in wrt])
    b.graph.outputs = outputs + grads
    labels += [lab for _, lab in wrt]
    expected = Interpreter(b.graph).run(arrays)
    got = Program(b.graph, backend="llvm")(arrays)
    rtol, atol = TOL[dtype]
    for lab, g, e in zip(labels, got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape, (lab, g.dtype, g.shape, e.shape)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"{lab} ({dtype}) compiled vs eager")


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _label(shape, attrs):
    return "x".join(map(str, shape)) + " " + (
        " ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in attrs.items())
        or "defaults")


# -- convolution ----------------------------------------------------------------------------------
# (x shape NHWC, kernel shape HWIO, attrs)
CONV = [
    ((2, 5, 6, 3), (3, 3, 3, 4), {"padding": "same"}),
    ((2, 5, 6, 3), (1, 1, 3, 4), {}),                                        # patches = x
    ((2, 7, 9, 5), (1, 1, 5, 3), {"strides": (2, 3)}),                       # 1x1, strided
    ((1, 8, 8, 9), (2, 2, 9, 10), {"padding": "same"}),                      # even: asymmetric
    ((2, 9, 7, 3), (3, 2, 3, 4), {"padding": "same", "strides": (2, 3)}),
    ((2, 9, 7, 3), (2, 3, 3, 4), {"dilation": (2, 2)}),
    ((1, 10, 11, 2), (3, 3, 2, 3), {"padding": "same", "strides": (2, 2), "dilation": (2, 1)}),
    ((2, 6, 7, 3), (2, 2, 3, 2), {"strides": (3, 3)}),                       # stride > kernel
    ((2, 3, 3, 4), (5, 4, 4, 3), {"padding": "same"}),                       # kernel > image
    ((2, 4, 5, 3), (4, 5, 3, 2), {}),                                        # kernel = image
    ((1, 1, 1, 17), (1, 1, 17, 3), {}),
    ((3, 6, 5, 8), (3, 3, 8, 16), {"padding": "same", "strides": (2, 2)}),
    ((2, 5, 5, 1), (3, 3, 1, 1), {"padding": "same"}),
    ((0, 5, 5, 3), (3, 3, 3, 2), {"padding": "same"}),                       # empty batch
    ((2, 4, 4, 0), (3, 3, 0, 2), {"padding": "same"}),                       # no channels
    ((2, 4, 4, 3), (3, 3, 3, 0), {}),                                        # no filters
]


#: cases for the gradient ops used as ops of their own (their VJPs are conv2d and the other one)
GRAD_CONV = [CONV[4], CONV[6]]


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_conv2d(dtype):
    """conv2d (with its VJP: both gradient ops) over CONV, and the gradient ops on their own
    over GRAD_CONV, in one program."""
    cases = [(f"x {_label(xs, a)} w {_label(ws, {})}", "conv2d",
              [_normal(*xs), _normal(*ws, seed=1)], a) for xs, ws, a in CONV]
    for xs, ws, attrs in GRAD_CONV:
        probe = GraphBuilder()
        gshape = probe.conv2d(probe.input("x", xs), probe.input("w", ws), **attrs).shape
        label = f"x {_label(xs, attrs)} w {_label(ws, {})}"
        cases.append((label, "conv2d_input_grad", [_normal(*gshape, seed=2), _normal(*ws, seed=1)],
                      {**attrs, "shape": xs}))
        cases.append((label, "conv2d_filter_grad", [_normal(*xs), _normal(*gshape, seed=2)],
                      {**attrs, "shape": ws}))
    _check_many(cases, dtype, "conv_sweep")


def _lowered_conv(xs, ws, **attrs):
    from compiler.kernels.lower import lower

    b = GraphBuilder(name="conv")
    x, w = b.input("x", xs), b.input("w", ws)
    y = b.conv2d(x, w, **attrs)
    b.output(y, *gradients(b.graph, b.sum(b.square(y)), [x, w]))
    return lower(b.graph).kernels


def test_conv2d_lowers_to_im2col_gemm_col2im():
    from compiler.kernels.families import Col2im, Im2col
    from compiler.kernels.ir import Matmul

    ks = _lowered_conv((2, 6, 6, 3), (3, 3, 3, 4), padding="same")
    kinds = [type(k).__name__ for k in ks if isinstance(k, (Im2col, Col2im, Matmul))]
    # forward: im2col, gemm; input grad: gemm, col2im; filter grad: im2col, gemm
    assert kinds == ["Im2col", "Matmul", "Matmul", "Col2im", "Im2col", "Matmul"]
    fgrad = [k for k in ks if isinstance(k, Matmul)][-1]
    cols = [k for k in ks if isinstance(k, Im2col)][-1].out[0]
    abuf, aview = fgrad.a
    assert abuf is cols and aview.strides == (1, 27)      # cols^T as a view, not a copy
    # 1x1, stride 1: the patch matrix is x itself and the input gradient is one GEMM into dx
    ks = _lowered_conv((2, 5, 5, 3), (1, 1, 3, 4))
    assert [type(k).__name__ for k in ks if isinstance(k, (Im2col, Col2im, Matmul))] == \
        ["Matmul"] * 3


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_conv2d_on_transposed_operands(dtype):
    """x arrives NCHW and the kernel OIHW: both are read through transposed views."""
    b = GraphBuilder(name="conv_t")
    x = b.input("x", (2, 3, 6, 7), dtype)
    w = b.input("w", (4, 3, 3, 2), dtype)
    xt = b.transpose(x, perm=(0, 2, 3, 1))
    wt = b.transpose(w, perm=(2, 3, 1, 0))
    y = b.conv2d(xt, wt, padding="same", strides=(2, 1))
    y1 = b.conv2d(xt, b.slice(wt, starts=(1, 1, 0, 0), limits=(2, 2, 3, 4)))   # 1x1, a view
    p = b.max_pool2d(xt, pool_size=(2, 3), strides=(1, 2), padding="same")
    loss = b.add(b.add(b.sum(b.square(y)), b.sum(b.mul(y1, y1))), b.sum(b.exp(p)))
    b.output(y, y1, p, *gradients(b.graph, loss, [x, w]))
    arrays = [_normal(2, 3, 6, 7).astype(NP[dtype]), _normal(4, 3, 3, 2, seed=1).astype(NP[dtype])]
    check_compiled(b.graph, arrays, *TOL[dtype], label=f"transposed {dtype}")


# -- pooling --------------------------------------------------------------------------------------
POOL = [
    ((2, 5, 6, 3), {}),
    ((2, 5, 6, 3), {"padding": "same"}),
    ((2, 7, 7, 9), {"pool_size": (3, 3), "strides": (2, 2), "padding": "same"}),
    ((1, 6, 7, 10), {"pool_size": (2, 3), "strides": (1, 2), "padding": "same"}),
    ((2, 5, 5, 3), {"pool_size": (2, 2), "strides": (3, 3)}),            # stride > pool
    ((0, 4, 4, 2), {"padding": "same"}),
    ((2, 1, 1, 3), {"pool_size": (1, 1)}),
    ((1, 4, 4, 8), {"pool_size": (4, 4)}),                               # global pool
    ((2, 3, 3, 2), {"pool_size": (4, 4), "padding": "same"}),            # pool > image
    ((1, 9, 8, 17), {"pool_size": (3, 2), "strides": (2, 1), "padding": "same"}),
]


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_pool(dtype):
    """max/avg pooling (with their VJPs: the gradient ops) over POOL, and the gradient ops on
    their own over a few of them, in one program."""
    cases = [(_label(shape, attrs), op, [_normal(*shape)], attrs)
             for shape, attrs in POOL for op in ("max_pool2d", "avg_pool2d")]
    for shape, attrs in POOL[2:4]:
        probe = GraphBuilder()
        gshape = probe.max_pool2d(probe.input("x", shape), **attrs).shape
        cases.append((_label(shape, attrs), "max_pool2d_grad",
                      [_normal(*shape), _normal(*gshape, seed=2)], attrs))
        cases.append((_label(shape, attrs), "avg_pool2d_grad", [_normal(*gshape, seed=2)],
                      {**attrs, "shape": shape}))
    _check_many(cases, dtype, "pool_sweep")


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_max_pool_ties_nan_and_inf_route_like_eager(dtype):
    """Ties go to the first maximal element in window order, NaN wins, -inf windows work."""
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, size=(2, 6, 7, 9)).astype(NP[dtype])     # many ties
    x[0, 1, 1, 0] = x[1, 4, 5, 3] = x[1, 4, 4, 3] = np.nan
    x[0, 3:, 3:, 2] = -np.inf
    _check_many([(_label(x.shape, attrs), "max_pool2d", [x], attrs)
                 for attrs in ({"pool_size": (3, 3), "strides": (1, 1), "padding": "same"},
                               {"pool_size": (2, 2), "padding": "same"})], dtype, "ties")


# -- gather / scatter-add ------------------------------------------------------------------------
def _idx(*shape, hi, dtype=np.int64, seed=3):
    return np.random.default_rng(seed).integers(0, hi, size=shape).astype(dtype)


GATHER = [
    ("axis0", lambda: [_normal(5, 3), _idx(2, 4, hi=5)], {}),
    ("axis1", lambda: [_normal(2, 5, 3), _idx(4, hi=5)], {"axis": 1}),
    ("last_axis", lambda: [_normal(3, 5), _idx(2, 2, hi=5, dtype=np.int32)], {"axis": -1}),
    ("scalar_index", lambda: [_normal(4, 6), np.array(2)], {}),
    ("vector", lambda: [_normal(7), _idx(9, hi=7)], {}),
    ("wide_rows", lambda: [_normal(11, 37), _idx(3, 5, hi=11, dtype=np.int32)], {}),
    ("middle", lambda: [_normal(3, 4, 2, 5), _idx(3, 2, hi=4)], {"axis": 1}),
    ("no_indices", lambda: [_normal(5, 3), _idx(0, hi=5)], {}),
    ("empty_rows", lambda: [_normal(5, 0), _idx(3, hi=5)], {}),
    ("ints", lambda: [_idx(6, 4, hi=100), _idx(5, hi=6)], {}),
]


@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("name,make,attrs", GATHER, ids=[g[0] for g in GATHER])
def test_gather(name, make, attrs, dtype):
    _check("gather", make(), attrs, dtype)


SCATTER = [
    ("rows", lambda: [_idx(6, hi=4), _normal(6, 3)], {"shape": (4, 3)}),
    ("index_matrix", lambda: [_idx(2, 3, hi=4, dtype=np.int32), _normal(2, 3, 5)],
     {"shape": (4, 5)}),
    ("wide", lambda: [_idx(9, hi=3), _normal(9, 37)], {"shape": (3, 37)}),
    ("scalars", lambda: [_idx(7, hi=5), _normal(7)], {"shape": (5,)}),
    ("deep", lambda: [_idx(4, hi=3), _normal(4, 2, 3)], {"shape": (3, 2, 3)}),
    ("no_indices", lambda: [_idx(0, hi=3), _normal(0, 2)], {"shape": (3, 2)}),
    ("ints", lambda: [_idx(5, hi=3), _idx(5, 4, hi=50, dtype=np.int32)], {"shape": (3, 4)}),
]


@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("name,make,attrs", SCATTER, ids=[s[0] for s in SCATTER])
def test_scatter_add(name, make, attrs, dtype):
    _check("scatter_add", make(), attrs, dtype)


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_gather_on_transposed_params(dtype):
    b = GraphBuilder(name="gather_t")
    p = b.input("p", (6, 5), dtype)
    i = b.input("i", (3, 2), "i64")
    y = b.gather(b.transpose(p), i, axis=1)          # params [5, 6] through a transposed view
    loss = b.sum(b.mul(y, y))
    b.output(y, *gradients(b.graph, loss, [p]))
    arrays = [_normal(6, 5).astype(NP[dtype]), _idx(3, 2, hi=6)]
    check_compiled(b.graph, arrays, *TOL[dtype], label="gather transposed")


def _gather_program():
    b = GraphBuilder(name="lookup")
    table = b.input("table", (5, 3))
    idx = b.input("idx", (4,), "i32")
    with b.location("embedding"):
        rows = b.gather(table, idx)
    b.output(b.sum(b.relu(rows)), gradients(b.graph, b.sum(b.square(rows)), [table])[0])
    return Program(b.graph, backend="llvm")


@pytest.mark.parametrize("bad", [5, 6, 2 ** 31 - 1, -1, -2 ** 31])
def test_out_of_range_gather_raises_input_error(bad):
    prog = _gather_program()
    table = np.ones((5, 3), np.float32)
    with pytest.raises(InputError, match=r"gather %\S+ \(built at embedding\): index out of "
                                         r"range \[0, 5\)"):
        prog([table, np.array([0, 1, bad, 4], np.int32)])
    # the program is still usable afterwards
    loss, grad = prog([table, np.array([0, 1, 2, 4], np.int32)])
    assert float(loss) == 12.0 and grad.sum() == 24.0


@pytest.mark.parametrize("bad", [4, 1 << 40, -1, -(1 << 62)])
def test_out_of_range_scatter_add_raises_input_error(bad):
    b = GraphBuilder(name="scatter")
    idx = b.input("idx", (3,), "i64")
    upd = b.input("upd", (3, 2))
    b.output(b.scatter_add(idx, upd, shape=(4, 2)))
    prog = Program(b.graph, backend="llvm")
    upd_v = np.ones((3, 2), np.float32)
    with pytest.raises(InputError, match=r"scatter_add %\S+ .*index out of range \[0, 4\)"):
        prog([np.array([0, bad, 3]), upd_v])
    (out,) = prog([np.array([0, 3, 3]), upd_v])
    np.testing.assert_array_equal(out, [[1, 1], [0, 0], [0, 0], [2, 2]])


def test_out_of_range_index_inside_a_scan_body():
    """A status raised in a scan body stops the scan and reaches the runtime's message table."""
    b = GraphBuilder(name="scan_lookup")
    table = b.input("table", (5, 3))
    ids = b.input("ids", (4, 2), "i64")
    h0 = b.input("h0", (3,))

    def step(bb, carries, xs, consts):
        (h,), (i,), (t,) = carries, xs, consts
        with bb.location("step_embed"):
            rows = bb.gather(t, i)
        hn = bb.tanh(bb.add(h, bb.sum(rows, axes=(0,))))
        return [hn], [hn]

    (h_last,), _ = build_scan(b, step, [h0], [ids], [table])
    b.output(h_last)
    prog = Program(b.graph, backend="llvm")
    args = [_normal(5, 3).astype(np.float32), _idx(4, 2, hi=5), np.zeros(3, np.float32)]
    (got,) = prog(args)
    np.testing.assert_allclose(got, Interpreter(b.graph).run(args)[0], rtol=2e-5, atol=1e-6)
    args[1][2, 1] = 7
    with pytest.raises(InputError, match=r"gather %\S+ \(built at step_embed\): index out of "
                                         r"range \[0, 5\)"):
        prog(args)


# -- threads -------------------------------------------------------------------------------------
@pytest.mark.skipif(not parallel.openmp_available(), reason="needs libgomp for 2 threads")
def test_big_kernels_give_the_same_bits_on_1_and_2_threads():
    """Sizes above PARALLEL_MIN_ELEMENTS: im2col, col2im, pooling and its gradients, gather and
    scatter-add split across threads; every element is computed once, in the same order."""
    b = GraphBuilder(name="big")
    x = b.input("x", (4, 20, 22, 16))
    w = b.input("w", (3, 3, 16, 12))
    table = b.input("table", (300, 40))
    idx = b.input("idx", (40, 30), "i32")
    y = b.conv2d(x, w, padding="same", strides=(1, 2))
    p = b.max_pool2d(b.relu(y), pool_size=(3, 3), strides=(2, 1), padding="same")
    a = b.avg_pool2d(x, pool_size=(2, 3), strides=(1, 1), padding="same")
    e = b.gather(table, idx)
    loss = b.add(b.add(b.sum(b.square(p)), b.sum(b.mul(a, a))), b.sum(b.square(e)))
    b.output(loss, *gradients(b.graph, loss, [x, w, table]))
    rng = np.random.default_rng(9)
    arrays = [rng.normal(size=v.shape).astype(np.float32) for v in b.graph.inputs[:3]]
    arrays.append(rng.integers(0, 300, size=(40, 30)).astype(np.int32))
    results = []
    for n in (1, 2):
        opts = CompileOptions(threading=Threading(n))
        results.append(Program(b.graph, backend="llvm", compile_options=opts)(arrays))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
    expected = Interpreter(b.graph).run(arrays)
    for got, want in zip(results[1], expected):
        # float32 sums of hundreds of terms: errors scale with the largest magnitude
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
