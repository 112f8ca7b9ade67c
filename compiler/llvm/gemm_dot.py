"""The GEMM's dot-product kernel: small outputs with a long K, such as a dense layer's logits.

``x[32, 21632] @ W[21632, 10]`` (the mnist CNN's classifier) has 320 outputs of 21632 terms
each. The broadcast register tile of :mod:`compiler.llvm.gemm` keeps MR x NR = 6 x 16 outputs
in vectors along N, so with N = 10 and M = 32 it runs 10 of its 16 columns and 32 of its 36
rows, and it packs both operands per K block: 0.43 ms, 32 GFLOP/s on one Zen 3 core. Here the
vectors run along K instead: the register tile is R rows x S columns of C (2 x 5: 10
accumulators, 2 A vectors and 1 B vector in flight, 7 loads per 10 FMAs), each accumulator a
vector of partial sums over L consecutive k, so every lane is useful however narrow N is and
A is read where it is. Measured on the shape above: 0.21 ms, 0.18 ms of it in this kernel
(its 0.87 M vector FMAs at 2 per cycle would take 0.15 ms at the clock that the big GEMM's
90 GFLOP/s implies), the rest packing B's columns.

Operands: A's rows must be contiguous in k (``a_cs == 1``, as an activation matrix is). B's
columns are read in place when they are contiguous in k (``b_rs == 1``, a transposed weight),
otherwise each K block of them is packed first into ``nj x min(KC, K)`` elements of the
caller's workspace (:func:`emit_pack_bt`, in-register L x L transposes for row-major B).

K is cut into blocks of KC (the broadcast path's KC, 512 for f32: a block of 10 packed columns
is 20 KiB, L1-resident while every row pair streams past it; 1024-4096 measured 30% slower,
the block then lives in L2).

Sums: in a block, lane l of an accumulator adds the products of k = l, l + L, l + 2L, ... in
order (FMA), a masked last step takes the K tail, the lanes are added in a fixed tree and the
block's sum is added to C (or stored, for the first block when C is not accumulated into). The
order depends only on K and KC: not on the tile, the split between threads or the thread
count. It differs from the broadcast path's order (k strictly in order), so the two paths
round differently; the GEMM picks one by shape and layout alone.
"""
from __future__ import annotations

import llvmlite.ir as ir

from compiler.llvm.gemm import (I1, I32, I64, PTR, VOID, _carry_loop, _Emitter, _for, _i64,
                                _if_value, _internal, _min)

__all__ = ["emit_dot", "emit_pack_bt"]


def _hsum(e: _Emitter, b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    """The lanes of ``v`` summed in a fixed order: halves added until one lane is left."""
    width = e.L
    while width > 1:
        width //= 2
        lo = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, width), list(range(width))))
        hi = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, width),
                                                list(range(width, 2 * width))))
        v = b.fadd(lo, hi)
    return b.extract_element(v, I32(0))


def emit_pack_bt(e: _Emitter, name: str) -> ir.Function:
    """``pack_bt(dst, B, b_rs, b_cs, kc, nj, ld)``: ``dst[j*ld + k] = B[k, j]`` for k < kc,
    j < nj: a K block of B's columns, each contiguous in k.

    Row-major B (``b_cs == 1``) with at least L columns goes through L x L in-register
    transposes; when L does not divide nj the last column group overlaps the one before it
    (those columns are written twice, with the same values). Other layouts and the k tail are
    copied element by element.
    """
    L = e.L
    fn, b = _internal(e.module, name, VOID, [PTR, PTR, I64, I64, I64, I64, I64],
                      ["dst", "b", "b_rs", "b_cs", "kc", "nj", "ld"], optsize=True)
    dst, src, b_rs, b_cs, kc, nj, ld = fn.args
    dst.add_attribute("noalias")
    vec_ok = b.and_(b.icmp_signed("==", b_cs, _i64(1)), b.icmp_signed(">=", nj, _i64(L)))
    k_vec = b.select(vec_ok, b.mul(b.sdiv(kc, _i64(L)), _i64(L)), _i64(0))
    with _for(b, _i64(0), k_vec, L, "kv") as k:
        with _for(b, _i64(0), nj, L, "jv") as jg:
            j = _min(b, jg, b.sub(nj, _i64(L)))
            rows = [e.vload(b, e.at(b, src, b.add(b.mul(b.add(k, _i64(t)), b_rs), j)))
                    for t in range(L)]
            for c, col in enumerate(e.transpose(b, rows)):
                b.store(col, e.at(b, dst, b.add(b.mul(b.add(j, _i64(c)), ld), k)),
                        align=e.size)
    with _for(b, _i64(0), nj, 1, "js") as j:
        col_src = e.at(b, src, b.mul(j, b_cs))
        col_dst = e.at(b, dst, b.mul(j, ld))
        with _for(b, k_vec, kc, 1, "ks") as k:
            b.store(e.load(b, e.at(b, col_src, b.mul(k, b_rs))), e.at(b, col_dst, k),
                    align=e.size)
    b.ret_void()
    return fn


