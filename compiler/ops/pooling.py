"""2-D pooling over NHWC activations: max_pool2d, avg_pool2d and their gradients.

Window geometry (output size, "valid"/"same" padding) is TensorFlow's, computed by the one
helper :func:`compiler.ops.conv.window_geometry` that convolution uses too. ``strides``
absent means ``pool_size`` (Keras's default).

* max_pool2d: "same" pads with -inf, so padding never wins (every TensorFlow "same" window
  holds at least one real element). NaN propagates. Its gradient, ``max_pool2d_grad(x, g)``,
  routes each window's cotangent to the FIRST maximal element of that window in row-major
  order within the window (as PyTorch does), accumulating where
  windows overlap; it is not differentiated further.
* avg_pool2d: "same" divides by the number of real (non-padding) elements of each window
  (TensorFlow/Keras; PyTorch's ``count_include_pad=False``). It is linear:
  ``avg_pool2d_grad(g) {shape}`` is its transpose, and the transpose of that is avg_pool2d.

References: max and average pooling are separable over a rectangle, so the forward pass
is one strided pass per window row plus one per window column (``ph + pw`` vectorized ops);
avg_pool2d_grad likewise; max_pool2d_grad loops over the ``ph * pw`` window offsets.
"""
from __future__ import annotations

import numpy as np

from compiler.errors import OpError
from compiler.ir.types import TensorType
from compiler.ops._util import FLOATS, require_dtype, require_rank, same_dtype
from compiler.ops.conv import (PADDINGS, check_pair, check_result_shape, crop_hw, pad_hw, padded_hw,
                               window_geometry)
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, register

_POOL_ATTRS = {"pool_size": Attr("ints", (2, 2)),
               "strides": Attr("ints", None),
               "padding": Attr("str", "valid", choices=PADDINGS)}


def _params(op: str, a: dict):
    pool = check_pair(op, "pool_size", a["pool_size"])
    strides = pool if a["strides"] is None else check_pair(op, "strides", a["strides"])
    return pool, strides, a["padding"]


def _pool_shape(op: str, shape: tuple[int, ...], a: dict) -> tuple[int, ...]:
    pool, strides, padding = _params(op, a)
    n, h, w, c = shape
    geo = window_geometry(op, (h, w), pool, strides, (1, 1), padding, what="pool")
    return (n, geo[0][0], geo[1][0], c)


def _geometry(op, shape, a):
    pool, strides, padding = _params(op, a)
    geo = window_geometry(op, shape[1:3], pool, strides, (1, 1), padding, what="pool")
    hp, wp = padded_hw(geo, shape[1:3], pool, strides, (1, 1))
    return pool, strides, geo, (hp, wp)


def _describe(a: dict) -> str:
    strides = "pool_size" if a["strides"] is None else list(a["strides"])
    return f"pool_size {list(a['pool_size'])}, strides {strides}, padding {a['padding']!r}"


# -- shape rules ------------------------------------------------------------------------------
def _pool_infer(op):
    def infer(ts, a):
        x = ts[0]
        require_rank(op, x, 4, "input (NHWC)")
        require_dtype(op, x, FLOATS, "input")
        return [TensorType(_pool_shape(op, x.shape, a), x.dtype)]
    return infer


def _max_grad_infer(ts, a):
    op = "max_pool2d_grad"
    x, g = ts
    require_rank(op, x, 4, "input (NHWC)")
    require_rank(op, g, 4, "cotangent (NHWC)")
    dt = same_dtype(op, ts, FLOATS)
    want = _pool_shape(op, x.shape, a)
    if g.shape != want:
        raise OpError(f"{op}: cotangent {g} does not match max_pool2d of {x} ({_describe(a)}), "
                      f"which gives {list(want)}")
    return [TensorType(x.shape, dt)]


def _avg_grad_infer(ts, a):
    op = "avg_pool2d_grad"
    g = ts[0]
    require_rank(op, g, 4, "cotangent (NHWC)")
    require_dtype(op, g, FLOATS, "cotangent")
    shape = check_result_shape(op, a["shape"])
    want = _pool_shape(op, shape, a)
    if g.shape != want:
        raise OpError(f"{op}: cotangent {g} does not match avg_pool2d of input shape "
                      f"{list(shape)} ({_describe(a)}), which gives {list(want)}")
    return [TensorType(shape, g.dtype)]


# -- numpy references ---------------------------------------------------------------------------
def _rows(k: int, out: int, s: int) -> list[slice]:
    """For each window offset 0..k-1, the slice of padded positions it reads for all outputs."""
    return [slice(i, i + (out - 1) * s + 1, s) for i in range(k)]


def _separable(xp, pool, strides, oh, ow, ufunc):
    """Reduce every window of ``xp`` with ``ufunc``: first along H, then along W."""
    rs = _rows(pool[0], oh, strides[0])
    tmp = np.array(xp[:, rs[0]], copy=True)
    for r in rs[1:]:
        ufunc(tmp, xp[:, r], out=tmp)
    cs = _rows(pool[1], ow, strides[1])
    out = np.array(tmp[:, :, cs[0]], copy=True)
    for c in cs[1:]:
        ufunc(out, tmp[:, :, c], out=out)
    return out


def _counts(geo, size, pool, strides, dtype):
    """Real (non-padding) elements per window, [1,OH,OW,1]."""
    per = []
    for (out, lo, _), n, k, s in zip(geo, size, pool, strides):
        start = np.arange(out) * s - lo
        per.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return (per[0][:, None] * per[1][None, :]).astype(dtype)[None, :, :, None]


