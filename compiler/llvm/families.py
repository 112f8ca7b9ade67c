"""Code generation for the window and gather families (compiler/kernels/families.py).

``emit_family_kernel(gen, kernel)`` is called by compiler/llvm/codegen.py for every kernel class
it does not handle itself. All kernels here vectorize along the innermost run (channels for
the window kernels, the trailing slice for gather/scatter) with a scalar tail, and read and
write through the kernels' affine views, so strided or transposed operands need no copy.
Window arithmetic (which taps of a window fall inside the image, which windows reach an input
pixel) is integer code done once per pixel and tap, outside the channel loop; im2col moves
whole runs with memcpy/memset.

Threads. Big kernels split across the team (compiler/llvm/parallel.py) so that every output
element is computed by exactly one thread with the same sequence of operations as the serial
code: results never depend on the thread count.

* im2col, pooling and argmax split over output rows ``(n, oy)``;
* col2im and both pooling gradients are written per *input* pixel (each pixel sums what the
  windows that reach it contribute, taps in row-major order) and split over input rows
  ``(n, iy)``: no two threads ever add into the same element;
* gather splits over its leading output dim; scatter-add splits the trailing slice (columns),
  each thread adding every index's row of its columns in index order, so repeated indices
  accumulate in the same order as the serial code and as the numpy reference.

Indices (gather, scatter-add) are validated in one pass before the first indexed access; a
bad index returns the kernel's status code (see ``compiler.kernels.families.status_code``),
so out-of-range memory is never touched.

Summation orders follow the references in compiler/ops where that is free (average pooling
adds the column sums of its window, max pooling's gradient adds taps in row-major order), so
compiled and eager results agree closely, not just within a tolerance.
"""
from __future__ import annotations

from math import prod
from typing import Callable

import llvmlite.ir as ir

from compiler.ir import dtypes
from compiler.kernels.families import (Col2im, FamilyKernel, Gather, Im2col, Pool, PoolGrad,
                                       ScatterAdd, status_code)
from compiler.kernels.view import View
from compiler.llvm.codegen import PARALLEL_MIN_ELEMENTS, _coalesce, _regroup_view
from compiler.llvm.exprgen import PointEmitter
from compiler.llvm.irutil import (I1, I8, I32, I64, PTR, alloca, call_intrinsic, const,
                                  for_range, gep, intrinsic, mem_type, reg_type, splat, vec)
from compiler.llvm.parallel import emit_parallel, emit_static_range

__all__ = ["emit_family_kernel"]

#: body(builder, buffer pointers, begin, end): the work of rows [begin, end)
RowsBody = Callable[[ir.IRBuilder, dict, ir.Value, ir.Value], None]


def emit_family_kernel(gen, k) -> None:
    """Define the function of family kernel ``k`` in ``gen``'s module."""
    emitter = _EMITTERS.get(type(k))
    if emitter is None:
        raise TypeError(f"no code generator for kernel @{k.name} ({type(k).__name__})")
    emitter(gen, k)


# ==============================================================================================
# shared pieces
# ==============================================================================================
class _Function:
    """A family kernel's function: builder, buffer pointers, and the right way to return."""

    def __init__(self, gen, k: FamilyKernel):
        self.gen, self.k = gen, k
        self.fn, self.ptrs, self.b = gen._kernel_function(k, returns_status=k.can_fail)

    def finish(self) -> None:
        if self.k.can_fail:
            self.b.ret(I32(0))
        else:
            self.b.ret_void()

    def split(self, n_items: int, work: int, body: RowsBody) -> None:
        """Run ``body`` over items [0, n_items): across the thread team (contiguous shares)
        when ``work`` (points touched) is big enough, else inline."""
        gen = self.gen
        if gen.threading.parallel and n_items >= 2 and work >= PARALLEL_MIN_ELEMENTS:
            pfn, pptrs, pb = gen._parallel_body(self.k)
            lo, hi = emit_static_range(pb, gen.threading, I64(n_items))
            body(pb, pptrs, lo, hi)
            pb.ret_void()
            emit_parallel(self.b, gen.threading, pfn, self.fn.args[0])
        else:
            body(self.b, self.ptrs, I64(0), I64(n_items))


