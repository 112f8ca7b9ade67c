"""Views: how a kernel reads (or writes) a buffer as an array of some shape.

A view is affine: element ``(i0, ..., in-1)`` lives at ``offset + sum(ik * strides[k])``
elements from the buffer's start. Broadcasting (stride 0), transposition (permuted strides),
strided slicing (scaled strides plus an offset), ``expand_dims``/``squeeze`` and every reshape
that numpy could do without a copy are all views: the shape ops of the graph become index
arithmetic in the consumer's loop, never a copy. A reshape that no affine view can express (of
a transposed or broadcast array) returns ``None``; the lowering then materializes the operand
first, exactly as ``numpy.reshape`` copies in that case.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Sequence

__all__ = ["View", "contiguous_strides"]


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Row-major strides (elements) of a dense array of ``shape``."""
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


@dataclass(frozen=True)
class View:
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int = 0

    @staticmethod
    def dense(shape: Sequence[int]) -> "View":
        """The view of a whole row-major buffer."""
        shape = tuple(shape)
        return View(shape, contiguous_strides(shape), 0)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def is_dense(self) -> bool:
        """True when the view is the whole buffer in row-major order (size-1 dims ignored)."""
        if self.offset != 0 and self.numel:
            return False
        want = contiguous_strides(self.shape)
        return all(n == 1 or s == w for n, s, w in zip(self.shape, self.strides, want))

    def same_elements(self, other: "View") -> bool:
        """True when both views address the same elements in the same order (strides of
        size-1 dims do not matter)."""
        return (self.shape == other.shape and self.offset == other.offset and
                all(n == 1 or a == b for n, a, b in zip(self.shape, self.strides, other.strides)))

    def span(self) -> tuple[int, int]:
        """[lowest, highest] element offset touched (for bounds checks); (0, -1) when empty."""
        if self.numel == 0:
            return 0, -1
        lo = hi = self.offset
        for n, s in zip(self.shape, self.strides):
            if s > 0:
                hi += (n - 1) * s
            else:
                lo += (n - 1) * s
        return lo, hi

    # -- the shape ops as view transformations --------------------------------------------
    def permute(self, perm: Sequence[int]) -> "View":
        return View(tuple(self.shape[p] for p in perm), tuple(self.strides[p] for p in perm),
                    self.offset)

    def broadcast_to(self, shape: Sequence[int]) -> "View":
        """numpy broadcasting: align right, size-1 or missing dims get stride 0."""
        shape = tuple(shape)
        lead = len(shape) - self.rank
        strides = [0] * lead
        for k, (n, s) in enumerate(zip(self.shape, self.strides)):
            target = shape[lead + k]
            if n == target:
                strides.append(s if n != 1 else 0)
            elif n == 1:
                strides.append(0)
            else:
                raise ValueError(f"cannot broadcast view {list(self.shape)} to {list(shape)}")
        return View(shape, tuple(strides), self.offset)

    def slice(self, starts: Sequence[int], stops: Sequence[int], steps: Sequence[int]) -> "View":
        """``x[start:stop:step]`` per dim, with normalized, in-range starts/stops, steps > 0."""
        shape, offset = [], self.offset
        for n, s, a, b, st in zip(self.shape, self.strides, starts, stops, steps):
            shape.append(max(0, -(-(b - a) // st)))
            offset += a * s
        return View(tuple(shape), tuple(s * st for s, st in zip(self.strides, steps)), offset)

    def reshape(self, shape: Sequence[int]) -> "View | None":
        """The same elements in row-major order as ``shape``, or None if no affine view can."""
        shape = tuple(shape)
        if prod(shape) != self.numel:
            raise ValueError(f"cannot reshape {list(self.shape)} to {list(shape)}")
        if self.numel == 0:
            return View(shape, contiguous_strides(shape), self.offset)
        # Drop size-1 dims of the source; they carry no stride information.
        old = [(n, s) for n, s in zip(self.shape, self.strides) if n != 1]
        new_strides = [0] * len(shape)
        i = 0  # position in old
        j = 0  # position in new
        while j < len(shape):
            if shape[j] == 1:
                new_strides[j] = 0
                j += 1
                continue
            # Group: take new dims j..j2 and old dims i..i2 until their products match.
            j2, i2 = j + 1, i + 1
            pn, po = shape[j], old[i][0]
            while pn != po:
                if pn < po:
                    pn *= shape[j2]
                    j2 += 1
                else:
                    po *= old[i2][0]
                    i2 += 1
            # Old dims in the group must be mutually contiguous to be re-split freely.
            for k in range(i, i2 - 1):
                if old[k][1] != old[k + 1][1] * old[k + 1][0]:
                    return None
            stride = old[i2 - 1][1]
            for k in range(j2 - 1, j - 1, -1):
                if shape[k] == 1:
                    new_strides[k] = 0
                else:
                    new_strides[k] = stride
                    stride *= shape[k]
            i, j = i2, j2
        return View(shape, tuple(new_strides), self.offset)

    def __str__(self) -> str:
        dims = ",".join(map(str, self.shape))
        if self.is_dense():
            return f"[{dims}]"
        strides = ",".join(map(str, self.strides))
        off = f"+{self.offset}" if self.offset else ""
        return f"[{dims}]{{{strides}}}{off}"
