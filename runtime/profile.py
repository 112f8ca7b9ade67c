"""Per-kernel run-time profiles of compiled programs.

A program compiled with ``CompileOptions(profile=True)`` (or ``KILN_DEBUG=2``) counts, in its
entry function, the cycles spent in each kernel and the number of calls; the counter is the
CPU's time-stamp counter, calibrated here once per process against ``time.perf_counter``.
:meth:`runtime.program.Program.profile` turns the counts into :class:`KernelTime` records;
:func:`format_profile` prints them as a table. With ``KILN_DEBUG=2`` every profiled program
prints its table to stderr when the process exits.

Bytes are the sizes of the buffers a kernel touches (each counted once per call): what it
moves if it reads and writes each buffer once, a lower bound for its memory traffic.
"""
from __future__ import annotations

import atexit
import sys
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["KernelTime", "format_profile", "cycles_per_second", "report_at_exit"]

_calibration: dict[str, float] = {}


def cycles_per_second(counter: Callable[[], int], seconds: float = 0.02) -> float:
    """Rate of ``counter`` (the time-stamp counter: constant on current x86 CPUs), measured
    once per process by spinning for ``seconds``."""
    if "rate" not in _calibration:
        c0, t0 = counter(), time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            pass
        c1, t1 = counter(), time.perf_counter()
        _calibration["rate"] = (c1 - c0) / (t1 - t0)
    return _calibration["rate"]


@dataclass
class KernelTime:
    """One kernel's totals since the program was built (or last reset)."""
    kernel: str
    family: str
    nodes: tuple[str, ...]
    calls: int
    seconds: float
    bytes: int          # per call: buffers touched
    flops: int          # per call: contractions only (2*M*N*K), else 0

    @property
    def ms_per_call(self) -> float:
        return 1e3 * self.seconds / self.calls if self.calls else 0.0

    @property
    def gb_per_s(self) -> float:
        return self.bytes * self.calls / self.seconds / 1e9 if self.seconds else 0.0

    @property
    def gflop_per_s(self) -> float:
        return self.flops * self.calls / self.seconds / 1e9 if self.seconds else 0.0

    def to_json(self) -> dict:
        return {"kernel": self.kernel, "family": self.family, "nodes": list(self.nodes),
                "calls": self.calls, "ms_per_call": self.ms_per_call, "bytes": self.bytes,
                "gb_per_s": self.gb_per_s, "flops": self.flops,
                "gflop_per_s": self.gflop_per_s}


def format_profile(name: str, records: Sequence[KernelTime]) -> str:
    """A table of ``records``, slowest first, with each kernel's share of the total."""
    total = sum(r.seconds for r in records) or 1.0
    calls = max((r.calls for r in records), default=0)
    lines = [f"profile of @{name}: {calls} call(s), {1e3 * total / max(calls, 1):.3f} ms per "
             f"call in kernels",
             f"  {'kernel':<32} {'family':<12} {'ms/call':>9} {'share':>6} {'GB/s':>7} "
             f"{'GFLOP/s':>8}"]
    for r in sorted(records, key=lambda r: -r.seconds):
        gflops = f"{r.gflop_per_s:8.1f}" if r.flops else f"{'':8}"
        lines.append(f"  {r.kernel:<32} {r.family:<12} {r.ms_per_call:9.4f} "
                     f"{100 * r.seconds / total:5.1f}% {r.gb_per_s:7.2f} {gflops}")
    return "\n".join(lines)


_programs: "weakref.WeakSet" = weakref.WeakSet()


def report_at_exit(program) -> None:
    """Print ``program``'s profile to stderr when the process exits (``KILN_DEBUG=2``)."""
    if not _programs:
        atexit.register(_print_all)
    _programs.add(program)


def _print_all() -> None:
    for program in list(_programs):
        records = program.profile()
        if records and any(r.calls for r in records):
            print(format_profile(program.graph.name, records), file=sys.stderr)
