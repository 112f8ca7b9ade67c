"""Scalar expressions: the body of a kernel, evaluated once per point of its iteration space.

An elementwise op lowers to a function from operand expressions to a result expression
(``OpDef.lowering``), written with the constructors here. Fusion composes those functions, so
a fused kernel's body is one expression tree (a DAG where a value is used twice: the code
generator emits each node once). Leaves are constants, loads of a buffer through a view, the
loop index along a dimension, and, inside contraction epilogues, the accumulator.

The scalar primitive set is deliberately small; every kernel-IR op has exactly one code
generator rule (compiler/llvm/codegen.py) that works both on scalars and on host-width
vectors. Semantics follow numpy: ``max``/``min`` propagate NaN, integer ``div`` is not
provided (the graph IR has no integer division), float to int ``cast`` truncates toward
zero.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from compiler.ir import dtypes

__all__ = ["Expr", "UNARY", "BINARY", "COMPARE", "const", "like", "load", "index", "acc",
           "unary", "binary", "compare", "select", "cast", "random_bits", "iter_nodes",
           "rewrite_leaves"]

#: unary primitives: result dtype is the operand's
UNARY = ("neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "tanh",
         "sigmoid", "erf", "softplus", "floor", "not")
#: binary primitives on equal dtypes; result dtype is the operands'
BINARY = ("add", "sub", "mul", "div", "pow", "max", "min", "and", "or")
#: comparisons: result bool
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")

_FLOAT_ONLY = {"exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "tanh", "sigmoid", "erf",
               "softplus", "floor", "div", "pow"}
_BOOL_ONLY = {"not", "and", "or"}


class Expr:
    """A node of a scalar expression tree. Immutable; identity is the object (see module doc).

    ``op`` is one of: ``const`` (``value``), ``load`` (``buffer``, ``view``), ``index``
    (``value`` = dimension), ``acc`` (the contraction accumulator), ``cast``, ``select``,
    ``random`` (``value`` = (kind, seed)), or a name from UNARY / BINARY / COMPARE.
    """

    __slots__ = ("op", "args", "dtype", "value", "buffer", "view")

    def __init__(self, op: str, args: Sequence["Expr"], dtype: str, value=None, buffer=None,
                 view=None):
        self.op = op
        self.args = tuple(args)
        self.dtype = dtype
        self.value = value
        self.buffer = buffer
        self.view = view

    def __repr__(self) -> str:
        return f"Expr({self.op}, {self.dtype})"


def const(value: float | int | bool, dtype: str) -> Expr:
    """A constant of ``dtype`` (the value is converted as numpy would store it)."""
    if dtype == "bool":
        value = bool(value)
    elif dtypes.is_int(dtype):
        value = int(value)
    else:
        value = float(value)
    return Expr("const", (), dtype, value=value)


def like(x: Expr, value: float | int | bool) -> Expr:
    """A constant with ``x``'s dtype."""
    return const(value, x.dtype)


def load(buffer, view, dtype: str) -> Expr:
    """Read ``buffer`` through ``view`` (a :class:`compiler.kernels.view.View`)."""
    return Expr("load", (), dtype, buffer=buffer, view=view)


def index(dim: int, dtype: str = "i64") -> Expr:
    """The loop index along dimension ``dim`` of the kernel's iteration space."""
    return Expr("index", (), dtype, value=dim)


def acc(dtype: str) -> Expr:
    """The accumulated value of a contraction, in its epilogue."""
    return Expr("acc", (), dtype)


def _check(op: str, args: Sequence[Expr]) -> None:
    d = args[0].dtype
    if any(a.dtype != d for a in args):
        raise TypeError(f"kernel expr {op}: operand dtypes differ: "
                        f"{', '.join(a.dtype for a in args)}")
    if op in _FLOAT_ONLY and not dtypes.is_float(d):
        raise TypeError(f"kernel expr {op}: needs a float operand, got {d}")
    if op in _BOOL_ONLY and d != "bool":
        raise TypeError(f"kernel expr {op}: needs bool operands, got {d}")


