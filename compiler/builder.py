"""GraphBuilder: the one way graphs are constructed (frontends, passes, VJP rules).

``b.op("add", x, y)`` or, equivalently, ``b.add(x, y)`` checks the op's attributes and
shape rule and appends a node. Python numbers among the operands become scalar constants
of the dtype of the other operands (JAX's weak typing), so VJP rules can write
``b.mul(g, 0.5)``. Every node records where it was built: the innermost ``with
b.location("dense_1"):`` label, or else the file:line of the first caller outside kiln.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import sys
from typing import Any, Iterator

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.graph import Graph, Value, INPUT, PARAM
from compiler.ir.types import TensorType
from compiler.ops.registry import get_op

_KILN_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_KILN_PACKAGES = tuple(os.path.join(_KILN_ROOT, p) + os.sep
                       for p in ("compiler", "runtime", "frontend"))


def _user_frame() -> str | None:
    f = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_KILN_PACKAGES) and "importlib" not in fn:
            return f"{os.path.basename(fn)}:{f.f_lineno}"
        f = f.f_back
    return None


class GraphBuilder:
    """Appends checked nodes to a graph."""

    def __init__(self, graph: Graph | None = None, name: str = "main", location: str | None = None):
        self.graph = graph if graph is not None else Graph(name)
        self._locs: list[str] = [location] if location else []

    # -- arguments and outputs -------------------------------------------------------------
    def input(self, name: str, shape, dtype: str = "f32") -> Value:
        return self.graph.add_arg(name, TensorType(tuple(shape), dtype), INPUT)

    def param(self, name: str, shape, dtype: str = "f32") -> Value:
        return self.graph.add_arg(name, TensorType(tuple(shape), dtype), PARAM)

    def output(self, *values: Value) -> None:
        self.graph.outputs.extend(values)

    # -- locations -----------------------------------------------------------------------
    @contextlib.contextmanager
    def location(self, label: str) -> Iterator[None]:
        """Nodes built inside carry ``label`` (nested labels join with '/')."""
        self._locs.append(label)
        try:
            yield
        finally:
            self._locs.pop()

    def current_location(self) -> str | None:
        return "/".join(self._locs) if self._locs else _user_frame()

    # -- ops -----------------------------------------------------------------------------
    def constant(self, value: Any, dtype: str | None = None, shape=(), name: str | None = None) -> Value:
        """A constant: a scalar splat to ``shape``, or a numpy array (shape from the array)."""
        if isinstance(value, (np.ndarray, np.generic)) and dtype is None and value.ndim == 0:
            dtype = dtypes.from_numpy(value.dtype)
            value = value.item()
        if isinstance(value, np.ndarray) and value.ndim > 0:
            dtype = dtype or dtypes.from_numpy(value.dtype)
            arr = value.astype(dtypes.to_numpy(dtype))
            return self.op("constant", value=arr, shape=arr.shape, dtype=dtype, name=name)
        if dtype is None:
            dtype = ("bool" if isinstance(value, (bool, np.bool_)) else
                     "i64" if isinstance(value, numbers.Integral) else "f32")
        if isinstance(value, np.generic):
            value = value.item()
        if dtypes.is_float(dtype):
            value = float(value)
        elif dtypes.is_int(dtype):
            if isinstance(value, float) and not value.is_integer():
                raise OpError(f"constant: {value!r} is not a valid {dtype} value")
            value = int(value)
        else:
            value = bool(value)
        return self.op("constant", value=value, shape=tuple(shape), dtype=dtype, name=name)

    def op(self, opname: str, *operands: Value | float | int | bool, name: str | None = None,
           **attrs: Any) -> Value | tuple[Value, ...]:
        """Append ``opname(operands) {attrs}``; returns the output (or tuple of outputs)."""
        opdef = get_op(opname)
        loc = self.current_location()
        try:
            inputs = self._materialize(opname, operands)
            attrs = opdef.check_attrs(attrs)
            out_types = opdef.infer_types([v.type for v in inputs], attrs)
        except OpError as e:
            where = f" [built at {loc}]" if loc else ""
            raise OpError(f"{e}{where}") from None
        node = self.graph.add_node(opname, inputs, attrs, out_types,
                                   names=[name] + [None] * (len(out_types) - 1) if name else None,
                                   loc=loc)
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)

    def _materialize(self, opname: str, operands) -> list[Value]:
        vals = [v for v in operands if isinstance(v, Value)]
        non_bool = [v.dtype for v in vals if v.dtype != "bool"]
        out = []
        for v in operands:
            if isinstance(v, Value):
                if v.name not in self.graph._names:
                    raise OpError(f"{opname}: operand %{v.name} does not belong to graph "
                                  f"@{self.graph.name}")
                out.append(v)
            elif isinstance(v, (numbers.Number, np.generic)) and not isinstance(v, complex):
                dt = non_bool[0] if non_bool else None
                out.append(self.constant(v, dtype=dt))
            else:
                raise OpError(f"{opname}: operand must be a graph value or a number, "
                              f"got {type(v).__name__}")
        return out

    def __getattr__(self, opname: str):
        if opname.startswith("_"):
            raise AttributeError(opname)
        try:
            get_op(opname)
        except OpError:
            raise AttributeError(f"GraphBuilder has no op {opname!r}") from None

        def call(*operands, **attrs):
            return self.op(opname, *operands, **attrs)
        call.__name__ = opname
        return call
