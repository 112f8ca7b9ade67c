"""Reductions: sum, mean, max, min over any axes (``axes`` absent = all), argmax, argmin.

``max``/``min`` propagate NaN like numpy; their gradient is shared evenly among tied
elements (TensorFlow's convention), which keeps it the exact transpose of a subgradient.
"""
from __future__ import annotations

import numpy as np

from compiler.errors import OpError
from compiler.ir.types import TensorType
from compiler.ops._util import FLOATS, NUMERIC, broadcast_back, norm_axes, norm_axis
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, register

_AXES = {"axes": Attr("ints", None), "keepdims": Attr("bool", False)}


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(name, allowed, nonempty):
    def infer(ts, a):
        t = ts[0]
        if t.dtype not in allowed:
            raise OpError(f"{name}: operand must be {' or '.join(allowed)}, got {t}")
        axes = norm_axes(name, a["axes"], t.rank)
        if nonempty and any(t.shape[i] == 0 for i in axes):
            raise OpError(f"{name}: cannot reduce over an empty axis of {t}")
        return [TensorType(_reduced_shape(t.shape, axes, a["keepdims"]), t.dtype)]
    return infer


def _np_axes(x, a):
    return norm_axes("", a["axes"], x.ndim)


def _sum_vjp(b, node, cts):
    x = node.inputs[0]
    axes = norm_axes("sum", node.attrs["axes"], x.rank)
    return [broadcast_back(b, cts[0], axes, node.attrs["keepdims"], x.shape)]


def _mean_vjp(b, node, cts):
    x = node.inputs[0]
    axes = norm_axes("mean", node.attrs["axes"], x.rank)
    count = int(np.prod([x.shape[i] for i in axes])) if axes else 1
    g = b.mul(cts[0], 1.0 / count)
    return [broadcast_back(b, g, axes, node.attrs["keepdims"], x.shape)]


def _extremum_vjp(b, node, cts):
    x, y = node.inputs[0], node.outputs[0]
    axes = norm_axes(node.op, node.attrs["axes"], x.rank)
    keep = node.attrs["keepdims"]
    yb = broadcast_back(b, y, axes, keep, x.shape)
    mask = b.cast(b.equal(x, yb), dtype=x.dtype)
    count = b.sum(mask, axes=axes, keepdims=True)
    g = broadcast_back(b, cts[0], axes, keep, x.shape)
    return [b.div(b.mul(g, mask), count)]


register(OpDef("sum", "reduction", _reduce_infer("sum", NUMERIC, False),
               lambda xs, a, c: np.sum(xs[0], axis=_np_axes(xs[0], a), keepdims=a["keepdims"],
                                       dtype=xs[0].dtype),
               _sum_vjp, attrs=dict(_AXES), doc="sum over axes"))
register(OpDef("mean", "reduction", _reduce_infer("mean", FLOATS, False),
               lambda xs, a, c: np.mean(xs[0], axis=_np_axes(xs[0], a), keepdims=a["keepdims"],
                                        dtype=xs[0].dtype),
               _mean_vjp, attrs=dict(_AXES), doc="mean over axes (floats)"))
register(OpDef("max", "reduction", _reduce_infer("max", NUMERIC, True),
               lambda xs, a, c: np.max(xs[0], axis=_np_axes(xs[0], a), keepdims=a["keepdims"]),
               _extremum_vjp, attrs=dict(_AXES), doc="maximum over axes; NaN propagates"))
register(OpDef("min", "reduction", _reduce_infer("min", NUMERIC, True),
               lambda xs, a, c: np.min(xs[0], axis=_np_axes(xs[0], a), keepdims=a["keepdims"]),
               _extremum_vjp, attrs=dict(_AXES), doc="minimum over axes; NaN propagates"))


def _arg_infer(name):
    def infer(ts, a):
        t = ts[0]
        if t.dtype not in NUMERIC:
            raise OpError(f"{name}: operand must be numeric, got {t}")
        if t.rank == 0:
            raise OpError(f"{name}: operand must have rank >= 1, got a scalar {t}")
        ax = norm_axis(name, a["axis"], t.rank)
        if t.shape[ax] == 0:
            raise OpError(f"{name}: cannot reduce over the empty axis {ax} of {t}")
        return [TensorType(_reduced_shape(t.shape, (ax,), a["keepdims"]), "i64")]
    return infer


for _name, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    register(OpDef(
        _name, "reduction", _arg_infer(_name),
        (lambda fn: lambda xs, a, c: fn(xs[0], axis=a["axis"], keepdims=a["keepdims"]).astype(np.int64))(_fn),
        NotDifferentiable("it returns integer indices"),
        attrs={"axis": Attr("int", -1), "keepdims": Attr("bool", False)},
        doc=f"index of the first {_name[3:]}imum along axis, as i64"))
