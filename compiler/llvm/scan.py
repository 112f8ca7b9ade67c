"""Code generation for scan kernels (the recurrence family: SimpleRNN, LSTM, GRU over time).

The body program is compiled once, as its own entry function ``i32 @<scan>.body(ptr table)``
(table: the body's inputs, its outputs, its arena, the GEMM workspace), and the scan kernel
loops over time calling it. Per step the kernel only rewrites pointers: ``xs[t]``/``ys[t]``
are addresses inside the stacked buffers, and the carries alternate between two scratch
buffers (the body reads one and writes the other; a step never overwrites what it reads).
Nothing is unrolled: a 1000-step sequence costs the same code size as a 1-step one.
"""
from __future__ import annotations

import llvmlite.ir as ir

from compiler.kernels.ir import Buffer, Scan
from compiler.llvm.irutil import I1, I32, I64, PTR, alloca, for_range, intrinsic

__all__ = ["emit_scan"]


def _memcpy(b: ir.IRBuilder, dst, src, nbytes: int) -> None:
    if nbytes:
        fn = intrinsic(b.module, "llvm.memcpy.p0.p0.i64", ir.VoidType(), [PTR, PTR, I64, I1])
        b.call(fn, [dst, src, I64(nbytes), I1(0)])


def emit_scan(gen, k: Scan) -> None:
    body = k.body
    # Body kernels and constants get names under the scan's, unique in the module.
    for kk in body.kernels:
        kk.name = f"{k.name}.{kk.name}"
    for buf in body.consts:
        buf.name = f"{k.name}.{buf.name}"
    gen.emit_kernels(body.kernels)
    slots = list(body.inputs) + list(body.outputs)
    from compiler.llvm.codegen import emit_program_entry

    entry = emit_program_entry(gen, body, f"{k.name}.body", slots)
    entry.linkage = "internal"   # called from this module only; never looked up by name

    fn, ptrs, b = gen._kernel_function(k, returns_status=True)
    T = k.length
    nc = len(k.init)
    at = ir.ArrayType(PTR, len(slots) + 2)
    table = alloca(b, at, name="body.table")

    def put(i, value):
        b.store(value, b.gep(table, [I64(0), I64(i)], inbounds=True, source_etype=at))

    for src, dst in zip(k.init, k.ping):
        _memcpy(b, ptrs[id(dst)], ptrs[id(src)], src.nbytes)
    n_in = len(body.inputs)
    put(len(slots), ptrs[id(k.scratch)])
    from compiler.llvm.codegen import WORKSPACE

    put(len(slots) + 1, ptrs[id(WORKSPACE)])
    for j, c in enumerate(k.consts):
        put(nc + len(k.xs) + j, ptrs[id(c)])
    status_slot = alloca(b, I32, name="status")
    b.store(I32(0), status_slot)
    exit_block = fn.append_basic_block("scan.exit")
    with for_range(b, I64(0), I64(T), name="t") as t:
        tt = b.sub(I64(T - 1), t) if k.reverse else t
        odd = b.trunc(t, I1)
        for j in range(nc):
            cur = b.select(odd, ptrs[id(k.pong[j])], ptrs[id(k.ping[j])])
            nxt = b.select(odd, ptrs[id(k.ping[j])], ptrs[id(k.pong[j])])
            put(j, cur)
            put(n_in + j, nxt)
        for j, x in enumerate(k.xs):
            step = x.numel // T if T else 0
            put(nc + j, b.gep(ptrs[id(x)], [b.mul(tt, I64(step))], inbounds=True,
                              source_etype=_elem(x)))
        for j, y in enumerate(k.ys):
            step = y.numel // T if T else 0
            put(n_in + nc + j, b.gep(ptrs[id(y)], [b.mul(tt, I64(step))], inbounds=True,
                                     source_etype=_elem(y)))
        status = b.call(entry, [table])
        failed = b.icmp_signed("!=", status, I32(0))
        go_on = fn.append_basic_block("scan.step_ok")
        stop = fn.append_basic_block("scan.step_failed")
        b.cbranch(failed, stop, go_on)
        b.position_at_end(stop)
        b.store(status, status_slot)
        b.branch(exit_block)
        b.position_at_end(go_on)
    # after T steps the last carries are in pong if T is odd (step T-1 even wrote pong), else ping
    last = k.pong if T % 2 == 1 else k.ping
    for src, dst in zip(last, k.finals):
        _memcpy(b, ptrs[id(dst)], ptrs[id(src)], src.nbytes)
    b.branch(exit_block)
    b.position_at_end(exit_block)
    b.ret(b.load(status_slot, typ=I32))


def _elem(buf: Buffer) -> ir.Type:
    from compiler.llvm.irutil import mem_type

    return mem_type(buf.dtype)
