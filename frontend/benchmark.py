"""Benchmarks of kiln models: compiled (LLVM) vs eager (kiln's numpy interpreter) vs PyTorch,
measured in the same run, medians over repetitions (DESIGN.md: "measured, not assumed").

    from frontend.benchmark import bench_model, suite, format_table

    records = []
    for e in suite():
        x, y = e.data
        records += bench_model(e.factory, x, y, name=e.name, batch=e.batch)
    print(format_table(records))

:func:`bench_model` takes a compiled model or a factory returning one, checks that the
backends agree on the first two steps (raising :class:`BenchMismatch` otherwise), then times
each backend in its own block. See :mod:`frontend.bench.runner` for what exactly is timed and
compared, :mod:`frontend.bench.torch_mirror` for the PyTorch side. Times are wall-clock on
whatever else the machine is doing: compare figures from one run only.
"""
from __future__ import annotations

from frontend.bench.record import BenchRecord, format_table
from frontend.bench.runner import (BACKENDS, PROGRAMS, TOLERANCE, TORCH_STEP2_TOLERANCE,
                                   BenchMismatch, bench_model)
from frontend.bench.suite import SuiteEntry, suite

__all__ = ["BenchRecord", "BenchMismatch", "SuiteEntry", "bench_model", "format_table", "suite",
           "BACKENDS", "PROGRAMS", "TOLERANCE", "TORCH_STEP2_TOLERANCE"]
