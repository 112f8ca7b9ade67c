"""Algebraic simplification: local identities, each a small named rule in :data:`RULES`.

A rule looks at one node (and the producers of its operands) and returns what the node's
result should become: an existing value of the same type (``x * 1 -> x``), or a
:class:`Rewrite` that turns the node into another op in place (``transpose(transpose(x))
-> transpose(x)``). The sweep applies it only if the result type stays exactly the
declared one; a rule never changes a type. Where an identity's natural result has a
smaller shape than the node's (``x * ones`` with ``ones`` broadcasting ``x``), the result
is ``broadcast_to(x)``.

Floating-point policy
---------------------
A rule is applied to float values only if it gives the same value for *every* input,
inf and NaN included, with one deliberate exception: the sign of a zero result may change
(``x + 0 -> x`` turns ``-0.0 + 0.0 = +0.0`` into ``-0.0``; ``sum`` over a size-1 axis
likewise). The two zeros compare equal and only ``1/x``-style uses can tell them apart;
XLA makes the same choice for ``x + 0``. Rewrites that change NaN/inf results or rounding
are not applied; :data:`NOT_APPLIED` lists them with the reason, as the other half of the
spec. Integer rules are exact including wrap-around.

Patterns from gradient graphs
-----------------------------
The rules target what autodiff actually emits (see the MLP and RNN tests):
``mul(seed, 1/n)`` followed by the reshape/broadcast chain of a reduction's VJP (folded
when small; when big, ``scalarize_splat_operand`` makes the cotangent's ``mul`` read the
scalar directly and the chain dies); ``transpose(reshape(v, [1, n]))`` from the VJP of a
batch-1 matmul inside RNN bodies (``transpose_as_reshape`` then ``reshape_chain``);
``x * 1.0`` in user code; ``neg`` from ``sub``'s VJP meeting the fan-out ``add``
(``add_neg``); and duplicate zero constants from ``where``/``relu`` VJPs (CSE).
"""
from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Union

from compiler.ir import dtypes
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.types import TensorType
from compiler.ops._util import norm_axes
from compiler.passes.simplify._rewrite import (Sweep, checked_attrs, is_splat_of,
                                               run_on_all_graphs, splat_value)
from compiler.passes.simplify.fold import MAX_FOLD_ELEMENTS


@dataclass(frozen=True)
class Rewrite:
    """Turn the matched node into ``op(inputs) {attrs}`` in place (same results, same loc)."""

    op: str
    inputs: tuple[Value, ...]
    attrs: dict = field(default_factory=dict)


Outcome = Union[Value, Rewrite, None]


@dataclass(frozen=True)
class Rule:
    """A named identity: ``fn(node, sweep)`` returns the node's replacement or None."""

    name: str
    ops: tuple[str, ...]
    fn: Callable[[Node, Sweep], Outcome]
    doc: str


RULES: list[Rule] = []


def rule(name: str, *ops: str):
    """Register the decorated function as rule ``name`` for nodes of ``ops``."""
    def register(fn: Callable[[Node, Sweep], Outcome]):
        RULES.append(Rule(name, ops, fn, inspect.getdoc(fn) or ""))
        return fn
    return register


# Identities considered and deliberately not applied, with the reason.
NOT_APPLIED: dict[str, str] = {
    "x * 0 -> 0 (floats)": "inf * 0 and nan * 0 are NaN, and -3.0 * 0 is -0.0",
    "x - x -> 0 (floats)": "inf - inf and nan - nan are NaN (XLA and JAX keep it too)",
    "x / x -> 1": "0/0, inf/inf and nan/nan are NaN (and div is float-only)",
    "exp(log(x)) -> x": "log of a negative x is NaN, so the result would change from NaN "
                        "to x; in range, the two roundings do not give back x exactly",
    "log(exp(x)) -> x": "exp overflows to inf above ~88.7 in f32 (log(inf) = inf, not x) "
                        "and underflows to 0 below ~-103 (log(0) = -inf); in range it rounds",
    "cast(cast(x)) -> cast(x)": "the inner cast can lose information (f64 -> f32 rounds, "
                                "f32 -> i32 truncates, anything -> bool collapses)",
    "(x * c1) * c2 -> x * (c1 * c2), (x + c1) + c2 -> x + (c1 + c2)":
        "float arithmetic is not associative: the last bits change and intermediate "
        "overflow differs",
    "sum(broadcast_to(x)) -> x * n": "n additions and one multiplication round differently",
    "stop_gradient(x) -> x": "autodiff needs it to end the walk; strip_stop_gradient removes "
                             "it after autodiff, as a separate pass",
    "f(broadcast_to(x)) -> broadcast_to(f(x)) for unary f": "a broadcast is a view in "
        "compiled code, read by the fused elementwise kernel through index arithmetic; "
        "fusion, not simplify, decides where it goes",
}

