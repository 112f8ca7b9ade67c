"""What fusion does to one program: kernels, memory traffic, arena, compile time, before/after.

Graph nodes are the training graph's before and after ``simplify`` (autodiff leaves many
identities behind). *Before* is the program compiled with the fusion passes disabled (``fuse``: every op its own
kernel, ``merge``: no multi-output kernels); *after* is the default pipeline. Both are cold
compiles (cache off), so the times include LLVM. Bytes per step count, for each kernel, the
buffers it touches once each: the traffic of a program that reads and writes every buffer
once per kernel, which is what fusion removes. The eager peak is the interpreter's measured
peak of live intermediates for the same step, the figure the arena must beat.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compiler.ir import dtypes
from compiler.pipeline import CompileOptions, compile_graph

__all__ = ["FusionFigures", "fusion_figures", "format_fusion_table"]


@dataclass
class FusionFigures:
    name: str
    nodes_before_simplify: int
    nodes_after_simplify: int
    kernels_before: int
    kernels_after: int
    bytes_before: int
    bytes_after: int
    arena_before: int
    arena_after: int
    eager_peak: int
    compile_s_before: float
    compile_s_after: float

    def row(self) -> str:
        return (f"| {self.name} | {self.nodes_before_simplify} → {self.nodes_after_simplify} | "
                f"{self.kernels_before} → {self.kernels_after} | "
                f"{_size(self.bytes_before)} → {_size(self.bytes_after)} | "
                f"{_size(self.arena_before)} → {_size(self.arena_after)} | "
                f"{_size(self.eager_peak)} | "
                f"{self.compile_s_before:.2f} → {self.compile_s_after:.2f} |")


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    return f"{n / 1024:.1f} KiB"


def _compile(program, disable) -> tuple[object, float]:
    t0 = time.perf_counter()
    c = compile_graph(program.graph, program.updates,
                      CompileOptions(disable=disable, cache=False))
    return c, time.perf_counter() - t0


def _eager_peak(program) -> int:
    from runtime.program import Program

    state = {k: v.copy() for k, v in program.state.items()}
    eager = Program(program.graph, state=state, updates=program.updates, backend="eager",
                    track_memory=True)
    eager({v.name: np.zeros(v.shape, dtypes.to_numpy(v.dtype)) for v in program.graph.inputs})
    return eager.peak_bytes


def fusion_figures(name: str, program) -> FusionFigures:
    """Compile ``program`` (a :class:`runtime.program.Program`) with and without fusion."""
    before, t_before = _compile(program, ["fuse", "merge"])
    after, t_after = _compile(program, [])
    simplify = next(r for r in after.passes if r.name == "simplify")
    return FusionFigures(name, simplify.nodes_before, simplify.nodes_after,
                         len(before.kernels.kernels), len(after.kernels.kernels),
                         before.kernels.bytes_per_step(), after.kernels.bytes_per_step(),
                         before.memory.arena_bytes, after.memory.arena_bytes,
                         _eager_peak(program), t_before, t_after)


def format_fusion_table(rows: list[FusionFigures]) -> str:
    """A markdown table of ``rows``."""
    head = ("| training step | graph nodes (simplify) | kernels | bytes moved per step | arena | "
            "eager peak | compile s (cold) |\n|---|---|---|---|---|---|---|")
    return "\n".join([head] + [r.row() for r in rows])
