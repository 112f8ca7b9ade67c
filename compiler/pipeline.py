"""The compile pipeline: graph -> passes -> kernel program -> LLVM -> native code.

``compile_graph`` runs every stage of DESIGN.md in order and keeps what each produced, so any
stage can be printed or dumped (``dump=["fuse", "llvm"]`` or ``"all"``; see :data:`STAGES`):

    graph        the graph as given (for a training step built by a frontend: the forward
                 graph and loss, before differentiation)
    autodiff     the graph with gradients and optimizer updates (when the frontend gave the
                 forward graph as ``source``)
    <pass>       the graph after each graph pass of compiler/passes/manager.PIPELINE
    kernels      the kernel program (one kernel per fused group)
    memory       the arena plan: each temp's bytes, offset and live range
    dot          Graphviz DOT of the optimized graph, one cluster per kernel
    llvm         LLVM IR as generated
    llvm-opt     LLVM IR after the O3 pipeline
    asm          host assembly

The native module is looked up in the compile cache (compiler/llvm/cache.py) by the hash of
its LLVM IR (with names that cannot change the code erased, so a model rebuilt under new layer
names hits), the target and the kiln version, so a warm process skips LLVM's optimizer and
code generator.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from compiler.ir.graph import Graph
from compiler.kernels.ir import KernelProgram
from compiler.kernels.lower import lower
from compiler.llvm.codegen import CYCLES, ENTRY, TableLayout, generate
from compiler.llvm.parallel import Threading
from compiler.passes.manager import PassManager, PassRecord, pipeline_names
from compiler.passes.memory import (MemoryPlan, format_memory, plan_memory,
                                    reuse_dying_inputs)

__all__ = ["CompileOptions", "CompiledProgram", "compile_graph", "STAGES", "stage_names"]

#: passes over the kernel program (run inside lowering), disabled by name like graph passes
KERNEL_PASSES = ("merge",)
EARLY_STAGES = ("graph", "autodiff")
LATE_STAGES = ("kernels", "memory", "dot", "llvm", "llvm-opt", "asm")
_EXTENSIONS = {"llvm": "ll", "llvm-opt": "ll", "asm": "s", "dot": "dot"}


def stage_names() -> tuple[str, ...]:
    """Every dumpable stage, in pipeline order."""
    return EARLY_STAGES + tuple(pipeline_names()) + LATE_STAGES


STAGES = stage_names()


#: values of ``CompileOptions.check`` (and ``KILN_CHECK``; empty means None)
CHECKS = (None, "kernels", "nan")


def _check_from_env() -> str | None:
    value = os.environ.get("KILN_CHECK", "").strip().lower() or None
    if value not in CHECKS:
        raise ValueError(f"KILN_CHECK must be 'kernels' or 'nan' (or unset), got {value!r}")
    return value


def _debug_level() -> int:
    value = os.environ.get("KILN_DEBUG", "0") or "0"
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"KILN_DEBUG must be 0, 1 or 2, got {value!r}") from None


@dataclass
class CompileOptions:
    """How to compile. ``dump``: stage names or "all" (kept in memory:
    ``CompiledProgram.stage_text``); ``dump_dir``: where they are also written, in a
    directory per program, ``<dump_dir>/<program name>/NN-<stage>.<ext>`` (``NN``: the stage's
    position, so files sort in pipeline order; a later program of the same name in this
    process gets ``<name>-2``, ``<name>-3``, ...: a model's train step for a last, smaller
    batch does not overwrite the first);
    ``disable``: graph passes to skip (to bisect a wrong result); ``verify_each``: run the
    verifier after every pass; ``threading``: threads for big kernels; ``cache``: use the
    on-disk compile cache."""
    dump: Iterable[str] | str = ()
    dump_dir: str | os.PathLike | None = None
    disable: Iterable[str] = ()
    verify_each: bool = False
    threading: Threading | None = None
    cache: bool = True
    opt_level: int = 3
    #: count cycles and calls per kernel (runtime: ``Program.profile()``); KILN_DEBUG=2
    profile: bool = False
    #: print each compile's pass records and stage times to stderr; KILN_DEBUG>=1
    report: bool = False
    #: run-time checks against the eager interpreter (runtime/check.py): "kernels" (every
    #: kernel's output, after every call; temps then get arena bytes of their own and are not
    #: updated in place), "nan" (find the op where a NaN or Inf first appears), or None;
    #: KILN_CHECK
    check: str | None = None

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"CompileOptions.check must be one of "
                             f"{', '.join(repr(c) for c in CHECKS)}, got {self.check!r}")

    @staticmethod
    def from_env(**overrides) -> "CompileOptions":
        """Options from ``KILN_DUMP`` (comma-separated stages or "all"), ``KILN_DUMP_DIR``
        (default ``kiln-dumps`` in the current directory when ``KILN_DUMP`` is set),
        ``KILN_DISABLE_PASSES`` and ``KILN_DEBUG`` (>= 1: verify after every pass and print
        each compile's steps with timings; 2: also profile every kernel at run time), with
        explicit keyword arguments winning."""
        env = os.environ
        dump = [s for s in env.get("KILN_DUMP", "").split(",") if s]
        opts = dict(
            dump=dump,
            dump_dir=env.get("KILN_DUMP_DIR") or (DEFAULT_DUMP_DIR if dump else None),
            disable=[s for s in env.get("KILN_DISABLE_PASSES", "").split(",") if s],
            verify_each=_debug_level() >= 1,
            report=_debug_level() >= 1,
            profile=_debug_level() >= 2,
            check=_check_from_env(),
        )
        opts.update({k: v for k, v in overrides.items() if v is not None})
        return CompileOptions(**opts)

    def wanted(self) -> set[str]:
        d = self.dump
        if d == "all" or (not isinstance(d, str) and "all" in d):
            return set(STAGES)
        names = {d} if isinstance(d, str) else set(d)
        unknown = names - set(STAGES)
        if unknown:
            raise ValueError(f"unknown dump stage(s) {', '.join(sorted(unknown))}; stages are "
                             f"{', '.join(STAGES)}")
        return names


@dataclass
class CompiledProgram:
    """Everything one compile produced."""
    graph: Graph                       # after the graph passes
    kernels: KernelProgram
    layout: TableLayout
    memory: MemoryPlan
    module: object                      # compiler.llvm.jit.CompiledModule
    entry: object                       # ctypes function int32(void*)
    passes: list[PassRecord]
    timings: dict[str, float] = field(default_factory=dict)   # stage -> seconds
    cache_event: object = None
    #: stage -> its text, or a function making it (texts cheap to derive are made on demand)
    stages: dict[str, str | Callable[[], str]] = field(default_factory=dict)
    #: graph node name -> the kernel(s) computing it, fused nodes included
    node_kernels: dict[str, list[str]] = field(default_factory=dict)

    def stage_text(self, name: str) -> str:
        """The text of stage ``name`` (see :data:`STAGES`)."""
        if name in self.stages:
            text = self.stages[name]
            if callable(text):
                text = self.stages[name] = text()
            return text
        if name == "autodiff":
            raise ValueError("stage 'autodiff' is not available: this program was compiled "
                             "from a graph given as is, not from a forward graph and its loss")
        if name == "llvm-opt" and self.module.ir_after is not None:
            return self.module.ir_after
        if name == "asm":
            return self.module.assembly()
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
        raise ValueError(f"stage {name!r} was not recorded for this program (it came from the "
                         "compile cache without it; dump it with the cache disabled)")

    @property
    def cycle_counter(self) -> Callable[[], int] | None:
        """The counter a profiled program's kernel times are in (None when not profiled)."""
        if self.layout.profile_slot is None:
            return None
        return self.module.ctypes_function(CYCLES, ctypes.c_int64, [])

    def report(self) -> str:
        """What the compile did and how long each step took (``KILN_DEBUG=1`` prints it)."""
        kp = self.kernels
        lines = [f"kiln: compiled @{kp.name}: {len(kp.kernels)} kernels, "
                 f"{kp.bytes_per_step()} bytes touched per step, arena "
                 f"{self.memory.arena_bytes} bytes (no reuse {self.memory.naive_bytes}), cache "
                 f"{self.cache_event.kind if self.cache_event else 'off'}"]
        lines += ["  " + str(r) for r in self.passes]
        lines.append("  " + "  ".join(f"{k} {v * 1e3:.1f} ms" for k, v in self.timings.items()))
        return "\n".join(lines)

    def dump(self, directory: str | os.PathLike, stages: Iterable[str] | None = None) -> list[Path]:
        """Write the chosen stages (default: all recorded) as ``NN-<stage>.<ext>``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for pos, name in enumerate(STAGES):
            if stages is not None and name not in stages:
                continue
            try:
                text = self.stage_text(name)
            except ValueError:
                continue
            ext = _EXTENSIONS.get(name, "txt")
            path = out / f"{pos:02d}-{name}.{ext}"
            path.write_text(text)
            written.append(path)
        return written


#: Where ``KILN_DUMP`` writes when ``KILN_DUMP_DIR`` is not set (relative: the current directory).
DEFAULT_DUMP_DIR = "kiln-dumps"

#: Program dump directories handed out in this process, so that none is written twice.
_dump_dirs_used: set[Path] = set()
_dump_dirs_lock = threading.Lock()


def _program_dump_dir(root: Path, name: str) -> Path:
    """``root/name``, or ``root/name-2``, ``-3``... if this process already dumped there."""
    with _dump_dirs_lock:
        n = 1
        while True:
            path = (root / (name if n == 1 else f"{name}-{n}")).resolve()
            if path not in _dump_dirs_used:
                _dump_dirs_used.add(path)
                return path
            n += 1


def node_kernels(graph: Graph, plan, program: KernelProgram) -> dict[str, list[str]]:
    """Graph node name -> the kernels computing it: its own, or the one it is fused into
    (several for a node computed in steps, such as a convolution's im2col and GEMM)."""
    members = plan.groups(graph)
    nodes = {n.outputs[0].name for n in graph.nodes}
    out: dict[str, list[str]] = {}
    for k in program.kernels:
        for root in k.nodes:
            for name in members.get(root, [root]):
                if name in nodes and k.name not in out.setdefault(name, []):
                    out[name].append(k.name)
    return out


def kernel_dot(graph: Graph, kernels_of: Mapping[str, list[str]]) -> str:
    """Graphviz DOT of ``graph`` with one cluster per kernel (``kernels_of``: see
    :func:`node_kernels`): the nodes each kernel computes plus those fused into them.
    Kernels that compute one node together (a convolution's im2col and its GEMM) share one
    cluster, labelled with both names: a DOT node sits in one cluster only."""
    from compiler.ir.dot import to_dot

    groups = {n: " + ".join(kernels_of[n.outputs[0].name]) for n in graph.nodes
              if n.outputs[0].name in kernels_of}
    return to_dot(graph, groups)


def compile_graph(graph: Graph, updates: Mapping[int, str] | None = None,
                  options: CompileOptions | None = None,
                  source: str | None = None) -> CompiledProgram:
    """Compile ``graph`` (not modified: the passes work on a copy) to native code. ``source``:
    the text of the graph before autodiff, when ``graph`` is a training step built from it
    (then it is the ``graph`` stage and ``graph`` itself the ``autodiff`` stage)."""
    from compiler.llvm.cache import get_or_compile

    opts = options or CompileOptions.from_env()
    wanted = opts.wanted()
    timings: dict[str, float] = {}
    stages: dict[str, str | Callable[[], str]] = {}
    # (the input graph is never modified here, and programs keep theirs as built)
    stages["autodiff" if source is not None else "graph"] = lambda: str(graph)
    if source is not None:
        stages["graph"] = source

    t0 = time.perf_counter()
    disabled = set(opts.disable)
    unknown = disabled - set(pipeline_names()) - set(KERNEL_PASSES)
    if unknown:
        raise ValueError(f"cannot disable unknown pass(es) {', '.join(sorted(unknown))}; "
                         f"passes are {', '.join(pipeline_names() + list(KERNEL_PASSES))}")
    pm = PassManager(disable=disabled - set(KERNEL_PASSES), verify_each=opts.verify_each,
                     dump=wanted)
    g, fusion = pm.run(graph)
    timings["passes"] = time.perf_counter() - t0
    stages.update(pm.dumps)

    t0 = time.perf_counter()
    kp = lower(g, lazy=fusion.lazy, updates=updates or {}, epilogue=fusion.epilogue,
               merge="merge" not in disabled)
    if "merge" not in disabled:   # in-place reuse is part of the kernel-level passes
        if opts.check != "kernels":   # checked temps must keep what their kernel wrote
            reuse_dying_inputs(kp)
    memory = plan_memory(kp, reuse=opts.check != "kernels")
    timings["lower"] = time.perf_counter() - t0
    stages["kernels"] = lambda: str(kp)
    stages["memory"] = lambda: format_memory(kp, memory)
    kernels_of = node_kernels(g, fusion, kp)
    stages["dot"] = lambda: kernel_dot(g, kernels_of)

    t0 = time.perf_counter()
    module, layout = generate(kp, opts.threading or Threading.host(), profile=opts.profile)
    ir_text = str(module)
    timings["codegen"] = time.perf_counter() - t0
    stages["llvm"] = ir_text

    t0 = time.perf_counter()
    if opts.cache:
        compiled, event = get_or_compile(ir_text, name=graph.name, opt_level=opts.opt_level)
    else:
        from compiler.llvm.jit import compile_ir

        compiled, event = compile_ir(ir_text, name=graph.name, opt_level=opts.opt_level), None
    timings["llvm"] = time.perf_counter() - t0
    entry = compiled.ctypes_function(ENTRY, ctypes.c_int32, [ctypes.c_void_p])
    result = CompiledProgram(g, kp, layout, memory, compiled, entry, pm.records, timings,
                             event, stages, kernels_of)
    if opts.report:
        print(result.report(), file=sys.stderr)
    if opts.dump_dir is not None and wanted:
        where = _program_dump_dir(Path(opts.dump_dir), graph.name)
        written = result.dump(where, wanted)
        print(f"kiln: dumped {len(written)} stage(s) of @{graph.name} to {where}",
              file=sys.stderr)
    return result
