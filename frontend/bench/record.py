"""What one benchmark measured: :class:`BenchRecord`, its JSON form, and a markdown table.

A record holds one program of one model (``train_step`` or ``predict``) at one batch size:
medians of the compiled (kiln llvm), eager (kiln's numpy interpreter) and, when installed,
PyTorch step times from the same run, the compiled program's kernel count and arena size,
compile times, and the result of the agreement check done before timing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable

__all__ = ["BenchRecord", "format_table"]


@dataclass
class BenchRecord:
    """One (model, program, batch) measurement. Times are medians in milliseconds."""

    model: str
    program: str                        # "train_step" or "predict"
    batch: int
    compiled_ms: float
    eager_ms: float | None
    torch_ms: float | None
    kernels: int                        # kernels in the compiled program
    peak_arena_bytes: int               # the compiled program's arena (all intermediates)
    eager_peak_bytes: int | None        # peak bytes of intermediates held by the interpreter
    compile_s_cold: float               # first build, empty compile cache
    compile_s_cached: float             # second build of the same program, warm cache
    repeats: int
    loss_check: str                     # how the backends agreed before timing
    kernel_profile: list[dict] | None = None
    threads: int | None = None          # kiln's threads in this run (KILN_NUM_THREADS, else CPUs)

    @property
    def eager_speedup(self) -> float | None:
        """eager time / compiled time (> 1: compiled is faster)."""
        return None if self.eager_ms is None else self.eager_ms / self.compiled_ms

    @property
    def torch_speedup(self) -> float | None:
        """PyTorch time / compiled time (> 1: compiled is faster)."""
        return None if self.torch_ms is None else self.torch_ms / self.compiled_ms

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field plus the two ratios."""
        d = asdict(self)
        d["eager_speedup"] = self.eager_speedup
        d["torch_speedup"] = self.torch_speedup
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "BenchRecord":
        """The record :meth:`to_json` produced (derived ratio keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _kib(v: int | None) -> str:
    return "-" if v is None else f"{v / 1024:.1f}"


def format_table(records: Iterable[BenchRecord]) -> str:
    """A markdown table of ``records``; ratios are other backend / compiled (higher is better
    for kiln)."""
    head = ["model", "program", "batch", "compiled ms", "eager ms", "torch ms",
            "eager/compiled", "torch/compiled", "kernels", "arena KiB", "eager peak KiB",
            "compile cold s", "cached s", "check"]
    rows = [head, ["---"] * len(head)]
    for r in records:
        rows.append([r.model, r.program, str(r.batch), _ms(r.compiled_ms), _ms(r.eager_ms),
                     _ms(r.torch_ms), _ratio(r.eager_speedup), _ratio(r.torch_speedup),
                     str(r.kernels), _kib(r.peak_arena_bytes), _kib(r.eager_peak_bytes),
                     f"{r.compile_s_cold:.2f}", f"{r.compile_s_cached:.3f}", r.loss_check])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
