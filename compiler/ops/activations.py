"""Activation ops: relu, leaky_relu, elu, sigmoid, tanh, softplus, gelu, softmax, log_softmax.

Elementwise activations are primitives (each lowers to one scalar expression); softmax and
log_softmax are reductions along one axis, computed in their numerically stable
(max-subtracted) form, with closed-form VJPs.
"""
from __future__ import annotations

import math

import numpy as np

from compiler.errors import OpError
from compiler.ir.types import TensorType
from compiler.ops import _special
from compiler.ops._util import FLOATS, NUMERIC, norm_axis
from compiler.ops.elementwise import unary
from compiler.kernels import expr as ex
from compiler.ops.registry import Attr, OpDef, register


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


unary("relu", lambda x: np.maximum(x, 0),
      # y > 0 exactly when x > 0 (NaN: both false); reading the output lets the
      # pre-activation die early and fuse into its contraction's epilogue
      lambda b, x, y, g, a: b.where(b.greater(y, 0), g, 0), allowed=NUMERIC,
      doc="max(x, 0); gradient 0 at x == 0",
      lower=lambda x: ex.binary("max", x, ex.like(x, 0)))
unary("leaky_relu", lambda x, alpha: np.where(x > 0, x, x * alpha),
      lambda b, x, y, g, a: b.where(b.greater(x, 0.0), g, b.mul(g, a["alpha"])),
      attrs={"alpha": Attr("float", 0.2)}, doc="x if x > 0 else alpha * x",
      lower=lambda x, alpha: ex.select(ex.compare("gt", x, ex.like(x, 0)), x,
                                       ex.binary("mul", x, ex.like(x, alpha))))
unary("elu", lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
      lambda b, x, y, g, a: b.where(b.greater(x, 0.0), g, b.mul(g, b.add(y, a["alpha"]))),
      attrs={"alpha": Attr("float", 1.0)}, doc="x if x > 0 else alpha * (exp(x) - 1)",
      lower=lambda x, alpha: ex.select(
          ex.compare("gt", x, ex.like(x, 0)), x,
          ex.binary("mul", ex.like(x, alpha), ex.unary("expm1", ex.binary("min", x, ex.like(x, 0))))))
unary("sigmoid", _sigmoid,
      lambda b, x, y, g, a: b.mul(g, b.mul(y, b.sub(1.0, y))), doc="1 / (1 + exp(-x)), stable",
      lower=ex.fn("sigmoid"))
unary("tanh", np.tanh, lambda b, x, y, g, a: b.mul(g, b.sub(1.0, b.square(y))),
      doc="hyperbolic tangent",
      lower=ex.fn("tanh"))
unary("softplus", lambda x: np.logaddexp(0, x),
      lambda b, x, y, g, a: b.mul(g, b.sigmoid(x)), doc="log(1 + exp(x)), stable",
      lower=ex.fn("softplus"))

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + _special.erf(x * _INV_SQRT_2))


def _gelu_lower(x, approximate):
    half_x = ex.binary("mul", x, ex.like(x, 0.5))
    if approximate:
        cube = ex.binary("mul", ex.binary("mul", x, x), x)
        inner = ex.binary("mul", ex.binary("add", x, ex.binary("mul", cube, ex.like(x, 0.044715))),
                          ex.like(x, _SQRT_2_OVER_PI))
        t = ex.unary("tanh", inner)
    else:
        t = ex.unary("erf", ex.binary("mul", x, ex.like(x, _INV_SQRT_2)))
    return ex.binary("mul", half_x, ex.binary("add", ex.like(x, 1.0), t))


def _gelu_vjp(b, x, y, g, a):
    if a["approximate"]:
        inner = b.mul(b.add(x, b.mul(b.mul(x, b.square(x)), 0.044715)), _SQRT_2_OVER_PI)
        t = b.tanh(inner)
        d_inner = b.mul(b.add(b.mul(b.square(x), 3 * 0.044715), 1.0), _SQRT_2_OVER_PI)
        d = b.add(b.mul(b.add(t, 1.0), 0.5),
                  b.mul(b.mul(b.mul(x, 0.5), b.sub(1.0, b.square(t))), d_inner))
    else:
        cdf = b.mul(b.add(b.erf(b.mul(x, _INV_SQRT_2)), 1.0), 0.5)
        pdf = b.mul(b.exp(b.mul(b.square(x), -0.5)), _INV_SQRT_2PI)
        d = b.add(cdf, b.mul(x, pdf))
    return b.mul(g, d)


unary("gelu", _gelu, _gelu_vjp, attrs={"approximate": Attr("bool", False)},
      doc="x * Phi(x); the tanh form when approximate",
      lower=_gelu_lower)


# -- softmax family ------------------------------------------------------------------------
def _axis_infer(name):
    def infer(ts, a):
        t = ts[0]
        if t.dtype not in FLOATS:
            raise OpError(f"{name}: operand must be f32 or f64, got {t}")
        if t.rank == 0:
            raise OpError(f"{name}: operand must have rank >= 1, got a scalar {t}")
        norm_axis(name, a["axis"], t.rank)
        return [t]
    return infer


def _row_max(x, axis):
    # np.max has no identity for an empty axis; an empty softmax is empty either way
    return np.max(x, axis=axis, keepdims=True, initial=-np.inf) if x.size == 0 else \
        np.max(x, axis=axis, keepdims=True)


def _softmax(xs, a, ctx):
    x = xs[0]
    z = x - _row_max(x, a["axis"])
    e = np.exp(z)
    e /= np.sum(e, axis=a["axis"], keepdims=True)
    return e


def _log_softmax(xs, a, ctx):
    x = xs[0]
    z = x - _row_max(x, a["axis"])
    return z - np.log(np.sum(np.exp(z), axis=a["axis"], keepdims=True))


def _softmax_vjp(b, node, cts):
    y, g, ax = node.outputs[0], cts[0], node.attrs["axis"]
    s = b.sum(b.mul(g, y), axes=[ax], keepdims=True)
    return [b.mul(y, b.sub(g, s))]


def _log_softmax_vjp(b, node, cts):
    y, g, ax = node.outputs[0], cts[0], node.attrs["axis"]
    s = b.sum(g, axes=[ax], keepdims=True)
    return [b.sub(g, b.mul(b.exp(y), s))]


register(OpDef("softmax", "reduction", _axis_infer("softmax"), _softmax, _softmax_vjp,
               attrs={"axis": Attr("int", -1)}, doc="exp(x) / sum(exp(x)) along axis, stable"))
register(OpDef("log_softmax", "reduction", _axis_infer("log_softmax"), _log_softmax,
               _log_softmax_vjp, attrs={"axis": Attr("int", -1)},
               doc="x - logsumexp(x) along axis, stable"))
