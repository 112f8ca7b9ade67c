"""Training-step, predict and matmul benchmarks: kiln compiled (LLVM) vs kiln eager (numpy
interpreter) vs PyTorch (when installed), medians after warm-up, all figures from one run.

    python benchmarks/bench_steps.py                     # the whole suite and the matmuls
    python benchmarks/bench_steps.py mlp matmul          # some
    python benchmarks/bench_steps.py --threads 1         # the model suite on one thread
    python benchmarks/bench_steps.py --json out.json     # also write the records
    python benchmarks/bench_steps.py --smoke             # seconds: a check that it all runs

Models: the built-in suite of frontend.benchmark (the seed programs' models: mlp, mnist_cnn,
cnn_keras, linear_regression, rnn_keras_subclass, text_lstm), each program checked for equal
losses across the backends before it is timed (see frontend/bench/runner.py).

matmul: 512x512 float32 ``A @ B``, kiln's compiled GEMM vs numpy (OpenBLAS), on 1 and on 2
threads. OpenBLAS reads ``OPENBLAS_NUM_THREADS`` once, when numpy is loaded, so each thread
count runs in a child process with ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
``KILN_NUM_THREADS`` set before anything is imported; ``--threads N`` runs the model suite in
such a child too.

``--smoke`` checks that the benchmark runs, in seconds: by default only linear_regression
and the matmuls, at most 3 timed calls per figure, no PyTorch (not even imported), and a
64x64 matmul; the backends are still compared before timing and the tables printed as usual.
Its figures mean nothing.

The machine is shared: the load average before and after is printed; under load, every
2-thread kernel (OpenBLAS's and kiln's libgomp regions alike) can wait a scheduler time slice
(4 ms here) for its second thread, so compare only figures from the same run. kiln's programs
fall back to one thread while that happens (runtime/threads.py; benchmarks/bench_threads.py
measures it); the matmul children pin their team (``KILN_THREAD_POLICY=fixed``) so that the
2-thread row measures the 2-thread GEMM.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

_CHILD_ENV = "KILN_BENCH_CHILD"
MATMUL_N = 512
MATMUL_THREADS = (1, 2)
MATMUL_REPEATS = 50
#: --smoke: the suite entries run by default, the matmul size, the cap on timed calls
SMOKE_NAMES = ("linear_regression", "matmul")
SMOKE_MATMUL_N = 64
SMOKE_REPEATS = 3


def thread_env(n: int) -> dict[str, str]:
    """The environment of a child restricted to ``n`` threads everywhere."""
    env = dict(os.environ)
    env.update({"OPENBLAS_NUM_THREADS": str(n), "OMP_NUM_THREADS": str(n),
                "MKL_NUM_THREADS": str(n), "KILN_NUM_THREADS": str(n), _CHILD_ENV: "1"})
    return env


def _median_ms(fn, repeats: int, warmup: int = 3) -> float:
    """Median of ``repeats`` timed calls of ``fn`` after ``warmup`` calls, in milliseconds."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2] * 1e3


def matmul_child(threads: int, n: int = MATMUL_N, repeats: int = MATMUL_REPEATS) -> None:
    """Runs in a child whose thread variables were set before numpy loaded; prints JSON."""
    import numpy as np

    from compiler import GraphBuilder
    from compiler.llvm.parallel import Threading
    from compiler.pipeline import CompileOptions
    from runtime.program import Program

    os.environ["KILN_THREAD_POLICY"] = "fixed"   # measure the n-thread GEMM, not the policy
    b = GraphBuilder(name=f"matmul{n}")
    b.output(b.matmul(b.input("a", (n, n)), b.input("b", (n, n))))
    rng = np.random.default_rng(0)
    A = rng.random((n, n), dtype=np.float32)
    B = rng.random((n, n), dtype=np.float32)
    p = Program(b.graph, backend="llvm",
                compile_options=CompileOptions(threading=Threading(threads)))
    np.testing.assert_allclose(p([A, B])[0], A @ B, rtol=1e-4)
    # separate blocks, kiln's first: OpenBLAS's idle workers keep spinning for a while after
    # its last call and take the second core from whatever runs next (measured: kiln's 2-thread
    # median doubles when it follows the numpy block)
    tk = _median_ms(lambda: p([A, B]), repeats)
    tn = _median_ms(lambda: A @ B, repeats)
    print(json.dumps({"threads": threads, "n": n, "numpy_ms": tn, "kiln_ms": tk}))


