"""GEMM throughput: kiln's generated GEMM vs numpy (OpenBLAS), on 1 and on 2 threads.

    python benchmarks/bench_gemm.py [--dtype f32|f64] [--threads 1,2] [--budget 0.4] [--quick]
    python benchmarks/bench_gemm.py --smoke     # seconds: tiny shapes, a check that it runs

Each thread count runs in a child process started with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS set *before* numpy is imported (BLAS libraries read them once, at load), so
numpy and kiln get the same number of cores. Both sides are timed the way a compiled program
calls them: numpy with a preallocated ``out=``, kiln through its ctypes entry point with
argument values resolved once (a Python-level ``NumpyGemm`` call adds ~10 us of checks; the
bare ctypes call of a 14-argument no-op is printed, as the floor of the small shapes). Timing
alternates between the two in blocks (see ``ROUNDS``); the figures are medians.

This machine is shared and noisy: the child reports how much CPU other processes used while it
ran, and flags runs where that was high (2-thread figures are then meaningless).
Project target: 512x512 f32 single-threaded at >= 80% of numpy.

``--smoke`` runs the same code (children, compile, the result check against numpy, the
tables) on ``SMOKE_SHAPES``, small odd sizes in every operand layout, with one timing block
of 3 calls per side and no settling pauses: it finishes in seconds and its figures
mean nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (label, M, N, K, layout of A, layout of B); "T" = the operand is a transposed view.
SHAPES = [
    ("64x784x128", 64, 784, 128, "N", "N"),
    ("784x64x128 A^T", 784, 64, 128, "T", "N"),   # weight gradient X^T @ dY
    ("256^3", 256, 256, 256, "N", "N"),
    ("512^3", 512, 512, 512, "N", "N"),
    ("1024^3", 1024, 1024, 1024, "N", "N"),
    # extra: a B^T operand (dX = dY @ W^T) and a tiny problem
    ("64x784x128 B^T", 64, 784, 128, "N", "T"),
    ("64x10x64", 64, 10, 64, "N", "N"),
]
QUICK = {"64x784x128", "784x64x128 A^T", "512^3"}
#: --smoke: tiny shapes, none a multiple of a register block, each operand layout once
SMOKE_SHAPES = [
    ("33x47x29", 33, 47, 29, "N", "N"),
    ("33x47x29 A^T", 33, 47, 29, "T", "N"),
    ("33x47x29 B^T", 33, 47, 29, "N", "T"),
    ("64x10x64", 64, 10, 64, "N", "N"),
]

#: Timing alternates between kiln and numpy in ROUNDS blocks per shape, SETTLE seconds apart:
#: OpenBLAS's idle threads spin for ~0.1 s after a call and libgomp's for a few microseconds,
#: so calls interleaved one by one measure each library fighting the other's spinning threads
#: for the second core (measured: kiln 2 threads 4x slower than 1), not the library itself.
ROUNDS = 3
SETTLE = 0.25


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)
    except (OSError, ValueError, IndexError):
        return 0, 0


def child(threads: int, dtype: str, budget: float, quick: bool, smoke: bool = False) -> None:
    """Measure every shape (``smoke``: SMOKE_SHAPES) on ``threads`` threads; print one JSON
    object per line."""
    import resource

    import llvmlite.ir as ir
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from compiler.llvm.gemm import GEMM_ARGTYPES, emit_gemm, gemm_workspace_bytes
    from compiler.llvm.jit import compile_ir
    from compiler.llvm.parallel import Threading

    threading = Threading(threads)
    np_dtype = np.float32 if dtype == "f32" else np.float64
    mod = ir.Module(name="bench_gemm")
    fn = emit_gemm(mod, dtype, threading=threading)
    noop = ir.Function(mod, fn.function_type, name="bench_noop")  # the ctypes call floor
    ir.IRBuilder(noop.append_basic_block("entry")).ret_void()
    t0 = time.perf_counter()
    compiled = compile_ir(mod, name="bench_gemm")
    compile_s = time.perf_counter() - t0
    gemm = compiled.ctypes_function(fn.name, None, GEMM_ARGTYPES)
    call_noop = compiled.ctypes_function("bench_noop", None, GEMM_ARGTYPES)
    floor = []
    for _ in range(2000):
        t = time.perf_counter()
        call_noop(0, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, None)
        floor.append(time.perf_counter() - t)
    print(json.dumps({"kind": "compile", "seconds": compile_s, "blas": _numpy_blas(),
                      "call_us": float(np.median(floor)) * 1e6}), flush=True)

    rng = np.random.default_rng(0)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0, total0 = _busy_jiffies()
    wall0 = time.perf_counter()
    rounds, settle, max_reps = (1, 0.0, 3) if smoke else (ROUNDS, SETTLE, 1000)
    for label, M, N, K, la, lb in SMOKE_SHAPES if smoke else SHAPES:
        if quick and not smoke and label not in QUICK:
            continue
        a = (rng.standard_normal((K, M)).astype(np_dtype).T if la == "T"
             else rng.standard_normal((M, K)).astype(np_dtype))
        b = (rng.standard_normal((N, K)).astype(np_dtype).T if lb == "T"
             else rng.standard_normal((K, N)).astype(np_dtype))
        c = np.empty((M, N), np_dtype)
        out = np.empty((M, N), np_dtype)
        nbytes = gemm_workspace_bytes(dtype, M, N, K, threading)
        raw = np.zeros(nbytes + 64, np.uint8)  # touched once here, not in the timed calls
        work = raw.ctypes.data + (-raw.ctypes.data) % 64
        item = a.itemsize
        args = (M, N, K, a.ctypes.data, a.strides[0] // item, a.strides[1] // item,
                b.ctypes.data, b.strides[0] // item, b.strides[1] // item,
                c.ctypes.data, c.strides[0] // item, 0, work, None)

        def run_kiln() -> None:
            gemm(*args)

        def run_numpy() -> None:
            np.matmul(a, b, out=out)

        run_kiln()
        run_numpy()
        ok = bool(np.allclose(c, out, rtol=1e-3 if dtype == "f32" else 1e-10,
                              atol=1e-3 if dtype == "f32" else 1e-10))
        times: dict[str, list[float]] = {"kiln": [], "numpy": []}
        for _ in range(rounds):
            for name, f in (("kiln", run_kiln), ("numpy", run_numpy)):
                time.sleep(settle)
                f()  # warm: caches, and the thread pool awake
                deadline = time.perf_counter() + budget / rounds
                n = 0
                while (n < 3 or time.perf_counter() < deadline) and n < max_reps:
                    t = time.perf_counter()
                    f()
                    times[name].append(time.perf_counter() - t)
                    n += 1
        flops = 2.0 * M * N * K
        rec = {"kind": "shape", "label": label, "reps": len(times["kiln"]), "ok": ok}
        for name, ts in times.items():
            rec[name] = flops / float(np.median(ts)) / 1e9
            rec[name + "_us"] = float(np.median(ts)) * 1e6
        print(json.dumps(rec), flush=True)
    wall = time.perf_counter() - wall0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    busy1, total1 = _busy_jiffies()
    tick = os.sysconf("SC_CLK_TCK")
    own = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    cpus = len(os.sched_getaffinity(0))
    other = max(0.0, (busy1 - busy0) / tick - own) / (wall * cpus) if total1 > total0 else 0.0
    print(json.dumps({"kind": "load", "other": other, "cpus": cpus}), flush=True)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns 1 if any result was wrong."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", default="f32", choices=["f32", "f64"])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--budget", type=float, default=0.4,
                    help="seconds of timing per shape and implementation (default 0.4)")
    ap.add_argument("--quick", action="store_true", help="only " + ", ".join(sorted(QUICK)))
    ap.add_argument("--smoke", action="store_true",
                    help="seconds, to check it runs: tiny shapes, 3 timed calls each")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.dtype, args.budget, args.quick, args.smoke)
        return 0

    status = 0
    for threads in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        env["KILN_NUM_THREADS"] = str(threads)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(threads),
               "--dtype", args.dtype, "--budget", str(args.budget)] + (["--quick"] * args.quick) \
            + (["--smoke"] * args.smoke)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return proc.returncode
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        info = next(r for r in rows if r["kind"] == "compile")
        compile_s = info["seconds"]
        load = next(r for r in rows if r["kind"] == "load")
        if threads == int(args.threads.split(",")[0]):
            print(f"GEMM {args.dtype}: GFLOP/s, medians (kiln vs numpy on {info['blas']})")
        print(f"\n{threads} thread{'s' * (threads > 1)} (kiln compile {compile_s:.2f} s, "
              f"ctypes call of a no-op {info['call_us']:.1f} us)")
        print(f"  {'shape':<18}{'kiln':>9}{'numpy':>9}{'ratio':>8}{'kiln us':>10}{'reps':>6}")
        for r in rows:
            if r["kind"] != "shape":
                continue
            flag = "" if r["ok"] else "  WRONG RESULT"
            status |= not r["ok"]
            print(f"  {r['label']:<18}{r['kiln']:9.1f}{r['numpy']:9.1f}"
                  f"{r['kiln'] / r['numpy']:8.2f}{r['kiln_us']:10.1f}{r['reps']:6d}{flag}")
        note = "  (noisy: compare nothing)" if load["other"] > 0.10 else ""
        print(f"  other processes used {100 * load['other']:.0f}% of the "
              f"{load['cpus']} CPUs meanwhile{note}")
    return status


def _numpy_blas() -> str:
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # the label is informative only
        return "BLAS"


if __name__ == "__main__":
    sys.exit(main())
