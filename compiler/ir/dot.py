"""Graphviz DOT export of a graph (networkx builds the graph, pydot writes the text).

Arguments are ellipses (params filled), nodes are boxes labelled with op, result name and
type; edges carry the value's type. ``groups`` maps nodes to a group label (a fused
kernel, say): each group becomes one ``cluster_*`` subgraph.
"""
from __future__ import annotations

import networkx as nx
import pydot

from compiler.ir.graph import PARAM, Graph, Node


def to_dot(graph: Graph, groups: dict[Node, str] | None = None) -> str:
    g = nx.DiGraph(name=graph.name)
    ids: dict[int, str] = {}
    for i, v in enumerate(graph.args):
        ids[id(v)] = f"a{i}"
        g.add_node(f"a{i}", label=f'"%{v.name}\\n{v.type}"', shape="ellipse",
                   style="filled" if v.kind == PARAM else "solid")
    for i, n in enumerate(graph.nodes):
        nid = f"n{i}"
        results = ", ".join(f"%{v.name}: {v.type}" for v in n.outputs)
        g.add_node(nid, label=f'"{n.op}\\n{results}"', shape="box")
        for v in n.outputs:
            ids[id(v)] = nid
        for v in n.inputs:
            src = ids.get(id(v))
            if src is not None:
                g.add_edge(src, nid, label=f'"{v.type}"')
    for j, v in enumerate(graph.outputs):
        g.add_node(f"out{j}", label=f'"return {j}"', shape="plaintext")
        if id(v) in ids:
            g.add_edge(ids[id(v)], f"out{j}")
    dot = nx.drawing.nx_pydot.to_pydot(g)
    if groups:
        clusters: dict[str, pydot.Cluster] = {}
        for i, n in enumerate(graph.nodes):
            label = groups.get(n)
            if label is None:
                continue
            if label not in clusters:
                clusters[label] = pydot.Cluster(str(len(clusters)), label=f'"{label}"',
                                                style="rounded")
                dot.add_subgraph(clusters[label])
            node = dot.get_node(f"n{i}")[0]
            dot.del_node(f"n{i}")
            clusters[label].add_node(node)
    return dot.to_string()
