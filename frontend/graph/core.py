"""Symbolic tensors and the Python-side graph they are recorded in (TensorFlow 1's graph mode).

Calling an op function (``matmul``, ``relu``, ...) does not compute anything: it appends an
:class:`Operation` to a :class:`Graph` (the default graph unless another is made default
with ``graph.as_default()``) and returns its output :class:`Tensor` s. A
:class:`~frontend.graph.session.Session` later turns exactly the part of this DAG that its
fetches need into a kiln graph (see ``session.py``).

Each operation carries a *lowering* function ``lower(ctx, *values)`` that builds the op out
of kiln graph values through ``ctx.b`` (a :class:`~compiler.builder.GraphBuilder`). The same
function serves two purposes, so no shape rule is written twice:

* at run time the session calls it with values of the concrete fed shapes;
* at construction it is called on a scratch graph to infer the static shape and dtype the
  user sees (``tensor.shape``) and to raise shape errors where the op is written. Unknown
  dimensions (``None``) are substituted by two different probe sizes; a dimension that comes
  out equal in both probes is static, one that differs is unknown. If a probe fails while
  some input dimension is unknown, the result shape is left unknown and the check happens
  when the session knows the real shapes (TensorFlow defers such checks to run time too).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
from typing import Callable, Iterator, Sequence

import numpy as np

from compiler.builder import GraphBuilder
from compiler.errors import KilnError
from compiler.errors import OpError as KilnOpError
from compiler.ir.graph import Value
from frontend.graph import dtypes as _dt
from frontend.graph.errors import InvalidArgumentError, NotFoundError
from frontend.graph.lowering import LowerContext, NotStatic
from frontend.graph.shape import TensorShape, as_shape

__all__ = ["Graph", "Operation", "Tensor", "GraphKeys", "get_default_graph",
           "reset_default_graph", "name_scope", "make_op", "convert_to_tensor", "constant",
           "get_collection", "add_to_collection", "set_random_seed"]

_uid = itertools.count(1)

_KILN_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_KILN_DIRS = tuple(os.path.join(_KILN_ROOT, p) + os.sep for p in ("compiler", "runtime", "frontend"))


def user_site() -> str | None:
    """``file:line`` of the innermost caller outside kiln (where the user wrote the op)."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_KILN_DIRS) and "importlib" not in fn:
            return f"{os.path.basename(fn)}:{f.f_lineno}"
        f = f.f_back
    return None


