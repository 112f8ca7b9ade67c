"""OpenMP parallel regions in generated code, the way clang lowers ``#pragma omp parallel``.

Why libgomp rather than a scheduler of our own (DESIGN.md: "an existing runtime ... where it
serves"): JIT code can call ``GOMP_parallel(fn, data, num_threads, flags)`` with an outlined
function and an argument block, exactly as clang and gcc do; the calling thread becomes thread 0
and libgomp keeps a pool of workers. Measured on the project's 2-core machines: an empty region
costs about 1.3 us and GEMM scales 1.93-1.95x on 2 threads, whereas dispatching Python threads
onto a ctypes function costs 25-35 us per call.

What this module emits, into an ``llvmlite.ir`` module (opaque pointers only, as LLVM 22 wants):

* :func:`emit_parallel`: run ``body_fn(data)`` on every thread of a team (``#pragma omp
  parallel``, optionally with an ``if`` clause).
* :func:`emit_thread_id` / :func:`emit_num_threads`: ``omp_get_thread_num`` /
  ``omp_get_num_threads`` as i64, for use inside the body. Bodies must use the *actual* team size
  from :func:`emit_num_threads`, never ``Threading.num_threads``: libgomp may give fewer threads
  (a region inside another region runs on a team of one, ``OMP_THREAD_LIMIT`` caps it).
* :func:`emit_static_range` / :func:`emit_balanced_split`: this thread's share of ``n`` items
  (``schedule(static)`` without a chunk size: contiguous, sizes differ by at most one).

The team size is read at run time from the module's exported ``i32 @kiln_team_size``
(:data:`TEAM_SIZE_SYMBOL`), initialised to ``Threading.num_threads`` and clamped to
``[1, num_threads]`` on every read, so the runtime can shrink the team of an already compiled
program without recompiling (runtime/threads.py does, when another process holds a core and a
2-thread region would wait a scheduler time slice for its second thread). Work splits use the
actual team size, and every split is by output element, so results do not depend on it. A team
of one runs the body by a direct call (no libgomp round trip) unless an enclosing region is
active, where ``omp_get_thread_num`` would report the outer thread.

Serial fallback: with ``Threading(1)`` nothing references libgomp at all (no declaration, so the
object links on a machine without it): the body is called once, directly, and the thread id and
count are the constants 0 and 1, which LLVM folds away.

libgomp itself is loaded by :mod:`compiler.llvm.jit` when an object references ``GOMP_``/``omp_``
symbols, with ``GOMP_SPINCOUNT`` bounded first (idle workers would otherwise spin and steal the
second core from numpy or Python threads); :func:`openmp_available` goes through that same path.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import llvmlite.ir as ir

__all__ = ["Threading", "openmp_available", "emit_parallel", "emit_thread_id",
           "emit_num_threads", "emit_static_range", "emit_balanced_split", "emit_barrier",
           "body_function_type", "GOMP_SYMBOLS", "TEAM_SIZE_SYMBOL", "team_size_global"]

I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()

#: The libgomp entry points this module may reference (and nothing else).
GOMP_SYMBOLS = ("GOMP_parallel", "GOMP_barrier", "omp_get_thread_num", "omp_get_num_threads",
                "omp_in_parallel")

#: The exported ``i32`` global holding the team size parallel regions ask for (see above).
TEAM_SIZE_SYMBOL = "kiln_team_size"

#: Environment variable that overrides the host's thread count (like OMP_NUM_THREADS, but read
#: by kiln at compile time, since the count is baked into the generated code).
NUM_THREADS_ENV = "KILN_NUM_THREADS"


@functools.lru_cache(maxsize=None)
def openmp_available() -> bool:
    """True if libgomp is (or can be) loaded into this process.

    Loading goes through the JIT's own runtime-library loader, so ``GOMP_SPINCOUNT`` is set
    before libgomp reads its environment; a second loader here could race it and leave workers
    spinning forever.
    """
    from compiler.llvm import jit  # local: jit imports target, which must initialise first

    jit._ensure_runtime_libraries(["GOMP_parallel"])
    return jit._process_has_symbol("GOMP_parallel")


@dataclass(frozen=True)
class Threading:
    """How many threads generated code may use; part of what a compiled kernel is specialised on.

    ``num_threads == 1`` is the serial fallback: emitted code references no libgomp symbol.
    Larger values are the team size requested from ``GOMP_parallel``.
    """

    num_threads: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) \
                or self.num_threads < 1:
            raise ValueError("Threading.num_threads must be an int >= 1, "
                             f"got {self.num_threads!r}")

    @property
    def parallel(self) -> bool:
        """True if code emitted for this setting calls into libgomp."""
        return self.num_threads > 1

    @classmethod
    def serial(cls) -> "Threading":
        return cls(1)

    @classmethod
    def host(cls) -> "Threading":
        """The threads this process should use: ``$KILN_NUM_THREADS`` if set, else the CPUs this
        process may run on (its affinity mask, not the machine's core count: containers and
        ``taskset`` restrict it). Serial when libgomp cannot be loaded."""
        raw = os.environ.get(NUM_THREADS_ENV, "").strip()
        if raw:
            try:
                wanted = int(raw)
            except ValueError:
                raise ValueError(f"{NUM_THREADS_ENV} must be a positive integer, "
                                 f"got {raw!r}") from None
            if wanted < 1:
                raise ValueError(f"{NUM_THREADS_ENV} must be a positive integer, got {raw!r}")
        else:
            try:
                wanted = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):  # not Linux
                wanted = os.cpu_count() or 1
        if wanted > 1 and not openmp_available():
            wanted = 1
        return cls(max(1, wanted))


def body_function_type() -> ir.FunctionType:
    """``void (ptr data)``: the type of an outlined parallel body."""
    return ir.FunctionType(VOID, [PTR])


def _declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    """The module's declaration of ``name``, created on first use."""
    existing = module.globals.get(name)
    if existing is not None:
        if not isinstance(existing, ir.Function) or existing.function_type != fnty:
            raise ValueError(f"module already defines '{name}' with another type")
        return existing
    fn = ir.Function(module, fnty, name=name)
    fn.attributes.add("nounwind")
    return fn


