"""fuse: decide which ops share a kernel.

The decision is a :class:`FusionPlan`, an analysis of the graph (the graph itself is not
rewritten): the set of *lazy* nodes, whose results are never stored but computed inside the
loop of the kernel that consumes them, and for every other node that could have been fused the
reason it was not (XLA's FusionDecision: users ask "why is this not fused?"). Lowering
(compiler/kernels/lower.py) follows the plan.

Rules (each is a named check below; the first that fails is the recorded reason):

* only elementwise and random ops are inlined (their lowering is an expression);
* a graph output is materialized (it must be stored anyway);
* a value read by several nodes is materialized, unless it is *cheap* (one primitive op on
  values already in memory), in which case recomputing it in each reader costs less than the
  store and the loads (the stated cost rule);
* the reader must consume expressions: an elementwise op, a reduction (sum, mean, max, min,
  argmax, argmin: the value becomes the reduction's prologue), softmax/log-softmax, or a shape
  op (transpose, broadcast, slice, unit reshape) whose result is itself consumed that way;
* the reader must not broadcast the value to more points than it has (recomputing a row
  vector for every row of a matrix would multiply its cost): sizes must match.

Contractions (matmul, conv2d) take their elementwise readers the other way round, as an
*epilogue* (bias + activation + residual add computed on each dot product before it is
stored, so the raw product never goes to memory). A contraction is fused into the elementwise
kernel that reads it when:

* its result is read by exactly one node and is not a graph output;
* that reader, and every node it is in turn inlined into up to the kernel's root, is an
  elementwise op over the contraction's own index space, reading the previous value directly
  (no view op in between, as a transpose would put the product at other indices; reshapes
  are fine: they keep row-major order);
* a cheap node on that path that was to be recomputed in each of its readers is
  materialized instead, as the root (its store replaces the product's);
* the root does not already end another contraction (one contraction per kernel).

Kernels are the fused groups: each materialized node plus the lazy nodes inlined into it.
:meth:`FusionPlan.groups` gives them for the text dump and the DOT clusters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from compiler.ir.graph import Graph, Node, Value
from compiler.ops.registry import get_op

__all__ = ["FusionPlan", "plan_fusion", "EXPR_CONSUMERS", "VIEW_OPS", "CONTRACTIONS"]

#: ops that consume operands as expressions (besides elementwise/random ops)
EXPR_CONSUMERS = frozenset({"sum", "mean", "max", "min", "argmax", "argmin", "softmax",
                            "log_softmax"})
#: shape ops that re-index an expression without materializing it
VIEW_OPS = frozenset({"transpose", "broadcast_to", "slice", "expand_dims", "squeeze", "reshape"})
#: ops lowered to a contraction kernel that applies an elementwise epilogue before storing
CONTRACTIONS = frozenset({"matmul", "conv2d"})
_RESHAPES = frozenset({"reshape", "expand_dims", "squeeze"})
#: cheapest ops: recomputed per reader rather than stored
_CHEAP = frozenset({"neg", "cast", "add", "sub", "mul", "maximum", "minimum", "greater",
                    "greater_equal", "less", "less_equal", "equal", "not_equal", "where",
                    "relu", "abs", "square", "stop_gradient", "logical_not"})


def _inlinable(node: Node) -> bool:
    opdef = get_op(node.op)
    return opdef.family in ("elementwise", "random") and opdef.lowering is not None


def _unit_reshape(node: Node) -> bool:
    a = [n for n in node.inputs[0].shape if n != 1]
    b = [n for n in node.outputs[0].shape if n != 1]
    return a == b


@dataclass
class FusionPlan:
    lazy: set[str] = field(default_factory=set)          # names of inlined nodes' results
    reasons: dict[str, str] = field(default_factory=dict)  # materialized candidate -> why
    owner: dict[str, str] = field(default_factory=dict)    # lazy node -> node it is inlined in
    duplicated: set[str] = field(default_factory=set)      # lazy nodes recomputed per reader
    epilogue: dict[str, str] = field(default_factory=dict)  # contraction -> its kernel's root

    def groups(self, graph: Graph) -> dict[str, list[str]]:
        """kernel root node -> the nodes computed in its kernel (root last)."""
        out: dict[str, list[str]] = {}
        for n in graph.nodes:
            name = n.outputs[0].name
            root = name
            while root in self.owner:
                root = self.owner[root]
            out.setdefault(root, []).append(name)
        return out

    def explain(self, name: str) -> str:
        """Why node ``name`` is (or is not) fused."""
        if name in self.epilogue:
            return f"%{name} is a contraction with its epilogue fused in %{self.epilogue[name]}"
        if name in self.lazy:
            return f"%{name} is fused into %{self.owner.get(name, '?')}"
        return f"%{name} is materialized: {self.reasons.get(name, 'it is not an elementwise op')}"

    def __str__(self) -> str:
        lines = [f"fused: {len(self.lazy)} node(s) inlined, {len(self.epilogue)} contraction "
                 f"epilogue(s)"]
        for name in sorted(self.lazy):
            lines.append(f"  %{name} -> %{self.owner.get(name, '?')}")
        for name, root in sorted(self.epilogue.items()):
            lines.append(f"  %{name} -> epilogue %{root}")
        for name, why in sorted(self.reasons.items()):
            lines.append(f"  kept %{name}: {why}")
        return "\n".join(lines)


def _expr_sink(v: Value, users: dict, duplicated: set[str]) -> tuple[Node | None, str]:
    """The node that will consume ``v`` as an expression, following single-reader view ops;
    (None, reason) when there is none."""
    readers = users.get(v, [])
    distinct = {id(n): n for n in readers}
    if len(distinct) != 1:
        return None, f"read by {len(distinct)} nodes"
    (reader,) = distinct.values()
    if reader.op in VIEW_OPS:
        if reader.op == "reshape" and not _unit_reshape(reader):
            return None, "read by a reshape that is not a view of an expression"
        return _expr_sink(reader.outputs[0], users, duplicated)
    if reader.outputs[0].name in duplicated:
        return None, f"its reader %{reader.outputs[0].name} is recomputed in several kernels"
    if reader.op in EXPR_CONSUMERS or _inlinable(reader):
        return reader, ""
    return None, f"read by {reader.op}, which needs its operand in memory"


def _space(node: Node) -> int:
    """Number of points of the node's iteration space."""
    if node.op in EXPR_CONSUMERS:
        return prod(node.inputs[0].shape)
    return prod(node.outputs[0].shape)