class GraphKeys:
    """Standard collection names (TensorFlow's ``tf.GraphKeys``)."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    VARIABLES = GLOBAL_VARIABLES


# -- graphs ----------------------------------------------------------------------------------------
class Graph:
    """A DAG of :class:`Operation` s with unique names, name scopes, collections and a seed."""

    def __init__(self):
        self.uid = next(_uid)
        self._ops: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._name_counts: dict[str, int] = {}
        self._used: set[str] = set()
        self._scope = ""
        self._collections: dict[str, list] = {}
        #: graph-level random seed (``set_random_seed``); None = not set
        self.seed: int | None = None
        self._seed_counter = 0
        #: variable scopes (``variable_scope``): prefix and reuse flag stack
        self._var_scopes: list[tuple[str, object]] = []
        self._variables_by_name: dict[str, object] = {}

    # -- names ----------------------------------------------------------------------------------
    def unique_name(self, name: str, mark_used: bool = True) -> str:
        """``name`` under the current name scope, made unique with ``_1``, ``_2``, ..."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"an op name must be a non-empty string, got {name!r}")
        full = f"{self._scope}/{name}" if self._scope else name
        key = full.lower()  # TensorFlow keeps names unique case-insensitively
        if key not in self._used:
            cand = full
        else:
            n = self._name_counts.get(key, 1)
            while f"{full}_{n}".lower() in self._used:
                n += 1
            cand = f"{full}_{n}"
            if mark_used:
                self._name_counts[key] = n + 1
        if mark_used:
            self._used.add(cand.lower())
        return cand

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """Prefix op names with ``name/``; a name ending in '/' is taken as is (re-enters a
        scope), ``None`` or '' resets to the top level."""
        old = self._scope
        if not name:
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            new = self.unique_name(name)
        self._scope = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._scope = old

    def get_name_scope(self) -> str:
        return self._scope

    # -- contents -------------------------------------------------------------------------------
    def _add(self, op: "Operation") -> None:
        self._ops.append(op)
        self._by_name[op.name] = op

    def get_operations(self) -> list["Operation"]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> "Operation":
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(f"the graph has no operation named {name!r}") from None

    def get_tensor_by_name(self, name: str) -> "Tensor":
        """The tensor ``"op_name:index"`` (TensorFlow's tensor naming)."""
        op_name, sep, idx = name.rpartition(":")
        if not sep or not idx.isdigit():
            raise ValueError(f"a tensor name has the form 'op_name:output_index', got {name!r} "
                             f"(use get_operation_by_name for operations)")
        op = self.get_operation_by_name(op_name)
        if int(idx) >= len(op.outputs):
            raise NotFoundError(f"operation {op_name!r} has {len(op.outputs)} output(s); "
                                f"there is no tensor {name!r}")
        return op.outputs[int(idx)]

    # -- collections ------------------------------------------------------------------------
    def add_to_collection(self, name: str, value) -> None:
        self._collections.setdefault(name, []).append(value)

    def get_collection(self, name: str, scope: str | None = None) -> list:
        items = list(self._collections.get(name, []))
        if scope is None:
            return items
        pat = re.compile(scope)
        return [x for x in items if getattr(x, "name", None) and pat.match(x.name)]

    def get_collection_ref(self, name: str) -> list:
        return self._collections.setdefault(name, [])

    # -- default graph ---------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self) -> Iterator["Graph"]:
        _graph_stack.append(self)
        try:
            yield self
        finally:
            _graph_stack.pop()

    def next_seed_id(self) -> int:
        """Per-op counter combined with the graph seed (so ops draw different streams)."""
        self._seed_counter += 1
        return self._seed_counter

    def __repr__(self) -> str:
        return f"<kiln graph-API Graph with {len(self._ops)} ops>"


_default_graph = Graph()
_graph_stack: list[Graph] = []


def get_default_graph() -> Graph:
    """The graph new ops go to: the innermost ``graph.as_default()``, else the global one."""
    return _graph_stack[-1] if _graph_stack else _default_graph


def reset_default_graph() -> None:
    """Replace the global default graph by an empty one (not inside ``as_default``)."""
    global _default_graph
    if _graph_stack:
        raise AssertionError("reset_default_graph() cannot be called inside a "
                             "`with graph.as_default():` block")
    _default_graph = Graph()


def name_scope(name: str | None, default_name: str | None = None, values=None):
    """``with name_scope("layer1"):`` prefixes the names of ops built inside."""
    graph = _graph_of(values) if values else get_default_graph()
    return graph.name_scope(name if name is not None else default_name)


def set_random_seed(seed: int) -> None:
    """Graph-level seed of the default graph: random ops built afterwards are reproducible."""
    get_default_graph().seed = None if seed is None else int(seed)


def add_to_collection(name: str, value) -> None:
    get_default_graph().add_to_collection(name, value)


def get_collection(name: str, scope: str | None = None) -> list:
    return get_default_graph().get_collection(name, scope)


# -- operations and tensors -------------------------------------------------------------------
class Operation:
    """One op in a :class:`Graph`: type, unique name, input tensors, outputs, lowering."""

    def __init__(self, graph: Graph, op_type: str, name: str, inputs: Sequence["Tensor"],
                 lower: Callable | None, control_inputs: Sequence["Operation"] = (),
                 attrs: dict | None = None, differentiable: bool = True):
        self.uid = next(_uid)
        self.graph = graph
        self.type = op_type
        self.name = name
        self.inputs = tuple(inputs)
        self.control_inputs = tuple(control_inputs)
        self.lower = lower
        self.attrs = dict(attrs or {})
        self.differentiable = differentiable
        self.outputs: list[Tensor] = []
        #: variables this op writes (assign ops, training ops, initializers)
        self.writes: tuple = ()
        self.site = user_site()

    @property
    def location(self) -> str:
        """Location label of the op's kiln nodes: its name and where the user built it."""
        return f"{self.name}@{self.site}" if self.site else self.name

    def describe(self) -> str:
        where = f" (built at {self.site})" if self.site else ""
        return f"op '{self.name}' ({self.type}){where}"

    def run(self, feed_dict=None, session=None) -> None:
        """Run this op in ``session`` (default: the default session)."""
        from frontend.graph.session import _session_for
        _session_for(session, f"operation {self.name!r}").run(self, feed_dict=feed_dict)

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