_RESHAPES = ("reshape", "expand_dims", "squeeze")
_REDUCTIONS = ("sum", "mean", "max", "min")
# Elementwise ops with several operands that broadcast them implicitly (numpy rules).
_BROADCASTING = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "equal",
                 "not_equal", "less", "less_equal", "greater", "greater_equal",
                 "logical_and", "logical_or", "where")
_MAX_REWRITES_PER_NODE = 8


def simplify_algebra(graph: Graph, stats: Counter | None = None) -> Graph:
    """Apply the identities of :data:`RULES` to every node (scan bodies included). Rewrites
    ``graph`` in place and returns it; ``stats``, if given, counts applications per rule
    name. Replaced nodes are dropped; nodes left without readers are :func:`dce`'s job."""
    run_on_all_graphs(graph, lambda g: _simplify_graph(g, stats))
    return graph


def _simplify_graph(g: Graph, stats: Counter | None) -> int:
    sweep = Sweep(g, stats)
    for node in sweep:
        # A node rewritten in place may match another rule as its new op (e.g. a reshape
        # chain collapsing to a reshape to the same shape); the bound guards against a
        # pair of rules undoing each other.
        for _ in range(_MAX_REWRITES_PER_NODE):
            if len(node.outputs) != 1 or not _apply_first(node, sweep):
                break
            if sweep.resolve(node.output) is not node.output:
                break  # replaced by another value: nothing left to rewrite here
    return sweep.finish()


def _apply_first(node: Node, sweep: Sweep) -> bool:
    for r in _RULES_BY_OP.get(node.op, ()):
        mark = sweep.mark()
        outcome = r.fn(node, sweep)
        if outcome is None:
            sweep.rollback(mark)
            continue
        if isinstance(outcome, Value):
            done = sweep.replace(node.output, outcome, r.name)
        else:
            done = sweep.mutate(node, outcome.op, list(outcome.inputs), outcome.attrs, r.name)
        if done:
            return True
        sweep.rollback(mark)
    return False


# -- helpers for rules ------------------------------------------------------------------
def _producer(v: Value, *ops: str) -> Node | None:
    p = v.producer
    return p if p is not None and p.op in ops and len(p.outputs) == 1 else None


def _broadcastable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    return len(shape) <= len(to) and all(
        d == t or d == 1 for d, t in zip(reversed(shape), reversed(to)))


def as_result(v: Value, out: Value) -> Outcome:
    """``v`` as the node's result: itself if the types match, else ``broadcast_to(v)``."""
    if v.type == out.type:
        return v
    if v.dtype == out.dtype and _broadcastable(v.shape, out.shape):
        return Rewrite("broadcast_to", (v,), {"shape": out.shape})
    return None


def _zeros(sweep: Sweep, t: TensorType) -> Value:
    """A zero-filled value of type ``t``: a splat constant, or a broadcast scalar when big
    (the same size rule as constant folding)."""
    zero = 0.0 if dtypes.is_float(t.dtype) else (False if t.dtype == "bool" else 0)
    if t.size <= MAX_FOLD_ELEMENTS:
        return sweep.emit("constant", [], {"value": zero, "shape": t.shape, "dtype": t.dtype})
    scalar = sweep.emit("constant", [], {"value": zero, "shape": (), "dtype": t.dtype})
    return sweep.emit("broadcast_to", [scalar], {"shape": t.shape})


def _perm(node: Node) -> tuple[int, ...]:
    perm = node.attrs["perm"]
    return tuple(perm) if perm is not None else tuple(reversed(range(node.inputs[0].rank)))


# -- arithmetic identities -----------------------------------------------------------------
@rule("mul_one", "mul")
def _mul_one(node: Node, sweep: Sweep) -> Outcome:
    """x * 1 -> x and 1 * x -> x: exact for every dtype and value (inf and NaN too)."""
    x, y = node.inputs
    if is_splat_of(y, 1):
        return as_result(x, node.output)
    if is_splat_of(x, 1):
        return as_result(y, node.output)
    return None


@rule("mul_zero_int", "mul")
def _mul_zero_int(node: Node, sweep: Sweep) -> Outcome:
    """x * 0 -> 0 for integer dtypes only (for floats inf * 0 is NaN and -x * 0 is -0.0)."""
    if not dtypes.is_int(node.output.dtype):
        return None
    for z in node.inputs:
        if is_splat_of(z, 0):
            return as_result(z, node.output)
    return None


@rule("mul_minus_one", "mul")
def _mul_minus_one(node: Node, sweep: Sweep) -> Outcome:
    """x * -1 -> neg(x): exact (floats: the same sign flip; ints: the same wrap-around)."""
    x, y = node.inputs
    for v, c in ((x, y), (y, x)):
        if is_splat_of(c, -1) and v.type == node.output.type:
            return Rewrite("neg", (v,))
    return None


