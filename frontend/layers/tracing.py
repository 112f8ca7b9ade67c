"""Symbolic tensors and the context in which layers build graph ops.

Two kinds of symbolic tensor exist, with distinct jobs:

* :class:`Tensor` is a value in a graph being built (a :class:`~compiler.ir.graph.Value`
  plus the :class:`TraceContext` of that graph). Layers' ``call`` methods receive and
  return these, and they overload the arithmetic operators, so a subclassed model's
  ``call`` can write ``x = self.dense(x) + y``. Shapes are concrete (the batch size is
  known: one graph is built per batch size).
* :class:`KerasTensor` is a placeholder of the functional API (``Input``) whose batch (and
  possibly other) dimensions are ``None``. Calling a layer on one records a node; the model
  replays those nodes on :class:`Tensor` s when a program is built for a concrete shape.

A :class:`TraceContext` holds what one graph build collects besides ops: the param bound
to each layer weight (so a weight read twice is one param), updates of non-trainable
state (BatchNormalization's moving statistics, Dropout's step counters), extra losses
(activity regularizers), and the training flag.

Dtypes are spelled the Keras way (``"float32"``, ``"int32"``) at the API and the IR way
(``"f32"``, ``"i32"``) inside; :func:`ir_dtype` and :func:`keras_dtype` convert.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable

import numpy as np

from compiler.builder import GraphBuilder
from compiler.ir import dtypes
from compiler.ir.graph import Value

_KERAS_NAMES = {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64",
                "bool": "bool"}
_IR_NAMES = {v: k for k, v in _KERAS_NAMES.items()}


def ir_dtype(dtype: Any) -> str:
    """The IR dtype name ('f32', ...) of a Keras/numpy dtype spelling; ValueError if unknown."""
    if isinstance(dtype, str):
        if dtype in _KERAS_NAMES:
            return dtype
        if dtype in _IR_NAMES:
            return _IR_NAMES[dtype]
    try:
        return dtypes.from_numpy(np.dtype(dtype))
    except Exception:
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of "
                         f"{', '.join(_IR_NAMES)}") from None


def keras_dtype(dtype: Any) -> str:
    """The Keras spelling ('float32', ...) of a dtype."""
    return _KERAS_NAMES[ir_dtype(dtype)]


def numpy_dtype(dtype: Any) -> np.dtype:
    return dtypes.to_numpy(ir_dtype(dtype))


def format_shape(shape) -> str:
    """``(None, 32)`` as Keras prints shapes (a trailing comma for rank 1)."""
    shape = tuple(shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


# -- nested structures ------------------------------------------------------------------------
def flatten(structure) -> list:
    """Leaves of nested lists/tuples/dicts (dicts in key order), depth first."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure) for leaf in flatten(structure[k])]
    return [structure]


def map_structure(fn: Callable, structure):
    """``structure`` with every leaf replaced by ``fn(leaf)``."""
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


# -- graph-build context -----------------------------------------------------------------------
class TraceContext:
    """Everything one graph build collects from layers (see the module docstring)."""

    def __init__(self, b: GraphBuilder, training: bool = False):
        self.b = b
        self.training = bool(training)
        self._params: dict[int, Value] = {}
        self.bound: list = []                      # Weights bound as params, in order
        self.state_updates: list[tuple[Any, Value]] = []  # (Weight, new value)
        self.losses: list[Value] = []              # extra scalar losses (activity regularizers)
        self._call_counts: dict[int, int] = {}
        # first output shape(s) of each layer called in this graph: id -> (layer, shapes)
        self.output_shapes: dict[int, tuple] = {}
        self.probe = False                         # a scratch graph for shape inference

    def param(self, weight) -> Value:
        """The graph param holding ``weight`` (created on first use)."""
        v = self._params.get(id(weight))
        if v is None:
            v = self.b.param(weight.param_name, weight.shape, weight.ir_dtype)
            self._params[id(weight)] = v
            self.bound.append(weight)
        return v

    def has_param(self, weight) -> bool:
        return id(weight) in self._params

    def update_state(self, weight, value: "Tensor | Value") -> None:
        """Record that after this step ``weight`` takes ``value`` (non-trainable state)."""
        v = value.value if isinstance(value, Tensor) else value
        if v.shape != tuple(weight.shape) or v.dtype != weight.ir_dtype:
            raise ValueError(f"state update of {weight.path}: expected "
                             f"{weight.ir_dtype}{list(weight.shape)}, got {v.type}")
        if any(w is weight for w, _ in self.state_updates):
            raise ValueError(f"state {weight.path} is updated twice in one step (a stateful layer "
                             f"called twice in training mode)")
        self.state_updates.append((weight, v))

    def add_loss(self, value: "Tensor | Value") -> None:
        v = value.value if isinstance(value, Tensor) else value
        if v.rank != 0:
            v = self.b.sum(v)
        self.losses.append(v)

    def next_call_index(self, layer) -> int:
        """How many times ``layer`` was called before in this graph (to vary random seeds)."""
        n = self._call_counts.get(id(layer), 0)
        self._call_counts[id(layer)] = n + 1
        return n

    def wrap(self, v: Value) -> "Tensor":
        return Tensor(v, self)


