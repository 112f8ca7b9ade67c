"""The IR verifier: checks every invariant of a graph and reports all violations at once.

Invariants: every op is known; attributes fit the op's schema; every operand is defined
in this graph before its use (no dangling values, no values of another graph); the nodes
form no cycle; value names are unique; each node's declared result types equal what the
op's shape rule infers; graph outputs are defined. Subgraphs (scan bodies) are verified
too. Each message names the node (``%name = op``) and where it was built.
"""
from __future__ import annotations

import networkx as nx

from compiler.errors import OpError, VerificationError
from compiler.ir.graph import Graph, Node
from compiler.ops.registry import get_op, has_op


def verification_errors(graph: Graph) -> list[str]:
    """Every broken invariant of ``graph`` (and its subgraphs), as messages."""
    errors: list[str] = []
    for sub in graph.subgraphs():
        errors.extend(f"in graph @{sub.name}: {e}" for e in _errors_of(sub))
    errors.extend(_errors_of(graph))
    return errors


def verify(graph: Graph) -> Graph:
    """Raise :class:`VerificationError` listing every broken invariant; return the graph."""
    errors = verification_errors(graph)
    if errors:
        raise VerificationError(errors)
    return graph


def _errors_of(g: Graph) -> list[str]:
    errors: list[str] = []
    seen_names: dict[str, str] = {}
    defined: set[int] = set()
    produced_later = {id(v): n for n in g.nodes for v in n.outputs}

    def claim(name: str, what: str) -> None:
        if name in seen_names:
            errors.append(f"duplicate value name %{name} ({what}; first defined by {seen_names[name]})")
        else:
            seen_names[name] = what

    for v in g.args:
        claim(v.name, "argument")
        defined.add(id(v))

    for n in g.nodes:
        where = n.describe()
        for v in n.outputs:
            claim(v.name, where)
        for i, v in enumerate(n.inputs):
            if id(v) in defined:
                continue
            if id(v) in produced_later:
                errors.append(f"{where}: operand {i} %{v.name} is used before it is defined")
            else:
                errors.append(f"{where}: operand {i} %{v.name} is dangling (not defined in "
                              f"graph @{g.name})")
        defined.update(id(v) for v in n.outputs)
        errors.extend(_node_type_errors(n))

    for v in g.outputs:
        if id(v) not in defined:
            errors.append(f"graph output %{v.name} is not defined in graph @{g.name}")

    try:
        cycle = nx.find_cycle(g.to_networkx())
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = [x.describe() for x, _ in cycle if isinstance(x, Node)]
        errors.append("cycle through " + " -> ".join(names))
    return errors


def _node_type_errors(n: Node) -> list[str]:
    where = n.describe()
    if not has_op(n.op):
        return [f"{where}: unknown op {n.op!r}"]
    opdef = get_op(n.op)
    try:
        attrs = opdef.check_attrs(n.attrs)
        inferred = opdef.infer_types([v.type for v in n.inputs], attrs)
    except OpError as e:
        return [f"{where}: {e}"]
    declared = [v.type for v in n.outputs]
    if inferred != declared:
        got = ", ".join(str(t) for t in declared)
        want = ", ".join(str(t) for t in inferred)
        return [f"{where}: declared result type {got} but the op's rule gives {want}"]
    return []
