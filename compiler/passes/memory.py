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

__all__ = ["ALIGNMENT", "MemoryPlan", "plan_memory", "live_ranges", "format_memory",
           "reuse_dying_inputs"]

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


def reuse_dying_inputs(program: KernelProgram) -> int:
    """Let an elementwise kernel write its result over a temp input it reads for the last
    time (in place), when that is safe; returns how many temps were folded away.

    Safe means: the kernel has one output, a temp written by no other kernel; the input is a
    temp of the same dtype and size that no later kernel touches; and the kernel reads it only
    at the element it writes at each point (so each element is read before it is overwritten,
    whatever the vector width or thread split). The output's readers then read the input's
    buffer. This is what the placement below cannot do by itself: two buffers live in the
    same kernel never share bytes there, even when they could share all of them.
    """
    from compiler.kernels import expr as ex
    from compiler.kernels.families import FamilyKernel
    from compiler.kernels.ir import Elementwise, Matmul, Reduce, Softmax
    from compiler.kernels.lower import replace_reads

    temps = {id(b) for b in program.temps}
    writers: dict[int, int] = {}
    last_use: dict[int, int] = {}
    for i, k in enumerate(program.kernels):
        for b in k.writes():
            writers[id(b)] = writers.get(id(b), 0) + 1
        for b in list(k.reads()) + list(k.writes()):
            last_use[id(b)] = i
    redirectable = (Elementwise, Reduce, Softmax, Matmul, FamilyKernel)
    dropped: set[int] = set()
    for i, k in enumerate(program.kernels):
        if not isinstance(k, Elementwise) or len(k.outs) != 1:
            continue
        out, view = k.outs[0]
        if id(out) not in temps or writers.get(id(out)) != 1:
            continue
        if not all(isinstance(r, redirectable) for r in program.kernels[i + 1:]
                   if out in r.reads()):
            continue
        loads = [e for e in ex.iter_nodes(k.exprs) if e.op == "load"]
        for cand in {id(e.buffer): e.buffer for e in loads}.values():
            if (id(cand) not in temps or id(cand) in dropped or cand is out
                    or cand.dtype != out.dtype or cand.numel != out.numel
                    or last_use.get(id(cand)) != i):
                continue
            if all(e.view.same_elements(view) for e in loads if e.buffer is cand):
                k.outs = [(cand, view)]
                for r in program.kernels[i + 1:]:
                    if out in r.reads():   # (all of the redirectable kinds, checked above)
                        replace_reads(r, out, cand)
                # the input now lives as long as the output did
                last_use[id(cand)] = last_use.get(id(out), i)
                dropped.add(id(out))
                break
    program.temps = [b for b in program.temps if id(b) not in dropped]
    return len(dropped)


def plan_memory(program: KernelProgram, reuse: bool = True) -> MemoryPlan:
    """Assign arena offsets to ``program.temps`` (see module doc) and return the figures.
    ``reuse=False`` gives every temp bytes of its own, so that after a call each still holds
    what its kernel wrote (``KILN_CHECK=kernels`` compares them with the eager interpreter)."""
    ranges = live_ranges(program)
    if not reuse:
        everything = (0, max(len(program.kernels) - 1, 0))
        ranges = {id(b): everything for b in program.temps}
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
