"""Code generation for contraction kernels (matmul; conv2d reuses it through im2col).

Large products go through the packed, register-blocked GEMM of compiler/llvm/gemm.py. Products
too small to amortize packing (a few thousand multiply-adds) use a direct loop nest here:
one output row at a time, ``lanes`` output columns per vector, broadcasting A's element and
FMA-ing a row of B, the epilogue applied before the store.
"""
from __future__ import annotations

from math import prod

import llvmlite.ir as ir

from compiler.kernels.ir import Matmul
from compiler.llvm.exprgen import PointEmitter
from compiler.llvm.irutil import I64, alloca, const, for_range, gep, mem_type, reg_type, splat, vec

__all__ = ["emit_matmul"]

_ITEMSIZE = {"f32": 4, "f64": 8, "i32": 4, "i64": 8}


def _offset(b: ir.IRBuilder, view, idx: list) -> ir.Value:
    off = I64(view.offset)
    for d, s in enumerate(view.strides):
        if s and view.shape[d] != 1:
            off = b.add(off, b.mul(idx[d], I64(s)))
    return off


#: Products with fewer multiply-adds than this use the direct loop: the packed GEMM's call and
#: packing overhead (~1-3 us) is more than such a product costs.
GEMM_MIN_MACS = 2048


def emit_matmul(gen, k: Matmul) -> None:
    fn, ptrs, b = gen._kernel_function(k)
    if prod(k.batch) * k.m * k.n == 0:
        b.ret_void()
        return
    if k.dtype in ("f32", "f64") and k.m * k.n * k.k >= GEMM_MIN_MACS:
        _gemm(gen, k, b, ptrs)
    else:
        _direct(gen, k, b, ptrs)
    b.ret_void()


class _ExprEpilogue:
    """The kernel's epilogue expression as a GEMM epilogue hook: evaluated on the final value of
    each C element (or vector of ``lanes`` columns) before the store, with the batch index and
    the kernel's buffer pointers captured from the calling kernel through ``extra``."""

    def __init__(self, gen, k: Matmul, bufs):
        self.gen, self.k, self.bufs = gen, k, bufs
        self.key = f"epi_{k.name.replace('.', '_')}"

    def emit(self, builder, value, row, col, extra):
        from compiler.llvm.irutil import PTR

        k = self.k
        # extra -> [batch offset (as a pointer-sized int), buffer pointers...]
        ptrs = {}
        for i, buf in enumerate(self.bufs):
            slot = builder.gep(extra, [I64(i + 1)], inbounds=True, source_etype=PTR)
            ptrs[id(buf)] = builder.load(slot, typ=PTR)
        bslot = builder.gep(extra, [I64(0)], inbounds=True, source_etype=I64)
        batch_flat = builder.load(bslot, typ=I64)
        idx = _unravel(builder, batch_flat, k.batch) + [row, col]
        width = value.type.count if isinstance(value.type, ir.VectorType) else 1
        pe = PointEmitter(builder, ptrs, idx, width, len(k.batch) + 1, self.gen.math, acc=value,
                          random=self.gen.math.random)
        return pe.emit(k.epilogue)


def _unravel(b, flat, shape) -> list:
    idx = []
    for d in reversed(range(len(shape))):
        idx.append(b.urem(flat, I64(shape[d])) if d else flat)
        flat = b.udiv(flat, I64(shape[d]))
    return list(reversed(idx))


