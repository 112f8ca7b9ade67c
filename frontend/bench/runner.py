"""``bench_model``: one model's step programs timed on kiln compiled, kiln eager and PyTorch.

What is timed. The model's own step programs, exactly the graphs ``fit`` (``train_step``:
forward, loss, backward, optimizer update) and ``predict`` run, called once per step, so the
figures are the backends' and not the Python loop of ``fit``. Each backend gets its own
:class:`~runtime.program.Program` built from the *same graph* with its own copy of the same
state (weights, optimizer slots), and the same batch: there is no need to clone the model
(kiln has no ``clone_model``, and rebuilding a subclassed model from a config is not always
possible), and the graphs are identical by construction. PyTorch gets a twin built from the
model's layers with the same weights (:mod:`frontend.bench.torch_mirror`).

Agreement before timing. The first two training steps of every backend are compared: the loss
of step 1 (same weights, so it must agree to float32 rounding) and of step 2 (after one update,
so it checks the optimizer too). compiled vs eager must agree to ``TOLERANCE`` relative on both;
torch to ``TOLERANCE`` on step 1 and ``TORCH_STEP2_TOLERANCE`` on step 2 (epsilon placement
differs, see torch_mirror). A disagreement raises :class:`BenchMismatch`: a timing of programs
that compute different things is worthless. For ``predict`` the outputs are compared. Models
with Dropout skip the torch comparison (different random masks), said in the record.

Timing. Each backend in its own block (see :mod:`frontend.bench.timing`), ``warmup`` calls then
``repeats`` timed calls, median. Compile time cold is the first build with an empty temporary
compile cache; cached is a second build of the same graph with that cache warm (what a new
process running the same script sees). A fresh model built in the *same* process would not hit
that entry: layer and model names are uniquified per process (``sequential_1``...) and are part
of the compiled IR.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from compiler.llvm.parallel import Threading
from frontend.bench.record import BenchRecord
from frontend.bench.timing import cold_compile_cache, median_ms
from runtime.program import Program

__all__ = ["BenchMismatch", "bench_model", "TOLERANCE", "TORCH_STEP2_TOLERANCE", "PROGRAMS",
           "BACKENDS"]

PROGRAMS = ("train_step", "predict")
BACKENDS = ("llvm", "eager", "torch")
#: Relative loss (or output) difference allowed between backends, float32.
TOLERANCE = 1e-4
#: torch after one optimizer step: Keras and torch place Adam's/RMSprop's epsilon differently.
TORCH_STEP2_TOLERANCE = 1e-3


class BenchMismatch(AssertionError):
    """The backends disagree before timing (the message names which and by how much)."""


def copy_state(state: dict[str, np.ndarray], backend: str) -> dict[str, np.ndarray]:
    """A private copy of a program's state for one backend (the programs update it in place)."""
    return {k: np.array(v, copy=True, order="C") for k, v in state.items()}


def _step_parts(model, kind: str, xs: list[np.ndarray], ys: list) -> tuple:
    """(graph, state, updates) of the model's ``kind`` step program for these arrays.

    Built with the eager backend (cheap: no compile) and not cached on the model, so the
    model's own programs and backend are left as they were.
    """
    from frontend.models.steps import _build_step

    saved = model._backend
    model._backend = "eager"
    try:
        step = _build_step(model, kind, xs, ys if kind == "train" else None)
    finally:
        model._backend = saved
    p = step.program
    return p.graph, p.state, p.updates


