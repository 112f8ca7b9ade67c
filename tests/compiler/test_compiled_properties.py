"""Property tests (hypothesis): random graphs compiled through LLVM agree with the eager
interpreter.

Each property draws a small random graph (shapes of rank 0-4 with sizes 0, 1, primes,
non-multiples of the vector width and sizes above it; some with more than
``PARALLEL_MIN_ELEMENTS`` points so the threaded split runs), compiles it, runs it on random
data and compares every output with the eager interpreter's.

Tolerances, and why:

* Elementwise chains: ``|compiled - eager| <= rtol * |eager| + rtol * scale`` with
  ``rtol = 16 * eps * (depth + 1)``: each op on each side may be off by a few ulp (vectorized
  polynomial transcendentals vs numpy's, FMA contraction), errors add up along the chain, and an
  op never amplifies them by more than the magnitude of the values it reads, ``scale`` (the
  largest intermediate the eager run produced). Every op of the vocabulary is applied to a
  guarded operand (log of ``|x| + 1``, division by ``|y| + 1``, exp of a clipped value, ...),
  so the chains stay well conditioned and finite. float32: eps = 1.2e-7, so about 1e-5 at
  depth 6; float64: eps = 2.2e-16, about 2e-14.
* Discontinuous ops (comparisons, select) read only the inputs, never a computed value, so
  both backends take the same branch and a mismatch is a real bug, not a rounding tie.
* Sums: the compiled reduction runs in vector lanes (reassociated), numpy pairwise; both are
  within ``eps * (c + sqrt(n)) * sum(|x|)`` of the exact sum for n summed terms with random
  signs (c covers the prologue's own error). Max/min inherit only the prologue's error.
* Softmax/log_softmax: relative ``64 * eps`` plus an absolute ``eps * (8 + sqrt(n))`` times
  the row's largest magnitude (the max-shift and the sum of exps).
* Matmul: ``|C - C_eager| <= 4 * eps * (sqrt(K) + 2) * (|A| @ |B|)``, the standard
  dot-product bound with the random-sign growth of sqrt(K) instead of the worst-case K.
* Integer graphs and boolean outputs must match exactly.

Costs: every example compiles one module (0.1-0.5 s at O3, most of the time of this file);
``max_examples`` is chosen per property to keep the file near a minute on two busy cores.
Set ``KILN_CACHE_DIR`` to share compiled modules across runs.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compiler import GraphBuilder
from compiler.ir.graph import Value
from compiler.llvm.codegen import PARALLEL_MIN_ELEMENTS
from compiler.passes.autodiff import gradients
from runtime.eager import Interpreter
from runtime.program import Program

NP = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}
EPS = {"f32": float(np.finfo(np.float32).eps), "f64": float(np.finfo(np.float64).eps)}

#: Dimension sizes: empty, unit, primes, around and above 8 lanes (f32 on AVX2) and 4 (f64).
SIZES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33)
#: Above every sample stays under the per-example budget of points; "big" shapes go past
#: PARALLEL_MIN_ELEMENTS so that the threaded split (and its uneven last block) runs.
SMALL_POINTS = 6000
BIG_POINTS = PARALLEL_MIN_ELEMENTS + 2011

_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])


#: ``KILN_PROPERTY_SCALE=10`` runs ten times as many examples (a deeper search, by hand).
_SCALE = float(os.environ.get("KILN_PROPERTY_SCALE", "1"))


def examples(n: int) -> settings:
    """Settings of a property: ``n`` examples (each one compile), no deadline."""
    return settings(_BASE, max_examples=max(1, round(n * _SCALE)))


# ==============================================================================================
# strategies
# ==============================================================================================
@st.composite
def shapes(draw, min_rank: int = 0, max_rank: int = 4, allow_empty: bool = True,
           allow_big: bool = True) -> tuple[int, ...]:
    """A shape; sometimes (when ``allow_big``) one with more than PARALLEL_MIN_ELEMENTS
    points, its last dim an odd number so the vector loop has a tail."""
    rank = draw(st.integers(min_rank, max_rank))
    sizes = SIZES if allow_empty else SIZES[1:]
    if allow_big and rank >= 1 and draw(st.integers(0, 4)) == 0:
        lead = [draw(st.sampled_from((1, 2, 3, 5))) for _ in range(rank - 1)]
        last = -(-BIG_POINTS // math.prod(lead)) | 1
        return tuple(lead) + (last,)
    shape = [draw(st.sampled_from(sizes)) for _ in range(rank)]
    while math.prod(shape) > SMALL_POINTS:
        shape[shape.index(max(shape))] //= 2
    return tuple(shape)


@st.composite
def broadcast_operands(draw, out_shape: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    """``n`` shapes that broadcast to exactly ``out_shape``: each drops some leading dims and
    sets some others to 1; the first keeps the full shape so the result has ``out_shape``."""
    result = [out_shape]
    for _ in range(n - 1):
        keep = draw(st.integers(0, len(out_shape)))
        tail = out_shape[len(out_shape) - keep:]
        result.append(tuple(1 if draw(st.booleans()) else d for d in tail))
    order = draw(st.permutations(range(n)))
    return [result[i] for i in order]


def random_array(rng: np.random.Generator, shape, dtype: str, scale: float = 1.5) -> np.ndarray:
    """Random values of ``dtype``: normals for floats (some exact zeros and ties too, which
    select, max and comparisons must treat alike), small integers for ints."""
    if dtype in ("i32", "i64"):
        return rng.integers(-50, 50, size=shape).astype(NP[dtype])
    a = rng.normal(scale=scale, size=shape)
    if a.size:
        a.flat[rng.integers(0, a.size, size=max(1, a.size // 16))] = 0.0
    return a.astype(NP[dtype])


# ==============================================================================================
# comparing the backends
# ==============================================================================================
def run_both(graph, arrays: Sequence[np.ndarray], extra: Sequence[Value] = ()
             ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Run ``graph`` compiled and eagerly. ``extra`` values are appended to the outputs for
    the eager run only (to measure intermediates without changing what is compiled).
    Returns (compiled outputs, eager outputs, eager values of ``extra``)."""
    outs = list(graph.outputs)
    got = Program(graph, backend="llvm")(list(arrays))
    graph.outputs = outs + list(extra)
    try:
        every = Interpreter(graph).run(list(arrays))
    finally:
        graph.outputs = outs
    return got, every[:len(outs)], every[len(outs):]


