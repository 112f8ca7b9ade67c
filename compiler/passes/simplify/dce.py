"""Dead code elimination: drop nodes none of whose results reach a graph output.

Every op in kiln's set is a pure function of its operands and attributes, so a result
nobody reads can go. There are no side-effecting ops to keep: random ops are pure
functions of their counter operand and seed (the same step gives the same bits), and
params are updated by returning new values as graph outputs, not by writes inside the
graph. (If an op with effects is ever added, it must be kept here.)

The walk is the reverse-order equivalent of :meth:`Graph.live_nodes` (one linear pass
over a topologically ordered, verified graph, rather than a networkx reachability query
per output). Scan bodies are cleaned too; their arguments stay, being the scan's calling
convention.
"""
from __future__ import annotations

from collections import Counter

from compiler.ir.graph import Graph, Value
from compiler.passes.simplify._rewrite import run_on_all_graphs


def dce(graph: Graph, stats: Counter | None = None) -> Graph:
    """Remove nodes whose results no graph output depends on. Rewrites ``graph`` in place
    and returns it; ``stats``, if given, counts removed nodes as ``"dce"``."""
    run_on_all_graphs(graph, lambda g: _dce_graph(g, stats))
    return graph


def _dce_graph(g: Graph, stats: Counter | None) -> int:
    needed: set[Value] = set(g.outputs)
    keep = []
    for node in reversed(g.nodes):
        if any(v in needed for v in node.outputs):
            keep.append(node)
            needed.update(node.inputs)
    removed = len(g.nodes) - len(keep)
    if removed:
        keep.reverse()
        g.nodes = keep
        if stats is not None:
            stats["dce"] += removed
    return removed