def _cheap(node: Node, lazy: set[str]) -> bool:
    return node.op in _CHEAP and all(
        v.producer is None or v.producer.op == "constant" or v.name not in lazy
        for v in node.inputs)


def plan_fusion(graph: Graph) -> FusionPlan:
    """Decide the fusion plan of ``graph`` (see the module doc for the rules)."""
    plan = FusionPlan()
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    # Walk backwards so a node's readers are decided before it.
    for node in reversed(graph.nodes):
        if node.op in CONTRACTIONS:
            _plan_epilogue(plan, graph, node, users, outputs)
            continue
        if not _inlinable(node) or len(node.outputs) != 1:
            continue
        v = node.outputs[0]
        name = v.name
        if id(v) in outputs:
            plan.reasons[name] = "it is a graph output"
            continue
        sink, why = _expr_sink(v, users, plan.duplicated)
        if sink is None and _cheap(node, plan.lazy):
            readers = {id(n): n for n in users.get(v, [])}.values()
            if readers and all(r.op in EXPR_CONSUMERS or _inlinable(r) for r in readers) \
                    and all(_space(r) == prod(v.shape) for r in readers) and len(readers) <= 4:
                plan.lazy.add(name)
                plan.duplicated.add(name)
                plan.owner[name] = next(iter(readers)).outputs[0].name
                continue
        if sink is None:
            plan.reasons[name] = why
            continue
        if _space(sink) != prod(v.shape):
            plan.reasons[name] = (f"its reader %{sink.outputs[0].name} would recompute it "
                                  f"{_space(sink)}/{prod(v.shape)} times per element")
            continue
        plan.lazy.add(name)
        plan.owner[name] = sink.outputs[0].name
    return plan


def _plan_epilogue(plan: FusionPlan, graph: Graph, node: Node, users: dict,
                   outputs: set[int]) -> None:
    """Fuse contraction ``node`` into the elementwise kernel that reads it, if legal (see the
    module doc); otherwise record why not."""
    v = node.outputs[0]
    name = v.name
    if id(v) in outputs:
        plan.reasons[name] = "it is a graph output"
        return
    readers = list({id(n): n for n in users.get(v, [])}.values())
    if len(readers) != 1:
        plan.reasons[name] = f"read by {len(readers)} nodes"
        return
    prev, reader = v, readers[0]
    while True:
        rname = reader.outputs[0].name
        if reader.op in _RESHAPES and id(reader.outputs[0]) not in outputs:
            # a reshape keeps row-major order: the epilogue is re-indexed to C's shape
            after = list({id(n): n for n in users.get(reader.outputs[0], [])}.values())
            if len(after) != 1:
                plan.reasons[name] = f"its reshape %{rname} is read by {len(after)} nodes"
                return
            prev, reader = reader.outputs[0], after[0]
            continue
        if not _inlinable(reader) or reader.outputs[0].shape != prev.shape:
            plan.reasons[name] = (f"%{rname} ({reader.op}) is not an elementwise op over the "
                                  f"contraction's index space")
            return
        if all(x is not prev for x in reader.inputs):
            plan.reasons[name] = f"%{rname} reads it through a view"
            return
        if rname in plan.duplicated:
            # Storing it once as the contraction's epilogue costs what storing the raw product
            # would, and spares every reader the recomputation: materialize it here instead.
            plan.lazy.discard(rname)
            plan.duplicated.discard(rname)
            plan.owner.pop(rname, None)
            plan.reasons[rname] = f"it ends the epilogue of contraction %{name}"
            break
        if rname not in plan.lazy:
            break
        prev, reader = reader.outputs[0], graph.value(plan.owner[rname]).producer
    root = reader.outputs[0].name
    taken = next((c for c, r in plan.epilogue.items() if r == root), None)
    if taken is not None:
        plan.reasons[name] = f"its epilogue root %{root} already ends contraction %{taken}"
        return
    plan.epilogue[name] = root
    # The contraction's group is its root's kernel. (Not its first reader: through a reshape
    # that is the reshape, a view that never heads a kernel, and the dump showed the
    # contraction in a group of its own with it.)
    plan.owner[name] = root


def annotate_groups(graph: Graph, plan: FusionPlan) -> str:
    """The graph text followed by its fused groups (one line per multi-node kernel) and the
    reason each candidate was kept apart: the ``fuse`` dump."""
    lines = [str(graph).rstrip("\n"), "", "fused kernels (root: members, computed in order):"]
    for root, members in plan.groups(graph).items():
        if len(members) > 1:
            lines.append(f"  %{root}: " + ", ".join("%" + m for m in members))
    if plan.reasons:
        lines.append("not fused:")
        for name, why in plan.reasons.items():
            lines.append(f"  %{name}: {why}")
    return "\n".join(lines) + "\n"