def team_size_global(module: ir.Module, threading: Threading) -> ir.GlobalVariable:
    """The module's ``@kiln_team_size`` (created on first use, initialised to the compiled team
    size; one per module, shared by every parallel region in it)."""
    existing = module.globals.get(TEAM_SIZE_SYMBOL)
    if existing is not None:
        return existing
    gv = ir.GlobalVariable(module, I32, name=TEAM_SIZE_SYMBOL)
    gv.initializer = I32(threading.num_threads)
    gv.align = 4
    return gv


def emit_parallel(builder: ir.IRBuilder, threading: Threading, body_fn: ir.Function,
                  data_ptr: ir.Value, *, condition: ir.Value | None = None) -> None:
    """Run ``body_fn(data_ptr)`` on every thread of a team of (at most)
    ``threading.num_threads``: the run-time team size ``@kiln_team_size``, clamped.

    Returns when all threads have finished (the region ends with an implicit barrier). The
    calling thread is thread 0. ``condition`` (an i1) is OpenMP's ``if`` clause: when false the
    region runs on a team of one. A team of one outside any active region calls the body
    directly; inside one it still goes through libgomp, so that ``omp_get_thread_num`` is 0 in
    the body. Serial ``threading``: a plain direct call (no libgomp reference is emitted).
    """
    if body_fn.function_type != body_function_type():
        raise TypeError(f"parallel body '{body_fn.name}' must have type void (ptr), "
                        f"got {body_fn.function_type}")
    if not threading.parallel:
        builder.call(body_fn, [data_ptr])
        return
    module = builder.module
    gomp_parallel = _declare(module, "GOMP_parallel", ir.FunctionType(VOID, [PTR, PTR, I32, I32]))
    in_parallel = _declare(module, "omp_in_parallel", ir.FunctionType(I32, []))
    # A plain load: the runtime writes the size only between calls into the program.
    wanted = builder.load(team_size_global(module, threading), name="omp.want", align=4)
    cap = I32(threading.num_threads)
    team = builder.select(builder.icmp_signed(">", wanted, cap), cap, wanted)
    team = builder.select(builder.icmp_signed("<", team, I32(1)), I32(1), team, name="omp.team")
    if condition is not None:
        team = builder.select(condition, team, I32(1), name="omp.team.if")
    solo = builder.icmp_signed("==", team, I32(1))
    with builder.if_else(solo) as (one, many):
        with one:
            nested = builder.icmp_signed("!=", builder.call(in_parallel, []), I32(0))
            with builder.if_else(nested) as (inner, outer):
                with inner:
                    builder.call(gomp_parallel, [body_fn, data_ptr, I32(1), I32(0)])
                with outer:
                    builder.call(body_fn, [data_ptr])
        with many:
            # flags = 0: no proc_bind clause.
            builder.call(gomp_parallel, [body_fn, data_ptr, team, I32(0)])