def magnitude(values: Sequence[np.ndarray]) -> float:
    """The largest finite magnitude among ``values`` (at least 1)."""
    m = 1.0
    for v in values:
        if v.dtype.kind == "f" and v.size:
            finite = np.abs(v[np.isfinite(v)])
            if finite.size:
                m = max(m, float(finite.max()))
    return m


def assert_agree(got: np.ndarray, want: np.ndarray, rtol: float, atol, label: str) -> None:
    """Same dtype and shape; integers and bools equal; floats within ``rtol * |want| + atol``
    (``atol`` may be an array broadcasting to the output), NaN where eager has NaN."""
    assert got.dtype == want.dtype, (label, got.dtype, want.dtype)
    assert got.shape == want.shape, (label, got.shape, want.shape)
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=label)
        return
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{label}: NaN positions differ"
    ok = np.isnan(want) | (got == want) | (np.abs(got.astype(np.float64) - want)
                                            <= rtol * np.abs(want) + atol)
    if not ok.all():
        bad = np.argwhere(~ok)[0]
        idx = tuple(bad)
        err = np.abs(got.astype(np.float64) - want)
        raise AssertionError(
            f"{label}: {int((~ok).sum())} of {ok.size} elements differ; first at {idx}: "
            f"compiled {got[idx]!r} eager {want[idx]!r} (max abs error {np.nanmax(err):.3g}, "
            f"rtol {rtol:.3g}, atol {np.max(atol):.3g})")


