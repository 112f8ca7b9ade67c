"""Elementwise ops: arithmetic, math functions, comparisons, logic, where, cast, clip.

Binary and ternary ops follow numpy broadcasting; operands must share one dtype (no
implicit promotion in the IR). Comparisons produce bool. Each VJP is written as graph
ops and un-broadcast (summed) back to the operand's shape.
"""
from __future__ import annotations

import math

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.types import TensorType
from compiler.ops import _special
from compiler.ops._util import FLOATS, NUMERIC, broadcast_shapes, same_dtype, unbroadcast
from compiler.kernels import expr as ex
from compiler.kernels.expr import pointwise
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, register

ANY = dtypes.DTYPES
_NO_GRAD_INT = NotDifferentiable("its result is integer or boolean valued")


# -- factories ------------------------------------------------------------------------------
def unary(name: str, fn, vjp, allowed=FLOATS, attrs=None, out_dtype=None, doc: str = "",
          family: str = "elementwise", lower=None) -> OpDef:
    """Register ``y = fn(x)``; ``vjp(b, x, y, g, attrs)`` returns the cotangent of x;
    ``lower(x, **attrs)`` builds the kernel expression of y from the expression of x."""

    def infer(ts, a):
        t = ts[0]
        if t.dtype not in allowed:
            raise OpError(f"{name}: operand must be {' or '.join(allowed)}, got {t}")
        return [TensorType(t.shape, out_dtype or t.dtype)]

    def impl(xs, a, ctx):
        out_np = dtypes.to_numpy(out_dtype or dtypes.from_numpy(xs[0].dtype))
        return np.asarray(fn(xs[0], **a), dtype=out_np)

    def node_vjp(b, node, cts):
        return [vjp(b, node.inputs[0], node.outputs[0], cts[0], node.attrs)]

    return register(OpDef(name, family, infer, impl,
                          node_vjp if callable(vjp) else vjp,
                          attrs=attrs or {}, num_inputs=1, doc=doc, lowering=pointwise(lower)))


def binary(name: str, fn, vjp, lower, allowed=NUMERIC, out_dtype=None, doc: str = "") -> OpDef:
    """Register ``z = fn(x, y)`` with broadcasting; ``vjp(b, x, y, z, g)`` -> (gx, gy);
    ``lower(x, y)`` builds the kernel expression of z from those of x and y."""

    def infer(ts, a):
        d = same_dtype(name, ts, allowed)
        return [TensorType(broadcast_shapes(name, ts), out_dtype or d)]

    def impl(xs, a, ctx):
        out_np = dtypes.to_numpy(out_dtype or dtypes.from_numpy(xs[0].dtype))
        return np.asarray(fn(xs[0], xs[1]), dtype=out_np)

    def node_vjp(b, node, cts):
        x, y = node.inputs
        gx, gy = vjp(b, x, y, node.outputs[0], cts[0])
        return [None if gx is None else unbroadcast(b, gx, x.shape),
                None if gy is None else unbroadcast(b, gy, y.shape)]

    return register(OpDef(name, "elementwise", infer, impl,
                          node_vjp if callable(vjp) else vjp, num_inputs=2, doc=doc,
                          lowering=pointwise(lower)))


# -- arithmetic -----------------------------------------------------------------------------
binary("add", np.add, lambda b, x, y, z, g: (g, g), ex.fn("add"), doc="x + y")
binary("sub", np.subtract, lambda b, x, y, z, g: (g, b.neg(g)), ex.fn("sub"), doc="x - y")
binary("mul", np.multiply, lambda b, x, y, z, g: (b.mul(g, y), b.mul(g, x)), ex.fn("mul"), doc="x * y")
binary("div", np.divide,
       lambda b, x, y, z, g: (b.div(g, y), b.neg(b.div(b.mul(g, z), y))), ex.fn("div"),
       allowed=FLOATS, doc="x / y (floats only)")


def _pow_vjp(b, x, y, z, g):
    gx = b.mul(g, b.mul(y, b.pow(x, b.sub(y, 1.0))))
    # d/dy x^y = x^y log x, taken as 0 where x <= 0 (as TF and JAX do at x == 0).
    safe_log = b.where(b.greater(x, 0.0), b.log(b.where(b.greater(x, 0.0), x, 1.0)), 0.0)
    gy = b.mul(g, b.mul(z, safe_log))
    return gx, gy


binary("pow", np.power, _pow_vjp, ex.fn("pow"), allowed=FLOATS, doc="x ** y (floats only)")


def _select_vjp(first_wins):
    def vjp(b, x, y, z, g):
        take_x = first_wins(b, x, y)
        return b.where(take_x, g, 0.0), b.where(take_x, 0.0, g)
    return vjp


# Ties send the whole gradient to x, as TensorFlow does.
binary("maximum", np.maximum, _select_vjp(lambda b, x, y: b.greater_equal(x, y)), ex.fn("max"),
       doc="elementwise max; NaN propagates")
binary("minimum", np.minimum, _select_vjp(lambda b, x, y: b.less_equal(x, y)), ex.fn("min"),
       doc="elementwise min; NaN propagates")

for _name, _fn, _k in [("equal", np.equal, "eq"), ("not_equal", np.not_equal, "ne"),
                       ("less", np.less, "lt"), ("less_equal", np.less_equal, "le"),
                       ("greater", np.greater, "gt"), ("greater_equal", np.greater_equal, "ge")]:
    binary(_name, _fn, _NO_GRAD_INT, ex.fn(_k), allowed=ANY, out_dtype="bool",
           doc=f"{_name}(x, y) -> bool")
