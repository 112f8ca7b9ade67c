"""Philox4x32-10 random numbers in LLVM IR: the same values as the eager ``random_*`` ops.

:mod:`compiler.ops.random` defines ``random_uniform`` and ``random_normal`` as pure functions
of (seed, step, element index); its module docstring is the specification followed here,
word for word:

* key ``(lo32(seed), hi32(seed))``; element ``e`` reads Philox block ``e // P`` at lane
  ``e % P`` (``P = 4`` for f32, ``2`` for f64), whose counter is
  ``(lo32(block), hi32(block), lo32(step), hi32(step))``;
* uniform f32: ``(w[lane] >> 8) * 2**-24``; uniform f64: the word pair
  ``w[2*lane] | w[2*lane+1] << 32`` shifted right by 11, times ``2**-53``; then, unless the
  range is [0, 1), ``r = lo + u*span`` as one multiply and one add (no FMA) and
  ``min(r, pred(hi))``;
* normal: Box-Muller in f64 on ``u1 = 1 - a*2**-32``, ``u2 = b*2**-32`` (f32, pair
  ``(w[2p], w[2p+1])``, ``p = lane // 2``) or the 53-bit forms (f64); cosine to even lanes,
  sine to odd lanes; ``mean + stddev*n`` in f64 (skipped for (0, 1), as the reference does),
  then rounded to the result type.

Exactness. Uniform values are bit-identical to the reference (integer ops, exact int to
float conversions, the same float multiply/add/min). Normal values use kiln's
:class:`~compiler.llvm.vecmath.VecMath` log, sin and cos instead of the platform libm the
reference calls, with the same formula and operation order otherwise (sqrt is IEEE in
both). Measured in tests/compiler/llvm/test_philox_ir.py: f64 results within 3 ulp of the
reference, 94% of them bit-identical (600k draws); against Box-Muller evaluated exactly
(mpmath) on the same uniforms, kiln's f64 error is at most 2.14 ulp, exactly the reference's
own worst case (the roundings of radius, cos and the product dominate both). f32 results,
rounded from f64, were bit-identical in every draw tested; a 1-ulp difference is possible
in near-ties and allowed by the tests.

Speed (``benchmarks/bench_vecmath.py``, n = 1e6, medians, Zen 3): uniform f32 1.26
Gelem/s, f64 0.65 (the eager op: 0.11 and 0.06); normal f32 0.23, f64 0.22 (eager: 0.03).

Two forms of each generator:

* ``emit_uniform`` / ``emit_normal``: any element index (i64 scalar or ``<n x i64>``),
  e.g. the scalar tail of a loop or a permuted index. Each element runs its own Philox
  block, so P-1 of every P blocks are redundant work.
* ``emit_uniform_run`` / ``emit_normal_run``: ``lanes`` consecutive elements from ``start``
  (both multiples of P): one Philox block per P elements, its words shuffled into place.
  This is the main-loop form of an elementwise kernel whose loop index is the random op's
  own linear index (a loop stepping by ``lanes`` from 0 qualifies).
  :func:`preferred_run_lanes` says how many lanes keep the vector units busy: more than one
  host vector (Philox works on 64-bit lanes, and a block feeds P elements).

``step`` is the op's counter operand as an i64 (an i32 operand is sign-extended, as the
reference does); ``seed`` is the op's attribute (a Python int, any 64-bit spelling) or an
i64 IR value.
"""
from __future__ import annotations

from typing import Sequence, Union

import llvmlite.ir as ir
import numpy as np

from compiler.llvm.vecmath import VecMath
# _TWO_PI: 2*pi in f64, the very constant the reference multiplies u2 by.
from compiler.ops.random import _TWO_PI, PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1

__all__ = ["elements_per_block", "preferred_run_lanes", "philox4x32", "emit_uniform",
           "emit_uniform_run", "emit_normal", "emit_normal_run", "define_fill_kernel"]

I32 = ir.IntType(32)
I64 = ir.IntType(64)
F32 = ir.FloatType()
F64 = ir.DoubleType()
_M32 = 0xFFFFFFFF

IntOrValue = Union[int, ir.Value]


def elements_per_block(dtype: str) -> int:
    """P: elements one Philox block feeds (4 for f32, 2 for f64), for both ops."""
    return _per_block(dtype)