# ==============================================================================================
# random elementwise chains
# ==============================================================================================
#: Unary ops, each on a guarded operand so values stay finite and well conditioned.
UNARY: dict[str, Callable] = {
    "neg": lambda b, x: b.neg(x),
    "abs": lambda b, x: b.abs(x),
    "relu": lambda b, x: b.relu(x),
    "leaky_relu": lambda b, x: b.leaky_relu(x, alpha=0.1),
    "elu": lambda b, x: b.elu(x),
    "tanh": lambda b, x: b.tanh(x),
    "sigmoid": lambda b, x: b.sigmoid(x),
    "softplus": lambda b, x: b.softplus(x),
    "erf": lambda b, x: b.erf(x),
    "gelu": lambda b, x: b.gelu(x),
    "gelu_tanh": lambda b, x: b.gelu(b.clip(x, min=-50.0, max=50.0), approximate=True),
    "exp": lambda b, x: b.exp(b.clip(x, min=-8.0, max=8.0)),
    "log": lambda b, x: b.log(b.add(b.abs(x), 1.0)),
    "log1p": lambda b, x: b.log1p(b.abs(x)),
    "sqrt": lambda b, x: b.sqrt(b.add(b.abs(x), 0.25)),
    "rsqrt": lambda b, x: b.rsqrt(b.add(b.square(x), 1.0)),
    "square": lambda b, x: b.square(b.clip(x, min=-30.0, max=30.0)),
    "clip": lambda b, x: b.clip(x, min=-0.75, max=1.25),
}
#: Binary ops (guarded likewise).
BINARY: dict[str, Callable] = {
    "add": lambda b, x, y: b.add(x, y),
    "sub": lambda b, x, y: b.sub(x, y),
    "mul": lambda b, x, y: b.mul(b.clip(x, min=-100.0, max=100.0),
                                 b.clip(y, min=-100.0, max=100.0)),
    "div": lambda b, x, y: b.div(x, b.add(b.abs(y), 1.0)),
    "maximum": lambda b, x, y: b.maximum(x, y),
    "minimum": lambda b, x, y: b.minimum(x, y),
    "pow": lambda b, x, y: b.pow(b.add(b.abs(b.clip(x, min=-10.0, max=10.0)), 0.5),
                                 b.clip(y, min=-2.0, max=2.0)),
}
COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
#: Ops whose derivative jumps (kinks): kept out of float32 gradient chains, where a value
#: within rounding of the kink could take the other side in one backend.
KINKS = {"abs", "relu", "leaky_relu", "elu", "clip", "exp", "square", "mul", "maximum",
         "minimum", "log", "log1p", "sqrt", "rsqrt", "div", "pow", "gelu_tanh"}


@dataclass
class Chain:
    """A random elementwise DAG over the inputs: ``steps`` are (kind, op, operand indices),
    operand indices into the list of values built so far (inputs first)."""
    steps: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)
    n_outputs: int = 1

    @property
    def depth(self) -> int:
        return len(self.steps)


@st.composite
def chains(draw, n_inputs: int, min_ops: int = 1, max_ops: int = 6,
           unary: Sequence[str] = tuple(UNARY), binary: Sequence[str] = tuple(BINARY),
           selects: bool = True) -> Chain:
    """A random chain; ``select`` steps read two inputs' comparison as their condition."""
    chain = Chain()
    count = n_inputs
    for _ in range(draw(st.integers(min_ops, max_ops))):
        kinds = ["unary", "binary"] + (["select"] if selects and n_inputs >= 2 else [])
        kind = draw(st.sampled_from(kinds))
        # favour recent values so chains get deep instead of wide
        pick = st.integers(0, count - 1).map(lambda i: max(i, count - 3) if i % 2 else i)
        if kind == "unary":
            chain.steps.append((kind, draw(st.sampled_from(unary)), (draw(pick),)))
        elif kind == "binary":
            chain.steps.append((kind, draw(st.sampled_from(binary)), (draw(pick), draw(pick))))
        else:
            a, c = draw(st.permutations(range(n_inputs)))[:2]
            chain.steps.append((kind, draw(st.sampled_from(COMPARE)),
                                (a, c, draw(pick), draw(pick))))
        count += 1
    chain.n_outputs = draw(st.integers(1, min(2, chain.depth)))
    return chain


def build_chain(b: GraphBuilder, chain: Chain, inputs: list[Value]
                ) -> tuple[list[Value], list[Value], list[Value]]:
    """Build ``chain``; returns (float outputs, bool outputs (the select conditions),
    every intermediate value)."""
    vals = list(inputs)
    conds = []
    for kind, op, args in chain.steps:
        if kind == "unary":
            vals.append(UNARY[op](b, vals[args[0]]))
        elif kind == "binary":
            vals.append(BINARY[op](b, vals[args[0]], vals[args[1]]))
        else:
            cond = b.op(op, inputs[args[0]], inputs[args[1]])
            conds.append(cond)
            vals.append(b.where(cond, vals[args[2]], vals[args[3]]))
    outs = vals[-chain.n_outputs:]
    return outs, conds[:1], vals[len(inputs):]