@rule("div_one", "div")
def _div_one(node: Node, sweep: Sweep) -> Outcome:
    """x / 1 -> x: exact for every value."""
    x, y = node.inputs
    return as_result(x, node.output) if is_splat_of(y, 1) else None


@rule("add_zero", "add")
def _add_zero(node: Node, sweep: Sweep) -> Outcome:
    """x + 0 -> x and 0 + x -> x (floats: only the sign of a zero result may change)."""
    x, y = node.inputs
    if is_splat_of(y, 0):
        return as_result(x, node.output)
    if is_splat_of(x, 0):
        return as_result(y, node.output)
    return None


@rule("sub_zero", "sub")
def _sub_zero(node: Node, sweep: Sweep) -> Outcome:
    """x - 0 -> x (exact for x - (+0); x - (-0.0) may only change the sign of a zero)."""
    x, y = node.inputs
    return as_result(x, node.output) if is_splat_of(y, 0) else None


@rule("zero_sub", "sub")
def _zero_sub(node: Node, sweep: Sweep) -> Outcome:
    """0 - x -> neg(x) (floats: 0 - 0.0 is +0.0 where neg gives -0.0; nothing else changes)."""
    x, y = node.inputs
    if is_splat_of(x, 0) and y.type == node.output.type:
        return Rewrite("neg", (y,))
    return None


@rule("sub_self_int", "sub")
def _sub_self_int(node: Node, sweep: Sweep) -> Outcome:
    """x - x -> 0 for integer dtypes only (for floats inf - inf and nan - nan are NaN)."""
    x, y = node.inputs
    if x is y and dtypes.is_int(node.output.dtype):
        return _zeros(sweep, node.output.type)
    return None


@rule("add_neg", "add")
def _add_neg(node: Node, sweep: Sweep) -> Outcome:
    """x + neg(y) -> x - y and neg(y) + x -> x - y: IEEE defines x - y as x + (-y)."""
    x, y = node.inputs
    if (n := _producer(y, "neg")) is not None:
        return Rewrite("sub", (x, n.inputs[0]))
    if (n := _producer(x, "neg")) is not None:
        return Rewrite("sub", (y, n.inputs[0]))
    return None


@rule("sub_neg", "sub")
def _sub_neg(node: Node, sweep: Sweep) -> Outcome:
    """x - neg(y) -> x + y: exact (x - (-y) is x + y by definition)."""
    x, y = node.inputs
    n = _producer(y, "neg")
    return Rewrite("add", (x, n.inputs[0])) if n is not None else None


@rule("neg_neg", "neg")
def _neg_neg(node: Node, sweep: Sweep) -> Outcome:
    """neg(neg(x)) -> x: exact (integer negation wraps, and wrapping twice is the identity)."""
    n = _producer(node.inputs[0], "neg")
    return n.inputs[0] if n is not None else None


# -- selection, casts, stop_gradient --------------------------------------------------------
@rule("where_same", "where")
def _where_same(node: Node, sweep: Sweep) -> Outcome:
    """where(c, x, x) -> x (broadcast to the result shape if c made it bigger)."""
    _, x, y = node.inputs
    return as_result(x, node.output) if x is y else None


@rule("where_constant_condition", "where")
def _where_constant_condition(node: Node, sweep: Sweep) -> Outcome:
    """where(true, x, y) -> x and where(false, x, y) -> y for a splat condition."""
    c, x, y = node.inputs
    value = splat_value(c)
    if value is True:
        return as_result(x, node.output)
    if value is False:
        return as_result(y, node.output)
    return None


@rule("cast_same_dtype", "cast")
def _cast_same_dtype(node: Node, sweep: Sweep) -> Outcome:
    """cast(x) to x's own dtype -> x."""
    x = node.inputs[0]
    return x if node.attrs["dtype"] == x.dtype else None


@rule("stop_gradient_twice", "stop_gradient")
def _stop_gradient_twice(node: Node, sweep: Sweep) -> Outcome:
    """stop_gradient(stop_gradient(x)) -> stop_gradient(x) (one is kept: autodiff needs it)."""
    inner = _producer(node.inputs[0], "stop_gradient")
    return inner.output if inner is not None else None


# -- shape identities ---------------------------------------------------------------------
@rule("transpose_identity", "transpose")
def _transpose_identity(node: Node, sweep: Sweep) -> Outcome:
    """transpose(x) by the identity permutation -> x."""
    perm = _perm(node)
    return node.inputs[0] if perm == tuple(range(len(perm))) else None


