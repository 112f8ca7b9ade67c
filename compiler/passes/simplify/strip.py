"""strip_stop_gradient: ``stop_gradient(x) -> x``, valid only once autodiff has run.

``stop_gradient`` is the identity on values; its only meaning is to end autodiff's walk.
Before autodiff, removing it would change the gradients autodiff builds, so simplify keeps
it; after the last autodiff pass (the training step's gradients are already in the graph)
it is a no-op copy and this pass removes it. The pipeline must place it after autodiff.
"""
from __future__ import annotations

from collections import Counter

from compiler.ir.graph import Graph
from compiler.passes.simplify._rewrite import Sweep, run_on_all_graphs


def strip_stop_gradient(graph: Graph, stats: Counter | None = None) -> Graph:
    """Replace every ``stop_gradient(x)`` by ``x`` (scan bodies included). Only valid after
    autodiff. Rewrites ``graph`` in place and returns it; ``stats`` counts removals."""
    run_on_all_graphs(graph, lambda g: _strip_graph(g, stats))
    return graph


def _strip_graph(g: Graph, stats: Counter | None) -> int:
    sweep = Sweep(g, stats)
    for node in sweep:
        if node.op == "stop_gradient":
            sweep.replace(node.output, node.inputs[0], "strip_stop_gradient")
    return sweep.finish()