def emit_dot(e: _Emitter, name: str, pack_bt: ir.Function, R: int, S: int) -> ir.Function:
    """``dot(K, A, a_rs, B, b_rs, b_cs, C, c_rs, load_c, i0, i1, j0, j1, work)``: the block
    ``C[i0:i1, j0:j1] = (load_c ? C : 0) + A @ B`` (no epilogue: the caller applies it once
    the block is final) in R x S tiles of dot products, as the module docstring describes.

    ``A`` points to row 0 (``A[i, k] = A[i*a_rs + k]``), ``B`` and ``C`` to their element
    (0, 0). ``work`` holds ``(j1 - j0) x min(KC, K)`` elements when ``b_rs != 1``. Edge tiles
    read the last valid row and column again for their missing ones and do not store them.
    """
    L, KC = e.L, e.blk.kc
    fn, b = _internal(e.module, name, VOID,
                      [I64, PTR, I64, PTR, I64, I64, PTR, I64, I1, I64, I64, I64, I64, PTR],
                      ["K", "A", "a_rs", "B", "b_rs", "b_cs", "C", "c_rs", "load_c", "i0", "i1",
                       "j0", "j1", "work"], optsize=True)
    K, A, a_rs, B, b_rs, b_cs, C, c_rs, load_c, i0, i1, j0, j1, work = fn.args
    C.add_attribute("noalias")
    nj = b.sub(j1, j0)
    ld = _min(b, _i64(KC), K)
    bt_direct = b.icmp_signed("==", b_rs, _i64(1))
    lane_ids = ir.Constant(ir.VectorType(I64, L), list(range(L)))
    with _for(b, _i64(0), K, KC, "pc") as pc:
        kc = _min(b, _i64(KC), b.sub(K, pc))
        add_c = b.or_(load_c, b.icmp_signed("!=", pc, _i64(0)))
        b_block = e.at(b, B, b.add(b.mul(pc, b_rs), b.mul(j0, b_cs)))
        with b.if_then(b.not_(bt_direct)):
            b.call(pack_bt, [work, b_block, b_rs, b_cs, kc, nj, ld])
        bt = b.select(bt_direct, b_block, work)
        bt_cs = b.select(bt_direct, b_cs, ld)
        k_vec = b.mul(b.sdiv(kc, _i64(L)), _i64(L))
        tail = b.icmp_signed("<", k_vec, kc)
        tail_mask = b.icmp_signed("<", lane_ids, e.splat_i64(b, b.sub(kc, k_vec)))
        with _for(b, i0, i1, R, "di") as i:
            last_row = b.sub(i1, _i64(1))
            a_rows = [e.at(b, A, b.add(b.mul(_min(b, b.add(i, _i64(r)), last_row), a_rs), pc))
                      for r in range(R)]
            with _for(b, _i64(0), nj, S, "dj") as j:
                last_col = b.sub(nj, _i64(1))
                b_cols = [e.at(b, bt, b.mul(_min(b, b.add(j, _i64(s)), last_col), bt_cs))
                          for s in range(S)]

                def step(k: ir.Value, accs: list[ir.Value], masked: bool = False
                         ) -> list[ir.Value]:
                    """One vector of k for the whole tile: R + S loads, R * S FMAs (each B
                    vector feeds its R FMAs right after its load: 13 registers in use)."""
                    def vec(ptr: ir.Value) -> ir.Value:
                        if masked:  # the K tail: lanes past kc read nothing
                            return b.call(e.masked_load, [e.at(b, ptr, k), tail_mask,
                                                          e.zero_vec])
                        return e.vload(b, e.at(b, ptr, k))
                    av = [vec(p) for p in a_rows]
                    out = list(accs)
                    for s in range(S):
                        bv = vec(b_cols[s])
                        for r in range(R):
                            out[r * S + s] = b.call(e.vfma, [av[r], bv, out[r * S + s]])
                    return out

                accs = _carry_loop(b, _i64(0), k_vec, L, [e.zero_vec] * (R * S), step, "dk")
                pre = b.block
                with b.if_then(tail):
                    tailed = step(k_vec, accs, masked=True)
                    tail_end = b.block
                sums = []
                for x, y in zip(accs, tailed):
                    phi = b.phi(e.VT)
                    phi.add_incoming(y, tail_end)
                    phi.add_incoming(x, pre)
                    sums.append(phi)
                # Reduced and stored one by one, unrolled: a loop over a spilled tile was 5%
                # slower on 32 x 10 x 21632 (for 12 ms less compile time).
                for r in range(R):
                    row_ok = b.icmp_signed("<", b.add(i, _i64(r)), i1)
                    for s in range(S):
                        ok = b.and_(row_ok, b.icmp_signed("<", b.add(j, _i64(s)), nj))
                        total = _hsum(e, b, sums[r * S + s])
                        with b.if_then(ok):
                            ptr = e.at(b, C, b.add(b.mul(b.add(i, _i64(r)), c_rs),
                                                   b.add(j0, b.add(j, _i64(s)))))
                            value = _if_value(b, add_c,
                                              lambda: b.fadd(e.load(b, ptr), total), total)
                            b.store(value, ptr, align=e.size)
    b.ret_void()
    return fn
