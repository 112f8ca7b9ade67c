"""simplify: fold -> algebra -> CSE -> DCE, repeated until nothing changes.

Each pass exposes what the next can use: folding makes constants the identities match,
the identities make operands equal for CSE, and every one of them leaves nodes without
readers for DCE. The loop stops at the first round that changes nothing (a fixed point)
or after ``max_rounds`` rounds, whichever comes first; the rules only shrink the graph or
replace an operand by a smaller one, so in practice two or three rounds suffice and the
bound only guards against a future rule pair that undoes each other.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from compiler.ir.graph import Graph
from compiler.ir.verify import verify
from compiler.passes.simplify._rewrite import count_nodes
from compiler.passes.simplify.algebra import simplify_algebra
from compiler.passes.simplify.cse import cse
from compiler.passes.simplify.dce import dce
from compiler.passes.simplify.fold import fold_constants

PASSES: tuple[tuple[str, Callable[..., Graph]], ...] = (
    ("fold_constants", fold_constants),
    ("simplify_algebra", simplify_algebra),
    ("cse", cse),
    ("dce", dce),
)
MAX_ROUNDS = 8


@dataclass
class SimplifyStats:
    """What :func:`simplify_with_stats` did.

    ``nodes_before``/``nodes_after`` count nodes of the graph and its scan bodies;
    ``rewrites`` maps each pass name to a Counter of its rewrites by rule (``"fold:mul"``,
    ``"mul_one"``, ``"cse"``, ``"dce"`` = nodes removed); ``rounds`` is the number of
    fold -> algebra -> cse -> dce rounds run, ``converged`` whether the last one changed
    nothing. ``str(stats)`` is the one-line summary a pass manager prints.
    """

    nodes_before: int
    nodes_after: int = 0
    rounds: int = 0
    converged: bool = False
    rewrites: dict[str, Counter] = field(
        default_factory=lambda: {name: Counter() for name, _ in PASSES})

    def total(self, pass_name: str) -> int:
        return sum(self.rewrites[pass_name].values())

    def __str__(self) -> str:
        per_pass = ", ".join(f"{name} {self.total(name)}" for name, _ in PASSES)
        state = "fixed point" if self.converged else "round limit"
        return (f"simplify: {self.nodes_before} -> {self.nodes_after} nodes in {self.rounds} "
                f"round(s), {state} ({per_pass})")


def simplify_with_stats(graph: Graph, max_rounds: int = MAX_ROUNDS,
                        check: bool = False) -> SimplifyStats:
    """Run fold -> algebra -> CSE -> DCE on ``graph`` in place until a fixed point (at most
    ``max_rounds`` rounds); return the statistics. With ``check`` the verifier runs after
    every pass (tests and bisection; the pass manager verifies after the whole pass)."""
    stats = SimplifyStats(nodes_before=count_nodes(graph))
    for _ in range(max_rounds):
        stats.rounds += 1
        changed = 0
        for name, run in PASSES:
            counter = stats.rewrites[name]
            before = sum(counter.values())
            run(graph, counter)
            changed += sum(counter.values()) - before
            if check:
                verify(graph)
        if not changed:
            stats.converged = True
            break
    stats.nodes_after = count_nodes(graph)
    return stats


def simplify(graph: Graph) -> Graph:
    """The simplify pass: :func:`simplify_with_stats` without the statistics."""
    simplify_with_stats(graph)
    return graph
