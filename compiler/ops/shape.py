"""Shape ops: reshape, transpose, broadcast_to, expand_dims, squeeze, concat, slice, pad,
one_hot. In compiled code most of them are views (index arithmetic), not copies.

``slice`` (with strides) and ``pad`` (with interior padding) are each other's transposes,
which is how their VJPs are written.
"""
from __future__ import annotations

import math

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.types import TensorType
from compiler.ops._util import FLOATS, NUMERIC, norm_axes, norm_axis, unbroadcast
from compiler.kernels import expr as ex
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, register



def _contiguous(x: np.ndarray) -> np.ndarray:
    """``x`` in row-major layout, keeping rank 0 (``np.ascontiguousarray`` makes it rank 1)."""
    return x if x.flags.c_contiguous else np.array(x, order="C")

def _reshape_infer(ts, a):
    t, shape = ts[0], a["shape"]
    if math.prod(shape) != t.size:
        raise OpError(f"reshape: cannot reshape {t} ({t.size} elements) to "
                      f"{list(shape)} ({math.prod(shape)} elements)")
    return [TensorType(shape, t.dtype)]


register(OpDef("reshape", "shape", _reshape_infer,
               lambda xs, a, c: xs[0].reshape(a["shape"]),
               lambda b, node, cts: [b.reshape(cts[0], shape=node.inputs[0].shape)],
               attrs={"shape": Attr("shape")}, type_attrs=("shape",),
               doc="same elements in row-major order, new shape"))