def chain_rtol(dtype: str, depth: int) -> float:
    """Relative tolerance of a chain of ``depth`` ops (see the module docstring)."""
    return 16 * EPS[dtype] * (depth + 1)


@examples(60)
@given(out=shapes(), n=st.integers(1, 3), dtype=st.sampled_from(["f32", "f64"]),
       data=st.data())
def test_elementwise_chain_with_broadcasting(out, n, dtype, data):
    """Random chains of unary/binary ops and selects over 1-3 broadcast operands."""
    in_shapes = data.draw(broadcast_operands(out, n))
    chain = data.draw(chains(n))
    b = GraphBuilder(name="chain")
    ins = [b.input(f"x{i}", s, dtype) for i, s in enumerate(in_shapes)]
    outs, conds, inter = build_chain(b, chain, ins)
    b.output(*outs, *conds)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, s, dtype) for s in in_shapes]
    got, want, every = run_both(b.graph, arrays, inter)
    rtol = chain_rtol(dtype, chain.depth)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_agree(g, w, rtol, rtol * magnitude(every), f"chain {chain.steps} output {i}")


@examples(30)
@given(out=shapes(max_rank=3), dtype=st.sampled_from(["i32", "i64"]), data=st.data())
def test_integer_chain(out, dtype, data):
    """Integer arithmetic, comparisons, select and a cast to float: bit-exact (wrap-around
    included, as numpy wraps)."""
    in_shapes = data.draw(broadcast_operands(out, 2))
    b = GraphBuilder(name="ints")
    x, y = (b.input(f"x{i}", s, dtype) for i, s in enumerate(in_shapes))
    vals = [x, y]
    int_ops = {
        "add": b.add, "sub": b.sub, "mul": b.mul, "maximum": b.maximum, "minimum": b.minimum,
        "neg": b.neg, "abs": b.abs, "sign": b.sign, "square": b.square, "relu": b.relu,
    }
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(sorted(int_ops)))
        a = vals[data.draw(st.integers(0, len(vals) - 1))]
        if op in ("neg", "abs", "sign", "square", "relu"):
            vals.append(int_ops[op](a))
        else:
            vals.append(int_ops[op](a, vals[data.draw(st.integers(0, len(vals) - 1))]))
    cond = b.op(data.draw(st.sampled_from(COMPARE)), vals[-1], x)
    sel = b.where(cond, vals[-1], y)
    b.output(vals[-1], cond, sel, b.cast(sel, dtype="f64"), b.clip(sel, min=-7, max=9))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, s, dtype) for s in in_shapes]
    got, want, _ = run_both(b.graph, arrays)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_agree(g, w, 0.0, 0.0, f"integer chain output {i}")


