"""Element types of the graph IR and their numpy counterparts.

The IR knows five dtypes, spelled as in the text form: f32, f64, i32, i64, bool.
There is no implicit promotion inside the IR: ops require the dtypes they document and
frontends insert explicit casts.
"""
from __future__ import annotations

import numpy as np

from compiler.errors import OpError

_NUMPY = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
}
_FROM_NUMPY = {v: k for k, v in _NUMPY.items()}

DTYPES: tuple[str, ...] = tuple(_NUMPY)
FLOAT_DTYPES: tuple[str, ...] = ("f32", "f64")
INT_DTYPES: tuple[str, ...] = ("i32", "i64")


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def is_int(dtype: str) -> bool:
    return dtype in INT_DTYPES


def to_numpy(dtype: str) -> np.dtype:
    """The numpy dtype of an IR dtype name."""
    try:
        return _NUMPY[dtype]
    except KeyError:
        raise OpError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}") from None


def from_numpy(dtype) -> str:
    """The IR dtype name of a numpy dtype; raises for dtypes the IR does not have."""
    d = np.dtype(dtype)
    try:
        return _FROM_NUMPY[d]
    except KeyError:
        raise OpError(f"numpy dtype {d} has no kiln counterpart; expected one of "
                      f"{', '.join(str(x) for x in _NUMPY.values())}") from None


def itemsize(dtype: str) -> int:
    return to_numpy(dtype).itemsize
