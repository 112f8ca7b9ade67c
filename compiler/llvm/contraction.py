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


def emit_matmul(gen, k: Matmul) -> None:
    fn, ptrs, b = gen._kernel_function(k)
    if prod(k.batch) * k.m * k.n == 0:
        b.ret_void()
        return
    _direct(gen, k, b, ptrs)
    b.ret_void()


def _direct(gen, k: Matmul, b: ir.IRBuilder, ptrs) -> None:
    abuf, aview = k.a
    bbuf, bview = k.b
    cbuf, cview = k.c
    dt = k.dtype
    rt, mt = reg_type(dt), mem_type(dt)
    lanes = gen.lanes(dt)
    nb = len(k.batch)
    with b.goto_block(b.block):
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
