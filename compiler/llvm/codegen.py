"""Kernel program -> one LLVM module with one entry point.

The module holds one function per kernel, ``void @<kernel>(ptr bufs)`` (``bufs``: the addresses
of the kernel's buffers, in the order of :func:`kernel_buffers`), and the entry point
``i32 @kiln_main(ptr table)``. ``table`` holds one address per input, param and output of the
program, then the arena and the GEMM workspace (:class:`TableLayout`); the entry computes each
temp's address as arena + offset, calls every kernel in order and returns 0 (a non-zero status
is reserved for kernels that detect bad data, such as an out-of-range gather index). The
runtime makes exactly one native call per step, whatever the number of kernels.

Loop nests: the iteration space is first *coalesced* (size-1 dims dropped; adjacent dims merged
where every view steps through them as one), then the innermost dim runs ``lanes`` points at a
time (the host vector width for the dtype, from the target, never a constant) with a scalar tail,
and big kernels split their outermost dim across threads through libgomp
(compiler/llvm/parallel.py).
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from math import prod
from typing import Callable

import llvmlite.ir as ir
import numpy as np

from compiler.ir import dtypes
from compiler.kernels import expr as ex
from compiler.kernels.ir import (Buffer, Elementwise, Kernel, KernelProgram, Matmul, Reduce,
                                 Scan, Softmax)
from compiler.kernels.view import View
from compiler.llvm.exprgen import PointEmitter
from compiler.llvm.irutil import (I32, I64, PTR, VOID, alloca, call_intrinsic, const,
                                  for_range, mem_type, reg_type, splat, vec)
from compiler.llvm.parallel import (Threading, body_function_type, emit_parallel,
                                    emit_static_range)
from compiler.llvm.target import host_target

__all__ = ["TableLayout", "generate", "kernel_buffers", "emit_program_entry", "ENTRY",
           "CYCLES", "emit_cycle_counter", "PARALLEL_MIN_ELEMENTS"]

ENTRY = "kiln_main"

#: Elementwise kernels with at least this many points split across threads. A parallel region
#: costs ~1.3 us (LLVM-NOTES); a vectorized elementwise loop does ~1-2 elements per ns per core,
#: so below ~32K points the fork/join costs more than the second core saves.
PARALLEL_MIN_ELEMENTS = 1 << 15


@dataclass
class TableLayout:
    """Slots of the pointer table the runtime passes to the entry point."""
    slots: list[Buffer] = field(default_factory=list)   # inputs, params, outputs (unique)
    arena_slot: int = 0
    work_slot: int = 0
    work_bytes: int = 0
    #: profiled programs: the slot of an i64 array of (cycles, calls) per kernel, else None
    profile_slot: int | None = None

    def __len__(self) -> int:
        return len(self.slots) + 2 + (self.profile_slot is not None)


def kernel_buffers(k: Kernel) -> list[Buffer]:
    """The distinct buffers a kernel touches, in a fixed order (writes, then reads)."""
    out, seen = [], set()
    extra = [WORKSPACE] if isinstance(k, (Matmul, Scan)) else []
    for b in list(k.writes()) + list(k.reads()) + extra:
        if id(b) not in seen:
            seen.add(id(b))
            out.append(b)
    return out


# ==============================================================================================
# iteration-space coalescing
# ==============================================================================================
def _index_dims(roots) -> set[int]:
    return {e.value for e in ex.iter_nodes(roots) if e.op == "index"}


def _coalesce(shape: tuple[int, ...], views: list[View], pinned: set[int],
              classes: tuple | None = None) -> tuple[list[list[int]], tuple[int, ...]]:
    """Group the dims of ``shape``: size-1 dims are dropped (unless pinned), and a dim joins the
    previous group when every view steps through the pair as through one dim. Pinned dims (read
    by an index leaf) stay alone. ``classes`` (optional, one label per dim) forbids merging dims
    of different labels (reduced vs kept). Returns (groups of original dims, new shape)."""
    groups: list[list[int]] = []
    for d, n in enumerate(shape):
        if n == 1 and d not in pinned:
            continue
        if groups:
            p = groups[-1][-1]
            if (p not in pinned and d not in pinned
                    and (classes is None or classes[p] == classes[d])
                    and all(v.strides[p] == v.strides[d] * n for v in views)):
                groups[-1].append(d)
                continue
        groups.append([d])
    return groups, tuple(prod(shape[d] for d in g) for g in groups)


def _regroup_view(view: View, groups: list[list[int]], new_shape) -> View:
    return View(tuple(new_shape), tuple(view.strides[g[-1]] for g in groups), view.offset)


def _regroup_exprs(roots: list[ex.Expr], groups, new_shape) -> list[ex.Expr]:
    """Rewrite loads' views and index leaves for the coalesced iteration space."""
    pos = {g[0]: i for i, g in enumerate(groups) if len(g) == 1}

    def leaf(e: ex.Expr) -> ex.Expr:
        if e.op == "load":
            return ex.load(e.buffer, _regroup_view(e.view, groups, new_shape), e.dtype)
        if e.op == "index":
            return ex.index(pos[e.value], e.dtype) if e.value in pos else ex.const(0, e.dtype)
        return e

    return ex.rewrite_leaves(roots, leaf)