class Tensor:
    """A symbolic value: output ``value_index`` of ``op``, with a static dtype and a partly
    known static shape. Arithmetic operators build ops (``x @ w + b``)."""

    # numpy must defer to our reflected operators: np_array * tensor -> tensor.__rmul__
    __array_priority__ = 100
    __array_ufunc__ = None

    def __init__(self, op: Operation, value_index: int, dtype: _dt.DType, shape: TensorShape):
        self.uid = next(_uid)
        self.op = op
        self.value_index = value_index
        self.dtype = dtype
        self._shape = as_shape(shape)

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    def set_shape(self, shape) -> None:
        """Refine the static shape (must be compatible with what is known)."""
        shape = as_shape(shape)
        if not self._shape.is_compatible_with(shape):
            raise ValueError(f"set_shape: shape {shape} is incompatible with the known shape "
                             f"{self._shape} of tensor {self.name}")
        self._shape = self._shape.merge_with(shape)

    @property
    def ndim(self) -> int | None:
        return self._shape.ndims

    def eval(self, feed_dict=None, session=None):
        """The tensor's value in ``session`` (default: the default session)."""
        from frontend.graph.session import _session_for
        return _session_for(session, f"tensor {self.name!r}").run(self, feed_dict=feed_dict)

    def consumers(self) -> list[Operation]:
        return [op for op in self.graph._ops if any(t is self for t in op.inputs)]

    # TF1 semantics: tensors are hashable and == is identity (use tf.equal for values).
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        raise TypeError(f"using a symbolic tensor ({self.name}) as a Python bool is not allowed: "
                        f"its value exists only when a Session runs it (select values with "
                        f"tf.where, or fetch it with sess.run)")

    def __iter__(self):
        raise TypeError(f"tensor {self.name} is not iterable while the graph is built; index "
                        f"it (x[i]) or split it with tf.unstack")

    def __len__(self):
        raise TypeError(f"len() of symbolic tensor {self.name} is not defined; use "
                        f"tensor.shape[0] (static) or tf.shape(tensor)[0]")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"cannot convert symbolic tensor {self.name} to a numpy array; run it "
                        f"in a Session to get its value")

    def __repr__(self) -> str:
        return f"<tf.Tensor '{self.name}' shape={self._shape} dtype={self.dtype.name}>"


def _graph_of(values, default: Graph | None = None) -> Graph:
    """The one graph that the tensors/ops in ``values`` belong to."""
    graph = None
    first = None
    for v in values:
        g = v.graph if isinstance(v, (Tensor, Operation)) else None
        if g is None:
            continue
        if graph is None:
            graph, first = g, v
        elif g is not graph:
            raise ValueError(f"{v!r} must be from the same graph as {first!r}")
    return graph if graph is not None else (default or get_default_graph())


# -- building ops --------------------------------------------------------------------------------
def make_op(op_type: str, inputs: Sequence[Tensor], lower: Callable | None, *,
            name: str | None = None, num_outputs: int = 1, specs=None,
            dtypes: Sequence[_dt.DType] | None = None, differentiable: bool = True,
            control_inputs: Sequence[Operation] = (), attrs: dict | None = None,
            graph: Graph | None = None) -> Operation:
    """Append an operation and create its outputs.

    ``lower(ctx, *values)`` builds the op in kiln (see the module docstring). ``specs`` (a
    list of ``(shape, dtype)``) states the outputs' static types; without it they are
    inferred by probing ``lower``, and ``dtypes`` is the fallback when that is impossible.
    """
    inputs = list(inputs)
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op_type}: expected tensors as inputs, got {type(t).__name__}")
    graph = graph or _graph_of(inputs + list(control_inputs))
    op_name = graph.unique_name(name or op_type)
    if specs is None:
        specs = _infer_specs(op_type, op_name, lower, inputs, num_outputs, dtypes)
    op = Operation(graph, op_type, op_name, inputs, lower, control_inputs, attrs, differentiable)
    op.outputs = [Tensor(op, i, _dt.as_dtype(dt), as_shape(shape))
                  for i, (shape, dt) in enumerate(specs)]
    graph._add(op)
    return op