def preferred_run_lanes(dtype: str, vector_width_bytes: int | None = None) -> int:
    """A good ``lanes`` for the run forms: two native vectors of 64-bit words per Philox word
    (8 blocks with AVX2, so 32 f32 or 16 f64 elements, four host vectors of results).

    Measured on Zen 3 (AVX2), uniform f32 at n = 1e6: 0.54 Gelem/s with runs of 8 elements
    (2 blocks), 0.94 with 16, 1.22 with 32, 1.27 with 64; f64: 0.24 / 0.44 / 0.61 / 0.63 with
    4 / 8 / 16 / 32. Fewer blocks leave the vector multipliers idle; more add little.
    ``vector_width_bytes`` defaults to the host's.
    """
    if vector_width_bytes is None:
        from compiler.llvm.target import host_target
        vector_width_bytes = host_target().vector_width_bytes()
    return 2 * max(1, vector_width_bytes // 8) * _per_block(dtype)


def _per_block(dtype: str) -> int:
    if dtype == "f32":
        return 4
    if dtype == "f64":
        return 2
    raise ValueError(f"philox: dtype must be 'f32' or 'f64', got {dtype!r}")


# -------------------------------------------------------------------------------------------
# small IR helpers
# -------------------------------------------------------------------------------------------
def _lanes(v: ir.Value) -> int | None:
    return v.type.count if isinstance(v.type, ir.VectorType) else None


def _shape(elem: ir.Type, lanes: int | None) -> ir.Type:
    return ir.VectorType(elem, lanes) if lanes else elem


def _const(elem: ir.Type, value, lanes: int | None) -> ir.Constant:
    if isinstance(elem, ir.IntType):
        value &= (1 << elem.width) - 1
        if value >> (elem.width - 1):
            value -= 1 << elem.width
    c = ir.Constant(elem, value)
    return ir.Constant(ir.VectorType(elem, lanes), [c] * lanes) if lanes else c


def _splat(b: ir.IRBuilder, v: ir.Value, lanes: int | None) -> ir.Value:
    """v (a scalar) as a vector of ``lanes`` copies (v itself when lanes is None)."""
    if not lanes:
        return v
    if isinstance(v, ir.Constant):
        return ir.Constant(ir.VectorType(v.type, lanes), [v] * lanes)
    vec = b.insert_element(ir.Constant(ir.VectorType(v.type, lanes), ir.Undefined), v, I32(0))
    mask = ir.Constant(ir.VectorType(I32, lanes), [I32(0)] * lanes)
    return b.shuffle_vector(vec, ir.Constant(vec.type, ir.Undefined), mask)


def _shuffle(b: ir.IRBuilder, x: ir.Value, y: ir.Value, mask: Sequence[int]) -> ir.Value:
    return b.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, len(mask)),
                                              [I32(i) for i in mask]))