def _max_pool_impl(xs, a, ctx):
    x = xs[0]
    pool, strides, geo, _ = _geometry("max_pool2d", x.shape, a)
    (oh, _, _), (ow, _, _) = geo
    if x.shape[0] * oh * ow * x.shape[3] == 0:
        return np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    return _separable(pad_hw(x, geo, -np.inf), pool, strides, oh, ow, np.maximum)


def _max_grad_impl(xs, a, ctx):
    x, g = xs
    pool, strides, geo, (hp, wp) = _geometry("max_pool2d_grad", x.shape, a)
    (oh, _, _), (ow, _, _) = geo
    n, h, w, c = x.shape
    if n * oh * ow * c == 0:
        return np.zeros(x.shape, dtype=g.dtype)
    xp = pad_hw(x, geo, -np.inf)
    y = _separable(xp, pool, strides, oh, ow, np.maximum)
    y_nan = np.isnan(y)
    has_nan = bool(y_nan.any())
    (_, pt, pb), (_, pl, pr) = geo
    real = None
    if pt or pb or pl or pr:  # padding may equal a window max of -inf; it never takes it
        real = np.zeros((1, hp, wp, 1), dtype=bool)
        real[:, pt:pt + h, pl:pl + w, :] = True
    dxp = np.zeros((n, hp, wp, c), dtype=g.dtype)
    taken = np.zeros(y.shape, dtype=bool)
    hit = np.empty(y.shape, dtype=bool)
    free = np.empty(y.shape, dtype=bool)
    part = np.empty(y.shape, dtype=g.dtype)
    finite = bool(np.isfinite(g).all())
    for r in _rows(pool[0], oh, strides[0]):          # row-major order within the window
        for s in _rows(pool[1], ow, strides[1]):
            win = xp[:, r, s]
            np.equal(win, y, out=hit)
            if has_nan:
                hit |= np.isnan(win) & y_nan
            if real is not None:
                hit &= real[:, r, s]
            np.logical_not(taken, out=free)
            hit &= free
            taken |= hit
            # where(hit, g, 0), then one plain strided add (a masked add or copyto is ~10x
            # slower); g * hit is where(hit, g, 0) exactly when g is finite.
            if finite:
                np.multiply(g, hit, out=part)
            else:
                part = np.where(hit, g, 0).astype(g.dtype, copy=False)
            dxp[:, r, s] += part
    return crop_hw(dxp, geo, h, w)


def _avg_pool_impl(xs, a, ctx):
    x = xs[0]
    pool, strides, geo, _ = _geometry("avg_pool2d", x.shape, a)
    (oh, _, _), (ow, _, _) = geo
    if x.shape[0] * oh * ow * x.shape[3] == 0:
        return np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    out = _separable(pad_hw(x, geo, 0.0), pool, strides, oh, ow, np.add)
    out /= _counts(geo, x.shape[1:3], pool, strides, x.dtype)
    return out


def _avg_grad_impl(xs, a, ctx):
    g = xs[0]
    shape = tuple(a["shape"])
    pool, strides, geo, (hp, wp) = _geometry("avg_pool2d_grad", shape, a)
    (oh, _, _), (ow, _, _) = geo
    n, h, w, c = shape
    if n * oh * ow * c == 0:
        return np.zeros(shape, dtype=g.dtype)
    scaled = g / _counts(geo, (h, w), pool, strides, g.dtype)
    tmp = np.zeros((n, oh, wp, c), dtype=g.dtype)   # spread along W, then along H
    for s in _rows(pool[1], ow, strides[1]):
        tmp[:, :, s] += scaled
    dxp = np.zeros((n, hp, wp, c), dtype=g.dtype)
    for r in _rows(pool[0], oh, strides[0]):
        dxp[:, r] += tmp
    return crop_hw(dxp, geo, h, w)


# -- gradients ----------------------------------------------------------------------------------
def _pool_attrs(node) -> dict:
    return {k: node.attrs[k] for k in _POOL_ATTRS}


register(OpDef("max_pool2d", "window", _pool_infer("max_pool2d"), _max_pool_impl,
               lambda b, node, cts: [b.max_pool2d_grad(node.inputs[0], cts[0],
                                                       **_pool_attrs(node))],
               attrs=dict(_POOL_ATTRS),
               doc="max over pool_size windows of x[N,H,W,C]; 'same' pads with -inf"))
register(OpDef("max_pool2d_grad", "window", _max_grad_infer, _max_grad_impl,
               NotDifferentiable("second derivative of max pooling is not supported"),
               attrs=dict(_POOL_ATTRS), num_inputs=2,
               doc="x, g -> shape of x: each window's g goes to the first maximal element of "
                   "the window (row-major), summed where windows overlap"))
register(OpDef("avg_pool2d", "window", _pool_infer("avg_pool2d"), _avg_pool_impl,
               lambda b, node, cts: [b.avg_pool2d_grad(cts[0], shape=node.inputs[0].shape,
                                                       **_pool_attrs(node))],
               attrs=dict(_POOL_ATTRS),
               doc="mean over pool_size windows of x[N,H,W,C]; 'same' averages the real "
                   "(non-padding) elements only"))
register(OpDef("avg_pool2d_grad", "window", _avg_grad_infer, _avg_grad_impl,
               lambda b, node, cts: [b.avg_pool2d(cts[0], **_pool_attrs(node))],
               attrs={"shape": Attr("shape"), **_POOL_ATTRS}, num_inputs=1,
               type_attrs=("shape",),
               doc="g -> [N,H,W,C] = shape: the transpose of avg_pool2d (spread g / count "
                   "over each window)"))
