"""Constant folding: a node whose operands are all ``constant`` nodes becomes a constant.

The node is evaluated with its op's numpy reference (``get_op(op).evaluate``), the same
code the eager interpreter runs, so a folded graph computes bit-for-bit what the unfolded
one computed eagerly. A single-result node is turned into a ``constant`` in place: it keeps
its result's name, type and readers, and its ``loc``.

The size rule
-------------
A node is folded only when each of its results has at most :data:`MAX_FOLD_ELEMENTS`
(4096) elements. A uniform result is stored as a scalar splat (``constant {value=0.5} :
f32[64,10]``) and any other as a ``dense<...>`` literal, so the limit keeps dumps readable
and keeps a graph from growing large arrays; above it, e.g., a ``broadcast_to`` of a scalar
constant to ``f32[64,784]`` stays a broadcast (a view in compiled code, where a constant
would be a 200 KB array in the eager interpreter). Operands are not materialized beyond
:data:`MAX_FOLD_INPUT_ELEMENTS` elements in total, which bounds the work folding does.

Random ops (pure functions of their counter operand and seed: folding them is exact) and
``scan`` (a loop whose cost is not visible from its result type) are folded only when
tiny: every result has at most :data:`TINY_ELEMENTS` elements (and the scan runs at most
that many steps). An operand pattern the reference rejects at run time (an index out of
range, say) is left unfolded, so the error still surfaces where the user ran the graph.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from compiler.ir import dtypes
from compiler.ir.graph import Graph, Node
from compiler.ops.registry import get_op
from compiler.passes.simplify._rewrite import (Sweep, constant_array, constant_attrs,
                                               is_constant, run_on_all_graphs)

MAX_FOLD_ELEMENTS = 4096
MAX_FOLD_INPUT_ELEMENTS = 1 << 20
TINY_ELEMENTS = 16
_ONLY_TINY_FAMILIES = ("random", "recurrence")


def fold_constants(graph: Graph, stats: Counter | None = None) -> Graph:
    """Replace every node whose operands are all constants by the constant it computes
    (within the size rule of this module's docstring). Rewrites ``graph`` in place and
    returns it; ``stats``, if given, counts folds per op as ``"fold:<op>"``."""
    run_on_all_graphs(graph, lambda g: _fold_graph(g, stats))
    return graph


def _fold_graph(g: Graph, stats: Counter | None) -> int:
    sweep = Sweep(g, stats)
    for node in sweep:
        if node.op == "constant" or not all(is_constant(v) for v in node.inputs):
            continue
        if not _small_enough(node):
            continue
        results = _evaluate(node)
        if results is None:
            continue
        rule = f"fold:{node.op}"
        if len(node.outputs) == 1:
            # In place: the node keeps its name, loc and readers, only its op changes.
            sweep.mutate(node, "constant", [], constant_attrs(results[0], node.output.type), rule)
            continue
        for v, arr in zip(node.outputs, results):
            c = sweep.emit("constant", [], constant_attrs(arr, v.type), hint=v.name)
            sweep.replace(v, c, rule)
    return sweep.finish()


def _small_enough(node: Node) -> bool:
    limit = MAX_FOLD_ELEMENTS
    if get_op(node.op).family in _ONLY_TINY_FAMILIES:
        limit = TINY_ELEMENTS
        if node.op == "scan" and node.attrs["length"] > TINY_ELEMENTS:
            return False
    if any(v.type.size > limit for v in node.outputs):
        return False
    return sum(v.type.size for v in node.inputs) <= MAX_FOLD_INPUT_ELEMENTS


def _evaluate(node: Node) -> list[np.ndarray] | None:
    """The node's results by its numpy reference, or None when it cannot be folded."""
    args = [constant_array(v) for v in node.inputs]
    try:
        with np.errstate(all="ignore"):  # inf/nan results are folded like any other value
            results = get_op(node.op).evaluate(args, node.attrs, _ReferenceContext())
    except Exception:  # noqa: BLE001 - the reference's own error belongs to run time
        return None
    out = []
    for v, r in zip(node.outputs, results):
        r = np.asarray(r)
        if r.shape != v.shape or r.dtype != dtypes.to_numpy(v.dtype):
            return None  # a reference that disagrees with the type rule: leave it to eager
        out.append(r)
    return out if len(out) == len(node.outputs) else None


class _ReferenceContext:
    """What op references may ask of their caller: running a scan body by reference.

    (The eager interpreter plays this role at run time; the compiler cannot import the
    runtime, so folding carries this minimal version.)
    """

    def run_body(self, body: Graph, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        env = {id(v): np.asarray(a) for v, a in zip(body.args, args)}
        for n in body.nodes:
            res = get_op(n.op).evaluate([env[id(v)] for v in n.inputs], n.attrs, self)
            for v, r in zip(n.outputs, res):
                env[id(v)] = np.asarray(r)
        return [env[id(v)] for v in body.outputs]
