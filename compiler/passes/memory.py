"""plan_memory: place every temporary buffer of a kernel program in one arena.

Liveness is measured in kernel positions: a temp is live from the first kernel that writes it
to the last kernel that reads (or writes) it. Two temps whose live ranges overlap must not
overlap in memory; others may share bytes. Placement is greedy best-fit in decreasing size
order (the classic offline heuristic, used by TFLite's and XLA's heap simulators): each temp
goes at the lowest offset, aligned to :data:`ALIGNMENT`, that clears every already placed temp
it is live with. The result is the arena size, written to ``program.arena_bytes``; each temp's
``offset`` is set.

64-byte alignment is a cache line: vector loads never straddle one at a buffer's start, and
two threads writing neighbouring buffers never share a line.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.kernels.ir import Buffer, KernelProgram

__all__ = ["ALIGNMENT", "MemoryPlan", "plan_memory", "live_ranges", "format_memory"]

ALIGNMENT = 64


@dataclass
class MemoryPlan:
    arena_bytes: int
    naive_bytes: int      # sum of all temps: what no reuse would need
    peak_live_bytes: int  # the most bytes live at any kernel: a lower bound for any placement


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def live_ranges(program: KernelProgram) -> dict[int, tuple[int, int]]:
    """id(temp buffer) -> (first kernel index, last kernel index) touching it."""
    temps = {id(b) for b in program.temps}
    ranges: dict[int, tuple[int, int]] = {}
    for i, k in enumerate(program.kernels):
        for b in list(k.writes()) + list(k.reads()):
            if id(b) in temps:
                lo, hi = ranges.get(id(b), (i, i))
                ranges[id(b)] = (min(lo, i), max(hi, i))
    return ranges


def plan_memory(program: KernelProgram) -> MemoryPlan:
    """Assign arena offsets to ``program.temps`` (see module doc) and return the figures."""
    ranges = live_ranges(program)
    # A temp no kernel touches (possible after fusion) still gets a range, so it has an offset.
    temps: list[Buffer] = list(program.temps)
    for b in temps:
        ranges.setdefault(id(b), (0, 0))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    for b in sorted(temps, key=lambda t: (-t.nbytes, ranges[id(t)][0])):
        first, last = ranges[id(b)]
        size = _align(max(b.nbytes, 1))
        clashes = sorted((o, e) for o, e, f, l in placed if f <= last and first <= l)
        offset = 0
        for o, e in clashes:
            if offset + size <= o:
                break
            offset = max(offset, _align(e))
        b.offset = offset
        placed.append((offset, offset + size, first, last))
    arena = max((e for _, e, _, _ in placed), default=0)
    program.arena_bytes = arena
    peak = 0
    for i in range(len(program.kernels)):
        live = sum(_align(b.nbytes) for b in temps
                   if ranges[id(b)][0] <= i <= ranges[id(b)][1])
        peak = max(peak, live)
    return MemoryPlan(arena, sum(_align(b.nbytes) for b in temps), peak)


def format_memory(program: KernelProgram, plan: MemoryPlan) -> str:
    """The ``memory`` dump: the arena figures, then every temp with its arena range, size and
    live range (kernel positions), in offset order."""
    ranges = live_ranges(program)
    lines = [f"arena {plan.arena_bytes} bytes (no reuse: {plan.naive_bytes}; most live at once: "
             f"{plan.peak_live_bytes}); {len(program.temps)} temps, alignment {ALIGNMENT}"]
    for b in sorted(program.temps, key=lambda t: (t.offset or 0, t.name)):
        first, last = ranges.get(id(b), (0, 0))
        lines.append(f"  [{b.offset:>10}, {b.offset + b.nbytes:>10})  {b.nbytes:>10} B  "
                     f"%{b.name}: {b.dtype}[{b.numel}]  live k{first}..k{last}")
    return "\n".join(lines) + "\n"