def _pe(gen, b, ptrs, idx, width: int, inner: int | None) -> PointEmitter:
    return PointEmitter(b, ptrs, list(idx), width, inner if width > 1 else None, gen.math)


# -- integer arithmetic on i64 values ------------------------------------------------------------
def _imax(b, x, y):
    return b.select(b.icmp_signed(">", x, y), x, y)


def _imin(b, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def _floordiv(b, a, d: int):
    """floor(a / d) for a signed ``a`` and a constant ``d`` >= 1 (sdiv truncates toward 0)."""
    if d == 1:
        return a
    q, r = b.sdiv(a, I64(d)), b.srem(a, I64(d))
    return b.sub(q, b.zext(b.icmp_signed("<", r, I64(0)), I64))


def _ceildiv(b, a, d: int):
    return b.neg(_floordiv(b, b.neg(a), d))


def _tap_range(b, o, n: int, k: int, s: int, d: int, p: int):
    """For window ``o`` of one spatial dim: ``(base, lo, hi)`` with taps ``j`` in [lo, hi)
    the ones reading inside the input, at coordinate ``base + j * d``."""
    base = b.sub(b.mul(o, I64(s)), I64(p))
    # 0 <= base + j*d < n  <=>  ceil(-base / d) <= j < ceil((n - base) / d)
    lo = _imin(b, _imax(b, _ceildiv(b, b.neg(base), d), I64(0)), I64(k))
    hi = _imin(b, _imax(b, _ceildiv(b, b.sub(I64(n), base), d), lo), I64(k))
    return base, lo, hi


def _taps_reaching(b, i, n_out: int, k: int, s: int, d: int, p: int,
                   visit: Callable[[ir.Value, ir.Value], None]) -> None:
    """For input coordinate ``i`` of one spatial dim: ``visit(j, o)`` for every tap ``j``, in
    ascending order, of every window ``o`` in [0, n_out) with ``o*s + j*d - p == i``."""
    t = b.add(i, I64(p))                                   # = o*s + j*d
    if s == 1:
        # o = t - j*d in [0, n_out)  <=>  floor((t - n_out) / d) < j <= floor(t / d)
        lo = _imax(b, b.add(_floordiv(b, b.sub(t, I64(n_out)), d), I64(1)), I64(0))
        hi = _imin(b, b.add(_floordiv(b, t, d), I64(1)), I64(k))
        with for_range(b, lo, hi, name="tap") as j:
            visit(j, b.sub(t, b.mul(j, I64(d))))
    elif d == 1:
        # j = t (mod s), and o = (t - j) / s in [0, n_out)  <=>  t - s*(n_out-1) <= j <= t
        j0 = b.srem(t, I64(s))                             # t >= 0
        low = b.sub(t, I64(s * (n_out - 1)))
        start = b.select(b.icmp_signed(">", low, j0),
                         b.add(j0, b.mul(_ceildiv(b, b.sub(low, j0), s), I64(s))), j0)
        hi = _imin(b, b.add(t, I64(1)), I64(k))
        with for_range(b, start, hi, s, name="tap") as j:
            visit(j, b.sdiv(b.sub(t, j), I64(s)))
    else:  # strided and dilated: test every tap
        with for_range(b, I64(0), I64(k), name="tap") as j:
            r = b.sub(t, b.mul(j, I64(d)))                 # o * s
            ok = b.and_(b.icmp_signed(">=", r, I64(0)),
                        b.and_(b.icmp_signed("<", r, I64(n_out * s)),
                               b.icmp_signed("==", b.srem(r, I64(s)), I64(0))))
            with b.if_then(ok):
                visit(j, b.sdiv(r, I64(s)))


# -- runs of contiguous memory -----------------------------------------------------------------
# Runs have run-time lengths (the part of a window inside the image); llvm.memset/memcpy compile
# to one call instead of a vector loop plus tail that LLVM's vectorizer would then re-vectorize
# (that made im2col ~0.3 s of O3 per kernel), and libc's versions are as fast as any loop.
def _zero_run(b, base, start, length, dtype: str) -> None:
    """``base[start : start + length] = 0`` (element offsets, i64 values; +0.0 is all zero
    bytes)."""
    mt = mem_type(dtype)
    size = dtypes.to_numpy(dtype).itemsize
    memset = intrinsic(b.module, "llvm.memset.p0.i64", ir.VoidType(), [PTR, I8, I64, I1])
    with b.if_then(b.icmp_signed(">", length, I64(0))):
        b.call(memset, [gep(b, base, start, mt), I8(0), b.mul(length, I64(size)), I1(0)])


def _copy_run(b, src, src_off, src_stride: int, dst, dst_off, length, dtype: str) -> None:
    """``dst[dst_off + i] = src[src_off + i * src_stride]`` for i in [0, length); the two
    ranges do not overlap."""
    mt = mem_type(dtype)
    size = dtypes.to_numpy(dtype).itemsize
    if src_stride == 1:
        memcpy = intrinsic(b.module, "llvm.memcpy.p0.p0.i64", ir.VoidType(),
                           [PTR, PTR, I64, I1])
        b.call(memcpy, [gep(b, dst, dst_off, mt), gep(b, src, src_off, mt),
                        b.mul(length, I64(size)), I1(0)])
        return
    with for_range(b, I64(0), length, name="cs") as i:
        s = b.add(src_off, b.mul(i, I64(src_stride)))
        b.store(b.load(gep(b, src, s, mt), typ=mt), gep(b, dst, b.add(dst_off, i), mt))


def _nhwc_strides(view: View) -> tuple[int, int, int, int]:
    """The view's strides, with those of size-1 dims (whose index is always 0, so any stride
    addresses the same element) replaced by the contiguous value: runs then merge."""
    n, h, w, c = view.shape
    sn, sh, sw, sc = view.strides
    sc = sc if c > 1 else 1
    sw = sw if w > 1 else c * sc
    sh = sh if h > 1 else w * sw
    return sn, sh, sw, sc


def _offset(b, view: View, strides, idx) -> ir.Value:
    off = I64(view.offset)
    for s, i in zip(strides, idx):
        if s:
            off = b.add(off, i if s == 1 else b.mul(i, I64(s)))
    return off


def _split_row(b, r, inner: int):
    """Row ``r`` of ``n * inner`` rows as ``(n, y)``."""
    return b.sdiv(r, I64(inner)), b.srem(r, I64(inner))


# ==============================================================================================
# im2col / col2im
# ==============================================================================================
def _im2col(gen, k: Im2col) -> None:
    f = _Function(gen, k)
    xbuf, xv = k.x
    obuf, ov = k.out
    win, c = k.window, k.channels
    (h, w), (oh, ow), (kh, kw) = win.size, win.out, win.kernel
    (sh, sw), (dh, dw), (pt, pl) = win.strides, win.dilation, win.pad
    dt = xbuf.dtype
    taps_c = kh * kw * c
    rows = k.batch * oh
    if rows * ow * taps_c == 0:
        f.finish()
        return
    assert ov.is_dense(), "im2col writes a dense patch matrix"
    s_n, s_h, s_w, s_c = _nhwc_strides(xv)
    # with dilation 1 the taps of one kernel row are consecutive pixels: one run of kx*C
    merge = dw == 1 and s_w == c * s_c

    def body(b, ptrs, lo, hi):
        xp, op = ptrs[id(xbuf)], ptrs[id(obuf)]
        with for_range(b, lo, hi, name="row") as r:
            ni, oy = _split_row(b, r, oh)
            ybase, ky0, ky1 = _tap_range(b, oy, h, kh, sh, dh, pt)
            with for_range(b, I64(0), I64(ow), name="ox") as ox:
                xbase, kx0, kx1 = _tap_range(b, ox, w, kw, sw, dw, pl)
                dst = b.mul(b.add(b.mul(r, I64(ow)), ox), I64(taps_c))
                _zero_run(b, op, dst, b.mul(ky0, I64(kw * c)), dt)
                with for_range(b, ky0, ky1, name="ky") as ky:
                    iy = b.add(ybase, b.mul(ky, I64(dh)))
                    row = b.add(dst, b.mul(ky, I64(kw * c)))
                    _zero_run(b, op, row, b.mul(kx0, I64(c)), dt)
                    if merge:
                        ix = b.add(xbase, kx0)
                        src = _offset(b, xv, (s_n, s_h, s_w), (ni, iy, ix))
                        _copy_run(b, xp, src, s_c, op, b.add(row, b.mul(kx0, I64(c))),
                                  b.mul(b.sub(kx1, kx0), I64(c)), dt)
                    else:
                        with for_range(b, kx0, kx1, name="kx") as kx:
                            ix = b.add(xbase, b.mul(kx, I64(dw)))
                            src = _offset(b, xv, (s_n, s_h, s_w), (ni, iy, ix))
                            _copy_run(b, xp, src, s_c, op, b.add(row, b.mul(kx, I64(c))),
                                      I64(c), dt)
                    _zero_run(b, op, b.add(row, b.mul(kx1, I64(c))),
                              b.mul(b.sub(I64(kw), kx1), I64(c)), dt)
                _zero_run(b, op, b.add(dst, b.mul(ky1, I64(kw * c))),
                          b.mul(b.sub(I64(kh), ky1), I64(kw * c)), dt)

    f.split(rows, rows * ow * taps_c, body)
    f.finish()


def _per_input_pixel(gen, f: _Function, k, work: int, tap: Callable) -> None:
    """The loop shared by col2im and the pooling gradients: every pixel ``at = (n, iy, ix)``
    of ``k.out`` [N,H,W,C] is zeroed, then for each tap ``(ky, kx)`` of each window
    ``(oy, ox)`` that reads it, in row-major tap order, ``tap(b, ptrs, at, ky, oy, kx, ox)``
    does the per-tap integer work and returns ``contribution(c, width)``, the values to add to
    channels [c, c + width). The channel loop is a plain vector loop over the pixel's row of
    ``out`` (in cache); threads split the N*H input rows."""
    obuf, ov = k.out
    n, h, w, c = ov.shape
    win = k.window
    (oh, ow), (kh, kw) = win.out, win.kernel
    (sh, sw), (dh, dw), (pt, pl) = win.strides, win.dilation, win.pad
    dt = obuf.dtype
    lanes = gen.lanes(dt)

    def body(b, ptrs, lo, hi):
        with for_range(b, lo, hi, name="row") as r:
            ni, iy = _split_row(b, r, h)
            with for_range(b, I64(0), I64(w), name="ix") as ix:
                at = (ni, iy, ix)

                def zero(cidx, width):
                    _pe(gen, b, ptrs, at + tuple(cidx), width, 3).store(
                        obuf, ov, dt, const(reg_type(dt), 0, width))
                gen._nest(b, (c,), zero, lanes)

                def tap_y(ky, oy):
                    def tap_x(kx, ox):
                        contribution = tap(b, ptrs, at, ky, oy, kx, ox)

                        def add(cidx, width):
                            pe = _pe(gen, b, ptrs, at + tuple(cidx), width, 3)
                            pe.store(obuf, ov, dt, b.fadd(pe.load(obuf, ov, dt),
                                                          contribution(cidx[0], width)))
                        gen._nest(b, (c,), add, lanes)
                    _taps_reaching(b, ix, ow, kw, sw, dw, pl, tap_x)
                _taps_reaching(b, iy, oh, kh, sh, dh, pt, tap_y)

    f.split(n * h, work, body)


def _col2im(gen, k: Col2im) -> None:
    f = _Function(gen, k)
    cbuf, cv = k.cols
    win, c = k.window, k.channels
    (oh, ow), kw = win.out, win.kernel[1]
    dt = cbuf.dtype
    if k.out[1].numel == 0:
        f.finish()
        return

    def tap(b, ptrs, at, ky, oy, kx, ox):
        ni = at[0]
        m = b.add(b.mul(b.add(b.mul(ni, I64(oh)), oy), I64(ow)), ox)   # patch row
        col = b.mul(b.add(b.mul(ky, I64(kw)), kx), I64(c))               # its first column

        def contribution(ci, width):
            return _pe(gen, b, ptrs, (m, b.add(col, ci)), width, 1).load(cbuf, cv, dt)
        return contribution

    _per_input_pixel(gen, f, k, cv.numel, tap)
    f.finish()


# ==============================================================================================
# pooling
# ==============================================================================================
def _pool(gen, k: Pool) -> None:
    f = _Function(gen, k)
    xbuf, xv = k.x
    obuf, ov = k.out
    n, h, w, c = xv.shape
    win = k.window
    (oh, ow), (ph, pw) = win.out, win.kernel
    (sh, sw), (pt, pl) = win.strides, win.pad
    dt = xbuf.dtype
    rt = reg_type(dt)
    if prod(ov.shape) == 0:
        f.finish()
        return

    def body(b, ptrs, lo, hi):
        with for_range(b, lo, hi, name="row") as r:
            ni, oy = _split_row(b, r, oh)
            ybase, ky0, ky1 = _tap_range(b, oy, h, ph, sh, 1, pt)
            with for_range(b, I64(0), I64(ow), name="ox") as ox:
                xbase, kx0, kx1 = _tap_range(b, ox, w, pw, sw, 1, pl)

                def load_x(ky, kx, ci, width):
                    idx = (ni, b.add(ybase, ky), b.add(xbase, kx), ci)
                    return _pe(gen, b, ptrs, idx, width, 3).load(xbuf, xv, dt)

                def point(cidx, width):
                    (ci,) = cidx
                    t = vec(rt, width)
                    if k.kind == "max":
                        res = _window_max(b, ky0, ky1, kx0, kx1, ci, width, t, load_x)
                    elif k.kind == "avg":
                        res = _window_mean(b, ky0, ky1, kx0, kx1, ci, width, t, load_x)
                    else:
                        res = _window_argmax(b, ky0, ky1, kx0, kx1, ci, width, t, pw, load_x)
                    _pe(gen, b, ptrs, (ni, oy, ox, ci), width, 3).store(obuf, ov, obuf.dtype, res)
                gen._nest(b, (c,), point, gen.lanes(dt))

    f.split(n * oh, prod(ov.shape) * win.taps, body)
    f.finish()


def _window_max(b, ky0, ky1, kx0, kx1, ci, width, t, load_x):
    # only real taps: "same" pads with -inf, which never wins over a real element
    acc = alloca(b, t, name="max")
    b.store(const(t.element if width > 1 else t, float("-inf"), width), acc)
    with for_range(b, ky0, ky1, name="ky") as ky:
        with for_range(b, kx0, kx1, name="kx") as kx:
            # llvm.maximum propagates NaN like np.maximum
            b.store(call_intrinsic(b, "maximum", b.load(acc, typ=t), load_x(ky, kx, ci, width)),
                    acc)
    return b.load(acc, typ=t)


def _window_mean(b, ky0, ky1, kx0, kx1, ci, width, t, load_x):
    rt = t.element if width > 1 else t
    total = alloca(b, t, name="total")
    col = alloca(b, t, name="col")
    b.store(const(rt, 0, width), total)
    # the reference sums each window column over rows first, then the column sums
    with for_range(b, kx0, kx1, name="kx") as kx:
        b.store(const(rt, 0, width), col)
        with for_range(b, ky0, ky1, name="ky") as ky:
            b.store(b.fadd(b.load(col, typ=t), load_x(ky, kx, ci, width)), col)
        b.store(b.fadd(b.load(total, typ=t), b.load(col, typ=t)), total)
    count = b.mul(b.sub(ky1, ky0), b.sub(kx1, kx0))        # real elements only (TF "same")
    return b.fdiv(b.load(total, typ=t), splat(b, b.sitofp(count, rt), width))


def _window_argmax(b, ky0, ky1, kx0, kx1, ci, width, t, pw: int, load_x):
    """The first maximal tap (``ky * PW + kx``, i32) in row-major window order; the first NaN
    wins over everything (max_pool2d_grad's routing)."""
    rt = t.element if width > 1 else t
    it = vec(I32, width)
    best = alloca(b, t, name="best")
    where = alloca(b, it, name="where")
    b.store(const(rt, float("-inf"), width), best)
    b.store(const(I32, -1, width), where)
    with for_range(b, ky0, ky1, name="ky") as ky:
        with for_range(b, kx0, kx1, name="kx") as kx:
            x = load_x(ky, kx, ci, width)
            cur, cur_at = b.load(best, typ=t), b.load(where, typ=it)
            better = b.or_(b.fcmp_ordered(">", x, cur),
                           b.or_(b.and_(b.fcmp_unordered("uno", x, x),
                                        b.fcmp_ordered("ord", cur, cur)),
                                 b.icmp_signed("==", cur_at, const(I32, -1, width))))
            tap = splat(b, b.trunc(b.add(b.mul(ky, I64(pw)), kx), I32), width)
            b.store(b.select(better, x, cur), best)
            b.store(b.select(better, tap, cur_at), where)
    return b.load(where, typ=it)


def _pool_grad(gen, k: PoolGrad) -> None:
    f = _Function(gen, k)
    gbuf, gv = k.g
    obuf, ov = k.out
    n, h, w, c = ov.shape
    win = k.window
    (ph, pw), (sh, sw), (pt, pl) = win.kernel, win.strides, win.pad
    dt = obuf.dtype
    rt = reg_type(dt)
    if ov.numel == 0:
        f.finish()
        return
    if k.kind == "max":
        abuf, av = k.inputs_bufs[1]

    def tap(b, ptrs, at, ky, oy, kx, ox):
        ni = at[0]
        if k.kind == "max":
            # the window's cotangent goes to its argmax tap only
            tap_no = b.trunc(b.add(b.mul(ky, I64(pw)), kx), I32)
        else:
            # g / (real elements of the window), as the reference divides
            _, y0, y1 = _tap_range(b, oy, h, ph, sh, 1, pt)
            _, x0, x1 = _tap_range(b, ox, w, pw, sw, 1, pl)
            count = b.sitofp(b.mul(b.sub(y1, y0), b.sub(x1, x0)), rt)

        def contribution(ci, width):
            idx = (ni, oy, ox, ci)
            g = _pe(gen, b, ptrs, idx, width, 3).load(gbuf, gv, dt)
            if k.kind == "avg":
                return b.fdiv(g, splat(b, count, width))
            hit = b.icmp_signed("==", _pe(gen, b, ptrs, idx, width, 3).load(abuf, av, "i32"),
                                splat(b, tap_no, width))
            return b.select(hit, g, const(rt, 0, width))
        return contribution

    reach = -(-ph // sh) * -(-pw // sw)     # windows reaching one pixel, at most
    _per_input_pixel(gen, f, k, ov.numel * reach, tap)
    f.finish()


# ==============================================================================================
# gather / scatter-add
# ==============================================================================================
def _check_indices(gen, f: _Function, ibuf, iview: View, size: int) -> None:
    """Return the kernel's status code unless every index is in [0, size)."""
    if iview.numel == 0:
        return
    b = f.b
    bad = alloca(b, I1, name="bad")
    b.store(I1(0), bad)

    def point(idx, _w):
        j = _index(gen, b, f.ptrs, idx, ibuf, iview)
        # one unsigned compare also catches negative indices
        b.store(b.or_(b.load(bad, typ=I1), b.icmp_unsigned(">=", j, I64(size))), bad)

    gen._nest(b, iview.shape, point, 1, vector_dim=None)
    with b.if_then(b.load(bad, typ=I1), likely=False):
        b.ret(I32(status_code(gen.p, f.k)))


def _index(gen, b, ptrs, idx, ibuf, iview) -> ir.Value:
    j = _pe(gen, b, ptrs, idx, 1, None).load(ibuf, iview, ibuf.dtype)
    return b.sext(j, I64) if ibuf.dtype == "i32" else j


def _merge(shape, strides: list[tuple[int, ...]]) -> tuple[tuple[int, ...], list[tuple]]:
    """Coalesce dims ``shape`` that several views (their ``strides`` over these dims) step
    through together. Besides longer vector runs, this matters for compile time: a nest of
    small constant loops gets fully unrolled and then vectorized by LLVM into huge code."""
    views = [View(tuple(shape), tuple(st), 0) for st in strides]
    groups, merged = _coalesce(tuple(shape), views, set())
    return merged, [_regroup_view(v, groups, merged).strides for v in views]


def _gather(gen, k: Gather) -> None:
    f = _Function(gen, k)
    pbuf, pv = k.params
    ibuf, iv = k.indices
    obuf, ov = k.out
    ax, size = k.axis, k.size
    np_, ni = ax, iv.rank
    ishape, (i_str, oi_str) = _merge(iv.shape, [iv.strides, ov.strides[np_:np_ + ni]])
    iview = View(ishape, i_str, iv.offset)
    _check_indices(gen, f, ibuf, iview, size)
    if ov.numel == 0:
        f.finish()
        return
    pre = pv.shape[:ax]
    post, (p_tail, o_tail) = _merge(pv.shape[ax + 1:], [pv.strides[ax + 1:],
                                                        ov.strides[np_ + ni:]])
    outer = pre + ishape
    pview = View(pre + (size,) + post, pv.strides[:ax + 1] + p_tail, pv.offset)
    oview = View(outer + post, ov.strides[:np_] + oi_str + o_tail, ov.offset)
    dt = pbuf.dtype
    lanes = gen.lanes(dt) if post else 1
    no = len(outer)

    def body(b, ptrs, lo, hi):
        def at_index(oidx, _w):
            j = _index(gen, b, ptrs, oidx[np_:], ibuf, iview)   # validated above

            def copy(tidx, width):
                val = _pe(gen, b, ptrs, oidx[:np_] + [j] + tidx, width,
                          np_ + len(post)).load(pbuf, pview, dt)
                _pe(gen, b, ptrs, oidx + tidx, width, no + len(post) - 1).store(
                    obuf, oview, dt, val)
            gen._nest(b, post, copy, lanes)
        gen._nest(b, outer, at_index, 1, outer=None if lo is None else (lo, hi),
                  vector_dim=None)

    if outer:
        f.split(outer[0], ov.numel, body)
    else:
        body(f.b, f.ptrs, None, None)
    f.finish()


def _scatter_add(gen, k: ScatterAdd) -> None:
    f = _Function(gen, k)
    ibuf, iv = k.indices
    ubuf, uv = k.updates
    obuf, ov = k.out
    ishape, (i_str, ui_str) = _merge(iv.shape, [iv.strides, uv.strides[:iv.rank]])
    iview = View(ishape, i_str, iv.offset)
    _check_indices(gen, f, ibuf, iview, k.size)
    if ov.numel == 0:
        f.finish()
        return
    ni = len(ishape)
    rows = ov.shape[0]
    post, (u_tail, o_tail) = _merge(ov.shape[1:], [uv.strides[iv.rank:], ov.strides[1:]])
    uview = View(ishape + post, ui_str + u_tail, uv.offset)
    oview = View((rows,) + post, ov.strides[:1] + o_tail, ov.offset)
    dt = obuf.dtype
    rt = reg_type(dt)
    lanes = gen.lanes(dt) if post else 1
    is_float = dtypes.is_float(dt)

    def body(b, ptrs, lo, hi):
        cols = None if lo is None else (lo, hi)   # this thread's share of trailing dim 0

        def zero_row(ridx, _w):
            def z(tidx, width):
                _pe(gen, b, ptrs, ridx + tidx, width, len(post)).store(
                    obuf, oview, dt, const(rt, 0, width))
            gen._nest(b, post, z, lanes, outer=cols)
        gen._nest(b, (rows,), zero_row, 1, vector_dim=None)

        def add_at(iidx, _w):
            row = _index(gen, b, ptrs, iidx, ibuf, iview)   # validated above

            def add(tidx, width):
                u = _pe(gen, b, ptrs, iidx + tidx, width, ni + len(post) - 1).load(ubuf, uview, dt)
                pe = _pe(gen, b, ptrs, [row] + tidx, width, len(post))
                cur = pe.load(obuf, oview, dt)
                pe.store(obuf, oview, dt, b.fadd(cur, u) if is_float else b.add(cur, u))
            gen._nest(b, post, add, lanes, outer=cols)
        gen._nest(b, ishape, add_at, 1, vector_dim=None)

    work = (iview.numel + rows) * prod(post)
    if not post:
        body(f.b, f.ptrs, None, None)
    elif len(post) == 1 and lanes > 1:
        # split whole vectors of columns, so each thread's vector loop stays on full vectors
        blocks = -(-post[0] // lanes)

        def by_blocks(b, ptrs, lo, hi):
            hi = _imin(b, b.mul(hi, I64(lanes)), I64(post[0]))
            body(b, ptrs, b.mul(lo, I64(lanes)), hi)
        f.split(blocks, work, by_blocks)
    else:
        f.split(post[0], work, body)
    f.finish()


_EMITTERS = {Im2col: _im2col, Col2im: _col2im, Pool: _pool, PoolGrad: _pool_grad,
             Gather: _gather, ScatterAdd: _scatter_add}