# ==============================================================================================
# views feeding elementwise ops
# ==============================================================================================
@st.composite
def view_of(draw, shape: tuple[int, ...]) -> list[tuple[str, dict]]:
    """A random sequence of view ops (transpose, strided slice, reshape, broadcast_to,
    expand_dims) applicable starting from ``shape``; returns [(op, attrs)]."""
    ops = []
    cur = tuple(shape)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["transpose", "slice", "reshape", "expand_dims"]))
        if kind == "transpose" and len(cur) >= 2:
            perm = tuple(draw(st.permutations(range(len(cur)))))
            ops.append(("transpose", {"perm": perm}))
            cur = tuple(cur[p] for p in perm)
        elif kind == "slice" and cur:
            starts, limits, strides = [], [], []
            for d in cur:
                s = draw(st.integers(0, max(0, d - 1))) if d else 0
                lim = draw(st.integers(s, d))
                starts.append(s)
                limits.append(lim)
                strides.append(draw(st.sampled_from((1, 1, 2, 3, 5))))
            ops.append(("slice", {"starts": starts, "limits": limits, "strides": strides}))
            cur = tuple(-(-(l - s) // k) for s, l, k in zip(starts, limits, strides))
        elif kind == "reshape" and cur:
            # merge two adjacent dims or split one into a factor pair
            if len(cur) >= 2 and draw(st.booleans()):
                i = draw(st.integers(0, len(cur) - 2))
                new = cur[:i] + (cur[i] * cur[i + 1],) + cur[i + 2:]
            else:
                i = draw(st.integers(0, len(cur) - 1))
                f = next((f for f in (3, 2, 5, 7) if cur[i] % f == 0 and cur[i] > f), 1)
                new = cur[:i] + (f, cur[i] // f) + cur[i + 1:] if len(cur) < 5 else cur
            ops.append(("reshape", {"shape": new}))
            cur = new
        elif len(cur) < 4:
            ax = draw(st.integers(0, len(cur)))
            ops.append(("expand_dims", {"axes": [ax]}))
            cur = cur[:ax] + (1,) + cur[ax:]
    return ops


@examples(50)
@given(shape=shapes(min_rank=1, max_rank=4, allow_big=True),
       dtype=st.sampled_from(["f32", "f64"]), data=st.data())
def test_views_feed_elementwise(shape, dtype, data):
    """transpose / strided slice / reshape / expand_dims of an input *and* of a computed
    value, combined with another input by an elementwise op (the views become index
    arithmetic in the fused kernel)."""
    view_ops = data.draw(view_of(shape))
    b = GraphBuilder(name="views")
    x = b.input("x", shape, dtype)
    src = b.tanh(x) if data.draw(st.booleans()) else x
    v = src
    for op, attrs in view_ops:
        v = b.op(op, v, **attrs)
    other_shape = data.draw(broadcast_operands(v.shape, 2))[1]
    y = b.input("y", other_shape, dtype)
    op = data.draw(st.sampled_from(["add", "mul", "sub", "maximum"]))
    out = BINARY[op](b, v, y)
    unary = data.draw(st.sampled_from(["exp", "sigmoid", "neg", "log"]))
    out = UNARY[unary](b, out)
    b.output(out, b.add(v, 1.0))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, shape, dtype), random_array(rng, other_shape, dtype)]
    got, want, every = run_both(b.graph, arrays, [v])
    rtol = chain_rtol(dtype, 4)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_agree(g, w, rtol, rtol * magnitude(every + want),
                     f"views {view_ops} then {op}/{unary}, output {i}")


# ==============================================================================================
# reductions and softmax
# ==============================================================================================
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")  # eager, mean of []
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@examples(50)
@given(shape=shapes(min_rank=0, max_rank=4), dtype=st.sampled_from(["f32", "f64", "i32"]),
       kind=st.sampled_from(["sum", "mean", "max", "min"]), keepdims=st.booleans(),
       data=st.data())
def test_reduction_over_axis_subset(shape, dtype, kind, keepdims, data):
    """sum/mean/max/min over a random subset of axes (none = all), with an elementwise
    prologue and epilogue fused into the reduction kernel."""
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(0, max(0, rank - 1)), unique=True, max_size=rank))
    if kind in ("max", "min"):
        # max/min of nothing is an error: reduce only over non-empty extents
        red = axes or list(range(rank))
        if any(shape[a] == 0 for a in red):
            shape = tuple(max(d, 1) for d in shape)
    if kind == "mean" and dtype == "i32":
        dtype = "f32"
    b = GraphBuilder(name="reduce")
    x = b.input("x", shape, dtype)
    y = b.input("y", shape[1:], dtype)  # broadcasts along dim 0
    is_float = dtype != "i32"
    pro = b.mul(b.tanh(x), b.add(y, 2.0)) if is_float else b.add(b.mul(x, y), x)
    r = b.op(kind, pro, axes=axes or None, keepdims=keepdims)
    epi = b.sqrt(b.add(b.abs(r), 1.0)) if is_float else b.sub(r, 3)
    b.output(r, epi)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, shape, dtype), random_array(rng, shape[1:], dtype)]
    got, want, (pro_v,) = run_both(b.graph, arrays, [pro])
    if not is_float:
        for g, w in zip(got, want):
            assert_agree(g, w, 0.0, 0.0, f"{kind} {shape} axes={axes}")
        return
    eps = EPS[dtype]
    red_axes = tuple(axes) if axes else tuple(range(rank))
    n = math.prod(shape[a] for a in red_axes)
    if kind in ("sum", "mean"):
        # per output: the sum of |terms| (divided by n for mean) bounds the rounding
        absum = np.sum(np.abs(pro_v.astype(np.float64)), axis=red_axes, keepdims=keepdims)
        if kind == "mean":
            absum = absum / max(n, 1)
        atol = eps * (16 + math.sqrt(n)) * absum
    else:
        atol = chain_rtol(dtype, 3) * magnitude([pro_v])
    rtol = chain_rtol(dtype, 3)
    assert_agree(got[0], want[0], rtol, atol, f"{kind} {dtype} {shape} axes={axes}")
    assert_agree(got[1], want[1], rtol, atol, f"epilogue of {kind} {shape} axes={axes}")


