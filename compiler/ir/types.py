"""Tensor types: a static shape and a dtype, printed as ``f32[64,784]``."""
from __future__ import annotations

from dataclasses import dataclass
import math

from compiler.ir import dtypes


@dataclass(frozen=True)
class TensorType:
    """Static shape (a tuple of non-negative ints) and dtype name of one value."""

    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        dtypes.to_numpy(self.dtype)  # validates the name
        if any(d < 0 for d in self.shape):
            raise ValueError(f"negative dimension in shape {self.shape}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * dtypes.itemsize(self.dtype)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"