def emit_thread_id(builder: ir.IRBuilder, threading: Threading) -> ir.Value:
    """This thread's number in the current team (i64; 0 is the thread that opened the region)."""
    if not threading.parallel:
        return I64(0)
    fn = _declare(builder.module, "omp_get_thread_num", ir.FunctionType(I32, []))
    return builder.sext(builder.call(fn, []), I64, name="omp.tid")


def emit_num_threads(builder: ir.IRBuilder, threading: Threading) -> ir.Value:
    """The size of the current team (i64): what libgomp actually gave, which may be less than
    ``threading.num_threads``."""
    if not threading.parallel:
        return I64(1)
    fn = _declare(builder.module, "omp_get_num_threads", ir.FunctionType(I32, []))
    return builder.sext(builder.call(fn, []), I64, name="omp.nthreads")


def emit_barrier(builder: ir.IRBuilder, threading: Threading) -> None:
    """``#pragma omp barrier``: wait until every thread of the team got here (no-op if serial).
    Every thread of the team must reach the same number of barriers."""
    if threading.parallel:
        builder.call(_declare(builder.module, "GOMP_barrier", ir.FunctionType(VOID, [])), [])


def emit_balanced_split(builder: ir.IRBuilder, n_items: ir.Value, part: ir.Value,
                        n_parts: ir.Value) -> tuple[ir.Value, ir.Value]:
    """``[begin, end)`` of part ``part`` of ``n_parts`` contiguous parts of ``n_items`` (all i64).

    The first ``n_items % n_parts`` parts get one item more, so part sizes differ by at most one
    and the parts tile ``[0, n_items)`` exactly, in order. A negative ``n_items`` counts as 0.
    """
    n = builder.select(builder.icmp_signed("<", n_items, I64(0)), I64(0), n_items)
    q = builder.udiv(n, n_parts, name="split.q")
    r = builder.urem(n, n_parts, name="split.r")
    extra_before = builder.select(builder.icmp_unsigned("<", part, r), part, r)
    begin = builder.add(builder.mul(part, q), extra_before, name="split.begin")
    size = builder.add(q, builder.zext(builder.icmp_unsigned("<", part, r), I64))
    return begin, builder.add(begin, size, name="split.end")


def emit_static_range(builder: ir.IRBuilder, threading: Threading,
                      n_items: ir.Value) -> tuple[ir.Value, ir.Value]:
    """This thread's ``[begin, end)`` share of ``n_items`` (i64), for use inside a parallel
    body: contiguous, balanced to within one item (see :func:`emit_balanced_split`). Serial:
    ``(0, n_items)``."""
    if not threading.parallel:
        zero = I64(0)
        n = builder.select(builder.icmp_signed("<", n_items, zero), zero, n_items)
        return zero, n
    return emit_balanced_split(builder, n_items, emit_thread_id(builder, threading),
                               emit_num_threads(builder, threading))