def _operand(ctx: TraceContext, x, like: Value | None = None):
    """A builder operand: Tensor -> Value; numbers stay numbers; arrays become constants."""
    if isinstance(x, Tensor):
        if x.ctx is not ctx:
            raise ValueError("cannot combine tensors from two different graph builds")
        return x.value
    if isinstance(x, (bool, np.bool_)) or isinstance(x, numbers.Number):
        return x
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        arr = np.asarray(x)
        if like is not None and arr.dtype.kind in "fiub":
            arr = arr.astype(dtypes.to_numpy(like.dtype))
        elif arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        if arr.ndim == 0:
            return ctx.b.constant(arr.item(), dtype=dtypes.from_numpy(arr.dtype))
        return ctx.b.constant(arr)
    raise TypeError(f"cannot use a {type(x).__name__} as a tensor operand")


class Tensor:
    """A value in a graph being built, with Keras-like attributes and operators."""

    __slots__ = ("value", "ctx")

    def __init__(self, value: Value, ctx: TraceContext):
        self.value = value
        self.ctx = ctx

    # -- attributes ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.rank

    @property
    def dtype(self) -> str:
        return keras_dtype(self.value.dtype)

    @property
    def b(self) -> GraphBuilder:
        return self.ctx.b

    def __repr__(self) -> str:
        return f"<Tensor %{self.value.name} shape={format_shape(self.shape)} dtype={self.dtype}>"

    def __len__(self) -> int:
        return self.shape[0]

    def __bool__(self):
        raise TypeError("a symbolic Tensor has no truth value (it has no data while the graph "
                        "is being built)")

    # -- building ----------------------------------------------------------------------------
    def op(self, opname: str, *operands, **attrs) -> "Tensor":
        """Apply a kiln op to this tensor (first operand) and ``operands``."""
        vals = [self.value] + [_operand(self.ctx, o, self.value) for o in operands]
        out = self.ctx.b.op(opname, *vals, **attrs)
        if isinstance(out, tuple):
            return tuple(Tensor(o, self.ctx) for o in out)
        return Tensor(out, self.ctx)

    def _binary(self, opname: str, other, reverse: bool = False) -> "Tensor":
        a, o = self.value, _operand(self.ctx, other, self.value)
        if isinstance(o, Value) and o.dtype != a.dtype and not reverse:
            o = self.ctx.b.cast(o, dtype=a.dtype)
        elif isinstance(o, Value) and o.dtype != a.dtype:
            a = self.ctx.b.cast(a, dtype=o.dtype)
        x, y = (o, a) if reverse else (a, o)
        return Tensor(self.ctx.b.op(opname, x, y), self.ctx)

    def __add__(self, o): return self._binary("add", o)
    def __radd__(self, o): return self._binary("add", o, True)
    def __sub__(self, o): return self._binary("sub", o)
    def __rsub__(self, o): return self._binary("sub", o, True)
    def __mul__(self, o): return self._binary("mul", o)
    def __rmul__(self, o): return self._binary("mul", o, True)
    def __truediv__(self, o): return self._binary("div", o)
    def __rtruediv__(self, o): return self._binary("div", o, True)
    def __pow__(self, o): return self._binary("pow", o)
    def __rpow__(self, o): return self._binary("pow", o, True)
    def __matmul__(self, o): return self._binary("matmul", o)
    def __rmatmul__(self, o): return self._binary("matmul", o, True)
    def __lt__(self, o): return self._binary("less", o)
    def __le__(self, o): return self._binary("less_equal", o)
    def __gt__(self, o): return self._binary("greater", o)
    def __ge__(self, o): return self._binary("greater_equal", o)
    def __neg__(self): return self.op("neg")
    def __abs__(self): return self.op("abs")

    def __getitem__(self, key) -> "Tensor":
        """Basic indexing: ints, slices with positive steps, and one Ellipsis (``x[:, -1]``)."""
        key = key if isinstance(key, tuple) else (key,)
        if sum(k is Ellipsis for k in key) > 1:
            raise IndexError("only one Ellipsis is allowed in an index")
        if Ellipsis in key:
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1:]
        if len(key) > self.ndim:
            raise IndexError(f"too many indices ({len(key)}) for a tensor of rank {self.ndim}")
        key = key + (slice(None),) * (self.ndim - len(key))
        starts, limits, strides, keep = [], [], [], []
        for d, (k, n) in enumerate(zip(key, self.shape)):
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                i = int(k) + n if k < 0 else int(k)
                if not 0 <= i < n:
                    raise IndexError(f"index {k} is out of range for dimension {d} of size {n}")
                starts.append(i), limits.append(i + 1), strides.append(1)
            elif isinstance(k, slice):
                lo, hi, step = k.indices(n)
                if step < 1:
                    raise IndexError("negative or zero slice steps are not supported")
                hi = max(hi, lo)
                starts.append(lo), limits.append(hi), strides.append(step)
                keep.append(len(range(lo, hi, step)))
            else:
                raise IndexError(f"unsupported index {k!r}: use ints, slices and ...")
        v = self.ctx.b.slice(self.value, starts=tuple(starts), limits=tuple(limits),
                             strides=tuple(strides))
        if len(keep) != self.ndim:
            v = self.ctx.b.reshape(v, shape=tuple(keep))
        return Tensor(v, self.ctx)

    # -- a few reductions and shape helpers (numpy names) --------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        return self.op("sum", axes=_axes(axis), keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        return self.op("mean", axes=_axes(axis), keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> "Tensor":
        return self.op("max", axes=_axes(axis), keepdims=keepdims)

    def reshape(self, *shape) -> "Tensor":
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self.op("reshape", shape=_resolve_reshape(self.shape, shape))

    def astype(self, dtype) -> "Tensor":
        dt = ir_dtype(dtype)
        return self if dt == self.value.dtype else self.op("cast", dtype=dt)

    @property
    def T(self) -> "Tensor":
        return self.op("transpose", perm=tuple(reversed(range(self.ndim))))


