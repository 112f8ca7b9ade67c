"""The math the code generator calls for transcendental kernel ops, and for random numbers.

:func:`default_math` returns the vectorized implementation (compiler/llvm/vecmath.py,
polynomials inlined per vector) when present, else :class:`LibmMath`, which is correct but
calls libm once per lane. Random numbers (Philox, compiler/llvm/philox.py) hang off the same
object so that one ``math`` handle gives the code generator everything that is not plain
arithmetic.
"""
from __future__ import annotations

import llvmlite.ir as ir

from compiler.llvm.irutil import F32, I32, call_intrinsic, const, intrinsic

__all__ = ["LibmMath", "KilnMath", "default_math", "emit_random"]


def _per_lane(builder: ir.IRBuilder, x: ir.Value, scalar) -> ir.Value:
    if not isinstance(x.type, ir.VectorType):
        return scalar(x)
    out = ir.Constant(x.type, ir.Undefined)
    for lane in range(x.type.count):
        out = builder.insert_element(out, scalar(builder.extract_element(x, I32(lane))), I32(lane))
    return out


class LibmMath:
    """Transcendentals through libm, one call per lane (the reference fallback)."""

    def __init__(self, module: ir.Module):
        self.module = module

    def _libm(self, b, name, x):
        def one(s):
            fname = name + ("f" if s.type == F32 else "")
            return b.call(intrinsic(self.module, fname, s.type, [s.type]), [s])
        return _per_lane(b, x, one)

    def exp(self, b, x):
        return self._libm(b, "exp", x)

    def log(self, b, x):
        return self._libm(b, "log", x)

    def log1p(self, b, x):
        return self._libm(b, "log1p", x)

    def expm1(self, b, x):
        return self._libm(b, "expm1", x)

    def tanh(self, b, x):
        return self._libm(b, "tanh", x)

    def erf(self, b, x):
        return self._libm(b, "erf", x)

    def sigmoid(self, b, x):
        # 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving exactly 0
        t = x.type.element if isinstance(x.type, ir.VectorType) else x.type
        w = x.type.count if isinstance(x.type, ir.VectorType) else 1
        one = const(t, 1.0, w)
        return b.fdiv(one, b.fadd(one, self.exp(b, b.fneg(x))))

    def softplus(self, b, x):
        # max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|
        t = x.type.element if isinstance(x.type, ir.VectorType) else x.type
        w = x.type.count if isinstance(x.type, ir.VectorType) else 1
        ax = call_intrinsic(b, "fabs", x)
        return b.fadd(call_intrinsic(b, "maximum", x, const(t, 0.0, w)),
                      self.log1p(b, self.exp(b, b.fneg(ax))))

    def pow(self, b, x, y):
        def one_pair(lane):
            xs = b.extract_element(x, I32(lane)) if isinstance(x.type, ir.VectorType) else x
            ys = b.extract_element(y, I32(lane)) if isinstance(y.type, ir.VectorType) else y
            return call_intrinsic(b, "pow", xs, ys)
        if not isinstance(x.type, ir.VectorType):
            return one_pair(0)
        out = ir.Constant(x.type, ir.Undefined)
        for lane in range(x.type.count):
            out = b.insert_element(out, one_pair(lane), I32(lane))
        return out

    def random(self, pe, e, args):
        return emit_random(pe.b, self, e, args)


def emit_random(b: ir.IRBuilder, vm, e, args) -> ir.Value:
    """A ``random`` kernel expression: Philox bits for the element index ``args[1]`` (i64 or
    a vector of them) and the step ``args[0]`` (the same for every lane)."""
    from compiler.llvm import philox

    step, index = args
    if isinstance(step.type, ir.VectorType):  # a broadcast scalar: every lane holds it
        step = b.extract_element(step, I32(0))
    kind, seed, p1, p2 = e.value
    if kind == "uniform":
        return philox.emit_uniform(b, index, step, seed=seed, dtype=e.dtype, minval=p1,
                                   maxval=p2)
    return philox.emit_normal(b, vm, index, step, seed=seed, dtype=e.dtype, mean=p1, stddev=p2)


class KilnMath:
    """Vectorized transcendentals (compiler/llvm/vecmath.py) plus the Philox generator."""

    def __init__(self, module: ir.Module):
        from compiler.llvm.vecmath import VecMath

        self.vm = VecMath(module)
        for name in ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "softplus",
                     "pow"):
            setattr(self, name, getattr(self.vm, name))

    def random(self, pe, e, args):
        return emit_random(pe.b, self.vm, e, args)


def default_math(module: ir.Module):
    """The math emitter code generation uses: :class:`KilnMath` (vectorized polynomials)."""
    return KilnMath(module)
