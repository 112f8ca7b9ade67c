"""``kiln bench MODEL`` and ``kiln bench --suite``: time a model's step programs on each
backend (:mod:`frontend.benchmark` does the measuring; this module only wires options to it).

Output: a markdown table on stdout, or with ``--json`` one JSON object per line per model
and program (written as each model finishes, so a long suite can be followed or piped).
Progress ("benchmarking NAME ...") goes to stderr when it is a terminal. ``--profile`` adds,
per program, a table of its kernels from a separately compiled profiled copy (time per call,
share, bytes touched per call, GB/s, GFLOP/s; in the JSON as ``kernel_profile``).
``--plot FILE.png`` also draws the step times as a bar chart (needs matplotlib, the ``plot``
extra). ``--threads N`` runs the whole benchmark again in a child process whose
``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``KILN_NUM_THREADS`` are
N before numpy loads (as ``benchmarks/bench_steps.py --threads`` does): the eager runs'
OpenBLAS, PyTorch and kiln's code all get N threads; the child says so in one stderr line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from frontend.cli.errors import CliError, UsageError
from frontend.cli.loading import DEFAULT_BATCH, LoadedModel, load, sample_arrays

__all__ = ["add_parser", "run", "profile_table", "thread_env", "run_in_thread_child",
           "BACKENDS", "PROGRAMS", "THREAD_VARIABLES"]

BACKENDS = ("llvm", "eager", "torch")
PROGRAMS = ("train_step", "predict")
#: What ``--threads N`` sets in the child's environment before anything is imported.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "KILN_NUM_THREADS")
#: Set to N in the child of ``--threads N``, which then runs the benchmark itself.
THREADS_CHILD_ENV = "KILN_BENCH_THREADS_CHILD"


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Register ``bench`` on the subcommand set ``sub``."""
    p = sub.add_parser(
        "bench", parents=[common], help="time a model's programs: compiled vs eager vs PyTorch",
        description="Time MODEL's train_step and predict programs (or every model of the "
                    "built-in suite) compiled, eager and in PyTorch (when installed), after "
                    "checking that they agree. Figures are medians from this run.")
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="model file (.toml, .json, or .py); or use --suite")
    p.add_argument("--suite", action="store_true", help="benchmark the built-in suite")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="with --suite: only these comma-separated suite models")
    p.add_argument("--repeats", type=int, default=50, metavar="N",
                   help="timed calls per program and backend (default 50; the median counts)")
    p.add_argument("--warmup", type=int, default=5, metavar="N",
                   help="untimed calls first (default 5)")
    p.add_argument("--backends", default=",".join(BACKENDS), metavar="LIST",
                   help=f"comma-separated, must include llvm (default {','.join(BACKENDS)}; "
                        f"torch is skipped when not installed)")
    p.add_argument("--programs", default=",".join(PROGRAMS), metavar="LIST",
                   help=f"comma-separated (default {','.join(PROGRAMS)})")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help=f"batch size for MODEL (default: the model file's, else {DEFAULT_BATCH})")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line per model and program, instead of a table")
    p.add_argument("--profile", action="store_true",
                   help="also time each kernel of the compiled programs (time, bytes, GB/s, "
                        "GFLOP/s)")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="draw the step times as a bar chart (needs matplotlib)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="run the benchmark in a child process restricted to N threads: "
                        "OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and "
                        "KILN_NUM_THREADS set to N before numpy loads (eager's OpenBLAS, "
                        "torch and kiln's code alike); steadier timings on a loaded machine")
    p.set_defaults(run=run)


def _choices(text: str, allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [n for n in names if n not in allowed]
    problem = f"unknown {unknown[0]!r}" if unknown else "nothing named" if not names else None
    if problem:
        raise UsageError(f"{option}: {problem}; expected some of {', '.join(allowed)}")
    return names


def _api():
    try:
        import frontend.benchmark as api
    except ImportError as e:
        raise CliError(f"kiln bench needs frontend.benchmark, which this kiln does not have "
                       f"({e})") from None
    return api


def run(args) -> int:
    if (args.model is None) == (not args.suite):
        raise UsageError("give either MODEL or --suite" if args.model is None else
                         "give MODEL or --suite, not both")
    if args.only and not args.suite:
        raise UsageError("--only selects suite models; use it with --suite")
    for option, value, least in (("--repeats", args.repeats, 1), ("--warmup", args.warmup, 0),
                                 ("--batch-size", args.batch_size, 1),
                                 ("--threads", args.threads, 1)):
        if value is not None and value < least:
            raise UsageError(f"{option} must be at least {least}, got {value}")
    backends = _choices(args.backends, BACKENDS, "--backends")
    if "llvm" not in backends:
        raise UsageError("--backends must include llvm (the compiled program is the one timed "
                         "against the others)")
    programs = _choices(args.programs, PROGRAMS, "--programs")
    if args.plot:
        from frontend.cli.plot import require_matplotlib
        require_matplotlib()   # fail now, not after minutes of benchmarking
    if args.threads is not None:
        if os.environ.get(THREADS_CHILD_ENV) != str(args.threads):
            return run_in_thread_child(args.command_line, args.threads)
        _thread_line(args.threads)
    api = _api()
    options = dict(repeats=args.repeats, warmup=args.warmup, backends=backends,
                   programs=programs, profile=args.profile)
    records = []
    for name, model, x, y, batch in _jobs(args, api, programs):
        _progress(f"benchmarking {name} (batch {batch}) ...")
        done = api.bench_model(model, x, y, name=name, batch=batch, **options)
        if args.json:
            for r in done:
                print(json.dumps(r.to_json()), flush=True)
        records.extend(done)
    if not args.json:
        print(api.format_table(records))
        if args.profile:
            _print_profiles(records)
    if args.plot:
        from frontend.cli.plot import plot_records
        plot_records(records, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def thread_env(n: int) -> dict[str, str]:
    """This process's environment with every thread pool restricted to ``n`` threads (and the
    mark that tells the child it is the restricted run)."""
    env = dict(os.environ)
    env.update({name: str(n) for name in THREAD_VARIABLES})
    env[THREADS_CHILD_ENV] = str(n)
    # the child imports kiln as this process did, installed or from a checkout
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                  else []))
    return env


