"""Throughput of kiln's vector math and Philox generators against numpy, same run.

    python benchmarks/bench_vecmath.py [--n 1000000] [--repeat 21] [--only exp,tanh]
    python benchmarks/bench_vecmath.py --smoke     # seconds: a check that it runs

For each function and dtype: one compiled map kernel (``vecmath.define_map_kernel``: host
vector width in the main loop, scalar tail) over n elements, against numpy computing the
same thing. numpy gets its best form: ufuncs write into a preallocated ``out=`` buffer (no
page faults from fresh temporaries); sigmoid and erf have no ufunc, so they run kiln's eager
implementation (what the interpreter executes). The random rows run
``philox.define_fill_kernel`` against the eager op's ``evaluate``. Figures are medians of
``--repeat`` timed calls after a warm-up, in Gelem/s (1e9 elements per second); the speedup
column is kiln / numpy. Only numbers from the same run compare: the machine is noisy.
``--smoke`` compiles and runs every kernel the same way on ``SMOKE_N`` elements (not a
multiple of any vector width, so the scalar tails run too) with ``SMOKE_REPEAT`` timed calls:
seconds, and figures that mean nothing.
"""
from __future__ import annotations

import argparse
import ctypes
import math
import os
import statistics
import sys
import time

import llvmlite.ir as ir
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compiler.llvm import philox  # noqa: E402
from compiler.llvm.jit import compile_ir  # noqa: E402
from compiler.llvm.target import host_target  # noqa: E402
from compiler.llvm.vecmath import FUNCTIONS, VecMath, define_map_kernel  # noqa: E402
from compiler.ops import get_op  # noqa: E402
from compiler.ops._special import erf as eager_erf  # noqa: E402

NP = {"f32": np.float32, "f64": np.float64}
RANDOM = ("random_uniform", "random_normal")
#: --smoke: elements per call and timed calls per figure
SMOKE_N = 4099
SMOKE_REPEAT = 3


def _eager_sigmoid(x):
    # the formula of kiln's eager sigmoid op
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def numpy_version(fn: str, x: np.ndarray, y: np.ndarray, out: np.ndarray):
    """A zero-argument callable computing fn the numpy way (see the module docstring)."""
    ufuncs = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p,
              "tanh": np.tanh, "sin": np.sin, "cos": np.cos}
    if fn in ufuncs:
        return lambda: ufuncs[fn](x, out=out)
    if fn == "softplus":
        return lambda: np.logaddexp(0, x, out=out)
    if fn == "pow":
        return lambda: np.power(x, y, out=out)
    if fn == "sigmoid":
        return lambda: _eager_sigmoid(x)
    if fn == "erf":
        return lambda: eager_erf(x)
    raise ValueError(fn)


def inputs(fn: str, dtype: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Typical arguments: what a network feeds these functions (no special values)."""
    npt = NP[dtype]
    if fn in ("log", "pow"):
        x = rng.uniform(0.01, 10.0, n)
    elif fn == "log1p":
        x = rng.uniform(-0.9, 10.0, n)
    elif fn in ("sin", "cos"):
        x = rng.uniform(0.0, 2 * math.pi, n)
    else:
        x = rng.normal(0.0, 3.0, n)
    y = rng.uniform(-3.0, 3.0, n)
    return x.astype(npt), y.astype(npt)


def median_seconds(call, repeat: int) -> float:
    call()
    call()  # warm-up: page in the buffers, resolve lazily bound symbols
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="elements per call")
    ap.add_argument("--repeat", type=int, default=21, help="timed calls per figure")
    ap.add_argument("--only", default="", help="comma-separated functions (default: all)")
    ap.add_argument("--dtypes", default="f32,f64")
    ap.add_argument("--scalar", action="store_true",
                    help="map kernels as scalar loops (lanes=1), left to LLVM's loop vectorizer")
    ap.add_argument("--smoke", action="store_true",
                    help=f"seconds, to check it runs: --n {SMOKE_N} --repeat {SMOKE_REPEAT}")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.repeat = SMOKE_N, SMOKE_REPEAT
    names = list(FUNCTIONS) + ["pow"] + list(RANDOM)
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(names)
        if unknown:
            ap.error(f"unknown function(s) {sorted(unknown)}; known: {', '.join(names)}")
        names = [f for f in names if f in wanted]
    dtypes = args.dtypes.split(",")

    host = host_target()
    mod = ir.Module(name="bench_vecmath")
    vm = VecMath(mod)
    for dt in dtypes:
        lanes = 1 if args.scalar else host.vector_lanes(4 if dt == "f32" else 8)
        for fn in names:
            if fn in RANDOM:
                philox.define_fill_kernel(mod, vm, f"{fn}_{dt}", fn.split("_")[1], dt,
                                          seed=1234)
            else:
                define_map_kernel(vm, f"{fn}_{dt}", fn, dt, lanes)
    t0 = time.perf_counter()
    compiled = compile_ir(mod, name=mod.name)
    print(f"# {host.describe()}")
    print(f"# fma={vm.use_fma}  scalar={args.scalar}  n={args.n}  repeat={args.repeat}  "
          f"compile {time.perf_counter() - t0:.2f}s ({len(names) * len(dtypes)} kernels)")
    print(f"{'function':16s} {'dtype':5s} {'kiln Gelem/s':>12s} {'numpy Gelem/s':>13s} "
          f"{'speedup':>8s}")

    rng = np.random.default_rng(0)
    n = args.n
    for fn in names:
        for dt in dtypes:
            out = np.empty(n, NP[dt])
            if fn in RANDOM:
                kern = compiled.ctypes_function(f"{fn}_{dt}", None, [ctypes.c_void_p] + [
                    ctypes.c_int64] * 3)
                addr = out.ctypes.data
                op = get_op(fn)
                attrs = op.check_attrs(dict(seed=1234, shape=(n,), dtype=dt))
                step = [np.array(7, np.int64)]
                t_kiln = median_seconds(lambda: kern(addr, n, 7, 0), args.repeat)
                t_np = median_seconds(lambda: op.evaluate(step, attrs), max(3, args.repeat // 4))
            else:
                x, y = inputs(fn, dt, n, rng)
                nin = 2 if fn == "pow" else 1
                kern = compiled.ctypes_function(f"{fn}_{dt}", None,
                                                [ctypes.c_void_p] * (nin + 1) + [ctypes.c_int64])
                ptrs = [x.ctypes.data, y.ctypes.data][:nin] + [out.ctypes.data]
                t_kiln = median_seconds(lambda: kern(*ptrs, n), args.repeat)
                slow = fn in ("erf",)  # the eager erf is a 60-term series: time it less often
                t_np = median_seconds(numpy_version(fn, x, y, np.empty_like(x)),
                                      3 if slow else args.repeat)
            print(f"{fn:16s} {dt:5s} {n / t_kiln / 1e9:12.3f} {n / t_np / 1e9:13.3f} "
                  f"{t_np / t_kiln:7.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
