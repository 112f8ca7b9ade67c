"""Reverse-mode differentiation as a graph-to-graph transformation.

:func:`gradients` appends to a graph the nodes that compute d(loss)/d(wrt) for a scalar
loss: it walks the nodes between ``wrt`` and the loss in reverse order, asks each op's VJP
rule for the cotangents of its operands (as new graph ops), and sums cotangents of values
read by several nodes (fan-out). Only float values carry cotangents: integer and boolean
values, and ``stop_gradient``, end the walk. Broadcasting is undone inside the VJP rules
(summation back to the operand shape). The result is an ordinary graph: it prints,
verifies and runs in the eager interpreter like any other.
"""
from __future__ import annotations

from typing import Sequence

import networkx as nx

from compiler.builder import GraphBuilder
from compiler.errors import DifferentiationError
from compiler.ir import dtypes
from compiler.ir.graph import Graph, Node, Value
from compiler.ops.registry import NotDifferentiable, get_op


def _sum_all(b: GraphBuilder, parts: list[Value]) -> Value:
    total = parts[0]
    for p in parts[1:]:
        total = b.add(total, p)
    return total


def backprop(b: GraphBuilder, outputs: Sequence[Value], cotangents: Sequence[Value | None],
             wrt: Sequence[Value]) -> list[Value | None]:
    """Cotangents of ``wrt`` given cotangents of ``outputs``, built into ``b``'s graph.

    Returns None for a ``wrt`` value that no differentiable path connects to the outputs.
    """
    g = b.graph
    start = len(g.nodes)
    nxg = g.to_networkx()
    for v in list(outputs) + list(wrt):
        if v not in nxg:
            raise DifferentiationError(f"value %{v.name} is not in graph @{g.name}")
    # Nodes on a path from some wrt value to some output value.
    upstream: set = set()
    for v in outputs:
        upstream.add(v)
        upstream |= nx.ancestors(nxg, v)
    downstream: set = set()
    for v in wrt:
        downstream.add(v)
        downstream |= nx.descendants(nxg, v)
    on_path = upstream & downstream
    nodes = [n for n in g.nodes if n in on_path]

    contributions: dict[Value, list[Value]] = {}
    for v, ct in zip(outputs, cotangents):
        if ct is not None and v in on_path:
            contributions.setdefault(v, []).append(ct)

    for node in reversed(nodes):
        cts = [_collect(b, contributions, v) for v in node.outputs]
        if all(c is None for c in cts):
            continue
        needs = [v in on_path and dtypes.is_float(v.dtype) for v in node.inputs]
        if not any(needs):
            continue
        opdef = get_op(node.op)
        if isinstance(opdef.vjp, NotDifferentiable):
            raise DifferentiationError(f"cannot differentiate through {node.describe()}: "
                                       f"{opdef.vjp.reason}")
        label = f"{node.loc}/grad" if node.loc else "grad"
        with b.location(label):
            in_cts = opdef.vjp(b, node, cts)
        if len(in_cts) != len(node.inputs):
            raise DifferentiationError(f"VJP of {node.op} returned {len(in_cts)} cotangents for "
                                       f"{len(node.inputs)} operands")
        for v, ct, need in zip(node.inputs, in_cts, needs):
            if ct is None or not need:
                continue
            if ct.type != v.type:
                raise DifferentiationError(
                    f"VJP of {node.describe()} gave {ct.type} for operand %{v.name}: {v.type}")
            contributions.setdefault(v, []).append(ct)

    results = [_collect(b, contributions, v) for v in wrt]
    _drop_unneeded(g, start, [r for r in results if r is not None])
    return results


def _drop_unneeded(g: Graph, start: int, keep: list[Value]) -> None:
    """Remove nodes appended since ``start`` that ``keep`` does not depend on.

    VJP rules build every operand's cotangent; those of non-``wrt`` inputs (the data x of
    x @ w, say) are dead, and dropping them here keeps even an unoptimized graph lean.
    """
    needed: set = set()
    stack = [v.producer for v in keep + list(g.outputs) if v.producer is not None]
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        stack.extend(v.producer for v in n.inputs if v.producer is not None)
    g.nodes = g.nodes[:start] + [n for n in g.nodes[start:] if n in needed]


def _collect(b: GraphBuilder, contributions: dict, v: Value) -> Value | None:
    parts = contributions.get(v)
    if not parts:
        return None
    if len(parts) > 1:
        contributions[v] = parts = [_sum_all(b, parts)]
    return parts[0]


def gradients(graph: Graph, loss: Value, wrt: Sequence[Value],
              builder: GraphBuilder | None = None) -> list[Value]:
    """Append d(loss)/d(w) for each w in ``wrt`` to ``graph``; unconnected w get zeros."""
    if loss.rank != 0 or not dtypes.is_float(loss.dtype):
        raise DifferentiationError(f"the loss must be a float scalar, got %{loss.name}: {loss.type}")
    for w in wrt:
        if not dtypes.is_float(w.dtype):
            raise DifferentiationError(f"cannot differentiate with respect to %{w.name}: "
                                       f"{w.type} is not a float value")
    b = builder or GraphBuilder(graph)
    with b.location("grad"):
        seed = b.constant(1.0, dtype=loss.dtype, name="grad.seed")
    grads = backprop(b, [loss], [seed], wrt)
    out = []
    for w, gw in zip(wrt, grads):
        if gw is None:
            with b.location("grad"):
                gw = b.constant(0.0, dtype=w.dtype, shape=w.shape)
        out.append(gw)
    return out


def autodiff(graph: Graph, loss: Value, wrt: Sequence[Value]) -> dict[Value, Value]:
    """The autodiff pass: append the gradients of ``loss`` to the graph's outputs.

    Returns the map from each ``wrt`` value to its gradient value.
    """
    grads = gradients(graph, loss, wrt)
    graph.outputs.extend(grads)
    return dict(zip(wrt, grads))