def _gemm(gen, k: Matmul, b: ir.IRBuilder, ptrs) -> None:
    from compiler.llvm.codegen import WORKSPACE, kernel_buffers
    from compiler.llvm.gemm import emit_gemm, gemm_workspace_bytes
    from compiler.llvm.irutil import PTR

    abuf, aview = k.a
    bbuf, bview = k.b
    cbuf, cview = k.c
    mt = mem_type(k.dtype)
    bufs = kernel_buffers(k)
    epi = _ExprEpilogue(gen, k, bufs) if k.epilogue is not None else None
    gemm = emit_gemm(gen.module, k.dtype, threading=gen.threading, epilogue=epi)
    gemm.linkage = "internal"
    gen.work_bytes = max(getattr(gen, "work_bytes", 0),
                         gemm_workspace_bytes(k.dtype, k.m, k.n, k.k, gen.threading))
    extra = ir.Constant(PTR, None)
    if epi is not None:
        at = ir.ArrayType(PTR, len(bufs) + 1)
        table = alloca(b, at, name="epilogue.extra")
        for i, buf in enumerate(bufs):
            b.store(ptrs[id(buf)], b.gep(table, [I64(0), I64(i + 1)], inbounds=True,
                                          source_etype=at))
        extra = table
    nb = len(k.batch)

    def one(bidx, _w):
        if epi is not None:
            flat = I64(0)
            for d, i in enumerate(bidx):
                flat = b.add(b.mul(flat, I64(k.batch[d])), i)
            b.store(flat, b.gep(extra, [I64(0), I64(0)], inbounds=True,
                                source_etype=ir.ArrayType(PTR, len(bufs) + 1)))
        zero2 = [I64(0), I64(0)]
        a0 = gep(b, ptrs[id(abuf)], _offset(b, aview, list(bidx) + zero2), mt)
        b0 = gep(b, ptrs[id(bbuf)], _offset(b, bview, list(bidx) + zero2), mt)
        c0 = gep(b, ptrs[id(cbuf)], _offset(b, cview, list(bidx) + zero2), mt)
        b.call(gemm, [I64(k.m), I64(k.n), I64(k.k),
                      a0, I64(aview.strides[-2]), I64(aview.strides[-1]),
                      b0, I64(bview.strides[-2]), I64(bview.strides[-1]),
                      c0, I64(cview.strides[-2]), ir.IntType(32)(0), ptrs[id(WORKSPACE)], extra])

    if nb:
        gen._nest(b, tuple(k.batch), one, 1, vector_dim=None)
    else:
        one([], 1)


def _direct(gen, k: Matmul, b: ir.IRBuilder, ptrs) -> None:
    abuf, aview = k.a
    bbuf, bview = k.b
    cbuf, cview = k.c
    dt = k.dtype
    rt, mt = reg_type(dt), mem_type(dt)
    lanes = gen.lanes(dt)
    nb = len(k.batch)
    acc_slot = alloca(b, vec(rt, lanes), name="acc")
    sacc_slot = alloca(b, rt, name="sacc")

    def row(bidx, _w):
        i = bidx[-1]
        batch = bidx[:-1]

        def columns(j, width):
            slot, t = (acc_slot, vec(rt, lanes)) if width > 1 else (sacc_slot, rt)
            b.store(const(rt, 0, width), slot)
            with for_range(b, I64(0), I64(k.k), name="kk") as kk:
                a = b.load(gep(b, ptrs[id(abuf)], _offset(b, aview, batch + [i, kk]), mt), typ=mt)
                bofs = _offset(b, bview, batch + [kk, j])
                if width > 1 and bview.strides[-1] == 1:
                    # element alignment only: a vector type's natural alignment would promise
                    # 32 bytes, which an arbitrary row of B does not have
                    bv = b.load(gep(b, ptrs[id(bbuf)], bofs, mt), typ=vec(mt, width),
                                align=_ITEMSIZE[dt])
                else:
                    bv = ir.Constant(vec(rt, width), ir.Undefined) if width > 1 else None
                    if width > 1:
                        for lane in range(width):
                            p = gep(b, ptrs[id(bbuf)], b.add(bofs, I64(lane * bview.strides[-1])), mt)
                            bv = b.insert_element(bv, b.load(p, typ=mt), ir.IntType(32)(lane))
                    else:
                        bv = b.load(gep(b, ptrs[id(bbuf)], bofs, mt), typ=mt)
                cur = b.load(slot, typ=t)
                if dt in ("f32", "f64"):
                    prod_ = b.fmul(splat(b, a, width), bv, flags=("contract",))
                    b.store(b.fadd(cur, prod_, flags=("contract",)), slot)
                else:
                    b.store(b.add(cur, b.mul(splat(b, a, width), bv)), slot)
            acc = b.load(slot, typ=t)
            idx = batch + [i, j]
            pe = PointEmitter(b, ptrs, idx, width, nb + 1, gen.math, acc=acc,
                              random=gen.math.random)
            val = pe.emit(k.epilogue) if k.epilogue is not None else acc
            pe.store(cbuf, cview, dt, val)

        main_end = (k.n // lanes) * lanes if lanes > 1 else 0
        if main_end:
            with for_range(b, I64(0), I64(main_end), lanes, name="j") as j:
                columns(j, lanes)
        with for_range(b, I64(main_end), I64(k.n), name="jt") as j:
            columns(j, 1)

    gen._nest(b, tuple(k.batch) + (k.m,), row, 1, vector_dim=None)
