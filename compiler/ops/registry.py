"""The op registry: every op of kiln is one :class:`OpDef`, registered once.

An OpDef holds everything about an op, in one place (JAX's primitives are the model):

* ``attrs``: the attribute schema (kind, default), checked and canonicalized on use;
* ``infer``: the shape and dtype rule, raising :class:`~compiler.errors.OpError` with a
  message that says expected versus got;
* ``impl``: the numpy reference semantics, used by the eager interpreter;
* ``vjp``: the gradient, written as graph ops through a builder, or
  :class:`NotDifferentiable` with the reason;
* ``family``: the kernel family it lowers through (see DESIGN.md), the hook for lowering.

``type_attrs`` names attributes that the result type already states (``reshape``'s
``shape``, ``cast``'s ``dtype``): the text form omits them and the parser takes them from
the ``: type`` annotation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import numbers
from typing import Any, Callable

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.types import TensorType

FAMILIES = ("elementwise", "reduction", "contraction", "window", "gather", "recurrence",
            "random", "shape", "constant")

_REQUIRED = object()


@dataclass(frozen=True)
class Attr:
    """One attribute's schema.

    kind: ``int``, ``float``, ``bool``, ``str``, ``ints`` (tuple of ints), ``shape``
    (tuple of non-negative ints), ``pads`` (tuple of int tuples), ``dtype``, ``graph``,
    ``scalar`` (number or bool) or ``value`` (scalar or numpy array).
    A default of ``None`` makes the attribute optional; no default makes it required.
    """

    kind: str
    default: Any = _REQUIRED
    choices: tuple | None = None

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class NotDifferentiable:
    """Marks an op without a gradient; ``reason`` is shown if autodiff reaches it."""

    reason: str


@dataclass
class OpDef:
    name: str
    family: str
    infer: Callable[[list[TensorType], dict], list[TensorType]]
    impl: Callable[[list[np.ndarray], dict, Any], list[np.ndarray] | np.ndarray]
    vjp: Callable | NotDifferentiable
    attrs: dict[str, Attr] = field(default_factory=dict)
    num_inputs: int | tuple[int, int | None] = 1
    type_attrs: tuple[str, ...] = ()
    doc: str = ""
    lowering: Any = None  # filled by the code generator's registration (kernel families)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"op {self.name}: unknown family {self.family!r}")

    # ------------------------------------------------------------------------------
    def check_arity(self, n: int) -> None:
        if isinstance(self.num_inputs, int):
            if n != self.num_inputs:
                raise OpError(f"{self.name}: expected {self.num_inputs} operand(s), got {n}")
        else:
            lo, hi = self.num_inputs
            if n < lo or (hi is not None and n > hi):
                want = f"at least {lo}" if hi is None else f"{lo} to {hi}"
                raise OpError(f"{self.name}: expected {want} operands, got {n}")

    def check_attrs(self, attrs: dict) -> dict:
        """Validate attributes against the schema; return them canonicalized, defaults filled."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            known = ", ".join(self.attrs) or "none"
            raise OpError(f"{self.name}: unknown attribute(s) {', '.join(sorted(unknown))}; "
                          f"known: {known}")
        out = {}
        for key, spec in self.attrs.items():
            if key in attrs and not (attrs[key] is None and spec.default is None):
                out[key] = _canonical(self.name, key, spec, attrs[key])
            elif spec.required:
                raise OpError(f"{self.name}: missing required attribute '{key}' ({spec.kind})")
            else:
                out[key] = spec.default
        return out

    def check_attr(self, key: str, value: Any) -> Any:
        """Validate and canonicalize one attribute value (the key must be in the schema)."""
        return _canonical(self.name, key, self.attrs[key], value)

    def infer_types(self, in_types: list[TensorType], attrs: dict) -> list[TensorType]:
        """Arity + attribute check + shape rule; returns the result types."""
        self.check_arity(len(in_types))
        return list(self.infer(in_types, attrs))

    def evaluate(self, inputs: list[np.ndarray], attrs: dict, ctx: Any = None) -> list[np.ndarray]:
        out = self.impl(inputs, attrs, ctx)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    @property
    def differentiable(self) -> bool:
        return not isinstance(self.vjp, NotDifferentiable)


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name!r} is registered twice")
    _REGISTRY[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise OpError(f"unknown op {name!r}") from None


def has_op(name: str) -> bool:
    return name in _REGISTRY


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)


# -- attribute canonicalization ----------------------------------------------------------
def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _canonical(op: str, key: str, spec: Attr, v: Any) -> Any:
    def bad(expected: str):
        return OpError(f"{op}: attribute '{key}' expects {expected}, got {v!r}")

    kind = spec.kind
    if kind == "int":
        if not _is_int(v):
            raise bad("an int")
        v = int(v)
    elif kind == "float":
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise bad("a number")
        v = float(v)
    elif kind == "bool":
        if not isinstance(v, (bool, np.bool_)):
            raise bad("true or false")
        v = bool(v)
    elif kind == "str":
        if not isinstance(v, str):
            raise bad("a string")
    elif kind in ("ints", "shape"):
        if _is_int(v):
            v = (v,)
        if not isinstance(v, (list, tuple)) or not all(_is_int(x) for x in v):
            raise bad("a list of ints")
        v = tuple(int(x) for x in v)
        if kind == "shape" and any(x < 0 for x in v):
            raise bad("a shape of non-negative ints")
    elif kind == "pads":
        if not isinstance(v, (list, tuple)) or not all(
                isinstance(p, (list, tuple)) and all(_is_int(x) for x in p) for p in v):
            raise bad("a list of int lists")
        v = tuple(tuple(int(x) for x in p) for p in v)
    elif kind == "dtype":
        if v not in dtypes.DTYPES:
            raise bad(f"a dtype ({', '.join(dtypes.DTYPES)})")
    elif kind == "graph":
        from compiler.ir.graph import Graph
        if not isinstance(v, Graph):
            raise bad("a graph")
    elif kind == "scalar":
        if isinstance(v, np.generic):
            v = v.item()
        if not isinstance(v, (bool, numbers.Real)):
            raise bad("a number or bool")
        v = bool(v) if isinstance(v, bool) else (int(v) if _is_int(v) else float(v))
    elif kind == "value":
        if isinstance(v, np.ndarray):
            if v.ndim == 0:
                v = v.item()
            else:
                dtypes.from_numpy(v.dtype)
                v = np.ascontiguousarray(v)
                v.setflags(write=False)
                return v
        return _canonical(op, key, Attr("scalar"), v)
    else:  # pragma: no cover - schema error in an op definition
        raise ValueError(f"op {op}: unknown attribute kind {kind!r}")
    if spec.choices is not None and v not in spec.choices:
        raise OpError(f"{op}: attribute '{key}' must be one of "
                      f"{', '.join(repr(c) for c in spec.choices)}, got {v!r}")
    return v