binary("logical_and", np.logical_and, _NO_GRAD_INT, ex.fn("and"), allowed=("bool",),
       doc="x and y on bools")
binary("logical_or", np.logical_or, _NO_GRAD_INT, ex.fn("or"), allowed=("bool",),
       doc="x or y on bools")
unary("logical_not", np.logical_not, _NO_GRAD_INT, allowed=("bool",), doc="not x on bools",
      lower=ex.fn("not"))

# -- unary math ------------------------------------------------------------------------------
unary("neg", np.negative, lambda b, x, y, g, a: b.neg(g), allowed=NUMERIC, doc="-x",
      lower=ex.fn("neg"))
unary("abs", np.abs, lambda b, x, y, g, a: b.mul(g, b.sign(x)), allowed=NUMERIC, doc="|x|",
      lower=ex.fn("abs"))
unary("sign", np.sign, lambda b, x, y, g, a: None, allowed=NUMERIC,
      doc="-1, 0 or 1; gradient zero",
      lower=ex.fn("sign"))
unary("square", np.square, lambda b, x, y, g, a: b.mul(g, b.mul(x, 2.0)), allowed=NUMERIC,
      doc="x * x",
      lower=lambda x: ex.binary("mul", x, x))
unary("exp", np.exp, lambda b, x, y, g, a: b.mul(g, y), doc="e ** x",
      lower=ex.fn("exp"))
unary("log", np.log, lambda b, x, y, g, a: b.div(g, x), doc="natural log",
      lower=ex.fn("log"))
unary("log1p", np.log1p, lambda b, x, y, g, a: b.div(g, b.add(x, 1.0)), doc="log(1 + x)",
      lower=ex.fn("log1p"))
unary("sqrt", np.sqrt, lambda b, x, y, g, a: b.div(b.mul(g, 0.5), y), doc="square root",
      lower=ex.fn("sqrt"))
unary("rsqrt", lambda x: 1.0 / np.sqrt(x),
      lambda b, x, y, g, a: b.mul(g, b.mul(b.mul(y, b.square(y)), -0.5)), doc="1 / sqrt(x)",
      lower=ex.fn("rsqrt"))
unary("erf", _special.erf,
      lambda b, x, y, g, a: b.mul(g, b.mul(b.exp(b.neg(b.square(x))), 2.0 / math.sqrt(math.pi))),
      doc="error function",
      lower=ex.fn("erf"))
unary("stop_gradient", lambda x: x, lambda b, x, y, g, a: None, allowed=ANY,
      doc="identity whose gradient is zero",
      lower=lambda x: x)


def _cast_vjp(b, x, y, g, a):
    if not dtypes.is_float(x.dtype) or not dtypes.is_float(y.dtype):
        return None
    return b.cast(g, dtype=x.dtype)


def _cast_infer(ts, a):
    return [TensorType(ts[0].shape, a["dtype"])]


register(OpDef(
    "cast", "elementwise", _cast_infer,
    lambda xs, a, ctx: xs[0].astype(dtypes.to_numpy(a["dtype"])),
    lambda b, node, cts: [_cast_vjp(b, node.inputs[0], node.outputs[0], cts[0], node.attrs)],
    attrs={"dtype": Attr("dtype")}, type_attrs=("dtype",),
    doc="convert to dtype (float to int truncates toward zero, as numpy)",
    lowering=pointwise(lambda x, dtype: ex.cast(x, dtype))))


def _clip_infer(ts, a):
    t = ts[0]
    if t.dtype not in NUMERIC:
        raise OpError(f"clip: operand must be numeric, got {t}")
    if a["min"] > a["max"]:
        raise OpError(f"clip: min {a['min']} is greater than max {a['max']}")
    return [t]


register(OpDef(
    "clip", "elementwise", _clip_infer,
    lambda xs, a, ctx: np.clip(xs[0], a["min"], a["max"]).astype(xs[0].dtype, copy=False),
    # Gradient passes where min <= x <= max (TensorFlow's clip_by_value convention).
    lambda b, node, cts: [b.where(
        b.logical_and(b.greater_equal(node.inputs[0], node.attrs["min"]),
                      b.less_equal(node.inputs[0], node.attrs["max"])), cts[0], 0.0)],
    attrs={"min": Attr("float"), "max": Attr("float")},
    doc="clamp into [min, max]",
    lowering=pointwise(lambda x, min, max: ex.binary(
        "min", ex.binary("max", x, ex.like(x, min)), ex.like(x, max)))))


def _where_infer(ts, a):
    c, x, y = ts
    if c.dtype != "bool":
        raise OpError(f"where: condition must be bool, got {c}")
    same_dtype("where", [x, y])
    return [TensorType(broadcast_shapes("where", ts), x.dtype)]


def _where_vjp(b, node, cts):
    c, x, y = node.inputs
    g = cts[0]
    gx = unbroadcast(b, b.where(c, g, 0.0), x.shape) if dtypes.is_float(x.dtype) else None
    gy = unbroadcast(b, b.where(c, 0.0, g), y.shape) if dtypes.is_float(y.dtype) else None
    return [None, gx, gy]


register(OpDef("where", "elementwise", _where_infer,
               lambda xs, a, ctx: np.where(xs[0], xs[1], xs[2]),
               _where_vjp, num_inputs=3, doc="cond ? x : y, broadcast",
               lowering=pointwise(ex.select)))