@rule("transpose_transpose", "transpose")
def _transpose_transpose(node: Node, sweep: Sweep) -> Outcome:
    """transpose(transpose(x, p), q) -> transpose(x, p[q]) (x itself for the identity).

    Result axis i is the inner result's axis q[i], which is x's axis p[q[i]].
    """
    inner = _producer(node.inputs[0], "transpose")
    if inner is None:
        return None
    p, q = _perm(inner), _perm(node)
    composed = tuple(p[i] for i in q)
    x = inner.inputs[0]
    if composed == tuple(range(len(composed))):
        return x
    return Rewrite("transpose", (x,), {"perm": composed})


@rule("transpose_as_reshape", "transpose")
def _transpose_as_reshape(node: Node, sweep: Sweep) -> Outcome:
    """A transpose that only moves size-1 axes -> reshape (the element order is unchanged,
    as in ``transpose(reshape(v, [1, n]))`` from the VJP of a batch-1 matmul), which the
    reshape rules can then merge with its neighbours."""
    x = node.inputs[0]
    moved = [p for p in _perm(node) if x.shape[p] != 1]
    if moved != sorted(moved):
        return None
    return Rewrite("reshape", (x,), {"shape": node.output.shape})


@rule("reshape_same_shape", *_RESHAPES)
def _reshape_same_shape(node: Node, sweep: Sweep) -> Outcome:
    """reshape / expand_dims / squeeze that leaves the shape as it is -> x."""
    x = node.inputs[0]
    return x if x.type == node.output.type else None


@rule("reshape_chain", *_RESHAPES)
def _reshape_chain(node: Node, sweep: Sweep) -> Outcome:
    """A reshape-like op (reshape, expand_dims, squeeze) of another -> one reshape of the
    original (x itself if the shapes match). All three keep row-major element order, so
    any chain of them is one reshape. (A transpose in between changes the order: such a
    chain is not one reshape and is left alone.)"""
    inner = _producer(node.inputs[0], *_RESHAPES)
    if inner is None:
        return None
    x = inner.inputs[0]
    if x.type == node.output.type:
        return x
    return Rewrite("reshape", (x,), {"shape": node.output.shape})


@rule("broadcast_same_shape", "broadcast_to")
def _broadcast_same_shape(node: Node, sweep: Sweep) -> Outcome:
    """broadcast_to(x) to x's own shape -> x."""
    x = node.inputs[0]
    return x if x.type == node.output.type else None


@rule("broadcast_chain", "broadcast_to")
def _broadcast_chain(node: Node, sweep: Sweep) -> Outcome:
    """broadcast_to(broadcast_to(x, s1), s2) -> broadcast_to(x, s2) (a size-1 axis of x
    stays size 1 or equal in s1, so x broadcasts to s2 the same way)."""
    inner = _producer(node.inputs[0], "broadcast_to")
    if inner is None:
        return None
    return Rewrite("broadcast_to", (inner.inputs[0],), {"shape": node.output.shape})


# -- reductions -------------------------------------------------------------------------------
@rule("reduce_unit_axes", *_REDUCTIONS)
def _reduce_unit_axes(node: Node, sweep: Sweep) -> Outcome:
    """sum / mean / max / min over no axes, or over axes of size 1 only -> x (or a reshape
    of x that drops those axes). Each output element is one input element (for sum and mean
    of a lone -0.0 numpy gives +0.0: only the sign of a zero changes)."""
    x = node.inputs[0]
    axes = norm_axes(node.op, node.attrs["axes"], x.rank)
    if any(x.shape[i] != 1 for i in axes):
        return None
    if x.type == node.output.type:
        return x
    return Rewrite("reshape", (x,), {"shape": node.output.shape})


# -- operand canonicalization (last: the identities above see the original operands) ---
@rule("scalarize_splat_operand", *_BROADCASTING)
def _scalarize_splat_operand(node: Node, sweep: Sweep) -> Outcome:
    """op(x, splat c) -> op(x, scalar c) when the other operands already give the result
    shape: the op broadcasts the scalar itself, and the splat's broadcast/reshape chain (or
    big constant) loses its reader. Exact: the same value meets every element."""
    for i, v in enumerate(node.inputs):
        if v.rank == 0:
            continue
        value = splat_value(v)
        if value is None:
            continue
        types = [u.type for u in node.inputs]
        types[i] = TensorType((), v.dtype)
        if checked_attrs(node.op, types, node.attrs, [node.output.type]) is None:
            continue
        scalar = sweep.emit("constant", [], {"value": value, "shape": (), "dtype": v.dtype})
        inputs = list(node.inputs)
        inputs[i] = scalar
        return Rewrite(node.op, tuple(inputs), node.attrs)
    return None


_RULES_BY_OP: dict[str, list[Rule]] = {}
for _r in RULES:
    for _op in _r.ops:
        _RULES_BY_OP.setdefault(_op, []).append(_r)