def _owned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` that owns its memory (never a view of a larger array)."""
    return np.ascontiguousarray(a).copy()


def _rel(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-6)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def _build_llvm(graph, state, updates) -> tuple[Program, float, float]:
    """The timed compiled program, cold compile seconds, cached compile seconds."""
    with cold_compile_cache():
        t0 = time.perf_counter()
        prog = Program(graph, copy_state(state, "llvm"), updates, backend="llvm")
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        Program(graph, copy_state(state, "llvm"), updates, backend="llvm")
        cached = time.perf_counter() - t0
    return prog, cold, cached


def _kernel_profile(graph, state, updates, feeds, calls: int, warmup: int) -> list[dict]:
    """Per-kernel times of a profiled build of the program over ``calls`` calls."""
    from compiler.pipeline import CompileOptions

    prog = Program(graph, copy_state(state, "llvm"), updates, backend="llvm",
                   compile_options=CompileOptions.from_env(profile=True))
    for _ in range(warmup):
        prog(feeds)
    prog.reset_profile()
    for _ in range(max(1, calls)):
        prog(feeds)
    return [k.to_json() for k in prog.profile() or []]


def _mirror(model, backends, need_train: bool):
    """(TorchMirror or None, note for the check string)."""
    if "torch" not in backends:
        return None, None
    from frontend.bench.torch_mirror import (TorchUnsupported, build_mirror, torch_available,
                                             torch_threads)
    if not torch_available():
        return None, "torch not installed"
    import torch
    torch.set_num_threads(torch_threads())
    try:
        return build_mirror(model, need_train=need_train), None
    except TorchUnsupported as e:
        return None, f"torch n/a: {e}"


def _check_train(name, runs: dict[str, Callable[[], float]], random_torch: bool) -> str:
    losses = {b: [run(), run()] for b, run in runs.items()}
    ref = losses["llvm"]
    parts = []
    if "eager" in losses:
        d1, d2 = _rel(ref[0], losses["eager"][0]), _rel(ref[1], losses["eager"][1])
        if not (d1 <= TOLERANCE and d2 <= TOLERANCE):
            raise BenchMismatch(f"{name} train_step: compiled and eager losses disagree: "
                                f"step 1 {ref[0]!r} vs {losses['eager'][0]!r}, step 2 {ref[1]!r} "
                                f"vs {losses['eager'][1]!r} (tolerance {TOLERANCE:g} relative)")
        parts.append(f"compiled vs eager max rel diff {max(d1, d2):.1e}")
    if "torch" in losses:
        if random_torch:
            parts.append("torch not compared (Dropout masks differ)")
        else:
            t = losses["torch"]
            d1, d2 = _rel(ref[0], t[0]), _rel(ref[1], t[1])
            if not (d1 <= TOLERANCE and d2 <= TORCH_STEP2_TOLERANCE):
                raise BenchMismatch(f"{name} train_step: compiled and torch losses disagree: "
                                    f"step 1 {ref[0]!r} vs {t[0]!r}, step 2 {ref[1]!r} vs {t[1]!r}"
                                    f" (tolerance {TOLERANCE:g}, step 2 "
                                    f"{TORCH_STEP2_TOLERANCE:g})")
            parts.append(f"torch {d1:.1e} (step 2 {d2:.1e})")
    return "; ".join(parts) + " over 2 steps"


def _check_predict(name, runs: dict[str, Callable[[], np.ndarray]]) -> str:
    outs = {b: run() for b, run in runs.items()}
    ref = outs["llvm"]
    parts = []
    for b, label in (("eager", "compiled vs eager"), ("torch", "torch")):
        if b in outs:
            d = _rel(ref, outs[b])
            if d > TOLERANCE:
                raise BenchMismatch(f"{name} predict: compiled and {b} outputs differ by {d:.2e} "
                                    f"relative (tolerance {TOLERANCE:g})")
            parts.append(f"{label} max rel diff {d:.1e}" if b == "eager" else f"torch {d:.1e}")
    return "outputs: " + "; ".join(parts)


def bench_model(model, x, y, *, name: str, batch: int, repeats: int = 50, warmup: int = 5,
                backends: Sequence[str] = BACKENDS, programs: Sequence[str] = PROGRAMS,
                profile: bool = False, max_seconds: float | None = None) -> list[BenchRecord]:
    """Time ``model``'s step programs on each backend; one :class:`BenchRecord` per program.

    ``model`` is a compiled kiln model (built or not; it is built by its first batch) or a
    zero-argument callable returning one. ``x``, ``y``: data with at least ``batch`` samples
    (as ``fit`` takes them); the first ``batch`` are used for every step. ``backends`` must
    include ``"llvm"``; ``"eager"`` and ``"torch"`` are optional (torch is skipped, with the
    reason in ``loss_check``, when not installed or when the model has no torch mapping).
    ``profile``: also run a separately compiled, profiled copy of the compiled program
    (``CompileOptions(profile=True)``, so the counters do not slow the timed one) and put its
    per-kernel times in ``kernel_profile`` (:meth:`runtime.profile.KernelTime.to_json` dicts). ``max_seconds`` caps each backend's timed block (at least 3 calls are timed;
    the record's ``repeats`` is the smallest count any backend got). The model's weights and
    programs are not modified.
    """
    from frontend.layers.base import Layer
    from frontend.models.data import check_lengths, convert_inputs, convert_targets

    if not isinstance(model, Layer) and callable(model):
        model = model()
    backends = tuple(backends)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or "llvm" not in backends:
        raise ValueError(f"bench_model: backends must include 'llvm' and be among "
                         f"{', '.join(BACKENDS)}, got {backends}")
    bad = [p for p in programs if p not in PROGRAMS]
    if bad:
        raise ValueError(f"bench_model: unknown program(s) {bad}; expected {PROGRAMS}")
    if not getattr(model, "compiled", False) and "train_step" in programs:
        raise ValueError(f"bench_model: model '{getattr(model, 'name', model)}' is not "
                         f"compiled; call model.compile(optimizer, loss) first")
    xb = x[:batch] if not isinstance(x, (list, tuple)) else [a[:batch] for a in x]
    yb = None if y is None else (y[:batch] if not isinstance(y, (list, tuple))
                                 else [a[:batch] for a in y])
    xs = convert_inputs(model, xb)
    ys = convert_targets(model, yb, xs) if "train_step" in programs else []
    # Own copies of the batch: a slice of a big data set is a view of the whole array, which
    # the eager memory tracker would count (it counts the buffer a view keeps alive), and the
    # timed programs should not read the data set's memory either.
    xs = [_owned(a) for a in xs]
    ys = [None if a is None else _owned(a) for a in ys]
    n = check_lengths(model, xs, ys or None)
    if n != batch:
        raise ValueError(f"bench_model: {name}: got {n} samples, need batch={batch}")
    records = []
    for prog in programs:
        kind = "train" if prog == "train_step" else "predict"
        records.append(_bench_program(model, name, prog, kind, xs,
                                      [a for a in ys if a is not None] if kind == "train" else [],
                                      batch, repeats, warmup, backends, profile, max_seconds))
    return records


def _bench_program(model, name, prog, kind, xs, ys, batch, repeats, warmup, backends,
                   profile, max_seconds) -> BenchRecord:
    graph, state, updates = _step_parts(model, kind, xs, ys)
    feeds = list(xs) + list(ys)
    compiled, cold, cached = _build_llvm(graph, state, updates)
    eager = None
    eager_peak = None
    if "eager" in backends:
        eager = Program(graph, copy_state(state, "eager"), updates, backend="eager")
        tracked = Program(graph, copy_state(state, "eager"), updates, backend="eager",
                          track_memory=True)
        tracked(feeds)
        eager_peak = int(tracked.peak_bytes)
    mirror, note = _mirror(model, backends, need_train=kind == "train")
    if mirror is not None:
        tx = mirror.inputs(xs[0]) if len(xs) == 1 else None
        if tx is None:
            mirror, note = None, "torch n/a: several inputs"
    if kind == "train":
        runs: dict = {"llvm": lambda: float(compiled(feeds)[0])}
        if eager is not None:
            runs["eager"] = lambda: float(eager(feeds)[0])
        if mirror is not None:
            ty = mirror.targets(ys[0])
            runs["torch"] = lambda: mirror.train_step(tx, ty)
        check = _check_train(name, runs, mirror is not None and mirror.random)
    else:
        runs = {"llvm": lambda: compiled(feeds)[0]}
        if eager is not None:
            runs["eager"] = lambda: eager(feeds)[0]
        if mirror is not None:
            runs["torch"] = lambda: mirror.predict(tx).numpy()
        check = _check_predict(name, runs)
    if note:
        check += f"; {note}"
    # Separate blocks, compiled first (see frontend.bench.timing).
    counts = []

    def timed(fn):
        ms, n = median_ms(fn, repeats, warmup, max_seconds)
        counts.append(n)
        return ms

    compiled_ms = timed(lambda: compiled(feeds))
    eager_ms = timed(lambda: eager(feeds)) if eager is not None else None
    torch_ms = timed(runs["torch"]) if "torch" in runs else None
    cp = compiled.compiled
    kernel_profile = _kernel_profile(graph, state, updates, feeds, min(counts), warmup) \
        if profile else None
    return BenchRecord(model=name, program=prog, batch=batch, compiled_ms=compiled_ms,
                       eager_ms=eager_ms, torch_ms=torch_ms, kernels=len(cp.kernels.kernels),
                       peak_arena_bytes=int(compiled.peak_bytes), eager_peak_bytes=eager_peak,
                       compile_s_cold=cold, compile_s_cached=cached, repeats=min(counts),
                       loss_check=check, kernel_profile=kernel_profile,
                       threads=Threading.host().num_threads)
