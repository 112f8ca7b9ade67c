"""Shared helpers for op definitions: broadcasting, axes, dtype checks, un-broadcasting."""
from __future__ import annotations

from typing import Iterable

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.types import TensorType


def broadcast_shapes(op: str, types: Iterable[TensorType]) -> tuple[int, ...]:
    """numpy broadcasting of the operands' shapes, or an OpError naming both shapes."""
    types = list(types)
    rank = max(t.rank for t in types)
    out = [1] * rank
    for t in types:
        padded = (1,) * (rank - t.rank) + t.shape
        for i, d in enumerate(padded):
            if d == out[i] or d == 1:
                continue
            if out[i] == 1:
                out[i] = d
                continue
            shapes = " and ".join(str(x) for x in types)
            raise OpError(f"{op}: operand shapes {shapes} do not broadcast "
                          f"(dimension {i} of the result: {out[i]} vs {d})")
    return tuple(out)


def same_dtype(op: str, types: Iterable[TensorType], allowed: tuple[str, ...] | None = None) -> str:
    types = list(types)
    ds = {t.dtype for t in types}
    if len(ds) != 1:
        raise OpError(f"{op}: operands must have one dtype, got "
                      f"{', '.join(str(t) for t in types)} (insert a cast)")
    d = ds.pop()
    if allowed is not None and d not in allowed:
        raise OpError(f"{op}: expected dtype {' or '.join(allowed)}, got {d}")
    return d


def require_dtype(op: str, t: TensorType, allowed: tuple[str, ...], what: str = "operand") -> None:
    if t.dtype not in allowed:
        raise OpError(f"{op}: {what} must be {' or '.join(allowed)}, got {t}")


def require_rank(op: str, t: TensorType, rank: int, what: str = "operand") -> None:
    if t.rank != rank:
        raise OpError(f"{op}: {what} must have rank {rank}, got {t}")


def norm_axis(op: str, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise OpError(f"{op}: axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def norm_axes(op: str, axes: tuple[int, ...] | None, rank: int) -> tuple[int, ...]:
    """Axes made non-negative and sorted; ``None`` means all axes. Duplicates are errors."""
    if axes is None:
        return tuple(range(rank))
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise OpError(f"{op}: axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise OpError(f"{op}: repeated axis in {list(axes)}")
    return tuple(sorted(out))


FLOATS = dtypes.FLOAT_DTYPES
NUMERIC = dtypes.FLOAT_DTYPES + dtypes.INT_DTYPES


def unbroadcast(b, g, shape: tuple[int, ...]):
    """Sum a cotangent ``g`` down to ``shape`` (the transpose of numpy broadcasting)."""
    if g.shape == tuple(shape):
        return g
    lead = g.rank - len(shape)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(shape)
                                if d == 1 and g.shape[lead + i] != 1]
    out = b.sum(g, axes=axes, keepdims=False) if axes else g
    if out.shape != tuple(shape):
        out = b.reshape(out, shape=tuple(shape))
    return out


def broadcast_back(b, g, reduced_axes: tuple[int, ...], keepdims: bool, shape: tuple[int, ...]):
    """Broadcast a reduction's cotangent back over the reduced axes to ``shape``."""
    if not keepdims:
        kept = tuple(1 if i in reduced_axes else d for i, d in enumerate(shape))
        if g.shape != kept:
            g = b.reshape(g, shape=kept)
    if g.shape != tuple(shape):
        g = b.broadcast_to(g, shape=tuple(shape))
    return g
