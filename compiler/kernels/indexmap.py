"""Per-dimension affine index maps: how a shape op re-indexes its operand.

``IndexMap`` maps an index of the *outer* array (the shape op's result) to an index of the
*inner* array (its operand): ``inner[k] = offset[k] + sum(coeff * outer[l] for l, coeff in
terms[k])``. Transpose, broadcast (explicit or numpy-implicit), strided slice, expand_dims,
squeeze and reshapes that only add or drop size-1 dims are such maps. Applying a map to a view
(``compose_view``) or to a whole not-yet-materialized expression (``reindex``) is how shape ops
become index arithmetic inside the consuming kernel instead of copies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from compiler.kernels import expr as ex
from compiler.kernels.view import View

__all__ = ["IndexMap"]


@dataclass(frozen=True)
class IndexMap:
    outer_shape: tuple[int, ...]
    offsets: tuple[int, ...]                        # per inner dim
    terms: tuple[tuple[tuple[int, int], ...], ...]  # per inner dim: ((outer dim, coeff), ...)

    # -- constructors --------------------------------------------------------------------
    @staticmethod
    def identity(shape: Sequence[int]) -> "IndexMap":
        shape = tuple(shape)
        return IndexMap(shape, (0,) * len(shape), tuple(((d, 1),) for d in range(len(shape))))

    @staticmethod
    def broadcast(inner: Sequence[int], outer: Sequence[int]) -> "IndexMap":
        inner, outer = tuple(inner), tuple(outer)
        lead = len(outer) - len(inner)
        terms = []
        for k, n in enumerate(inner):
            l = lead + k
            terms.append(((l, 1),) if n == outer[l] and n != 1 else ())
        return IndexMap(outer, (0,) * len(inner), tuple(terms))

    @staticmethod
    def transpose(inner: Sequence[int], perm: Sequence[int]) -> "IndexMap":
        outer = tuple(inner[p] for p in perm)
        terms = [()] * len(perm)
        for l, p in enumerate(perm):
            terms[p] = ((l, 1),)
        return IndexMap(outer, (0,) * len(perm), tuple(terms))

    @staticmethod
    def slice(inner: Sequence[int], starts, steps, outer: Sequence[int]) -> "IndexMap":
        return IndexMap(tuple(outer), tuple(starts),
                        tuple(((k, st),) for k, st in enumerate(steps)))

    @staticmethod
    def unit_reshape(inner: Sequence[int], outer: Sequence[int]) -> "IndexMap | None":
        """A reshape that only inserts/removes size-1 dims; None for any other reshape."""
        a = [d for d, n in enumerate(inner) if n != 1]
        b = [d for d, n in enumerate(outer) if n != 1]
        if [inner[d] for d in a] != [outer[d] for d in b]:
            return None
        terms = [()] * len(inner)
        for k, l in zip(a, b):
            terms[k] = ((l, 1),)
        return IndexMap(tuple(outer), (0,) * len(inner), tuple(terms))

    # -- application -------------------------------------------------------------------------
    def compose_view(self, view: View) -> View:
        """The view over the outer shape reading what ``view`` (over the inner shape) reads."""
        strides = [0] * len(self.outer_shape)
        offset = view.offset
        for k, (off, terms) in enumerate(zip(self.offsets, self.terms)):
            s = view.strides[k]
            offset += s * off
            for l, c in terms:
                strides[l] += s * c
        for l, n in enumerate(self.outer_shape):
            if n == 1:
                strides[l] = 0
        return View(self.outer_shape, tuple(strides), offset)

    def index_expr(self, k: int, dtype: str) -> ex.Expr:
        e = ex.const(self.offsets[k], dtype)
        for l, c in self.terms[k]:
            t = ex.index(l, dtype)
            if c != 1:
                t = ex.binary("mul", t, ex.const(c, dtype))
            e = t if (e.op == "const" and e.value == 0) else ex.binary("add", e, t)
        return e

    def reindex(self, root: ex.Expr) -> ex.Expr:
        """Rewrite an expression over the inner index space into one over the outer space."""
        def leaf(e: ex.Expr) -> ex.Expr:
            if e.op == "load":
                return ex.load(e.buffer, self.compose_view(e.view), e.dtype)
            if e.op == "index":
                return self.index_expr(e.value, e.dtype)
            return e

        return ex.rewrite_leaves([root], leaf)[0]
