"""Shared machinery of the simplify passes: one forward sweep that may rewrite nodes, and
questions about constants.

A :class:`Sweep` walks a graph's nodes once, in order. Before a node is shown to a pass
its operands are re-pointed at their replacements, so a pass always sees the final
values (chains collapse in one sweep, without an O(n) ``replace_all_uses`` per rewrite).
Every change goes through one of three doors, each of which checks types first and
refuses (returns False) rather than change a declared result type:

* :meth:`Sweep.replace`: readers of a value read another value of the same type instead
  (a node whose every result is replaced has no readers left and is dropped);
* :meth:`Sweep.mutate`: a node becomes another op in place; its results keep their
  names, types and readers, and the node keeps its ``loc``;
* :meth:`Sweep.emit`: a new helper node is placed just before the node being rewritten,
  with that node's ``loc``.

:meth:`Sweep.finish` writes the node list back and re-points the graph outputs.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterator

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.types import TensorType
from compiler.ops.registry import get_op

# Ops that only re-index their operand: a splat stays the same splat through them.
VIEW_OPS = frozenset({"broadcast_to", "reshape", "expand_dims", "squeeze", "transpose"})


class Sweep:
    """One in-order walk over ``graph.nodes`` that may rewrite them (see module doc)."""

    def __init__(self, graph: Graph, stats: Counter | None = None):
        self.graph = graph
        self.stats: Counter = stats if stats is not None else Counter()
        self.changes = 0
        self._nodes = list(graph.nodes)
        self._subst: dict[Value, Value] = {}
        self._before: dict[Node, list[Node]] = {}
        self._erased: set[Node] = set()
        self._current: Node | None = None

    # -- walking -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        for node in self._nodes:
            if self._subst:
                node.inputs = [self.resolve(v) for v in node.inputs]
            self._current = node
            yield node
        self._current = None

    def resolve(self, v: Value) -> Value:
        """The value that now stands for ``v``."""
        while v in self._subst:
            v = self._subst[v]
        return v

    # -- the three doors -------------------------------------------------------------------
    def replace(self, old: Value, new: Value, rule: str) -> bool:
        """Readers of ``old`` read ``new`` from now on; refused unless the types are equal."""
        new = self.resolve(new)
        if new is old or old.type != new.type:
            return False
        self._subst[old] = new
        node = old.producer
        if node is not None and all(v in self._subst for v in node.outputs):
            self._erased.add(node)
        self._count(rule)
        return True

    def mutate(self, node: Node, op: str, inputs: list[Value], attrs: dict, rule: str) -> bool:
        """Turn ``node`` into ``op(inputs) {attrs}`` in place, if its result types stay."""
        attrs = checked_attrs(op, [v.type for v in inputs], attrs,
                              [v.type for v in node.outputs])
        if attrs is None:
            return False
        node.op, node.inputs, node.attrs = op, list(inputs), attrs
        self._count(rule)
        return True

    def emit(self, op: str, inputs: list[Value], attrs: dict, hint: str | None = None) -> Value:
        """A new single-result node ``op(inputs) {attrs}`` placed before the current node."""
        opdef = get_op(op)
        attrs = opdef.check_attrs(attrs)
        types = opdef.infer_types([v.type for v in inputs], attrs)
        loc = self._current.loc if self._current is not None else None
        # add_node appends to graph.nodes; the node is taken back off and placed by finish()
        node = self.graph.add_node(op, inputs, attrs, types, names=[hint or op], loc=loc)
        self.graph.nodes.pop()
        self._before.setdefault(self._current, []).append(node)
        return node.output

    def mark(self) -> int:
        """A point to roll emitted-but-unused helper nodes back to (see :meth:`rollback`)."""
        return len(self._before.get(self._current, ()))

    def rollback(self, mark: int) -> None:
        pending = self._before.get(self._current)
        if pending is not None:
            del pending[mark:]

    def finish(self) -> int:
        """Write the rewritten node list back to the graph; returns the number of changes."""
        out: list[Node] = []
        for node in self._nodes:
            out.extend(self._before.get(node, ()))
            if node not in self._erased:
                out.append(node)
        self.graph.nodes = out
        if self._subst:
            self.graph.outputs = [self.resolve(v) for v in self.graph.outputs]
        return self.changes

    def _count(self, rule: str) -> None:
        self.changes += 1
        self.stats[rule] += 1


def checked_attrs(op: str, in_types: list[TensorType], attrs: dict,
                  out_types: list[TensorType]) -> dict | None:
    """``attrs`` canonicalized if ``op`` over ``in_types`` gives exactly ``out_types``."""
    opdef = get_op(op)
    try:
        attrs = opdef.check_attrs(attrs)
        if opdef.infer_types(in_types, attrs) != out_types:
            return None
    except OpError:
        return None
    return attrs


def run_on_all_graphs(graph: Graph, fn: Callable[[Graph], Any]) -> None:
    """Apply ``fn`` to every subgraph (scan bodies, innermost first), then to ``graph``.

    A body is rewritten in place: its argument and result types never change, so every
    scan that references it stays valid.
    """
    for sub in graph.subgraphs():
        fn(sub)
    fn(graph)


def count_nodes(graph: Graph) -> int:
    """Nodes of ``graph`` plus those of its subgraphs."""
    return len(graph.nodes) + sum(len(s.nodes) for s in graph.subgraphs())


# -- constants ------------------------------------------------------------------------------
def is_constant(v: Value) -> bool:
    return v.producer is not None and v.producer.op == "constant"


def constant_array(v: Value) -> np.ndarray:
    """The array a ``constant`` node's result holds (materialized for splats)."""
    return get_op("constant").evaluate([], v.producer.attrs)[0]


def _python_scalar(x: np.generic, dtype: str):
    """A numpy element as the Python scalar a ``constant`` splat attribute takes."""
    if dtype == "bool":
        return bool(x)
    if dtypes.is_int(dtype):
        return int(x)
    return float(x)


def uniform_value(arr: np.ndarray, dtype: str):
    """The one value every element of ``arr`` has (bitwise: -0.0 is not 0.0), else None.

    An empty array counts as a splat of zero.
    """
    if arr.size == 0:
        return _python_scalar(np.zeros((), dtypes.to_numpy(dtype))[()], dtype)
    flat = np.ascontiguousarray(arr).reshape(-1)
    raw = flat.view(np.uint8).reshape(flat.size, flat.itemsize)
    if not (raw == raw[0]).all():
        return None
    return _python_scalar(flat[0], dtype)


def constant_attrs(arr: np.ndarray, t: TensorType) -> dict:
    """Attributes of a ``constant`` of type ``t`` holding ``arr``: a splat when uniform."""
    value = uniform_value(arr, t.dtype)
    if value is None:
        value = np.array(arr, dtype=dtypes.to_numpy(t.dtype), copy=True)
    return {"value": value, "shape": t.shape, "dtype": t.dtype}


def splat_value(v: Value):
    """The scalar every element of ``v`` equals, if ``v`` is a constant splat (possibly seen
    through view ops such as ``broadcast_to`` or ``reshape``), else None."""
    while v.producer is not None and v.producer.op in VIEW_OPS:
        v = v.producer.inputs[0]
    if not is_constant(v):
        return None
    value = v.producer.attrs["value"]
    if isinstance(value, np.ndarray):
        return uniform_value(value, v.dtype)
    return value


def is_splat_of(v: Value, number: float) -> bool:
    """``v`` is a numeric (not bool) splat equal to ``number`` (0 matches -0.0 too)."""
    if v.dtype == "bool":
        return False
    s = splat_value(v)
    return s is not None and s == number
