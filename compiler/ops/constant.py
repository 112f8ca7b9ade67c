"""The constant op: a scalar splat to a shape, or a dense array (after constant folding)."""
from __future__ import annotations

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.types import TensorType
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, register


def _fits(v: int, dtype: str) -> bool:
    info = np.iinfo(dtypes.to_numpy(dtype))
    return info.min <= v <= info.max


def _infer(ts, a):
    t = TensorType(a["shape"], a["dtype"])
    v = a["value"]
    if isinstance(v, np.ndarray):
        if v.shape != t.shape:
            raise OpError(f"constant: array value has shape {v.shape}, declared {t}")
        if dtypes.from_numpy(v.dtype) != t.dtype:
            raise OpError(f"constant: array value has dtype {v.dtype}, declared {t}")
    elif t.dtype == "bool" and not isinstance(v, bool):
        raise OpError(f"constant: {t} needs true or false, got {v!r}")
    elif dtypes.is_int(t.dtype) and (isinstance(v, bool) or not isinstance(v, int)):
        raise OpError(f"constant: {t} needs an integer value, got {v!r}")
    elif dtypes.is_int(t.dtype) and not _fits(v, t.dtype):
        info = np.iinfo(dtypes.to_numpy(t.dtype))
        raise OpError(f"constant: {v} is out of range for {t} ([{info.min}, {info.max}])")
    elif dtypes.is_float(t.dtype) and not isinstance(v, float):
        raise OpError(f"constant: {t} needs a float value (such as 1.0), got {v!r}")
    return [t]


def _impl(xs, a, ctx):
    v = a["value"]
    if isinstance(v, np.ndarray):
        return v
    return np.full(a["shape"], v, dtype=dtypes.to_numpy(a["dtype"]))


register(OpDef("constant", "constant", _infer, _impl,
               NotDifferentiable("it has no operands"),
               attrs={"value": Attr("value"), "shape": Attr("shape"), "dtype": Attr("dtype")},
               num_inputs=0, type_attrs=("shape", "dtype"),
               doc="a scalar value splat to the result shape, or a dense array"))
