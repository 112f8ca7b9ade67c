"""The pass manager: one pipeline list of named graph passes, each timed, optionally verified
and dumped (LLVM's -print-after-all, by name).

:data:`PIPELINE` is the list. A pass is ``fn(graph) -> graph`` (it may rewrite in place), or,
for the last one, ``fuse``, an analysis returning the fusion plan lowering follows. For every
pass the manager records a :class:`PassRecord` (time, node counts before and after, and the
pass's own statistics), verifies the graph afterwards when asked (``verify_each``, on by
``KILN_DEBUG>=1``), and keeps the graph text after it when that stage is dumped. Passes can be
disabled by name to bisect a wrong result (``disable=["simplify"]``); ``fuse`` disabled means
every op gets its own kernel.

autodiff and the optimizer update are graph *construction* (the frontend asks for gradients
of its loss and adds update ops), so they happen before this pipeline; their result is the
``graph`` stage.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from compiler.ir.graph import Graph
from compiler.ir.verify import verify
from compiler.passes.fuse import FusionPlan, plan_fusion

__all__ = ["PassRecord", "PassManager", "PIPELINE", "pipeline_names"]


def _simplify(graph: Graph):
    from compiler.passes.simplify import simplify_with_stats, strip_stop_gradient

    # The graphs reaching the pipeline are fully differentiated, so stop_gradient markers have
    # done their job and only block simplification.
    strip_stop_gradient(graph)
    stats = simplify_with_stats(graph)
    return graph, str(stats)


def _fuse(graph: Graph):
    plan = plan_fusion(graph)
    return plan, f"{len(plan.lazy)} nodes fused into their readers, {len(plan.reasons)} kept apart"


#: (name, function returning (result, statistics text)); the order is the pipeline.
PIPELINE: list[tuple[str, Callable]] = [
    ("simplify", _simplify),
    ("fuse", _fuse),
]


def pipeline_names() -> list[str]:
    return [name for name, _ in PIPELINE]


@dataclass
class PassRecord:
    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    stats: str = ""
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.name:<10} (disabled)"
        return (f"{self.name:<10} {self.seconds * 1e3:8.2f} ms  nodes {self.nodes_before} -> "
                f"{self.nodes_after}  {self.stats}")


@dataclass
class PassManager:
    disable: Iterable[str] = ()
    verify_each: bool = False
    dump: Iterable[str] = ()
    records: list[PassRecord] = field(default_factory=list)
    dumps: dict[str, str] = field(default_factory=dict)

    def run(self, graph: Graph) -> tuple[Graph, FusionPlan]:
        """Run the pipeline on a copy of ``graph``; return it and the fusion plan."""
        unknown = set(self.disable) - set(pipeline_names())
        if unknown:
            raise ValueError(f"cannot disable unknown pass(es) {', '.join(sorted(unknown))}; "
                             f"passes are {', '.join(pipeline_names())}")
        g = copy.deepcopy(graph)
        plan = FusionPlan()
        dump = set(self.dump)
        for name, fn in PIPELINE:
            before = len(g.nodes)
            if name in self.disable:
                self.records.append(PassRecord(name, 0.0, before, before, skipped=True))
                continue
            t0 = time.perf_counter()
            result, stats = fn(g)
            seconds = time.perf_counter() - t0
            if isinstance(result, FusionPlan):
                plan = result
            else:
                g = result
            if self.verify_each:
                verify(g)
            self.records.append(PassRecord(name, seconds, before, len(g.nodes), stats))
            if name in dump:
                text = str(g)
                if isinstance(result, FusionPlan):
                    from compiler.passes.fuse import annotate_groups

                    text = annotate_groups(g, plan)
                self.dumps[name] = text
        return g, plan
