"""Common-subexpression elimination: nodes with the same op, the same attributes and the
same operands compute the same results, so later ones are merged into the first.

All of kiln's ops are pure, random ops included: two ``random_uniform`` nodes with the
same seed, shape and counter operand draw the same bits, so merging them is exact (the
frontend gives every random op its own seed when it wants independent streams).

Attributes are compared exactly: floats and arrays by their bits (``-0.0`` is not
``0.0``; a NaN equals the same NaN), arrays also by dtype and shape, ints and bools as
different kinds, and graphs (scan bodies) by identity, never by structure. Nodes are
visited in order with their operands already re-pointed, so whole duplicate chains merge
in one sweep. A merged node has no readers left and is removed.
"""
from __future__ import annotations

import struct
from collections import Counter
from typing import Any, Hashable

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.passes.simplify._rewrite import Sweep, run_on_all_graphs


def cse(graph: Graph, stats: Counter | None = None) -> Graph:
    """Merge nodes that compute the same thing (same op, attributes and operands). Rewrites
    ``graph`` in place and returns it; ``stats``, if given, counts merges as ``"cse"``."""
    run_on_all_graphs(graph, lambda g: _cse_graph(g, stats))
    return graph


def _cse_graph(g: Graph, stats: Counter | None) -> int:
    sweep = Sweep(g, stats)
    seen: dict[Hashable, Node] = {}
    for node in sweep:
        key = node_key(node)
        first = seen.get(key)
        if first is None:
            seen[key] = node
            continue
        for dup, orig in zip(node.outputs, first.outputs):
            sweep.replace(dup, orig, "cse")
    return sweep.finish()


def node_key(node: Node) -> Hashable:
    """What makes two nodes interchangeable: op, operands (by identity), attributes, types."""
    return (node.op, tuple(node.inputs), attr_key(node.attrs),
            tuple(v.type for v in node.outputs))


def attr_key(value: Any) -> Hashable:
    """A hashable, exact stand-in for an attribute value (see the module docstring)."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, attr_key(v)) for k, v in value.items())))
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("none",)
    if isinstance(value, (tuple, list)):
        return ("seq", tuple(attr_key(x) for x in value))
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, Graph):
        return ("graph", id(value))  # the graph itself is alive: its id cannot be reused
    # An attribute kind this key does not know: equal only to itself, so never merged wrongly.
    return ("object", id(value))
