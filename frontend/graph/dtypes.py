"""Element types of the graph API: TensorFlow's names (``float32``, ``int64``, ...) over kiln's
five IR dtypes.

A :class:`DType` compares equal to its spellings (``tf.float32 == "float32" == np.float32``)
and knows its kiln name (``"f32"``) and numpy type. kiln has no 8/16-bit or complex types, so
asking for one (``uint8``, ``float16``, ``string``) is a clear :class:`TypeError` that lists
what exists, never a silent conversion.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DType", "as_dtype", "float32", "float64", "double", "int32", "int64", "bool_"]


class DType:
    """One element type: ``name`` (TensorFlow's), ``kiln`` (the IR's), ``as_numpy_dtype``."""

    __slots__ = ("name", "kiln", "as_numpy_dtype")

    def __init__(self, name: str, kiln: str, numpy_type: type):
        self.name = name
        self.kiln = kiln
        self.as_numpy_dtype = numpy_type

    @property
    def is_floating(self) -> bool:
        return self.kiln in ("f32", "f64")

    @property
    def is_integer(self) -> bool:
        return self.kiln in ("i32", "i64")

    @property
    def is_bool(self) -> bool:
        return self.kiln == "bool"

    @property
    def base_dtype(self) -> "DType":
        return self

    @property
    def size(self) -> int:
        return np.dtype(self.as_numpy_dtype).itemsize

    @property
    def min(self):
        return np.finfo(self.as_numpy_dtype).min if self.is_floating else \
            np.iinfo(self.as_numpy_dtype).min if self.is_integer else False

    @property
    def max(self):
        return np.finfo(self.as_numpy_dtype).max if self.is_floating else \
            np.iinfo(self.as_numpy_dtype).max if self.is_integer else True

    def __eq__(self, other) -> bool:
        if isinstance(other, DType):
            return other.name == self.name
        try:
            return as_dtype(other) is self
        except TypeError:
            return False

    def __ne__(self, other) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __reduce__(self):
        return as_dtype, (self.name,)


float32 = DType("float32", "f32", np.float32)
float64 = DType("float64", "f64", np.float64)
double = float64
int32 = DType("int32", "i32", np.int32)
int64 = DType("int64", "i64", np.int64)
bool_ = DType("bool", "bool", np.bool_)

_ALL = (float32, float64, int32, int64, bool_)
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({d.kiln: d for d in _ALL})
_BY_NAME.update({"double": float64, "float": float32})
_BY_NUMPY = {np.dtype(d.as_numpy_dtype): d for d in _ALL}


def as_dtype(value) -> DType:
    """The :class:`DType` of ``value``: a DType, a name (``"float32"`` or kiln's ``"f32"``), a
    numpy dtype or type, or the Python types ``float`` (float32, TensorFlow's default),
    ``int`` (int32) and ``bool``."""
    if isinstance(value, DType):
        return value
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    try:
        npd = np.dtype(value)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NUMPY:
        return _BY_NUMPY[npd]
    shown = npd if npd is not None else value
    raise TypeError(f"kiln has no dtype {shown!r}; expected one of "
                    f"{', '.join(d.name for d in _ALL)} (cast the data first, e.g. "
                    f"x.astype(np.float32))")
