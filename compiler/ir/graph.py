"""The graph IR: values, nodes and graphs.

A :class:`Graph` is a list of :class:`Node` s in a valid execution order, over
:class:`Value` s in static single assignment form. Each value has a static
:class:`~compiler.ir.types.TensorType` and is defined exactly once: as a graph argument
(an *input* fed per call, or a *param*, persistent state such as weights and optimizer
slots) or as an output of a node. Nodes carry an op name, attributes and the place where
the user built them (``loc``), which errors and dumps show.

Graph algorithms (topological order, reachability, cycles) are delegated to networkx
through :meth:`Graph.to_networkx`.
"""
from __future__ import annotations

import itertools
import re
from typing import Iterable, Iterator

import networkx as nx

from compiler.ir.types import TensorType

INPUT = "input"
PARAM = "param"
NODE = "node"

_NAME_RE = re.compile(r"[A-Za-z0-9_.]+")


class Value:
    """One SSA value. ``kind`` is ``"input"``, ``"param"`` or ``"node"`` (a node output)."""

    __slots__ = ("name", "type", "kind", "producer", "index")

    def __init__(self, name: str, type: TensorType, kind: str = NODE,
                 producer: "Node | None" = None, index: int = 0):
        self.name = name
        self.type = type
        self.kind = kind
        self.producer = producer
        self.index = index

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def rank(self) -> int:
        return self.type.rank

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Node:
    """One op application: ``outputs = op(inputs) {attrs}``."""

    __slots__ = ("op", "inputs", "attrs", "outputs", "loc")

    def __init__(self, op: str, inputs: list[Value], attrs: dict, outputs: list[Value],
                 loc: str | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.outputs = list(outputs)
        self.loc = loc

    @property
    def name(self) -> str:
        """The node's name in messages: its first output, as ``%name``."""
        return "%" + self.outputs[0].name if self.outputs else f"<{self.op} without outputs>"

    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise ValueError(f"node {self.name} ({self.op}) has {len(self.outputs)} outputs")
        return self.outputs[0]

    def describe(self) -> str:
        """``%name = op`` plus where the user built it, for error messages."""
        where = f" (built at {self.loc})" if self.loc else ""
        return f"{self.name} = {self.op}{where}"

    def __repr__(self) -> str:
        return f"<Node {self.describe()}>"


class Graph:
    """A named graph: arguments (inputs and params), nodes in execution order, outputs."""

    def __init__(self, name: str = "main"):
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            # the text form spells it @name: it must read back
            raise ValueError(f"invalid graph name {name!r}: use letters, digits, '_' and '.'")
        self.name = name
        self.args: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        self._names: set[str] = set()
        self._counter = itertools.count()

    # -- arguments ---------------------------------------------------------------------
    @property
    def inputs(self) -> list[Value]:
        return [v for v in self.args if v.kind == INPUT]

    @property
    def params(self) -> list[Value]:
        return [v for v in self.args if v.kind == PARAM]

    def add_arg(self, name: str, type: TensorType, kind: str = INPUT, exact: bool = True) -> Value:
        """Append an argument; with ``exact=False`` a taken name gets a unique suffix."""
        if kind not in (INPUT, PARAM):
            raise ValueError(f"argument kind must be 'input' or 'param', got {kind!r}")
        v = Value(self.claim_name(name, exact=exact), type, kind)
        self.args.append(v)
        return v

    # -- names ---------------------------------------------------------------------------
    def claim_name(self, hint: str | None, exact: bool = False) -> str:
        """Reserve a unique value name. With ``exact`` the hint itself must be free."""
        if hint is not None and not _NAME_RE.fullmatch(hint):
            raise ValueError(f"invalid value name {hint!r}: use letters, digits, '_' and '.'")
        if exact:
            if hint is None:
                raise ValueError("an exact name is required")
            if hint in self._names:
                raise ValueError(f"duplicate value name %{hint} in graph @{self.name}")
            self._names.add(hint)
            return hint
        if hint is not None and hint not in self._names:
            self._names.add(hint)
            return hint
        base = hint or ""
        while True:
            n = next(self._counter)
            cand = f"{base}.{n}" if base else str(n)
            if cand not in self._names:
                self._names.add(cand)
                return cand

    def reserve_names(self, names: Iterable[str]) -> None:
        self._names.update(names)

    # -- nodes ---------------------------------------------------------------------------
    def add_node(self, op: str, inputs: list[Value], attrs: dict, out_types: list[TensorType],
                 names: list[str | None] | None = None, loc: str | None = None,
                 exact_names: bool = False) -> Node:
        """Append a node whose outputs have the given types (no checking: see verify)."""
        names = names or [None] * len(out_types)
        outs = [Value(self.claim_name(nm if nm is not None else op, exact=exact_names and nm is not None),
                      t, NODE) for nm, t in zip(names, out_types)]
        node = Node(op, inputs, attrs, outs, loc)
        for i, v in enumerate(outs):
            v.producer = node
            v.index = i
        self.nodes.append(node)
        return node

    def values(self) -> Iterator[Value]:
        yield from self.args
        for n in self.nodes:
            yield from n.outputs

    def value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(f"no value %{name} in graph @{self.name}")

    def users(self) -> dict[Value, list[Node]]:
        """Map from each value to the nodes that read it (graph outputs not included)."""
        out: dict[Value, list[Node]] = {v: [] for v in self.values()}
        for n in self.nodes:
            for v in n.inputs:
                out.setdefault(v, []).append(n)
        return out

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every reader of ``old`` (nodes and graph outputs) read ``new`` instead."""
        if old.type != new.type:
            raise ValueError(f"cannot replace %{old.name}: {old.type} by %{new.name}: {new.type}")
        for n in self.nodes:
            n.inputs = [new if v is old else v for v in n.inputs]
        self.outputs = [new if v is old else v for v in self.outputs]

    # -- algorithms (networkx) ------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """Bipartite DAG: value -> node for each operand, node -> value for each result."""
        g = nx.DiGraph()
        for v in self.args:
            g.add_node(v)
        for n in self.nodes:
            g.add_node(n)
            for v in n.inputs:
                g.add_edge(v, n)
            for v in n.outputs:
                g.add_edge(n, v)
        return g

    def toposort(self) -> None:
        """Reorder ``nodes`` into a topological order (stable for already-sorted graphs)."""
        g = self.to_networkx()
        position = {n: i for i, n in enumerate(self.nodes)}
        order = nx.lexicographical_topological_sort(
            g, key=lambda x: position.get(x, -1) if isinstance(x, Node) else -1)
        self.nodes = [x for x in order if isinstance(x, Node)]

    def live_nodes(self) -> list[Node]:
        """Nodes that some graph output depends on, in graph order."""
        g = self.to_networkx()
        needed: set = set()
        for v in self.outputs:
            if v in g:
                needed.add(v)
                needed |= nx.ancestors(g, v)
        return [n for n in self.nodes if n in needed]

    def subgraphs(self) -> list["Graph"]:
        """Graphs referenced by node attributes (scan bodies), innermost first, no repeats."""
        seen: list[Graph] = []

        def visit(g: Graph) -> None:
            for n in g.nodes:
                for a in n.attrs.values():
                    if isinstance(a, Graph) and all(a is not s for s in seen):
                        visit(a)
                        seen.append(a)
        visit(self)
        return seen

    def __str__(self) -> str:
        from compiler.ir.printer import print_graph
        return print_graph(self)

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self.args)} args, {len(self.nodes)} nodes>"


def clone_into(target: Graph, source: Graph, args: list[Value], loc_prefix: str | None = None) -> list[Value]:
    """Append copies of ``source``'s nodes to ``target``, reading ``args`` for its arguments.

    Returns the values in ``target`` that correspond to ``source``'s outputs (inlining).
    """
    if len(args) != len(source.args):
        raise ValueError(f"graph @{source.name} takes {len(source.args)} arguments, got {len(args)}")
    env: dict[int, Value] = {id(a): v for a, v in zip(source.args, args)}
    for n in source.nodes:
        loc = n.loc if loc_prefix is None else (f"{loc_prefix}/{n.loc}" if n.loc else loc_prefix)
        copy = target.add_node(n.op, [env[id(v)] for v in n.inputs], n.attrs,
                               [v.type for v in n.outputs], names=[v.name for v in n.outputs],
                               loc=loc)
        for old, new in zip(n.outputs, copy.outputs):
            env[id(old)] = new
    return [env[id(v)] for v in source.outputs]
