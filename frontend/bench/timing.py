"""Timing helpers for the benchmark: medians after warm-up, and a cold compile cache.

Each backend is timed in its own block (all of its repetitions, then the next backend's),
never interleaved: OpenBLAS's worker threads and libgomp's spin for a while after each
parallel region, so alternating the two makes each pay for the other's spinning threads.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from typing import Callable, Iterator

__all__ = ["median_ms", "cold_compile_cache"]


def median_ms(fn: Callable[[], object], repeats: int, warmup: int,
              max_seconds: float | None = None) -> tuple[float, int]:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls after ``warmup``;
    returns (median, calls timed). With ``max_seconds``, fewer calls (at least 3) are timed when
    ``repeats`` of them would take longer than that, judging by the last warm-up call."""
    last = None
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        last = time.perf_counter() - t0
    n = max(1, repeats)
    if max_seconds is not None and last:
        n = min(n, max(3, int(max_seconds / last)))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, n


@contextlib.contextmanager
def cold_compile_cache() -> Iterator[str]:
    """Point ``KILN_CACHE_DIR`` at a new empty directory for the duration (the cache reads the
    variable on every lookup, see compiler/llvm/cache.py), then restore it and delete the
    directory."""
    old = os.environ.get("KILN_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="kiln_bench_cache_") as d:
        os.environ["KILN_CACHE_DIR"] = d
        try:
            yield d
        finally:
            if old is None:
                os.environ.pop("KILN_CACHE_DIR", None)
            else:
                os.environ["KILN_CACHE_DIR"] = old
