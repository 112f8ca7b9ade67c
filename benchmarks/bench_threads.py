"""Training steps on a shared machine: one thread vs the full team (fixed) vs the full team with
the adaptive policy (runtime/threads.py), idle and with a competing busy process.

    python benchmarks/bench_threads.py                   # mlp and mnist_cnn, idle and loaded
    python benchmarks/bench_threads.py mnist_cnn --calls 400 --rounds 5
    python benchmarks/bench_threads.py --smoke           # seconds: tiny blocks, still checks

Each variant is the same step program (same weights, same batch) compiled three ways in one
process: serial (``Threading(1)``), the host's team with ``KILN_THREAD_POLICY=fixed``, and the
host's team with the default adaptive policy. Every variant runs ``--calls`` steps per block; the
blocks rotate through the variants ``--rounds`` times, and the table shows the median over
rounds of each block's *mean* time per step (the mean, not the median, because a stall of a few
ms on one step in ten is what a user pays for in an epoch). "loaded" starts one CPU-bound
process (a Python busy loop) for the duration of the measurement, the situation in which a
2-thread region waits a scheduler time slice for its descheduled second thread.

Before timing, the three variants are checked to give the same loss on the same first step
(their results do not depend on the team size).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

DEFAULT_MODELS = ("mlp", "mnist_cnn")
BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


@contextlib.contextmanager
def competing_process(active: bool, seconds: float):
    """A CPU-bound child process for the duration of the block (nothing when not active)."""
    if not active:
        yield
        return
    child = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds=seconds)])
    try:
        time.sleep(0.2)   # let it get going and take a core
        yield
    finally:
        child.kill()
        child.wait()


def build_variants(entry, threads: int):
    """(feeds, {label: Program}) for one suite model's training step."""
    from compiler.llvm.parallel import Threading
    from compiler.pipeline import CompileOptions
    from frontend.bench.runner import _step_parts, copy_state
    from runtime.program import Program

    model = entry.factory()
    x, y = entry.data
    xs, ys = [x[:entry.batch]], [y[:entry.batch]]
    graph, state, updates = _step_parts(model, "train", xs, ys)
    variants = {}
    saved = os.environ.get("KILN_THREAD_POLICY")
    try:
        for label, n, policy in (("1 thread", 1, "fixed"), (f"{threads} fixed", threads, "fixed"),
                                 (f"{threads} adaptive", threads, "adaptive")):
            os.environ["KILN_THREAD_POLICY"] = policy
            variants[label] = Program(graph, copy_state(state, "llvm"), updates, backend="llvm",
                                      compile_options=CompileOptions(threading=Threading(n)))
    finally:
        if saved is None:
            os.environ.pop("KILN_THREAD_POLICY", None)
        else:
            os.environ["KILN_THREAD_POLICY"] = saved
    feeds = xs + ys
    losses = {label: float(p(feeds)[0]) for label, p in variants.items()}
    first = next(iter(losses.values()))
    for label, loss in losses.items():
        if loss != first:
            raise AssertionError(f"{entry.name}: first-step loss of '{label}' is {loss!r}, "
                                 f"expected {first!r} as on one thread")
    return feeds, variants


def block_mean_ms(program, feeds, calls: int) -> float:
    program(feeds)
    t0 = time.perf_counter()
    for _ in range(calls):
        program(feeds)
    return (time.perf_counter() - t0) / calls * 1e3


def measure(entry, threads: int, calls: int, rounds: int, loaded: bool) -> dict[str, float]:
    feeds, variants = build_variants(entry, threads)
    means: dict[str, list[float]] = {label: [] for label in variants}
    # a generous bound for the busy child; it is killed when the block ends
    with competing_process(loaded, seconds=600):
        for _ in range(rounds):
            for label, program in variants.items():
                means[label].append(block_mean_ms(program, feeds, calls))
    out = {label: float(np.median(v)) for label, v in means.items()}
    adaptive = variants[f"{threads} adaptive"].team
    out["_team"] = adaptive.size if adaptive is not None else 1
    return out


def main(argv: list[str] | None = None) -> int:
    from compiler.llvm.parallel import Threading
    from frontend.bench.suite import suite

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help=f"suite models (default: {' '.join(DEFAULT_MODELS)})")
    ap.add_argument("--calls", type=int, default=300, help="steps per timed block")
    ap.add_argument("--rounds", type=int, default=5, help="blocks per variant")
    ap.add_argument("--smoke", action="store_true", help="tiny blocks (a check, not a figure)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.calls, args.rounds = 3, 1
        args.models = args.models or ["mlp"]
    names = args.models or list(DEFAULT_MODELS)
    entries = {e.name: e for e in suite()}
    unknown = [n for n in names if n not in entries]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; the suite has {', '.join(entries)}")
    threads = Threading.host().num_threads
    if threads < 2:
        print(f"only {threads} thread available here (KILN_NUM_THREADS or no libgomp): "
              "nothing to compare")
        return 0
    print(f"# load average before: {os.getloadavg()[0]:.2f}; team of {threads}; "
          f"{args.rounds} rounds x {args.calls} steps; mean ms per step (median over rounds)")
    print(f"| training step | machine | 1 thread | {threads} threads, fixed | "
          f"{threads} threads, adaptive | adaptive vs best | adaptive team at end |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for loaded in (False, True):
            r = measure(entries[name], threads, args.calls, args.rounds, loaded)
            one, fixed, adaptive = (r["1 thread"], r[f"{threads} fixed"],
                                    r[f"{threads} adaptive"])
            print(f"| {name} | {'+1 busy process' if loaded else 'as is'} | {one:.3f} | "
                  f"{fixed:.3f} | {adaptive:.3f} | {adaptive / min(one, fixed):.2f}x | "
                  f"{r['_team']} |", flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