def _interleave(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """<x0, y0, x1, y1, ...> from two vectors of m lanes."""
    m = x.type.count
    return _shuffle(b, x, y, [i // 2 + (m if i % 2 else 0) for i in range(2 * m)])


def _as_i64(b: ir.IRBuilder, v: IntOrValue, what: str) -> IntOrValue:
    """A Python int (mod 2**64) or an i64 value; i32 values are sign-extended."""
    if isinstance(v, (int, np.integer)):
        return int(v) % (1 << 64)
    if v.type == I32:
        return b.sext(v, I64)
    if v.type != I64:
        raise TypeError(f"philox: {what} must be an i64 (or i32) scalar or an int, got {v.type}")
    return v


def _words64(b: ir.IRBuilder, v: IntOrValue, lanes: int | None) -> tuple[ir.Value, ir.Value]:
    """(lo32, hi32) of a 64-bit int or i64 scalar as i64 words, splatted to ``lanes``."""
    if isinstance(v, int):
        return _const(I64, v & _M32, lanes), _const(I64, v >> 32, lanes)
    lo = b.and_(v, I64(_M32))
    hi = b.lshr(v, I64(32))
    return _splat(b, lo, lanes), _splat(b, hi, lanes)


# -------------------------------------------------------------------------------------------
# the block function
# -------------------------------------------------------------------------------------------
def philox4x32(b: ir.IRBuilder, counter: Sequence[ir.Value], key: Sequence[IntOrValue],
               rounds: int = 10) -> list[ir.Value]:
    """The four output words of Philox4x32-``rounds``.

    ``counter``: four 32-bit words held in i64 values (scalars or vectors of one shape,
    each < 2**32); ``key``: two 32-bit words, Python ints (the key schedule then folds to
    constants) or i64 values of the counter's shape holding 32-bit words. Returns the words
    as i64 values < 2**32.

    Why 64-bit lanes: the round needs the full 32x32->64 product. On x86 ``vpmuludq``
    multiplies the low halves of 64-bit lanes, so with every word kept zero-extended in an
    i64 lane, hi/lo are a shift and a mask, with no packing of 32-bit words between rounds.
    (Words in i32 lanes made LLVM shuffle every product back together: 3-4x slower.)
    """
    c0, c1, c2, c3 = counter
    lanes = _lanes(c0)
    k0, k1 = key
    mask = _const(I64, _M32, lanes)
    shift = _const(I64, 32, lanes)

    def key_word(k, bump: int):
        if isinstance(k, int):
            return _const(I64, (k + bump) & _M32, lanes)
        return b.and_(b.add(k, _const(I64, bump & _M32, lanes)), mask) if bump else k

    def mulhilo(x, m: int):
        p = b.mul(x, _const(I64, m, lanes))
        return b.lshr(p, shift), b.and_(p, mask)

    for r in range(rounds):
        hi0, lo0 = mulhilo(c0, PHILOX_M0)
        hi1, lo1 = mulhilo(c2, PHILOX_M1)
        kr0, kr1 = key_word(k0, r * PHILOX_W0), key_word(k1, r * PHILOX_W1)
        c0, c1, c2, c3 = (b.xor(b.xor(hi1, c1), kr0), lo1,
                          b.xor(b.xor(hi0, c3), kr1), lo0)
    return [c0, c1, c2, c3]


def _block_words(b: ir.IRBuilder, block: ir.Value, step: IntOrValue,
                 seed: IntOrValue) -> list[ir.Value]:
    """Philox words (i32, scalar or vector like ``block``) of ``block`` for this op's step
    and seed."""
    lanes = _lanes(block)
    mask = _const(I64, _M32, lanes)
    c0 = b.and_(block, mask)
    c1 = b.lshr(block, _const(I64, 32, lanes))
    c2, c3 = _words64(b, step, lanes)
    if isinstance(seed, int):
        key = (seed & _M32, seed >> 32)
    else:
        key = _words64(b, seed, lanes)
    i32 = _shape(I32, lanes)
    return [b.trunc(w, i32) for w in philox4x32(b, (c0, c1, c2, c3), key)]


def _check_index(index: ir.Value) -> None:
    elem = index.type.element if isinstance(index.type, ir.VectorType) else index.type
    if elem != I64:
        raise TypeError(f"philox: the element index must be i64 or <n x i64>, got {index.type}")


def _check_run(start: ir.Value, lanes: int, dtype: str) -> int:
    per = _per_block(dtype)
    if start.type != I64:
        raise TypeError(f"philox: start must be an i64 scalar, got {start.type}")
    if lanes < per or lanes % per:
        raise ValueError(f"philox: a run of {dtype} elements needs lanes to be a positive "
                         f"multiple of {per}, got {lanes}; use the per-element form")
    return per


def _run_blocks(b: ir.IRBuilder, start: ir.Value, nblocks: int, per: int) -> ir.Value:
    """<start/per, start/per + 1, ...> as <nblocks x i64> (start is a multiple of per)."""
    first = b.lshr(start, I64(per.bit_length() - 1))
    return b.add(_splat(b, first, nblocks), ir.Constant(ir.VectorType(I64, nblocks),
                                                        [I64(i) for i in range(nblocks)]))


# -------------------------------------------------------------------------------------------
# words -> uniform floats
# -------------------------------------------------------------------------------------------
def _u24(b: ir.IRBuilder, w: ir.Value) -> ir.Value:
    """(w >> 8) * 2**-24 in f32: 24 bits convert exactly (signed convert: it vectorizes)."""
    lanes = _lanes(w)
    f = b.sitofp(b.lshr(w, _const(I32, 8, lanes)), _shape(F32, lanes))
    return b.fmul(f, _const(F32, 2.0 ** -24, lanes))


def _u53(b: ir.IRBuilder, lo: ir.Value, hi: ir.Value) -> ir.Value:
    """((lo | hi << 32) >> 11) * 2**-53 in f64, as hi*2**-32 + (lo >> 11)*2**-53: both terms
    and their sum are exact (53 bits), and no 64-bit int -> double conversion is needed."""
    lanes = _lanes(lo)
    f64 = _shape(F64, lanes)
    top = b.fmul(b.uitofp(hi, f64), _const(F64, 2.0 ** -32, lanes))
    low = b.fmul(b.sitofp(b.lshr(lo, _const(I32, 11, lanes)), f64), _const(F64, 2.0 ** -53, lanes))
    return b.fadd(top, low)


def _u32(b: ir.IRBuilder, w: ir.Value) -> ir.Value:
    """w * 2**-32 in f64 (exact)."""
    lanes = _lanes(w)
    return b.fmul(b.uitofp(w, _shape(F64, lanes)), _const(F64, 2.0 ** -32, lanes))


def _affine_uniform(b: ir.IRBuilder, u: ir.Value, dtype: str, minval: float,
                    maxval: float) -> ir.Value:
    """lo + u*span, clamped below hi, exactly as the reference computes it in ``dtype``."""
    npt = np.float32 if dtype == "f32" else np.float64
    lo, hi = npt(minval), npt(maxval)
    if lo == 0 and hi == 1:
        return u
    if not lo < hi:
        raise ValueError(f"philox: need minval < maxval in {dtype}, got {minval}, {maxval}")
    lanes = _lanes(u)
    elem = F32 if dtype == "f32" else F64
    span, pred = hi - lo, np.nextafter(hi, npt(-np.inf))  # T arithmetic, as numpy does it
    r = b.fadd(b.fmul(u, _const(elem, float(span), lanes)), _const(elem, float(lo), lanes))
    cpred = _const(elem, float(pred), lanes)
    return b.select(b.fcmp_ordered(">", r, cpred), cpred, r)


def _lane_is(b: ir.IRBuilder, lane: ir.Value, k: int) -> ir.Value:
    return b.icmp_unsigned("==", lane, _const(I64, k, _lanes(lane)))


# -------------------------------------------------------------------------------------------
# random_uniform
# -------------------------------------------------------------------------------------------
def emit_uniform(b: ir.IRBuilder, index: ir.Value, step: IntOrValue, *, seed: IntOrValue,
                 dtype: str, minval: float = 0.0, maxval: float = 1.0) -> ir.Value:
    """``random_uniform`` element(s) at ``index`` (i64 or <n x i64>), of type T or <n x T>."""
    _check_index(index)
    per = _per_block(dtype)
    step, seed = _as_i64(b, step, "step"), _as_i64(b, seed, "seed")
    lanes = _lanes(index)
    block = b.lshr(index, _const(I64, per.bit_length() - 1, lanes))
    lane = b.and_(index, _const(I64, per - 1, lanes))
    w = _block_words(b, block, step, seed)
    if dtype == "f32":
        word = w[0]
        for k in (1, 2, 3):
            word = b.select(_lane_is(b, lane, k), w[k], word)
        u = _u24(b, word)
    else:
        odd = _lane_is(b, lane, 1)
        u = _u53(b, b.select(odd, w[2], w[0]), b.select(odd, w[3], w[1]))
    return _affine_uniform(b, u, dtype, minval, maxval)


def emit_uniform_run(b: ir.IRBuilder, start: ir.Value, step: IntOrValue, *, lanes: int,
                     seed: IntOrValue, dtype: str, minval: float = 0.0,
                     maxval: float = 1.0) -> ir.Value:
    """``random_uniform`` elements ``start .. start+lanes-1`` as <lanes x T>.

    ``start`` (i64) must be a multiple of P and ``lanes`` a multiple of P (P =
    :func:`elements_per_block`); a loop stepping by ``lanes`` from 0 satisfies both.
    """
    per = _check_run(start, lanes, dtype)
    step, seed = _as_i64(b, step, "step"), _as_i64(b, seed, "seed")
    nb = lanes // per
    w = _block_words(b, _run_blocks(b, start, nb, per), step, seed)
    if dtype == "f32":
        # [w0 | w1 | w2 | w3] (each nb lanes), then element j = word j%4 of block j//4.
        allw = _shuffle(b, _shuffle(b, w[0], w[1], range(2 * nb)),
                        _shuffle(b, w[2], w[3], range(2 * nb)), range(4 * nb))
        words = _shuffle(b, allw, ir.Constant(allw.type, ir.Undefined),
                         [(j % 4) * nb + j // 4 for j in range(lanes)])
        u = _u24(b, words)
    else:
        u = _u53(b, _interleave(b, w[0], w[2]), _interleave(b, w[1], w[3]))
    return _affine_uniform(b, u, dtype, minval, maxval)


# -------------------------------------------------------------------------------------------
# random_normal
# -------------------------------------------------------------------------------------------
def _box_muller(b: ir.IRBuilder, vm: VecMath, u1: ir.Value, u2: ir.Value):
    """(radius*cos(theta), radius*sin(theta)) in f64, in the reference's operation order."""
    lanes = _lanes(u1)
    lg = vm.log(b, u1)
    radius = b.call(_sqrt(b.module, lg.type), [b.fmul(_const(F64, -2.0, lanes), lg)])
    theta = b.fmul(_const(F64, _TWO_PI, lanes), u2)
    s, c = vm.sincos(b, theta, bounded=True)  # 0 <= theta < 2*pi
    return b.fmul(radius, c), b.fmul(radius, s)


def _sqrt(module: ir.Module, ty: ir.Type) -> ir.Function:
    lanes = ty.count if isinstance(ty, ir.VectorType) else None
    name = f"llvm.sqrt.{'v%d' % lanes if lanes else ''}f64"
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ty, [ty]), name=name)


def _finish_normal(b: ir.IRBuilder, n: ir.Value, dtype: str, mean: float,
                   stddev: float) -> ir.Value:
    lanes = _lanes(n)
    if not (mean == 0.0 and stddev == 1.0):
        n = b.fadd(b.fmul(n, _const(F64, float(stddev), lanes)), _const(F64, float(mean), lanes))
    return b.fptrunc(n, _shape(F32, lanes)) if dtype == "f32" else n


def _normal_uniforms(b: ir.IRBuilder, w, dtype: str, pair_hi: ir.Value | None):
    """(u1, u2) in f64 from a block's words; f32 picks pair 1 where ``pair_hi``."""
    if dtype == "f32":
        a, c = w[0], w[1]
        if pair_hi is not None:
            a, c = b.select(pair_hi, w[2], a), b.select(pair_hi, w[3], c)
        u1, u2 = _u32(b, a), _u32(b, c)
    else:
        u1, u2 = _u53(b, w[0], w[1]), _u53(b, w[2], w[3])
    one = _const(F64, 1.0, _lanes(u1))
    return b.fsub(one, u1), u2


def emit_normal(b: ir.IRBuilder, vm: VecMath, index: ir.Value, step: IntOrValue, *,
                seed: IntOrValue, dtype: str, mean: float = 0.0,
                stddev: float = 1.0) -> ir.Value:
    """``random_normal`` element(s) at ``index`` (i64 or <n x i64>), of type T or <n x T>."""
    _check_index(index)
    per = _per_block(dtype)
    step, seed = _as_i64(b, step, "step"), _as_i64(b, seed, "seed")
    lanes = _lanes(index)
    block = b.lshr(index, _const(I64, per.bit_length() - 1, lanes))
    lane = b.and_(index, _const(I64, per - 1, lanes))
    w = _block_words(b, block, step, seed)
    pair_hi = b.icmp_unsigned(">=", lane, _const(I64, 2, lanes)) if dtype == "f32" else None
    u1, u2 = _normal_uniforms(b, w, dtype, pair_hi)
    zc, zs = _box_muller(b, vm, u1, u2)
    odd = b.icmp_unsigned("!=", b.and_(lane, _const(I64, 1, lanes)), _const(I64, 0, lanes))
    return _finish_normal(b, b.select(odd, zs, zc), dtype, mean, stddev)


def emit_normal_run(b: ir.IRBuilder, vm: VecMath, start: ir.Value, step: IntOrValue, *,
                    lanes: int, seed: IntOrValue, dtype: str, mean: float = 0.0,
                    stddev: float = 1.0) -> ir.Value:
    """``random_normal`` elements ``start .. start+lanes-1`` as <lanes x T>; the same
    conditions on ``start`` and ``lanes`` as :func:`emit_uniform_run`. Each Box-Muller pair
    is computed once and feeds two lanes."""
    per = _check_run(start, lanes, dtype)
    step, seed = _as_i64(b, step, "step"), _as_i64(b, seed, "seed")
    nb = lanes // per
    w = _block_words(b, _run_blocks(b, start, nb, per), step, seed)
    if dtype == "f32":
        # pairs in element order: (block 0, pair 0), (block 0, pair 1), (block 1, pair 0), ...
        w = [_interleave(b, w[0], w[2]), _interleave(b, w[1], w[3])]
    u1, u2 = _normal_uniforms(b, w, dtype, None)
    zc, zs = _box_muller(b, vm, u1, u2)
    return _finish_normal(b, _interleave(b, zc, zs), dtype, mean, stddev)


# -------------------------------------------------------------------------------------------
# A ready-made fill loop (tests, benchmarks, and a reference for code generators)
# -------------------------------------------------------------------------------------------
def define_fill_kernel(module: ir.Module, vm: VecMath, name: str, op: str, dtype: str, *,
                       seed: IntOrValue | None = None, run_lanes: int | None = None,
                       step_type: ir.IntType = I64, **attrs: float) -> ir.Function:
    """Define ``void name(ptr out, i64 n, <step_type> step, i64 seed)`` writing elements
    ``0 .. n-1`` of ``random_<op>`` (``op``: ``"uniform"`` or ``"normal"``).

    The main loop emits runs of ``run_lanes`` elements (default
    :func:`preferred_run_lanes`), the tail one element at a time. ``seed=None`` reads the
    seed argument (an IR value); an int makes it a constant, as an op attribute would be,
    and the argument is ignored. ``attrs``: minval/maxval or mean/stddev.
    """
    if op not in ("uniform", "normal"):
        raise ValueError(f"philox: op must be 'uniform' or 'normal', got {op!r}")
    _per_block(dtype)  # validates dtype
    lanes = run_lanes or preferred_run_lanes(dtype)
    elem, size = (F32, 4) if dtype == "f32" else (F64, 8)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(),
                                             [ir.PointerType(), I64, step_type, I64]), name=name)
    fn.args[0].add_attribute("noalias")
    out, n, step, seed_arg = fn.args
    seed = seed_arg if seed is None else seed

    def emit(b, index, run):
        if op == "uniform":
            if run:
                return emit_uniform_run(b, index, step, lanes=run, seed=seed, dtype=dtype,
                                        **attrs)
            return emit_uniform(b, index, step, seed=seed, dtype=dtype, **attrs)
        if run:
            return emit_normal_run(b, vm, index, step, lanes=run, seed=seed, dtype=dtype,
                                   **attrs)
        return emit_normal(b, vm, index, step, seed=seed, dtype=dtype, **attrs)

    entry, vhead, vbody, thead, tbody, done = (
        fn.append_basic_block(s) for s in ("entry", "run.head", "run.body", "tail.head",
                                           "tail.body", "done"))
    b = ir.IRBuilder(entry)
    nrun = b.sub(n, b.srem(n, I64(lanes)), name="nrun")
    b.branch(vhead)
    b.position_at_end(vhead)
    i = b.phi(I64, name="i")
    i.add_incoming(I64(0), entry)
    b.cbranch(b.icmp_signed("<", i, nrun), vbody, thead)
    b.position_at_end(vbody)
    b.store(emit(b, i, lanes), b.gep(out, [i], inbounds=True, source_etype=elem), align=size)
    i.add_incoming(b.add(i, I64(lanes)), vbody)
    b.branch(vhead)
    b.position_at_end(thead)
    j = b.phi(I64, name="j")
    j.add_incoming(i, vhead)
    b.cbranch(b.icmp_signed("<", j, n), tbody, done)
    b.position_at_end(tbody)
    b.store(emit(b, j, None), b.gep(out, [j], inbounds=True, source_etype=elem), align=size)
    j.add_incoming(b.add(j, I64(1)), tbody)
    b.branch(thead)
    b.position_at_end(done)
    b.ret_void()
    return fn
