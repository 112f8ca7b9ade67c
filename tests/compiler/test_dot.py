"""Graphviz export: valid DOT that names every node and puts grouped nodes in clusters."""
import pydot

from compiler import GraphBuilder
from compiler.ir.dot import to_dot


def test_dot_has_nodes_edges_and_clusters():
    b = GraphBuilder(name="g")
    x = b.input("x", (2, 3))
    w = b.param("w", (3, 4))
    h = b.matmul(x, w)
    y = b.relu(h)
    z = b.exp(y)
    b.output(z)
    nodes = b.graph.nodes
    text = to_dot(b.graph, {nodes[1]: "kernel 0", nodes[2]: "kernel 0"})
    (parsed,) = pydot.graph_from_dot_data(text)
    (cluster,) = parsed.get_subgraphs()
    assert cluster.get_name() == "cluster_0"
    in_cluster = {n.get_name() for n in cluster.get_nodes()}
    assert in_cluster == {"n1", "n2"}
    top = {n.get_name() for n in parsed.get_nodes()}
    assert "n0" in top and "n1" not in top
    labels = " ".join(str(n.get("label")) for n in parsed.get_nodes() + cluster.get_nodes())
    assert "matmul" in labels and "relu" in labels and "exp" in labels
    edges = {(e.get_source(), e.get_destination()) for e in parsed.get_edges()}
    assert {("a0", "n0"), ("a1", "n0"), ("n0", "n1"), ("n1", "n2"), ("n2", "out0")} <= edges