def run_matmuls(smoke: bool = False) -> list[dict]:
    """Time the matmul on each of MATMUL_THREADS in its own child (see the module docstring)."""
    out = []
    for t in MATMUL_THREADS:
        cmd = [sys.executable, os.path.abspath(__file__), "--matmul-child", str(t)]
        r = subprocess.run(cmd + ["--smoke"] * smoke, env=thread_env(t), capture_output=True,
                           text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"matmul child ({t} threads) failed:\n{r.stderr}")
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def matmul_table(rows: list[dict]) -> str:
    """The matmul rows as a markdown table (one row per thread count)."""
    n = rows[0]["n"] if rows else MATMUL_N
    gf = 2 * n ** 3 / 1e9
    lines = [f"| {n}^2 f32 matmul | numpy ms | numpy GFLOP/s | kiln ms | kiln GFLOP/s | "
             "numpy/kiln |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        tn, tk = r["numpy_ms"], r["kiln_ms"]
        lines.append(f"| {r['threads']} thread(s) | {tn:.3f} | {gf / tn * 1e3:.1f} | {tk:.3f} | "
                     f"{gf / tk * 1e3:.1f} | {tn / tk:.2f}x |")
    return "\n".join(lines)


def machine_line(torch_wanted: bool = True) -> str:
    """CPUs, threads, BLAS threads, torch version and load: what the figures depend on."""
    from frontend.bench.torch_mirror import torch_available, torch_threads
    from compiler.llvm.parallel import Threading

    torch_v = "not installed"
    if not torch_wanted:
        torch_v = "not used (--smoke)"
    elif torch_available():
        import torch
        torch_v = f"{torch.__version__}, {torch_threads()} thread(s)"
    return (f"CPUs available {len(os.sched_getaffinity(0))}; kiln threads "
            f"{Threading.host().num_threads}; OPENBLAS_NUM_THREADS="
            f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; torch {torch_v}; "
            f"load average {os.getloadavg()[0]:.2f}")


def run_models(names: list[str], repeats: int, max_seconds: float, json_path: str | None,
               smoke: bool = False) -> None:
    """Bench the named suite entries (after checking the backends agree); print the table.
    ``smoke``: llvm and eager only (no PyTorch)."""
    from frontend.benchmark import BACKENDS, bench_model, format_table, suite

    backends = ("llvm", "eager") if smoke else BACKENDS
    records = []
    for e in suite():
        if e.name not in names:
            continue
        x, y = e.data
        t0 = time.perf_counter()
        records += bench_model(e.factory, x, y, name=e.name, batch=e.batch, repeats=repeats,
                               max_seconds=max_seconds, backends=backends,
                               warmup=1 if smoke else 5)
        print(f"  {e.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(format_table(records))
    if json_path:
        with open(json_path, "w") as f:
            json.dump([r.to_json() for r in records], f, indent=1)


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    from frontend.bench.suite import SUITE_NAMES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"any of {', '.join(SUITE_NAMES)}, matmul")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--max-seconds", type=float, default=20.0,
                    help="cap on each backend's timed block (at least 3 calls)")
    ap.add_argument("--threads", type=int, default=None,
                    help="run the models in a child restricted to this many threads")
    ap.add_argument("--json", default=None, help="write the model records here")
    ap.add_argument("--smoke", action="store_true",
                    help=f"seconds, to check it runs: by default only {' and '.join(SMOKE_NAMES)}, "
                         f"at most {SMOKE_REPEATS} timed calls, no PyTorch, a "
                         f"{SMOKE_MATMUL_N}^2 matmul")
    ap.add_argument("--matmul-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:
        args.repeats = min(args.repeats, SMOKE_REPEATS)
        args.max_seconds = min(args.max_seconds, 1.0)
    if args.matmul_child is not None:
        if args.smoke:
            matmul_child(args.matmul_child, SMOKE_MATMUL_N, SMOKE_REPEATS)
        else:
            matmul_child(args.matmul_child)
        return
    default = list(SMOKE_NAMES) if args.smoke else list(SUITE_NAMES) + ["matmul"]
    names = args.names or default
    unknown = [n for n in names if n not in SUITE_NAMES and n != "matmul"]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}")
    if args.threads is not None and not os.environ.get(_CHILD_ENV):
        cmd = [sys.executable, os.path.abspath(__file__)] + [a for a in (argv or sys.argv[1:])]
        sys.exit(subprocess.run(cmd, env=thread_env(args.threads), check=False).returncode)
    print(machine_line(torch_wanted=not args.smoke), flush=True)
    models = [n for n in names if n != "matmul"]
    if models:
        run_models(models, args.repeats, args.max_seconds, args.json, smoke=args.smoke)
    if "matmul" in names:
        print()
        print(matmul_table(run_matmuls(smoke=args.smoke)))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