def make_tensor(op_type: str, inputs: Sequence[Tensor], lower: Callable, **kwargs) -> Tensor:
    """:func:`make_op` for the common single-output case; returns the output tensor."""
    return make_op(op_type, inputs, lower, **kwargs).outputs[0]


class _ProbeContext(LowerContext):
    """Lowering context of the static-shape probes: a scratch graph, nothing persistent."""

    def __init__(self):
        super().__init__(GraphBuilder(name="probe"))
        self._step = None

    def rng_step(self) -> Value:
        if self._step is None:
            self._step = self.b.param("rng_step", (), "i64")
        return self._step


_PROBES = (7919, 7933)  # unknown dims become these primes (unlikely to collide with real sizes)


def _probe(lower: Callable, inputs: Sequence[Tensor], size: int | None):
    ctx = _ProbeContext()
    vals = [ctx.b.input(f"in{i}", tuple(size if d is None else d for d in t.shape.dims),
                        t.dtype.kiln) for i, t in enumerate(inputs)]
    return [(v.shape, v.dtype) for v in as_values(lower(ctx, *vals))]


def as_values(out) -> tuple:
    """A lowering result (None, one value or a sequence) as a tuple of values."""
    if out is None:
        return ()
    if isinstance(out, Value):
        return (out,)
    return tuple(out)


def _infer_specs(op_type, op_name, lower, inputs, num_outputs, dtypes):
    def unknown():
        dts = dtypes if dtypes is not None else [inputs[0].dtype] * num_outputs
        return [(TensorShape(None), dt) for dt in dts]

    if lower is None:
        return unknown()
    if all(t.shape.is_fully_defined() for t in inputs):
        try:
            return _probe(lower, inputs, None)
        except NotStatic:
            return unknown()
        except (KilnOpError, InvalidArgumentError) as e:
            raise InvalidArgumentError(f"{op_type} (op '{op_name}'): {_strip(e)}") from None
    if any(t.shape.dims is None for t in inputs):
        return unknown()
    try:
        a = _probe(lower, inputs, _PROBES[0])
        b = _probe(lower, inputs, _PROBES[1])
    except (KilnError, NotStatic, ValueError):
        return unknown()
    out = []
    for (sa, da), (sb, _) in zip(a, b):
        if len(sa) != len(sb):
            out.append((TensorShape(None), da))
        else:
            out.append((TensorShape([x if x == y else None for x, y in zip(sa, sb)]), da))
    return out


def _strip(e: Exception) -> str:
    """An error message without the builder's '[built at probe...]' suffix."""
    return re.sub(r" \[built at [^\]]*\]$", "", str(e))


# -- conversion of Python values -----------------------------------------------------------------
def _numpy_value(value, dtype: _dt.DType | None, what: str) -> np.ndarray:
    """``value`` as a numpy array of ``dtype`` (or of TensorFlow's default dtype for it)."""
    from_numpy = isinstance(value, (np.ndarray, np.generic))
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{what}: cannot convert {value!r} to a tensor ({e})") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{what}: expected numbers or bools, got {arr.dtype} data "
                        f"({type(value).__name__})")
    if dtype is None:
        if from_numpy:
            dtype = _widened(arr)  # numpy data keeps its dtype (float64 stays float64)
        elif kind == "f":
            dtype = _dt.float32  # Python floats are float32, as in TensorFlow
        elif kind in "iu":
            dtype = _dt.int32 if _fits_int32(arr) else _dt.int64
        else:
            dtype = _dt.bool_
    target = np.dtype(dtype.as_numpy_dtype)
    if dtype.is_bool and kind != "b":
        raise TypeError(f"{what}: expected bool values, got {arr.dtype} data")
    if not dtype.is_bool and kind == "b":
        raise TypeError(f"{what}: expected {dtype.name} values, got bools")
    if dtype.is_integer:
        if kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise TypeError(f"{what}: expected {dtype.name} values, got non-integer floats "
                            f"({arr.dtype})")
        info = np.iinfo(target)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise TypeError(f"{what}: values out of range for {dtype.name} "
                            f"[{info.min}, {info.max}]")
    return np.array(arr, dtype=target, copy=True)


def _fits_int32(arr: np.ndarray) -> bool:
    return arr.size == 0 or (int(arr.min()) >= -2**31 and int(arr.max()) < 2**31)