def _axes(axis):
    if axis is None:
        return None
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _resolve_reshape(shape, target) -> tuple[int, ...]:
    """A reshape target with at most one -1, resolved against ``shape``."""
    target = [int(d) for d in target]
    total = int(np.prod(shape))
    if target.count(-1) > 1:
        raise ValueError(f"reshape: at most one -1 allowed, got {tuple(target)}")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {format_shape(shape)} ({total} elements) to "
                             f"{tuple(target)}")
        target[target.index(-1)] = total // known
    if int(np.prod(target)) != total:
        raise ValueError(f"cannot reshape {format_shape(shape)} ({total} elements) to "
                         f"{tuple(target)} ({int(np.prod(target))} elements)")
    return tuple(target)


# -- functional-API placeholders --------------------------------------------------------------
class Node:
    """One layer call recorded by the functional API: ``outputs = layer(*args, **kwargs)``."""

    __slots__ = ("layer", "args", "kwargs", "outputs")

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs

    def input_tensors(self) -> list["KerasTensor"]:
        return [t for t in flatten([self.args, self.kwargs]) if isinstance(t, KerasTensor)]


class KerasTensor:
    """A symbolic placeholder of the functional API: a shape (``None`` = unknown), a dtype,
    and the :class:`Node` that produced it (``None`` for an ``Input``)."""

    def __init__(self, shape, dtype: str = "f32", name: str | None = None,
                 node: Node | None = None, index: int = 0):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self._ir_dtype = ir_dtype(dtype)
        self.name = name
        self.node = node
        self.index = index

    @property
    def dtype(self) -> str:
        return keras_dtype(self._ir_dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return (f"<KerasTensor shape={format_shape(self.shape)}, dtype={self.dtype}"
                f"{', name=' + self.name if self.name else ''}>")

    def __bool__(self):
        raise TypeError("a symbolic KerasTensor has no truth value")

    def __add__(self, o): return _lambda_binary(self, o, lambda a, b: a + b)
    def __radd__(self, o): return _lambda_binary(self, o, lambda a, b: b + a)
    def __sub__(self, o): return _lambda_binary(self, o, lambda a, b: a - b)
    def __rsub__(self, o): return _lambda_binary(self, o, lambda a, b: b - a)
    def __mul__(self, o): return _lambda_binary(self, o, lambda a, b: a * b)
    def __rmul__(self, o): return _lambda_binary(self, o, lambda a, b: b * a)
    def __truediv__(self, o): return _lambda_binary(self, o, lambda a, b: a / b)
    def __matmul__(self, o): return _lambda_binary(self, o, lambda a, b: a @ b)
    def __neg__(self): return _lambda_unary(self, lambda a: -a)


def _lambda_unary(x: KerasTensor, fn):
    from frontend.layers.core import Lambda
    return Lambda(fn)(x)


def _lambda_binary(x: KerasTensor, other, fn):
    from frontend.layers.core import Lambda
    if isinstance(other, KerasTensor):
        return Lambda(lambda ts: fn(ts[0], ts[1]))([x, other])
    return Lambda(lambda t: fn(t, other))(x)


def is_symbolic(x) -> bool:
    return isinstance(x, (Tensor, KerasTensor))


def any_of(structure, kind) -> bool:
    return any(isinstance(t, kind) for t in flatten(structure))


def shapes_of(items: Iterable) -> list:
    return [tuple(t.shape) for t in items]
