"""Indexed access: gather (embedding lookup) and its transpose scatter_add.

Indices are checked at run time: an index outside [0, size) raises an error naming the op
and the offending index; it is never a wrong read or write (no negative wrap-around).
"""
from __future__ import annotations

import numpy as np

from compiler.errors import InputError, OpError
from compiler.ir.types import TensorType
from compiler.ops._util import FLOATS, NUMERIC, norm_axis
from compiler.ops.registry import Attr, OpDef, register

_INDEX = ("i32", "i64")


def check_indices(op: str, idx: np.ndarray, size: int) -> None:
    """Raise InputError when any index falls outside [0, size)."""
    if idx.size == 0:
        return
    lo, hi = idx.min(), idx.max()
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise InputError(f"{op}: index {int(bad)} is out of range [0, {size})")


def _gather_infer(ts, a):
    params, idx = ts
    if idx.dtype not in _INDEX:
        raise OpError(f"gather: indices must be i32 or i64, got {idx}")
    if params.rank == 0:
        raise OpError(f"gather: params must have rank >= 1, got {params}")
    ax = norm_axis("gather", a["axis"], params.rank)
    shape = params.shape[:ax] + idx.shape + params.shape[ax + 1:]
    return [TensorType(shape, params.dtype)]


def _gather_impl(xs, a, c):
    params, idx = xs
    ax = a["axis"] % params.ndim
    check_indices("gather", idx, params.shape[ax])
    return np.take(params, idx, axis=ax)


def _gather_vjp(b, node, cts):
    params, idx = node.inputs
    g = cts[0]
    ax = node.attrs["axis"] % params.rank
    if ax == 0:
        return [b.scatter_add(idx, g, shape=params.shape), None]
    # Move the index dimensions of g to the front, scatter-add along axis 0, move back.
    k = idx.rank
    front = list(range(ax, ax + k)) + list(range(ax)) + list(range(ax + k, g.rank))
    moved_shape = (params.shape[ax],) + params.shape[:ax] + params.shape[ax + 1:]
    s = b.scatter_add(idx, b.transpose(g, perm=front), shape=moved_shape)
    back = list(range(1, ax + 1)) + [0] + list(range(ax + 1, params.rank))
    return [b.transpose(s, perm=back), None]


register(OpDef("gather", "gather", _gather_infer, _gather_impl, _gather_vjp,
               attrs={"axis": Attr("int", 0)}, num_inputs=2,
               doc="take slices of params at integer indices along axis (embedding lookup)"))


def _scatter_infer(ts, a):
    idx, upd = ts
    shape = a["shape"]
    if idx.dtype not in _INDEX:
        raise OpError(f"scatter_add: indices must be i32 or i64, got {idx}")
    if upd.dtype not in NUMERIC:
        raise OpError(f"scatter_add: updates must be numeric, got {upd}")
    if len(shape) == 0:
        raise OpError("scatter_add: result shape must have rank >= 1")
    want = idx.shape + tuple(shape[1:])
    if upd.shape != want:
        raise OpError(f"scatter_add: updates must have shape {list(want)} (indices shape + "
                      f"result shape[1:]), got {upd}")
    return [TensorType(tuple(shape), upd.dtype)]


def _scatter_impl(xs, a, c):
    idx, upd = xs
    shape = a["shape"]
    check_indices("scatter_add", idx, shape[0])
    out = np.zeros(shape, dtype=upd.dtype)
    flat_idx = idx.reshape(-1)
    flat_upd = upd.reshape((flat_idx.size,) + tuple(shape[1:]))
    if flat_idx.size:
        # Sort once and sum runs with reduceat: much faster than np.add.at on big tables.
        order = np.argsort(flat_idx, kind="stable")
        sorted_idx = flat_idx[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
        out[sorted_idx[starts]] = np.add.reduceat(flat_upd[order], starts, axis=0)
    return out


register(OpDef("scatter_add", "gather", _scatter_infer, _scatter_impl,
               lambda b, node, cts: [None, b.gather(cts[0], node.inputs[0], axis=0)],
               attrs={"shape": Attr("shape")}, num_inputs=2, type_attrs=("shape",),
               doc="zeros of shape, with updates added at rows indices (repeats accumulate)"))