def _perm(name, perm, rank):
    if perm is None:
        return tuple(reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise OpError(f"{name}: perm {list(perm)} is not a permutation of 0..{rank - 1}")
    return tuple(perm)


def _transpose_infer(ts, a):
    t = ts[0]
    perm = _perm("transpose", a["perm"], t.rank)
    return [TensorType(tuple(t.shape[p] for p in perm), t.dtype)]


def _transpose_vjp(b, node, cts):
    perm = _perm("transpose", node.attrs["perm"], node.inputs[0].rank)
    return [b.transpose(cts[0], perm=tuple(int(i) for i in np.argsort(perm)))]


register(OpDef("transpose", "shape", _transpose_infer,
               lambda xs, a, c: _contiguous(
                   np.transpose(xs[0], _perm("transpose", a["perm"], xs[0].ndim))),
               _transpose_vjp, attrs={"perm": Attr("ints", None)},
               doc="permute axes (absent perm reverses them)"))


def _broadcast_infer(ts, a):
    t, shape = ts[0], a["shape"]
    if t.rank > len(shape):
        raise OpError(f"broadcast_to: cannot broadcast {t} to lower rank {list(shape)}")
    for d, s in zip(reversed(t.shape), reversed(shape)):
        if d != s and d != 1:
            raise OpError(f"broadcast_to: cannot broadcast {t} to {list(shape)}")
    return [TensorType(shape, t.dtype)]


register(OpDef("broadcast_to", "shape", _broadcast_infer,
               lambda xs, a, c: np.broadcast_to(xs[0], a["shape"]),
               lambda b, node, cts: [unbroadcast(b, cts[0], node.inputs[0].shape)],
               attrs={"shape": Attr("shape")}, type_attrs=("shape",),
               doc="numpy broadcasting to shape"))


def _expand_infer(ts, a):
    t = ts[0]
    axes = norm_axes("expand_dims", a["axes"], t.rank + len(a["axes"]))
    shape = list(t.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return [TensorType(tuple(shape), t.dtype)]


def _squeeze_axes(t, axes):
    if axes is None:
        return tuple(i for i, d in enumerate(t.shape) if d == 1)
    axes = norm_axes("squeeze", axes, t.rank)
    for ax in axes:
        if t.shape[ax] != 1:
            raise OpError(f"squeeze: axis {ax} of {t} has size {t.shape[ax]}, not 1")
    return axes


def _squeeze_infer(ts, a):
    t = ts[0]
    axes = _squeeze_axes(t, a["axes"])
    return [TensorType(tuple(d for i, d in enumerate(t.shape) if i not in axes), t.dtype)]


def _to_input_shape(b, node, cts):
    return [b.reshape(cts[0], shape=node.inputs[0].shape)]


register(OpDef("expand_dims", "shape", _expand_infer,
               lambda xs, a, c: np.expand_dims(xs[0], a["axes"]), _to_input_shape,
               attrs={"axes": Attr("ints")}, doc="insert size-1 axes (positions in the result)"))
register(OpDef("squeeze", "shape", _squeeze_infer,
               lambda xs, a, c: np.squeeze(xs[0], axis=_squeeze_axes(
                   TensorType(xs[0].shape, dtypes.from_numpy(xs[0].dtype)), a["axes"])),
               _to_input_shape, attrs={"axes": Attr("ints", None)},
               doc="remove size-1 axes (absent axes: all of them)"))


def _concat_infer(ts, a):
    first = ts[0]
    if first.rank == 0:
        raise OpError("concat: operands must have rank >= 1, got scalars")
    ax = norm_axis("concat", a["axis"], first.rank)
    for t in ts[1:]:
        if t.dtype != first.dtype or t.rank != first.rank or any(
                d != e for i, (d, e) in enumerate(zip(t.shape, first.shape)) if i != ax):
            raise OpError(f"concat: operands {first} and {t} differ outside axis {ax}")
    shape = list(first.shape)
    shape[ax] = sum(t.shape[ax] for t in ts)
    return [TensorType(tuple(shape), first.dtype)]


def _concat_vjp(b, node, cts):
    ax = norm_axis("concat", node.attrs["axis"], node.inputs[0].rank)
    outs, start = [], 0
    g = cts[0]
    for v in node.inputs:
        starts = [0] * g.rank
        limits = list(g.shape)
        starts[ax], limits[ax] = start, start + v.shape[ax]
        outs.append(b.slice(g, starts=starts, limits=limits))
        start += v.shape[ax]
    return outs


register(OpDef("concat", "shape", _concat_infer,
               lambda xs, a, c: np.concatenate(xs, axis=a["axis"]), _concat_vjp,
               attrs={"axis": Attr("int")}, num_inputs=(1, None), doc="join along axis"))


def _slice_params(t, a):
    starts, limits = a["starts"], a["limits"]
    strides = a["strides"] if a["strides"] is not None else (1,) * t.rank
    if not len(starts) == len(limits) == len(strides) == t.rank:
        raise OpError(f"slice: starts/limits/strides need {t.rank} entries for {t}, got "
                      f"{list(starts)}, {list(limits)}, {list(strides)}")
    for i, (s, l, k, d) in enumerate(zip(starts, limits, strides, t.shape)):
        if not (0 <= s <= l <= d) or k < 1:
            raise OpError(f"slice: dimension {i} of {t}: need 0 <= start <= limit <= {d} and "
                          f"stride >= 1, got start {s}, limit {l}, stride {k}")
    return starts, limits, strides


def _slice_infer(ts, a):
    t = ts[0]
    starts, limits, strides = _slice_params(t, a)
    shape = tuple(-(-(l - s) // k) for s, l, k in zip(starts, limits, strides))
    return [TensorType(shape, t.dtype)]


def _slice_impl(xs, a, c):
    x = xs[0]
    starts, limits, strides = _slice_params(TensorType(x.shape, dtypes.from_numpy(x.dtype)), a)
    return _contiguous(x[tuple(slice(s, l, k) for s, l, k in zip(starts, limits, strides))])


def _slice_vjp(b, node, cts):
    x, g = node.inputs[0], cts[0]
    starts, _, strides = _slice_params(x.type, node.attrs)
    pads = []
    for s, k, n, m in zip(starts, strides, x.shape, g.shape):
        used = s + (m - 1) * k + 1 if m else s
        pads.append((s, n - used))
    return [b.pad(g, pads=pads, interior=[k - 1 for k in strides])]


register(OpDef("slice", "shape", _slice_infer, _slice_impl, _slice_vjp,
               attrs={"starts": Attr("ints"), "limits": Attr("ints"), "strides": Attr("ints", None)},
               doc="x[start:limit:stride] per dimension"))


def _pad_params(t, a):
    pads = a["pads"]
    interior = a["interior"] if a["interior"] is not None else (0,) * t.rank
    if len(pads) != t.rank or len(interior) != t.rank or any(len(p) != 2 for p in pads):
        raise OpError(f"pad: need one (low, high) pair and one interior count per dimension "
                      f"of {t}, got pads {[list(p) for p in pads]}, interior {list(interior)}")
    if any(lo < 0 or hi < 0 for lo, hi in pads) or any(i < 0 for i in interior):
        raise OpError(f"pad: padding must be non-negative, got pads "
                      f"{[list(p) for p in pads]}, interior {list(interior)}")
    return pads, interior


def _pad_infer(ts, a):
    t = ts[0]
    pads, interior = _pad_params(t, a)
    shape = tuple(lo + hi + d + max(d - 1, 0) * i for (lo, hi), i, d in zip(pads, interior, t.shape))
    return [TensorType(shape, t.dtype)]


def _pad_impl(xs, a, c):
    x = xs[0]
    t = TensorType(x.shape, dtypes.from_numpy(x.dtype))
    out_t = _pad_infer([t], a)[0]
    out = np.full(out_t.shape, a["value"], dtype=x.dtype)
    pads, interior = _pad_params(t, a)
    out[tuple(slice(lo, lo + max(d - 1, 0) * (i + 1) + 1 if d else lo, i + 1)
              for (lo, _), i, d in zip(pads, interior, x.shape))] = x
    return out


def _pad_vjp(b, node, cts):
    x, g = node.inputs[0], cts[0]
    pads, interior = _pad_params(x.type, node.attrs)
    starts = [lo for lo, _ in pads]
    strides = [i + 1 for i in interior]
    limits = [lo + max(d - 1, 0) * k + 1 if d else lo
              for lo, k, d in zip(starts, strides, x.shape)]
    return [b.slice(g, starts=starts, limits=limits, strides=strides)]


register(OpDef("pad", "shape", _pad_infer, _pad_impl, _pad_vjp,
               attrs={"pads": Attr("pads"), "interior": Attr("ints", None),
                      "value": Attr("float", 0.0)},
               doc="pad each dimension with (low, high) edges and interior gaps filled by value"))


def _one_hot_infer(ts, a):
    t = ts[0]
    if t.dtype not in ("i32", "i64"):
        raise OpError(f"one_hot: indices must be i32 or i64, got {t}")
    if a["depth"] < 0:
        raise OpError(f"one_hot: depth must be >= 0, got {a['depth']}")
    return [TensorType(t.shape + (a["depth"],), a["dtype"])]


def _one_hot_impl(xs, a, c):
    idx = xs[0]
    return (idx[..., None] == np.arange(a["depth"])).astype(dtypes.to_numpy(a["dtype"]))


def _one_hot_lower(ctx):
    from compiler.kernels.indexmap import IndexMap

    x, out = ctx.node.inputs[0], ctx.node.outputs[0]
    # the operand's dims are the result's leading dims; the new last axis is the class index
    imap = IndexMap(out.shape, (0,) * x.rank, tuple(((k, 1),) for k in range(x.rank)))
    hit = ex.compare("eq", ex.cast(ctx.operand_mapped(0, imap), "i64"), ex.index(x.rank))
    return ex.select(hit, ex.const(1, out.dtype), ex.const(0, out.dtype))


register(OpDef("one_hot", "elementwise", _one_hot_infer, _one_hot_impl,
               NotDifferentiable("its operand is integer indices"),
               attrs={"depth": Attr("int"), "dtype": Attr("dtype", "f32")}, type_attrs=("dtype",),
               doc="indices -> a new last axis of size depth; out-of-range rows are all zero "
                   "(TensorFlow's rule; the frontend checks label ranges before running)",
               lowering=_one_hot_lower))