def _load_views(roots) -> list[View]:
    return [e.view for e in ex.iter_nodes(roots) if e.op == "load"]


# ==============================================================================================
# the generator
# ==============================================================================================
class _Generator:
    def __init__(self, program: KernelProgram, threading: Threading, math_factory: Callable):
        self.p = program
        self.threading = threading
        self.profile = False
        self.module = ir.Module(name=program.name)
        self.module.triple = host_target().triple
        self.math = math_factory(self.module)
        self.target = host_target()
        self.layout = TableLayout()
        self._globals: dict[int, ir.GlobalVariable] = {}
        self._gemm: dict = {}

    def lanes(self, dtype: str) -> int:
        size = 1 if dtype == "bool" else dtypes.to_numpy(dtype).itemsize
        return max(1, self.target.vector_lanes(size))

    # -- functions ----------------------------------------------------------------------------
    def _kernel_function(self, k: Kernel, returns_status: bool = False
                         ) -> tuple[ir.Function, dict[int, ir.Value], ir.IRBuilder]:
        """The function of kernel ``k``: ``void (ptr bufs)``, or ``i32 (ptr bufs)`` for kernels
        that can detect bad data and return a non-zero status."""
        ret = I32 if returns_status else VOID
        fn = ir.Function(self.module, ir.FunctionType(ret, [PTR]), name=k.name)
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        ptrs = self._unpack(builder, fn.args[0], kernel_buffers(k))
        return fn, ptrs, builder

    def _unpack(self, builder, table, bufs) -> dict[int, ir.Value]:
        ptrs = {}
        for i, b in enumerate(bufs):
            slot = builder.gep(table, [I64(i)], inbounds=True, source_etype=PTR)
            ptrs[id(b)] = builder.load(slot, typ=PTR, name=f"p.{b.name}")
        return ptrs

    def _parallel_body(self, k: Kernel, suffix: str = "par"):
        """A ``void (ptr bufs)`` function for the body of a parallel region of kernel ``k``."""
        fn = ir.Function(self.module, body_function_type(), name=f"{k.name}.{suffix}")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        ptrs = self._unpack(builder, fn.args[0], kernel_buffers(k))
        return fn, ptrs, builder

    # -- loop nests ---------------------------------------------------------------------------
    def _nest(self, b: ir.IRBuilder, shape, point: Callable, lanes: int,
              outer: tuple[ir.Value, ir.Value] | None = None, vector_dim: int | None = -1,
              outer_dim: int = 0):
        """Run ``point(idx, width)`` over ``shape``; the last dim (or ``vector_dim``) in chunks
        of ``lanes`` plus a scalar tail. ``outer``: [begin, end) of dim ``outer_dim`` for this
        thread."""
        rank = len(shape)
        if rank == 0:
            point([], 1)
            return
        vdim = rank - 1 if vector_dim == -1 else vector_dim
        idx: list = [None] * rank
        order = [d for d in range(rank) if d != vdim] + ([vdim] if vdim is not None else [])

        def rec(pos: int):
            d = order[pos]
            lo, hi = (outer if (outer is not None and d == outer_dim) else (I64(0), I64(shape[d])))
            last = pos == len(order) - 1
            if last and d == vdim and lanes > 1:
                span = b.sub(hi, lo)
                main_end = b.add(lo, b.mul(b.sdiv(span, I64(lanes)), I64(lanes)))
                with for_range(b, lo, main_end, lanes, name=f"v{d}") as i:
                    idx[d] = i
                    point(list(idx), lanes)
                with for_range(b, main_end, hi, 1, name=f"t{d}") as i:
                    idx[d] = i
                    point(list(idx), 1)
                return
            with for_range(b, lo, hi, 1, name=f"d{d}") as i:
                idx[d] = i
                if last:
                    point(list(idx), 1)
                else:
                    rec(pos + 1)

        rec(0)

    def _split(self, k: Kernel, shape, lanes: int, emit_body: Callable, numel: int,
               split_dim: int = 0) -> None:
        """Emit kernel ``k`` whose body is ``emit_body(builder, ptrs, outer_range)``; run it on
        all threads (each on a slice of dim ``split_dim``) when big enough, else serially."""
        fn, ptrs, b = self._kernel_function(k)
        if (self.threading.parallel and numel >= PARALLEL_MIN_ELEMENTS and len(shape) >= 1
                and shape[split_dim] >= 2):
            body, bptrs, bb = self._parallel_body(k)
            begin, end = emit_static_range(bb, self.threading, I64(shape[split_dim]))
            emit_body(bb, bptrs, (begin, end))
            bb.ret_void()
            emit_parallel(b, self.threading, body, fn.args[0])
        else:
            emit_body(b, ptrs, None)
        b.ret_void()

    # -- elementwise ----------------------------------------------------------------------------
    def elementwise(self, k: Elementwise) -> None:
        if prod(k.shape) == 0:
            self._empty(k)
            return
        views = _load_views(k.exprs) + [v for _, v in k.outs]
        groups, shape = _coalesce(k.shape, views, _index_dims(k.exprs))
        exprs = _regroup_exprs(k.exprs, groups, shape)
        outs = [(buf, _regroup_view(v, groups, shape)) for buf, v in k.outs]
        lanes = min(self.lanes(e.dtype) for e in exprs)

        def body(b, ptrs, outer):
            def point(idx, width):
                pe = PointEmitter(b, ptrs, idx, width, len(shape) - 1 if shape else None,
                                  self.math, random=self.math.random)
                for (buf, view), e in zip(outs, exprs):
                    pe.store(buf, view, e.dtype, pe.emit(e))
            # a rank-1 space splits into blocks of whole vectors, not single elements
            self._nest(b, shape, point, lanes, outer)

        if len(shape) == 1:
            self._split_flat(k, shape, lanes, body)
        else:
            self._split(k, shape, lanes, body, prod(shape))

    def _split_flat(self, k, shape, lanes, body):
        n = shape[0]
        fn, ptrs, b = self._kernel_function(k)
        if self.threading.parallel and n >= PARALLEL_MIN_ELEMENTS:
            pbody, bptrs, bb = self._parallel_body(k)
            blocks = -(-n // lanes)
            bb_lo, bb_hi = emit_static_range(bb, self.threading, I64(blocks))
            lo = bb.mul(bb_lo, I64(lanes))
            hi = bb.mul(bb_hi, I64(lanes))
            hi = bb.select(bb.icmp_signed(">", hi, I64(n)), I64(n), hi)
            body(bb, bptrs, (lo, hi))
            bb.ret_void()
            emit_parallel(b, self.threading, pbody, fn.args[0])
        else:
            body(b, ptrs, None)
        b.ret_void()

    def _empty(self, k: Kernel) -> None:
        fn, _, b = self._kernel_function(k)
        b.ret_void()

    # -- reductions ------------------------------------------------------------------------------
    def reduce(self, k: Reduce) -> None:
        shape, axes = k.shape, set(k.axes)
        out_buf, out_view = k.out
        kept_dims = [d for d in range(len(shape)) if d not in axes]
        # the output view extended over the whole space (stride 0 along reduced dims)
        ostrides = [0] * len(shape)
        for j, d in enumerate(kept_dims):
            ostrides[d] = out_view.strides[j] if out_view.shape[j] != 1 else 0
        ext_out = View(tuple(shape), tuple(ostrides), out_view.offset)
        if prod(shape) == 0:
            # an empty reduction: the identity (sum) everywhere in the output (max/min/arg of
            # nothing is rejected by the op's shape rule)
            kept = tuple(1 if d in axes else n for d, n in enumerate(shape))
            if prod(kept):
                ident = ex.const(0, k.body.dtype)
                post = _substitute_acc(k.post, ident) if k.post is not None else ident
                self.elementwise(Elementwise(k.name, k.nodes, k.loc, kept,
                                             [(out_buf, View(kept, ext_out.strides, ext_out.offset))],
                                             [ex.cast(post, out_buf.dtype)]))
            else:
                self._empty(k)
            return
        classes = tuple(d in axes for d in range(len(shape)))
        views = _load_views([k.body]) + [ext_out]
        groups, cshape = _coalesce(shape, views, _index_dims([k.body]), classes)
        (body,) = _regroup_exprs([k.body], groups, cshape)
        cout = _regroup_view(ext_out, groups, cshape)
        red = [i for i, g in enumerate(groups) if g[0] in axes]
        post = k.post
        if post is not None:
            (post,) = _regroup_exprs([post], groups, cshape)
        if k.kind in ("argmax", "argmin"):
            self._argreduce(k, cshape, red, body, out_buf, cout)
        elif red and red[-1] == len(cshape) - 1:
            self._reduce_rows(k, cshape, red, body, post, out_buf, cout)
        else:
            self._reduce_columns(k, cshape, red, body, post, out_buf, cout)

    def _combine(self, b, kind, dtype, acc, x):
        if kind == "sum":
            if dtypes.is_float(dtype):
                return b.fadd(acc, x, flags=("reassoc", "contract"))
            return b.add(acc, x)
        if dtypes.is_float(dtype):
            return call_intrinsic(b, "maximum" if kind == "max" else "minimum", acc, x)
        pick = b.icmp_signed(">" if kind == "max" else "<", acc, x)
        return b.select(pick, acc, x)

    def _identity(self, kind, dtype, width):
        t = reg_type(dtype)
        if kind == "sum":
            return const(t, 0, width)
        if dtypes.is_float(dtype):
            return const(t, float("-inf") if kind == "max" else float("inf"), width)
        info = np.iinfo(dtypes.to_numpy(dtype))
        return const(t, int(info.min if kind == "max" else info.max), width)

    def _hreduce(self, b, kind, dtype, v, width):
        """Combine the lanes of vector ``v`` into a scalar (pairwise halving)."""
        while width > 1:
            half = width // 2
            lo = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half))))
            hi = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half),
                                                    list(range(half, width))))
            v = self._combine(b, kind, dtype, lo, hi)
            width = half
        if isinstance(v.type, ir.VectorType):
            v = b.extract_element(v, I32(0))
        return v

    def _finish(self, b, ptrs, idx, post, acc_value, out_buf, cout, dtype):
        pe = PointEmitter(b, ptrs, idx, 1, None, self.math, acc=acc_value,
                          random=self.math.random)
        val = pe.emit(post) if post is not None else acc_value
        pe.store(out_buf, cout, out_buf.dtype, val)

    def _reduce_rows(self, k, shape, red, body, post, out_buf, cout):
        """The innermost dim is reduced: one accumulator per output element, vectorized along
        the innermost dim, lanes combined at the end. Big reductions split their output rows
        across threads (each row is one thread's, so results do not depend on the count)."""
        dtype = body.dtype
        lanes = self.lanes(dtype)
        kept = [d for d in range(len(shape)) if d not in red]
        kept_shape = [shape[d] for d in kept]
        rt = reg_type(dtype)

        def emit(b, ptrs, outer):
            vacc = alloca(b, vec(rt, lanes), name="vacc")
            sacc = alloca(b, rt, name="sacc")
            self._nest(b, tuple(kept_shape), functools.partial(per_output, b, ptrs, vacc, sacc),
                       1, outer, vector_dim=None)

        def per_output(b, ptrs, vacc, sacc, kidx, _w):
            idx = [I64(0)] * len(shape)
            for d, i in zip(kept, kidx):
                idx[d] = i
            b.store(self._identity(k.kind, dtype, lanes), vacc)
            b.store(self._identity(k.kind, dtype, 1), sacc)
            inner = red[-1]
            n = shape[inner]

            def rec(j):
                if j < len(red) - 1:
                    with for_range(b, I64(0), I64(shape[red[j]]), name=f"r{red[j]}") as i:
                        idx[red[j]] = i
                        rec(j + 1)
                    return
                main_end = (n // lanes) * lanes if lanes > 1 else 0
                if main_end:
                    with for_range(b, I64(0), I64(main_end), lanes, name="rv") as i:
                        idx[inner] = i
                        pe = PointEmitter(b, ptrs, list(idx), lanes, inner, self.math,
                                          random=self.math.random)
                        x = pe.emit(body)
                        b.store(self._combine(b, k.kind, dtype, b.load(vacc, typ=vec(rt, lanes)), x), vacc)
                with for_range(b, I64(main_end), I64(n), name="rt") as i:
                    idx[inner] = i
                    pe = PointEmitter(b, ptrs, list(idx), 1, None, self.math,
                                      random=self.math.random)
                    x = pe.emit(body)
                    b.store(self._combine(b, k.kind, dtype, b.load(sacc, typ=rt), x), sacc)

            rec(0)
            total = self._combine(b, k.kind, dtype,
                                  self._hreduce(b, k.kind, dtype, b.load(vacc, typ=vec(rt, lanes)),
                                                lanes) if lanes > 1 else b.load(vacc, typ=rt),
                                  b.load(sacc, typ=rt))
            oidx = [I64(0)] * len(shape)
            for d, i in zip(kept, kidx):
                oidx[d] = i
            self._finish(b, ptrs, oidx, post, total, out_buf, cout, dtype)

        self._split(k, tuple(kept_shape), 1, emit, prod(shape))

    def _reduce_columns(self, k, shape, red, body, post, out_buf, cout):
        """The innermost dim is kept: accumulate into the output itself, sweeping the input in
        memory order with the innermost (kept) dim vectorized, then apply ``post``. Big ones
        split that kept dim across threads (each output element is one thread's, so results do
        not depend on the count)."""
        dtype = body.dtype
        lanes = self.lanes(dtype)
        out_dt = out_buf.dtype
        kept_only = tuple(1 if d in red else n for d, n in enumerate(shape))
        last = len(shape) - 1
        # a kept dim narrower than two vectors per thread is not worth sharing
        wide = shape[last] >= 2 * max(lanes, 1) * self.threading.num_threads

        def emit(b, ptrs, outer):
            nest = functools.partial(self._nest, b, lanes=lanes, outer=outer, outer_dim=last)
            nest(kept_only, functools.partial(init, b, ptrs))
            nest(shape, functools.partial(accumulate, b, ptrs))
            if post is not None:
                nest(kept_only, functools.partial(finish, b, ptrs))

        def init(b, ptrs, idx, width):
            pe = PointEmitter(b, ptrs, idx, width, len(shape) - 1, self.math)
            pe.store(out_buf, cout, out_dt, self._identity(k.kind, dtype, width))

        def accumulate(b, ptrs, idx, width):
            pe = PointEmitter(b, ptrs, idx, width, len(shape) - 1, self.math,
                              random=self.math.random)
            x = pe.emit(body)
            cur = pe.load(out_buf, cout, out_dt)
            pe.store(out_buf, cout, out_dt, self._combine(b, k.kind, dtype, cur, x))

        def finish(b, ptrs, idx, width):
            pe = PointEmitter(b, ptrs, idx, width, len(shape) - 1, self.math)
            pe.acc = pe.load(out_buf, cout, out_dt)
            pe.store(out_buf, cout, out_dt, pe.emit(post))

        self._split(k, shape, lanes, emit, prod(shape) if wide else 0, split_dim=last)

    def _argreduce(self, k, shape, red, body, out_buf, cout):
        """argmax/argmin: scalar, first occurrence wins, the first NaN wins (numpy)."""
        dtype = body.dtype
        rt = reg_type(dtype)
        fn, ptrs, b = self._kernel_function(k)
        best = alloca(b, rt, name="best")
        where = alloca(b, I64, name="where")
        kept = [d for d in range(len(shape)) if d not in red]
        (axis,) = red if red else (None,)

        def per_output(kidx, _w):
            idx = [I64(0)] * len(shape)
            for d, i in zip(kept, kidx):
                idx[d] = i
            if axis is None:  # reducing a size-1 axis: index 0
                PointEmitter(b, ptrs, idx, 1, None, self.math).store(out_buf, cout, "i64", I64(0))
                return
            idx[axis] = I64(0)
            first = PointEmitter(b, ptrs, list(idx), 1, None, self.math,
                                 random=self.math.random).emit(body)
            b.store(first, best)
            b.store(I64(0), where)
            with for_range(b, I64(1), I64(shape[axis]), name="a") as i:
                idx[axis] = i
                x = PointEmitter(b, ptrs, list(idx), 1, None, self.math,
                                 random=self.math.random).emit(body)
                cur = b.load(best, typ=rt)
                if dtypes.is_float(dtype):
                    better = b.fcmp_ordered(">" if k.kind == "argmax" else "<", x, cur)
                    x_nan = b.fcmp_unordered("uno", x, x)
                    cur_nan = b.fcmp_unordered("uno", cur, cur)
                    better = b.or_(better, b.and_(x_nan, b.not_(cur_nan)))
                else:
                    better = b.icmp_signed(">" if k.kind == "argmax" else "<", x, cur)
                b.store(b.select(better, x, cur), best)
                b.store(b.select(better, i, b.load(where, typ=I64)), where)
            oidx = [I64(0)] * len(shape)
            for d, i in zip(kept, kidx):
                oidx[d] = i
            res = b.load(where, typ=I64)
            PointEmitter(b, ptrs, oidx, 1, None, self.math).store(
                out_buf, cout, out_buf.dtype, res)

        self._nest(b, tuple(shape[d] for d in kept), per_output, 1, vector_dim=None)
        b.ret_void()

    # -- softmax -----------------------------------------------------------------------------------
    def softmax(self, k: Softmax) -> None:
        shape, axis = k.shape, k.axis
        out_buf, out_view = k.out
        if prod(shape) == 0:
            self._empty(k)
            return
        dtype = k.body.dtype
        rt = reg_type(dtype)
        lanes = self.lanes(dtype)
        n = shape[axis]
        rows = tuple(1 if d == axis else s for d, s in enumerate(shape))

        def emit(b, ptrs, outer):
            vacc = alloca(b, vec(rt, lanes), name="vacc")
            sacc = alloca(b, rt, name="sacc")
            self._nest(b, rows, functools.partial(per_row, b, ptrs, vacc, sacc), 1, outer,
                       vector_dim=None)

        def sweep(b, ptrs, vacc, sacc, idx, visit, init, kind):
            """Combine ``visit(pe, width)`` over the axis, return the scalar result."""
            b.store(self._identity(kind, dtype, lanes), vacc)
            b.store(self._identity(kind, dtype, 1), sacc)
            main_end = (n // lanes) * lanes if lanes > 1 else 0
            if main_end:
                with for_range(b, I64(0), I64(main_end), lanes, name="sv") as i:
                    idx[axis] = i
                    pe = PointEmitter(b, ptrs, list(idx), lanes, axis, self.math,
                                      random=self.math.random)
                    x = visit(pe, lanes)
                    if kind is not None:
                        b.store(self._combine(b, kind, dtype, b.load(vacc, typ=vec(rt, lanes)), x), vacc)
            with for_range(b, I64(main_end), I64(n), name="st") as i:
                idx[axis] = i
                pe = PointEmitter(b, ptrs, list(idx), 1, None, self.math, random=self.math.random)
                x = visit(pe, 1)
                if kind is not None:
                    b.store(self._combine(b, kind, dtype, b.load(sacc, typ=rt), x), sacc)
            if kind is None:
                return None
            v = b.load(vacc, typ=vec(rt, lanes))
            v = self._hreduce(b, kind, dtype, v, lanes) if lanes > 1 else v
            return self._combine(b, kind, dtype, v, b.load(sacc, typ=rt))

        def per_row(b, ptrs, vacc, sacc, idx, _w):
            idx = list(idx)

            def sweep_row(visit, init, kind):
                return sweep(b, ptrs, vacc, sacc, idx, visit, init, kind)

            m = sweep_row(lambda pe, w: pe.emit(k.body), None, "max")

            def shifted(pe, w):
                return b.fsub(pe.emit(k.body), splat(b, m, w))

            if k.log:
                s = sweep_row(lambda pe, w: self.math.exp(b, shifted(pe, w)), None, "sum")
                lse = self.math.log(b, s)

                def write(pe, w):
                    pe.store(out_buf, out_view, dtype, b.fsub(shifted(pe, w), splat(b, lse, w)))
                sweep_row(write, None, None)
            else:
                def exp_store(pe, w):
                    e = self.math.exp(b, shifted(pe, w))
                    pe.store(out_buf, out_view, dtype, e)
                    return e
                s = sweep_row(exp_store, None, "sum")
                inv = b.fdiv(const(rt, 1.0), s)

                def scale(pe, w):
                    cur = pe.load(out_buf, out_view, dtype)
                    pe.store(out_buf, out_view, dtype, b.fmul(cur, splat(b, inv, w)))
                sweep_row(scale, None, None)

        # rows split across threads when big (each row is one thread's: results do not depend
        # on the count)
        self._split(k, rows, 1, emit, prod(shape))

    # -- matmul -------------------------------------------------------------------------------------
    def matmul(self, k: Matmul) -> None:
        from compiler.llvm.contraction import emit_matmul

        emit_matmul(self, k)

    def emit_kernels(self, kernels) -> None:
        """Define the function of every kernel in ``kernels``."""
        for k in kernels:
            handler = _DISPATCH.get(type(k))
            if handler is not None:
                getattr(self, handler)(k)
            elif isinstance(k, Scan):
                from compiler.llvm.scan import emit_scan

                emit_scan(self, k)
            else:
                from compiler.llvm.families import emit_family_kernel

                emit_family_kernel(self, k)

    # -- entry ---------------------------------------------------------------------------------------
    def const_global(self, buf: Buffer) -> ir.GlobalVariable:
        g = self._globals.get(id(buf))
        if g is None:
            mt = mem_type(buf.dtype)
            arr = buf.value
            if buf.dtype == "bool":
                arr = arr.astype(np.uint8)
            at = ir.ArrayType(mt, max(1, buf.numel))
            vals = arr.reshape(-1).tolist() or [0]
            g = ir.GlobalVariable(self.module, at, name=f"const.{buf.name}")
            g.global_constant = True
            g.linkage = "private"
            g.align = 64
            g.initializer = ir.Constant(at, [ir.Constant(mt, v) for v in vals])
            self._globals[id(buf)] = g
        return g

    def entry(self) -> None:
        """The program's entry point (see the module doc for the table layout)."""
        p = self.p
        lay = self.layout
        seen = set()
        for b in p.inputs + p.params + p.outputs:
            if id(b) not in seen:
                seen.add(id(b))
                lay.slots.append(b)
        lay.arena_slot = len(lay.slots)
        lay.work_slot = lay.arena_slot + 1
        if self.profile:
            lay.profile_slot = lay.work_slot + 1
            emit_cycle_counter(self.module)
        emit_program_entry(self, p, ENTRY, lay.slots, profile_slot=lay.profile_slot)


#: A pseudo-buffer standing for the GEMM workspace slot of the table.
WORKSPACE = Buffer("workspace", "f32", 0, "temp")


def _substitute_acc(e: ex.Expr, value: ex.Expr) -> ex.Expr:
    done: dict[int, ex.Expr] = {}
    for n in ex.iter_nodes([e]):
        if n.op == "acc":
            new = value
        elif not n.args:
            new = n
        else:
            new = ex.Expr(n.op, tuple(done[id(a)] for a in n.args), n.dtype, value=n.value)
        done[id(n)] = new
    return done[id(e)]


#: exported by profiled modules: the cycle counter the profile counts in, for calibration
CYCLES = "kiln_cycles"


def _read_cycles(module: ir.Module, b: ir.IRBuilder) -> ir.Value:
    fn = module.globals.get("llvm.readcyclecounter")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(I64, []), name="llvm.readcyclecounter")
    return b.call(fn, [])


def emit_cycle_counter(module: ir.Module) -> ir.Function:
    """``i64 kiln_cycles()``: the counter kernel times are measured in (the time-stamp counter
    on x86), so the runtime can convert cycles to seconds."""
    fn = ir.Function(module, ir.FunctionType(I64, []), name=CYCLES)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(_read_cycles(module, b))
    return fn


def emit_program_entry(gen, program: KernelProgram, name: str, slots: list[Buffer],
                       extra_addresses: dict[int, ir.Value] | None = None,
                       profile_slot: int | None = None) -> ir.Function:
    """``i32 @name(ptr table)`` running every kernel of ``program`` in order.

    ``table`` holds one address per buffer of ``slots``, then the arena, then the workspace,
    then (``profile_slot``) an i64 array that gets, per kernel, the cycles spent in it and the
    number of calls added. Temps live at arena + offset, constants are module globals. Kernels
    that return a status (i32) stop the program at the first non-zero one, which is returned.
    """
    fn = ir.Function(gen.module, ir.FunctionType(I32, [PTR]), name=name)
    fn.attributes.add("nounwind")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    table = fn.args[0]

    def slot(i):
        return b.load(b.gep(table, [I64(i)], inbounds=True, source_etype=PTR), typ=PTR)

    addr: dict[int, ir.Value] = {id(buf): slot(i) for i, buf in enumerate(slots)}
    arena, work = slot(len(slots)), slot(len(slots) + 1)
    for buf in program.temps:
        addr[id(buf)] = b.gep(arena, [I64(buf.offset)], inbounds=True, source_etype=ir.IntType(8))
    for buf in program.consts:
        addr[id(buf)] = gen.const_global(buf)
    addr[id(WORKSPACE)] = work
    if extra_addresses:
        addr.update(extra_addresses)
    prof = slot(profile_slot) if profile_slot is not None else None
    for pos, k in enumerate(program.kernels):
        bufs = kernel_buffers(k)
        at = ir.ArrayType(PTR, max(1, len(bufs)))
        arr = alloca(b, at, name=f"args.{k.name}")
        for i, buf in enumerate(bufs):
            b.store(addr[id(buf)], b.gep(arr, [I64(0), I64(i)], inbounds=True, source_etype=at))
        kfn = gen.module.globals[k.name]
        start = _read_cycles(gen.module, b) if prof is not None else None
        status = b.call(kfn, [arr])
        if prof is not None:
            spent = b.sub(_read_cycles(gen.module, b), start)
            for j, amount in ((2 * pos, spent), (2 * pos + 1, I64(1))):
                p = b.gep(prof, [I64(j)], inbounds=True, source_etype=I64)
                b.store(b.add(b.load(p, typ=I64), amount), p)
        if isinstance(kfn.function_type.return_type, ir.IntType):
            ok = b.icmp_signed("==", status, I32(0))
            cont = fn.append_basic_block(f"after.{k.name}")
            fail = fn.append_basic_block(f"fail.{k.name}")
            b.cbranch(ok, cont, fail)
            b.position_at_end(fail)
            b.ret(status)
            b.position_at_end(cont)
    b.ret(I32(0))
    return fn


_DISPATCH = {Elementwise: "elementwise", Reduce: "reduce", Softmax: "softmax", Matmul: "matmul"}


def generate(program: KernelProgram, threading: Threading | None = None,
             math_factory: Callable | None = None,
             profile: bool = False) -> tuple[ir.Module, TableLayout]:
    """Build the LLVM module of ``program`` (temps must already have arena offsets).
    ``profile``: count cycles and calls per kernel (see :func:`emit_program_entry`)."""
    if math_factory is None:
        from compiler.llvm.mathlib import default_math

        math_factory = default_math
    gen = _Generator(program, threading or Threading.host(), math_factory)
    gen.profile = profile
    gen.emit_kernels(program.kernels)
    gen.entry()
    gen.layout.work_bytes = getattr(gen, "work_bytes", 0)
    return gen.module, gen.layout