def run_in_thread_child(command_line: list[str], n: int) -> int:
    """Run ``kiln COMMAND_LINE`` again in a child process whose thread variables are ``n``.

    OpenBLAS (numpy's BLAS, which the eager runs use), OpenMP and MKL read their thread counts
    once, when loaded, and this process has loaded numpy already: only a fresh process can be
    restricted. The child's output is this command's output; its exit status is returned."""
    cmd = [sys.executable, "-m", "frontend.cli", *command_line]
    return subprocess.run(cmd, env=thread_env(n), check=False).returncode


def _thread_line(n: int) -> None:
    """In the restricted child: one line on stderr saying what the figures ran on."""
    from compiler.llvm.parallel import Threading
    from frontend.bench.torch_mirror import torch_threads

    variables = " ".join(f"{name}={os.environ.get(name)}" for name in THREAD_VARIABLES)
    print(f"kiln bench: --threads {n}: {variables}; kiln {Threading.host().num_threads} "
          f"thread(s), torch {torch_threads()}", file=sys.stderr, flush=True)


def _jobs(args, api, programs):
    """(name, model or factory, x, y, batch) for each model to benchmark."""
    if args.suite:
        entries = api.suite()
        if args.only:
            names = [e.name for e in entries]
            wanted = _choices(args.only, tuple(names), "--only")
            entries = [e for e in entries if e.name in wanted]
        for e in entries:
            x, y = e.data
            yield e.name, e.factory, x, y, e.batch
        return
    loaded = load(args.model)
    batch = args.batch_size or loaded.settings.batch_size or DEFAULT_BATCH
    x, y, batch = _bench_data(loaded, batch, "train_step" in programs, args.batch_size is None)
    yield loaded.name, loaded.model, x, y, batch


def _bench_data(loaded: LoadedModel, batch: int, targets: bool, shrink: bool):
    """``(x, y, batch)``: the model's training data, or zeros shaped like one batch when it
    has none (step times do not depend on the values of dense arithmetic). A data set
    smaller than the file's batch size is timed at its size (``fit`` would run exactly that
    batch); a --batch-size larger than the data is an error."""
    data = loaded.data()
    if data is not None:
        (x, y), _ = data
        n = len(next(iter(x.values())) if isinstance(x, dict) else
                x[0] if isinstance(x, (list, tuple)) else x)
        if n >= batch:
            return x, y, batch
        if shrink:
            return x, y, n
        raise CliError(f"{loaded.path}: the training data has {n} samples, fewer than "
                       f"--batch-size {batch}")
    xs, ys = sample_arrays(loaded, batch, targets)
    unwrap = lambda a: a[0] if len(a) == 1 else a   # noqa: E731
    return unwrap(xs), unwrap([a for a in ys if a is not None]) if targets else None, batch


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def _print_profiles(records) -> None:
    for r in records:
        rows = getattr(r, "kernel_profile", None)
        if rows:
            print(f"\nkernels of {r.model} {r.program} (batch {r.batch}), slowest first:")
            print(profile_table(rows))
    if not any(getattr(r, "kernel_profile", None) for r in records):
        print("\n(no per-kernel times were recorded)")


def profile_table(rows: list[dict]) -> str:
    """Per-kernel times (:meth:`runtime.profile.KernelTime.to_json` dicts) as aligned text,
    slowest first: time per call, share of the kernels' total, bytes touched per call, GB/s,
    and GFLOP/s for contractions ("-" for kernels that count no flops)."""
    rows = sorted(rows, key=lambda k: -k["ms_per_call"])
    total = sum(k["ms_per_call"] for k in rows) or 1.0
    width = max([len("kernel")] + [len(k["kernel"]) for k in rows])
    lines = [f"  {'kernel':<{width}}  {'family':<12} {'us/call':>10} {'share':>6} "
             f"{'bytes':>10} {'GB/s':>7} {'GFLOP/s':>8}"]
    for k in rows:
        gflops = f"{k['gflop_per_s']:8.1f}" if k["flops"] else f"{'-':>8}"
        lines.append(f"  {k['kernel']:<{width}}  {k['family']:<12} {1e3 * k['ms_per_call']:10.2f} "
                     f"{100 * k['ms_per_call'] / total:5.1f}% {k['bytes']:>10} "
                     f"{k['gb_per_s']:7.2f} {gflops}")
    return "\n".join(lines)