def unary(op: str, x: Expr) -> Expr:
    if op not in UNARY:
        raise ValueError(f"unknown unary kernel op {op!r}")
    _check(op, [x])
    return Expr(op, (x,), x.dtype)


def binary(op: str, x: Expr, y: Expr) -> Expr:
    if op not in BINARY:
        raise ValueError(f"unknown binary kernel op {op!r}")
    _check(op, [x, y])
    return Expr(op, (x, y), x.dtype)


def compare(op: str, x: Expr, y: Expr) -> Expr:
    if op not in COMPARE:
        raise ValueError(f"unknown comparison {op!r}")
    _check(op, [x, y])
    return Expr(op, (x, y), "bool")


def select(c: Expr, x: Expr, y: Expr) -> Expr:
    if c.dtype != "bool":
        raise TypeError(f"kernel expr select: condition must be bool, got {c.dtype}")
    _check("select", [x, y])
    return Expr("select", (c, x, y), x.dtype)


def cast(x: Expr, dtype: str) -> Expr:
    if x.dtype == dtype:
        return x
    return Expr("cast", (x,), dtype)


def random_bits(kind: str, params: tuple, counter: Expr, index: Expr, dtype: str) -> Expr:
    """Element ``index`` (row-major, i64) of random_uniform/random_normal (``kind``) for the
    step ``counter`` (i64); ``params`` = (seed, minval, maxval) or (seed, mean, stddev)."""
    if counter.dtype != "i64" or index.dtype != "i64":
        raise TypeError("kernel expr random: counter and index must be i64")
    return Expr("random", (counter, index), dtype, value=(kind,) + tuple(params))


def iter_nodes(roots: Sequence[Expr]) -> list[Expr]:
    """Every node reachable from ``roots`` once, operands before users (post-order)."""
    seen: set[int] = set()
    order: list[Expr] = []
    stack: list[tuple[Expr, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        e, expanded = stack.pop()
        if id(e) in seen:
            continue
        if expanded or not e.args:
            seen.add(id(e))
            order.append(e)
            continue
        stack.append((e, True))
        for a in reversed(e.args):
            if id(a) not in seen:
                stack.append((a, False))
    return order


def rewrite_leaves(roots: Sequence[Expr], leaf: Callable[[Expr], "Expr | None"]
                   ) -> list[Expr] | None:
    """``roots`` with every leaf replaced by ``leaf(e)``; a node shared within or across the
    roots stays shared (the code generator computes it once). None as soon as ``leaf``
    returns None (the rewrite is impossible)."""
    done: dict[int, Expr] = {}
    for e in iter_nodes(roots):
        if not e.args:
            new = leaf(e)
            if new is None:
                return None
        else:
            args = tuple(done[id(a)] for a in e.args)
            new = e if all(a is b for a, b in zip(args, e.args)) else \
                Expr(e.op, args, e.dtype, value=e.value, buffer=e.buffer, view=e.view)
        done[id(e)] = new
    return [done[id(r)] for r in roots]


# -- small helpers op lowerings use --------------------------------------------------------------
def fn(op: str) -> Callable[..., Expr]:
    """The constructor for primitive ``op`` as a function of its operands."""
    if op in UNARY:
        return lambda x: unary(op, x)
    if op in BINARY:
        return lambda x, y: binary(op, x, y)
    if op in COMPARE:
        return lambda x, y: compare(op, x, y)
    raise ValueError(f"unknown kernel op {op!r}")


SQRT1_2 = 1.0 / math.sqrt(2.0)


def pointwise(f: Callable[..., Expr] | None):
    """An ``OpDef.lowering`` for an elementwise op from ``f(*operand exprs, **attrs)``.

    Operands are read in the result's index space (numpy broadcasting becomes index
    arithmetic). ``None`` stays None (an op without an elementwise lowering).
    """
    if f is None:
        return None

    def lowering(ctx) -> Expr:
        return f(*ctx.operands(), **ctx.node.attrs)

    lowering.__doc__ = f.__doc__
    return lowering
