"""Code generation for kernel expressions at one point (or one vector of points) of a loop nest.

A :class:`PointEmitter` evaluates an expression DAG (compiler/kernels/expr.py) at the index
given per iteration dimension, on ``width`` consecutive points along one dimension (``inner``):
``width == 1`` gives scalar code (loop tails, gathers), ``width == lanes`` gives one host
vector per value. Each expression node is emitted once per point (the DAG is memoized), so a
value shared by several consumers in a fused kernel is computed once.

Numerics, chosen deliberately (DESIGN.md, "Seeing inside"):

* ``fmul``/``fadd`` carry ``contract`` only: LLVM may fuse ``a*b + c`` into one FMA (one
  rounding instead of two; results stay within the tolerance we test against numpy). No other
  fast-math flag: NaN and infinities keep IEEE semantics, as in numpy.
* ``max``/``min`` use ``llvm.maximum``/``llvm.minimum``, which propagate NaN like
  ``np.maximum`` (``maxnum`` would drop it) and order -0 below +0.
* float to int casts use ``llvm.fptosi.sat``: defined for NaN and out-of-range values (0 and
  saturation), where plain ``fptosi`` is poison. numpy's results there are platform-specific.
* transcendentals go through :mod:`compiler.llvm.vecmath` (vectorized polynomials), never one
  libm call per lane.
"""
from __future__ import annotations

import llvmlite.ir as ir

from compiler.ir import dtypes
from compiler.kernels import expr as ex
from compiler.llvm.irutil import (I1, I8, I32, I64, call_intrinsic, const, gep, mem_type,
                                  reg_type, splat, vec)

_CONTRACT = ("contract",)

_FCMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class PointEmitter:
    """Emits expressions at one point of an iteration space.

    ``idx``: i64 IR values, one per iteration dim (the point, or the first lane's point);
    ``width``/``inner``: how many consecutive points along dim ``inner`` are computed at once;
    ``ptrs``: buffer -> its base pointer in this function; ``acc``: the accumulator value for
    contraction epilogues; ``math``: the vector math emitter.
    """

    def __init__(self, builder: ir.IRBuilder, ptrs: dict[int, ir.Value], idx: list[ir.Value],
                 width: int, inner: int | None, math, acc: ir.Value | None = None,
                 random=None):
        self.b = builder
        self.ptrs = ptrs
        self.idx = idx
        self.width = width
        self.inner = inner
        self.math = math
        self.acc = acc
        self.random = random
        self.memo: dict[int, ir.Value] = {}

    # -- addresses ---------------------------------------------------------------------------
    def offset(self, view) -> ir.Value:
        """Element offset of the (first lane's) point in ``view`` (i64)."""
        b = self.b
        off = I64(view.offset)
        for d, s in enumerate(view.strides):
            if s and view.shape[d] != 1:
                term = self.idx[d] if s == 1 else b.mul(self.idx[d], I64(s))
                off = term if (isinstance(off, ir.Constant) and off.constant == 0) else b.add(off, term)
        return off

    def inner_stride(self, view) -> int:
        if self.width == 1 or self.inner is None:
            return 0
        return view.strides[self.inner] if view.shape[self.inner] != 1 else 0

    def load(self, buffer, view, dtype: str) -> ir.Value:
        b = self.b
        mt, rt = mem_type(dtype), reg_type(dtype)
        base = self.ptrs[id(buffer)]
        off = self.offset(view)
        s = self.inner_stride(view)
        if self.width == 1 or s == 0:
            v = b.load(gep(b, base, off, mt), typ=mt)
            v = self._from_mem(v, dtype)
            return splat(b, v, self.width)
        if s == 1:
            vt = vec(mt, self.width)
            v = b.load(gep(b, base, off, mt), typ=vt, align=_elem_align(dtype))
            return self._from_mem(v, dtype)
        # strided along the vector dim: gather lane by lane
        out = ir.Constant(vec(rt, self.width), ir.Undefined)
        for lane in range(self.width):
            p = gep(b, base, b.add(off, I64(lane * s)), mt)
            out = b.insert_element(out, self._from_mem(b.load(p, typ=mt), dtype), I32(lane))
        return out

    def store(self, buffer, view, dtype: str, value: ir.Value) -> None:
        b = self.b
        mt = mem_type(dtype)
        base = self.ptrs[id(buffer)]
        off = self.offset(view)
        s = self.inner_stride(view)
        value = self._to_mem(value, dtype)
        if self.width == 1:
            b.store(value, gep(b, base, off, mt))
        elif s == 1:
            b.store(value, gep(b, base, off, mt), align=_elem_align(dtype))
        else:
            for lane in range(self.width):
                p = gep(b, base, b.add(off, I64(lane * s)), mt)
                b.store(b.extract_element(value, I32(lane)), p)

    def _from_mem(self, v, dtype):
        if dtype == "bool":
            zero = const(I8, 0, self.width if isinstance(v.type, ir.VectorType) else 1)
            return self.b.icmp_unsigned("!=", v, zero)
        return v

    def _to_mem(self, v, dtype):
        if dtype == "bool":
            return self.b.zext(v, vec(I8, self.width))
        return v

    # -- expressions ---------------------------------------------------------------------------
    def emit(self, root: ex.Expr) -> ir.Value:
        for e in ex.iter_nodes([root]):
            if id(e) not in self.memo:
                self.memo[id(e)] = self._emit_one(e)
        return self.memo[id(root)]

    def _emit_one(self, e: ex.Expr) -> ir.Value:
        b, w = self.b, self.width
        op = e.op
        if op == "const":
            return const(reg_type(e.dtype), e.value, w)
        if op == "load":
            return self.load(e.buffer, e.view, e.dtype)
        if op == "acc":
            return self.acc
        if op == "index":
            i = self.idx[e.value]
            if w > 1 and e.value == self.inner:
                lanes = ir.Constant(ir.VectorType(I64, w), list(range(w)))
                i = b.add(splat(b, i, w), lanes)
            else:
                i = splat(b, i, w)
            return self._int_cast(i, "i64", e.dtype)
        args = [self.memo[id(a)] for a in e.args]
        if op == "cast":
            return self._cast(args[0], e.args[0].dtype, e.dtype)
        if op == "select":
            return b.select(*args)
        if op == "random":
            return self.random(self, e, args)
        dt = e.args[0].dtype
        is_f = dtypes.is_float(dt)
        if op in ex.COMPARE:
            if is_f:
                # ordered comparisons are False with NaN; '!=' is True with NaN (numpy)
                return (b.fcmp_unordered if op == "ne" else b.fcmp_ordered)(_FCMP[op], *args)
            if dt == "bool":
                return b.icmp_unsigned(_FCMP[op], *args)
            return b.icmp_signed(_FCMP[op], *args)
        x = args[0]
        if op == "add":
            return b.fadd(*args, flags=_CONTRACT) if is_f else b.add(*args)
        if op == "sub":
            return b.fsub(*args, flags=_CONTRACT) if is_f else b.sub(*args)
        if op == "mul":
            return b.fmul(*args, flags=_CONTRACT) if is_f else b.mul(*args)
        if op == "div":
            return b.fdiv(*args)
        if op in ("max", "min"):
            if is_f:
                return call_intrinsic(b, "maximum" if op == "max" else "minimum", *args)
            pick = b.icmp_signed(">" if op == "max" else "<", *args)
            return b.select(pick, *args)
        if op == "and":
            return b.and_(*args)
        if op == "or":
            return b.or_(*args)
        if op == "not":
            return b.xor(x, const(I1, 1, w))
        if op == "neg":
            return b.fneg(x) if is_f else b.sub(const(x.type if w == 1 else x.type.element, 0, w), x)
        if op == "abs":
            if is_f:
                return call_intrinsic(b, "fabs", x)
            zero = const(reg_type(dt), 0, w)
            return b.select(b.icmp_signed("<", x, zero), b.sub(zero, x), x)
        if op == "sign":
            t = reg_type(dt)
            zero, one, mone = const(t, 0, w), const(t, 1, w), const(t, -1, w)
            if is_f:
                pos = b.fcmp_ordered(">", x, zero)
                neg = b.fcmp_ordered("<", x, zero)
                # 0, -0 and NaN map to themselves, as np.sign does
                return b.select(pos, one, b.select(neg, mone, x))
            return b.select(b.icmp_signed(">", x, zero), one,
                            b.select(b.icmp_signed("<", x, zero), mone, zero))
        if op == "sqrt":
            return call_intrinsic(b, "sqrt", x)
        if op == "rsqrt":
            return b.fdiv(const(reg_type(dt), 1.0, w), call_intrinsic(b, "sqrt", x))
        if op == "floor":
            return call_intrinsic(b, "floor", x)
        if op == "pow":
            return self.math.pow(b, *args)
        # exp log log1p expm1 tanh sigmoid erf softplus
        return getattr(self.math, op)(b, x)

    def _int_cast(self, v, src: str, dst: str):
        if src == dst:
            return v
        w = self.width
        st, dt_ = reg_type(src), vec(reg_type(dst), w)
        if st.width > reg_type(dst).width:
            return self.b.trunc(v, dt_)
        return self.b.sext(v, dt_)

    def _cast(self, v, src: str, dst: str):
        b, w = self.b, self.width
        if src == dst:
            return v
        to = vec(reg_type(dst), w)
        sf, df = dtypes.is_float(src), dtypes.is_float(dst)
        if src == "bool":
            return b.uitofp(v, to) if df else b.zext(v, to)
        if dst == "bool":
            zero = const(reg_type(src), 0, w)
            return b.fcmp_unordered("!=", v, zero) if sf else b.icmp_unsigned("!=", v, zero)
        if sf and df:
            return b.fpext(v, to) if dst == "f64" else b.fptrunc(v, to)
        if sf:
            from compiler.llvm.irutil import type_suffix, intrinsic

            fn = intrinsic(b.module, f"llvm.fptosi.sat.{type_suffix(to)}.{type_suffix(v.type)}",
                           to, [v.type])
            return b.call(fn, [v])
        if df:
            return b.sitofp(v, to)
        return self._int_cast(v, src, dst)


def _elem_align(dtype: str) -> int:
    return dtypes.to_numpy(dtype).itemsize