def _widened(arr: np.ndarray) -> _dt.DType:
    """The kiln dtype of numpy data: its own, or the narrowest wider one kiln has (kiln has
    no 8/16-bit or unsigned types; widening is lossless, and uint64 is range-checked)."""
    d = arr.dtype
    if d.kind == "f":
        return _dt.float64 if d.itemsize > 4 else _dt.float32
    if d.kind == "b":
        return _dt.bool_
    if d.kind == "i":
        return _dt.int64 if d.itemsize > 4 else _dt.int32
    return _dt.int64 if d.itemsize >= 4 else _dt.int32  # unsigned


def convert_to_tensor(value, dtype=None, name: str | None = None, preferred_dtype=None,
                      dtype_hint=None) -> Tensor:
    """A tensor from a tensor (returned as is), a Python number/list, or a numpy array.

    Python floats become float32 and ints int32 (TensorFlow's defaults); numpy data keeps its
    dtype, widened where kiln lacks it (uint8 -> int32, float16 -> float32). A list holding
    tensors is stacked. With ``dtype`` the result must have that dtype.
    """
    want = None if dtype is None else _dt.as_dtype(dtype)
    if isinstance(value, Tensor):
        if want is not None and value.dtype != want:
            raise TypeError(f"tensor conversion requested dtype {want.name} for tensor "
                            f"{value.name} of dtype {value.dtype.name} (use tf.cast)")
        return value
    if value is None or (isinstance(value, (list, tuple)) and _holds_none(value)):
        raise TypeError(f"cannot convert None to a tensor{f' ({name})' if name else ''}; note "
                        f"that tf.gradients returns None for xs the ys do not depend on")
    if isinstance(value, (list, tuple)) and _holds_tensor(value):
        from frontend.graph.array_ops import stack
        return stack(list(value), name=name or "packed", dtype=want)
    hint = want or (None if (dtype_hint or preferred_dtype) is None
                    else _dt.as_dtype(dtype_hint or preferred_dtype))
    try:
        arr = _numpy_value(value, hint, name or "constant")
    except TypeError:
        if want is not None or hint is None:
            raise
        arr = _numpy_value(value, None, name or "constant")  # a hint is only a preference
    return constant(arr, name=name or "Const")


def _holds_none(seq) -> bool:
    return any(x is None or (isinstance(x, (list, tuple)) and _holds_none(x)) for x in seq)


def _holds_tensor(seq) -> bool:
    return any(isinstance(x, Tensor) or (isinstance(x, (list, tuple)) and _holds_tensor(x))
               for x in seq)


def constant(value, dtype=None, shape=None, name: str = "Const") -> Tensor:
    """A constant tensor. With ``shape``, a scalar is filled in (splat) and an array of the
    same number of elements is reshaped, as in TensorFlow."""
    want = None if dtype is None else _dt.as_dtype(dtype)
    if isinstance(value, Tensor):
        raise TypeError(f"constant: expected a Python or numpy value, got tensor {value.name}")
    arr = _numpy_value(value, want, name)
    dt = _dt.as_dtype(arr.dtype)
    if shape is not None:
        shape = tuple(as_shape(shape).as_list())
        if any(d is None for d in shape):
            raise ValueError(f"constant: shape must be fully defined, got {list(shape)}")
        if arr.size == 1 and arr.ndim <= 1 and int(np.prod(shape)) != 1:
            scalar = arr.reshape(()).item()
            return make_tensor("Const", [], lambda ctx: ctx.b.constant(scalar, dtype=dt.kiln,
                                                                       shape=shape),
                               name=name, specs=[(shape, dt)], attrs={"value": scalar})
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"constant: {arr.size} value(s) cannot fill shape {list(shape)}")
        arr = arr.reshape(shape)
    arr.setflags(write=False)
    if arr.ndim == 0:
        scalar = arr.item()
        return make_tensor("Const", [], lambda ctx: ctx.b.constant(scalar, dtype=dt.kiln),
                           name=name, specs=[((), dt)], attrs={"value": scalar})
    return make_tensor("Const", [], lambda ctx: ctx.b.constant(arr, dtype=dt.kiln),
                       name=name, specs=[(arr.shape, dt)], attrs={"value": arr})