@examples(25)
@given(shape=shapes(min_rank=1, max_rank=4, allow_empty=False),
       dtype=st.sampled_from(["f32", "f64"]), data=st.data())
def test_argmax_argmin(shape, dtype, data):
    """argmax/argmin along a random axis, keepdims or not; ties (the zeros random_array
    plants) go to the first occurrence in both backends."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    b = GraphBuilder(name="arg")
    x = b.input("x", shape, dtype)
    ax = b.argmax(b.relu(x), axis=axis, keepdims=keepdims)
    an = b.argmin(x, axis=axis, keepdims=keepdims)
    b.output(ax, an)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    got, want, _ = run_both(b.graph, [random_array(rng, shape, dtype)])
    for i, (g, w) in enumerate(zip(got, want)):
        assert_agree(g, w, 0.0, 0.0, f"arg-reduction {i} axis={axis} {shape}")


@examples(40)
@given(shape=shapes(min_rank=1, max_rank=4), dtype=st.sampled_from(["f32", "f64"]),
       log=st.booleans(), data=st.data())
def test_softmax_over_random_axis(shape, dtype, log, data):
    """softmax / log_softmax along a random axis of an elementwise prologue (scaled input
    plus a broadcast bias), with an epilogue."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    b = GraphBuilder(name="softmax")
    x = b.input("x", shape, dtype)
    bias = b.input("bias", shape[-1:], dtype)
    logits = b.add(b.mul(x, 3.0), bias)
    s = b.op("log_softmax" if log else "softmax", logits, axis=axis)
    b.output(s, b.mul(s, 0.5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, shape, dtype), random_array(rng, shape[-1:], dtype)]
    got, want, (lv,) = run_both(b.graph, arrays, [logits])
    eps = EPS[dtype]
    n = shape[axis]
    row_scale = (np.max(np.abs(lv.astype(np.float64)), axis=axis, keepdims=True)
                 if lv.size else np.zeros(()))
    atol = eps * (8 + math.sqrt(n)) * (1.0 + row_scale)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_agree(g, w, 64 * eps, atol,
                     f"{'log_' if log else ''}softmax axis={axis} {shape} output {i}")


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((0,), 0), ((3, 0), 1), ((0, 4), 0)])
def test_softmax_over_empty_axis(op, shape, axis):
    """An empty softmax axis: both backends return the (empty) result."""
    b = GraphBuilder(name="empty_softmax")
    x = b.input("x", shape, "f32")
    b.output(b.op(op, x, axis=axis))
    got, want, _ = run_both(b.graph, [np.zeros(shape, np.float32)])
    assert_agree(got[0], want[0], 0.0, 0.0, f"{op} over empty axis {axis} of {shape}")


# ==============================================================================================
# matmul
# ==============================================================================================
MATMUL_SIZES = (0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 33, 48, 67)


@examples(40)
@given(m=st.sampled_from(MATMUL_SIZES), n=st.sampled_from(MATMUL_SIZES),
       k=st.sampled_from(MATMUL_SIZES), ta=st.booleans(), tb=st.booleans(),
       batch=st.sampled_from([(), (1,), (3,), (2, 1)]), bcast=st.booleans(),
       epilogue=st.booleans(), dtype=st.sampled_from(["f32", "f64"]), data=st.data())
