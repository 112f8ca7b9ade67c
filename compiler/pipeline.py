"""The compile pipeline: graph -> passes -> kernel program -> LLVM -> native code.

``compile_graph`` runs every stage of DESIGN.md in order and keeps what each produced, so any
stage can be printed or dumped (``dump=["fuse", "llvm"]`` or ``"all"``; see :data:`STAGES`):

    graph        the graph as given
    <pass>       the graph after each graph pass of compiler/passes/manager.PIPELINE
    kernels      the kernel program (one kernel per fused group) with its memory plan
    llvm         LLVM IR as generated
    llvm-opt     LLVM IR after the O3 pipeline
    asm          host assembly

The native module is looked up in the compile cache (compiler/llvm/cache.py) by the hash of
its LLVM IR, the target and the kiln version, so a warm process skips LLVM entirely.
"""
from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from compiler.ir.graph import Graph
from compiler.kernels.ir import KernelProgram
from compiler.kernels.lower import lower
from compiler.llvm.codegen import ENTRY, TableLayout, generate
from compiler.llvm.parallel import Threading
from compiler.passes.manager import PassManager, PassRecord, pipeline_names
from compiler.passes.memory import MemoryPlan, plan_memory

__all__ = ["CompileOptions", "CompiledProgram", "compile_graph", "STAGES", "stage_names"]

LATE_STAGES = ("kernels", "llvm", "llvm-opt", "asm")


def stage_names() -> tuple[str, ...]:
    """Every dumpable stage, in pipeline order."""
    return ("graph",) + tuple(pipeline_names()) + LATE_STAGES


STAGES = stage_names()


@dataclass
class CompileOptions:
    """How to compile. ``dump``: stage names or "all"; ``dump_dir``: where dumps are written
    (one file per stage, prefixed by its position so they sort in pipeline order);
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

    @staticmethod
    def from_env(**overrides) -> "CompileOptions":
        """Options from ``KILN_DUMP`` (comma-separated stages or "all"), ``KILN_DUMP_DIR``,
        ``KILN_DISABLE_PASSES`` and ``KILN_DEBUG`` (>= 1 verifies after every pass), with
        explicit keyword arguments winning."""
        env = os.environ
        opts = dict(
            dump=[s for s in env.get("KILN_DUMP", "").split(",") if s],
            dump_dir=env.get("KILN_DUMP_DIR") or None,
            disable=[s for s in env.get("KILN_DISABLE_PASSES", "").split(",") if s],
            verify_each=int(env.get("KILN_DEBUG", "0") or 0) >= 1,
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
    stages: dict[str, str] = field(default_factory=dict)      # stage -> text (lazily for asm)

    def stage_text(self, name: str) -> str:
        """The text of stage ``name`` (see :data:`STAGES`)."""
        if name in self.stages:
            return self.stages[name]
        if name == "llvm-opt" and self.module.ir_after is not None:
            return self.module.ir_after
        if name == "asm":
            return self.module.assembly()
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
        raise ValueError(f"stage {name!r} was not recorded for this program (it came from the "
                         "compile cache without it; dump it with the cache disabled)")

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
            ext = {"llvm": "ll", "llvm-opt": "ll", "asm": "s"}.get(name, "txt")
            path = out / f"{pos:02d}-{name}.{ext}"
            path.write_text(text)
            written.append(path)
        return written


def compile_graph(graph: Graph, updates: Mapping[int, str] | None = None,
                  options: CompileOptions | None = None) -> CompiledProgram:
    """Compile ``graph`` (not modified: the passes work on a copy) to native code."""
    from compiler.llvm.cache import get_or_compile

    opts = options or CompileOptions.from_env()
    wanted = opts.wanted()
    timings: dict[str, float] = {}
    stages: dict[str, str] = {}
    if "graph" in wanted:
        stages["graph"] = str(graph)

    t0 = time.perf_counter()
    pm = PassManager(disable=opts.disable, verify_each=opts.verify_each,
                     dump=wanted)
    g, fusion = pm.run(graph)
    timings["passes"] = time.perf_counter() - t0
    stages.update(pm.dumps)

    t0 = time.perf_counter()
    kp = lower(g, lazy=fusion.lazy, updates=updates or {}, epilogue=fusion.epilogue)
    memory = plan_memory(kp)
    timings["lower"] = time.perf_counter() - t0
    stages["kernels"] = str(kp)

    t0 = time.perf_counter()
    module, layout = generate(kp, opts.threading or Threading.host())
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
                             event, stages)
    if opts.dump_dir is not None and wanted:
        result.dump(opts.dump_dir, wanted)
    return result
