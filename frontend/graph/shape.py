"""Partially known static shapes (TensorFlow's ``TensorShape``).

A graph-API tensor knows its shape only partly while the graph is built: a placeholder
declared ``[None, 784]`` has an unknown batch dimension, which becomes concrete when a batch
is fed. kiln itself compiles fully static shapes, so the session specializes the graph for
each concrete fed shape; this class only describes what is known before that.
"""
from __future__ import annotations

import numbers
from typing import Iterable, Iterator

__all__ = ["TensorShape", "Dimension", "as_shape"]


class Dimension(int):
    """A known dimension as indexing a shape returns it: an int that also answers TensorFlow
    1's ``.value``. Unknown dimensions are ``None`` (TensorFlow 2's convention), so both
    ``shape[1].value`` and ``shape[0] is None`` work."""

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"Dimension({int(self)})"


def _dim(d):
    return None if d is None else Dimension(d)


class TensorShape:
    """Dimensions as ints or ``None`` (unknown); ``dims is None`` means the rank is unknown."""

    __slots__ = ("dims",)

    def __init__(self, dims: "Iterable[int | None] | None"):
        if dims is None:
            self.dims = None
            return
        if isinstance(dims, TensorShape):
            self.dims = dims.dims
            return
        if isinstance(dims, numbers.Integral):
            dims = [dims]
        out = []
        for d in dims:
            if d is None or (isinstance(d, numbers.Integral) and int(d) == -1):
                out.append(None)  # -1 is accepted as "unknown", as in TensorFlow shapes
            elif isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0:
                out.append(int(d))
            else:
                raise ValueError(f"a shape dimension must be a non-negative int or None, got "
                                 f"{d!r} in {list(dims)!r}")
        self.dims = tuple(out)

    # -- queries ---------------------------------------------------------------------------
    @property
    def ndims(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    rank = ndims

    def is_fully_defined(self) -> bool:
        return self.dims is not None and all(d is not None for d in self.dims)

    def as_list(self) -> list:
        if self.dims is None:
            raise ValueError("as_list() is not defined on a shape of unknown rank")
        return list(self.dims)

    def num_elements(self) -> int | None:
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self.dims:
            n *= d
        return n

    def is_compatible_with(self, other) -> bool:
        """True if some concrete shape fits both (unknown dims match anything)."""
        other = as_shape(other)
        if self.dims is None or other.dims is None:
            return True
        return len(self.dims) == len(other.dims) and all(
            a is None or b is None or a == b for a, b in zip(self.dims, other.dims))

    def merge_with(self, other) -> "TensorShape":
        other = as_shape(other)
        if not self.is_compatible_with(other):
            raise ValueError(f"shapes {self} and {other} are not compatible")
        if self.dims is None:
            return other
        if other.dims is None:
            return self
        return TensorShape([a if a is not None else b for a, b in zip(self.dims, other.dims)])

    # -- sequence protocol ----------------------------------------------------------------------
    def __len__(self) -> int:
        if self.dims is None:
            raise ValueError("the length of a shape of unknown rank is not defined")
        return len(self.dims)

    def __iter__(self) -> Iterator:
        if self.dims is None:
            raise ValueError("cannot iterate over a shape of unknown rank")
        return iter([_dim(d) for d in self.dims])

    def __getitem__(self, key):
        if self.dims is None:
            raise ValueError("cannot index a shape of unknown rank")
        if isinstance(key, slice):
            return TensorShape(self.dims[key])
        return _dim(self.dims[key])

    def __eq__(self, other) -> bool:
        try:
            other = as_shape(other)
        except (TypeError, ValueError):
            return NotImplemented
        return self.dims == other.dims

    def __hash__(self) -> int:
        return hash(self.dims)

    def __str__(self) -> str:
        if self.dims is None:
            return "<unknown>"
        inner = ", ".join("?" if d is None else str(d) for d in self.dims)
        return f"({inner},)" if len(self.dims) == 1 else f"({inner})"

    def __repr__(self) -> str:
        return "TensorShape(None)" if self.dims is None else f"TensorShape({list(self.dims)})"


def as_shape(value) -> TensorShape:
    """A :class:`TensorShape` from a TensorShape, a list/tuple of ints and Nones, or None."""
    if isinstance(value, TensorShape):
        return value
    return TensorShape(value)