def test_matmul(m, n, k, ta, tb, batch, bcast, epilogue, dtype, data):
    """[batch..] M x K @ K x N with either operand stored transposed (a strided view, not a
    copy), the batch dims of B optionally broadcast, optionally a bias+relu epilogue.
    Sizes cover 0, 1, primes and both the direct (small) and the packed GEMM path."""
    a_shape = batch + ((k, m) if ta else (m, k))
    b_batch = tuple(1 for _ in batch) if bcast else batch
    b_shape = b_batch + ((n, k) if tb else (k, n))
    bld = GraphBuilder(name="mm")
    a_in, b_in = bld.input("a", a_shape, dtype), bld.input("b", b_shape, dtype)

    def stored_t(v):
        perm = list(range(v.rank))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return bld.transpose(v, perm=perm)

    av = stored_t(a_in) if ta else a_in
    bv = stored_t(b_in) if tb else b_in
    c = bld.matmul(av, bv)
    extra = []
    if epilogue:
        bias = bld.input("bias", (n,), dtype)
        extra = [bias]
        c = bld.relu(bld.add(c, bias))
    bld.output(c)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, a_shape, dtype), random_array(rng, b_shape, dtype)]
    if extra:
        arrays.append(random_array(rng, (n,), dtype))
    (got,), (want,), _ = run_both(bld.graph, arrays)
    a64, b64 = arrays[0].astype(np.float64), arrays[1].astype(np.float64)
    if ta:
        a64 = np.swapaxes(a64, -1, -2)
    if tb:
        b64 = np.swapaxes(b64, -1, -2)
    bound = np.matmul(np.abs(a64), np.abs(b64))
    if extra:
        bound = bound + np.abs(arrays[2])
    atol = 4 * EPS[dtype] * (math.sqrt(k) + 2) * bound
    assert_agree(got, want, 0.0, atol,
                 f"matmul {a_shape}{'^T' if ta else ''} @ {b_shape}{'^T' if tb else ''} "
                 f"{dtype} epilogue={epilogue}")


# ==============================================================================================
# gradients of random chains
# ==============================================================================================
@examples(40)
@given(out=shapes(max_rank=3, allow_big=False), n=st.integers(1, 3),
       dtype=st.sampled_from(["f32", "f64"]), data=st.data())
def test_gradients_of_random_chains(out, n, dtype, data):
    """The gradient graph (compiler.passes.autodiff.gradients) of ``sum(chain * R)`` with
    respect to every broadcast operand, compiled vs eager: the VJPs of every op, the
    un-broadcasting sums and the fan-out accumulation all compile. float32 chains avoid ops
    with kinks (a value within rounding of the kink may take the other branch in one
    backend); float64 chains use the whole vocabulary (that is then vanishingly unlikely)."""
    in_shapes = data.draw(broadcast_operands(out, n))
    unary = tuple(UNARY) if dtype == "f64" else tuple(u for u in UNARY if u not in KINKS)
    binary = tuple(BINARY) if dtype == "f64" else tuple(x for x in BINARY if x not in KINKS)
    chain = data.draw(chains(n, max_ops=5, unary=unary, binary=binary))
    b = GraphBuilder(name="grad")
    ins = [b.input(f"x{i}", s, dtype) for i, s in enumerate(in_shapes)]
    outs, _, inter = build_chain(b, chain, ins)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    weights = [random_array(rng, o.shape, dtype, scale=1.0) for o in outs]
    terms = [b.sum(b.mul(o, b.constant(w))) for o, w in zip(outs, weights)]
    loss = terms[0] if len(terms) == 1 else b.add(terms[0], terms[1])
    grads = gradients(b.graph, loss, ins)
    b.output(loss, *grads)
    arrays = [random_array(rng, s, dtype) for s in in_shapes]
    got, want, every = run_both(b.graph, arrays, inter)
    # a gradient sums up to prod(out) terms per element (un-broadcasting); each term carries
    # the chain's error and the VJP's own few ops
    terms_per_elem = max(1, math.prod(out))
    rtol = chain_rtol(dtype, 2 * chain.depth + 2)
    scale = magnitude(every + want[1:])
    loss_atol = EPS[dtype] * (16 + math.sqrt(terms_per_elem)) * sum(
        float(np.sum(np.abs(o.astype(np.float64) * w)))
        # the chain's outputs are its last values (n_outputs <= depth)
        for o, w in zip(every[len(every) - len(outs):], weights))
    assert_agree(got[0], want[0], rtol, loss_atol, f"loss of chain {chain.steps}")
    atol = rtol * scale * (4 + math.sqrt(terms_per_elem))
    for i, (g, w) in enumerate(zip(got[1:], want[1:])):
        assert_agree(g, w, rtol, atol, f"gradient {i} of chain {chain.steps} over {in_shapes}")
