"""LLVM IR in, callable native code out.

``compile_ir`` runs the whole path for one module:

    parse -> verify -> optimize (new pass manager, O3, loop + SLP vectorizer) -> emit object
          -> link the object into ORC LLJIT -> resolve the exported symbols

and ``load_object`` runs only the last two steps, for object code that came out of the compile
cache. Both return a :class:`CompiledModule`, which owns the JIT engine: the code stays mapped as
long as the module (or any ctypes function made from it, which keeps a reference) is alive.

Engine choice: ORC LLJIT, one instance per module, fed the object image we emitted ourselves.
* One code path for fresh compiles and cache hits: both link the same object bytes, so a cached
  entry behaves exactly like a fresh compile (measured load ~1 ms).
* Resolution of libc/libm/libgomp symbols from the current process is one call
  (``add_current_process``), and missing symbols fail the link with an error instead of
  resolving to null (we then name them ourselves).
* One LLJIT per module makes teardown ordering explicit: :meth:`CompiledModule.close` disposes
  the resource tracker, then the engine. (llvmlite's ResourceTracker holds no reference to its
  LLJIT, so a shared engine could be freed first at interpreter exit.) An LLJIT costs ~0.5 ms.
MCJIT would work too, but needs an LLVM module per engine and its own object-cache hooks.

Every entry into LLVM holds ``target.llvm_lock``: LLVM's global state is not thread safe.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import llvmlite.binding as llvm
import llvmlite.ir as lir

from compiler.errors import KilnError
from compiler.llvm.target import host_target, llvm_lock, target_machine

__all__ = ["CodegenError", "CompileTimings", "CompiledModule", "JitStats", "compile_ir",
           "load_object", "optimized_ir", "stats", "elf_symbols"]

log = logging.getLogger("kiln.llvm")


class CodegenError(KilnError):
    """LLVM IR that does not parse, verify, compile or link; the message names the module."""


@dataclass
class CompileTimings:
    """Seconds spent in each step; steps that did not run stay 0.0. Never asserted on."""

    parse: float = 0.0
    verify: float = 0.0
    optimize: float = 0.0
    codegen: float = 0.0
    link: float = 0.0

    @property
    def total(self) -> float:
        return self.parse + self.verify + self.optimize + self.codegen + self.link

    def __str__(self) -> str:
        parts = [f"{k}={v * 1e3:.2f}ms" for k, v in vars(self).items() if v]
        return f"total={self.total * 1e3:.2f}ms " + " ".join(parts)


@dataclass
class JitStats:
    """Process-wide counters: how often each step ran. Tests and users use them to see, without
    timing anything, whether a module was optimized or merely loaded (a cache hit)."""

    parses: int = 0
    optimizations: int = 0
    codegens: int = 0
    object_loads: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(vars(self))


#: The counters of this process (see :class:`JitStats`).
stats = JitStats()

_library_ids = itertools.count()


class CompiledModule:
    """Native code for one LLVM module, loaded into this process.

    Attributes: ``name``, ``ir_before`` (IR text given to the compiler, or None if loaded from
    bare object code), ``ir_after`` (IR after the optimizer, or None; see
    :meth:`regenerate_ir_after_from`), ``object_code`` (the ELF object that was linked),
    ``exports`` (symbol names with addresses), ``timings``, ``opt_level``, ``source``
    (``"compile"`` or ``"object"``: whether LLVM's optimizer ran for this instance).
    """

    def __init__(self, *, name: str, object_code: bytes, addresses: dict[str, int],
                 engine: Any, tracker: Any, timings: CompileTimings, source: str,
                 opt_level: int, ir_before: str | None, ir_after: str | None):
        self.name = name
        self.object_code = object_code
        self.timings = timings
        self.source = source
        self.opt_level = opt_level
        self.ir_before = ir_before
        self._ir_after = ir_after
        self._ir_after_source: str | None = None
        self._addresses = dict(addresses)
        self._engine = engine
        self._tracker = tracker
        self._assembly: str | None = None

    @property
    def exports(self) -> tuple[str, ...]:
        """Names of the symbols this module defines and exports, sorted."""
        return tuple(sorted(self._addresses))

    @property
    def closed(self) -> bool:
        return self._engine is None

    @property
    def ir_after(self) -> str | None:
        """The IR after LLVM's optimizer, or None if unknown. After
        :meth:`regenerate_ir_after_from` it is made on first access (one optimizer run)."""
        if self._ir_after is None and self._ir_after_source is not None:
            self._ir_after = optimized_ir(self._ir_after_source, name=self.name,
                                          opt_level=self.opt_level)
            self._ir_after_source = None
        return self._ir_after

    def regenerate_ir_after_from(self, text: str) -> None:
        """Drop the carried optimized IR (and assembly); make them from ``text`` when asked.

        For object code that the compile cache found under IR differing from ``text`` only in
        names (see compiler/llvm/cache.py): the stored optimized IR carries the other module's
        names, while optimizing ``text`` gives the IR (and :meth:`assembly`) of this module,
        the same instructions under this module's names. Costs one optimizer run, on first
        access only. ``object_code`` stays what was linked: its internal symbols keep the other
        module's names.
        """
        self._ir_after = None
        self._ir_after_source = text
        self._assembly = None

    def address(self, fn_name: str) -> int:
        """Address of the exported symbol ``fn_name`` (valid while this module is alive)."""
        if self.closed:
            raise CodegenError(f"module '{self.name}' is closed; its code is unloaded")
        try:
            return self._addresses[fn_name]
        except KeyError:
            raise CodegenError(f"module '{self.name}' has no exported symbol '{fn_name}'; "
                               f"it exports: {', '.join(self.exports) or '(nothing)'}") from None

    def ctypes_function(self, fn_name: str, restype: Any, argtypes: Sequence[Any]) -> Any:
        """A ctypes callable for ``fn_name`` with the given C signature.

        The callable keeps a reference to this module, so the code cannot be unloaded while the
        callable exists. ctypes releases the GIL during the call.
        """
        proto = ctypes.CFUNCTYPE(restype, *argtypes)
        fn = proto(self.address(fn_name))
        fn._kiln_module = self  # lifetime: the engine must outlive every pointer into it
        return fn

    @property
    def asm_syntax(self) -> str:
        """``"intel"`` or ``"att"``: what :meth:`assembly` actually produced (checked, since LLVM
        accepts the syntax option silently whether or not it takes effect)."""
        text = self.assembly()
        return "intel" if ".intel_syntax" in text else "att"

    def assembly(self) -> str:
        """Host assembly of the optimized module (Intel syntax on x86 when LLVM honours it).

        Regenerated on first call by running only the code generator on ``ir_after`` with the
        same target machine, so it is the code that was linked (for a cache hit on IR that
        differs only in names: the same instructions, under this module's names), without
        slowing down compiles that never look at it.
        """
        if self._assembly is None:
            if self.ir_after is None:
                raise CodegenError(f"module '{self.name}' was loaded from object code without "
                                   "its optimized IR; no assembly can be produced")
            with llvm_lock:
                ctx = llvm.create_context()
                mod = llvm.parse_assembly(self.ir_after, context=ctx)
                try:
                    self._assembly = target_machine(self.opt_level).emit_assembly(mod)
                finally:
                    mod.close()
        return self._assembly

    def dump(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write ``<name>.ll`` (before), ``<name>.opt.ll`` (after), ``<name>.s`` and ``<name>.o``
        into ``directory`` (created if needed); return the paths written."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.name) or "module"
        written = []
        for suffix, text in ((".ll", self.ir_before), (".opt.ll", self.ir_after)):
            if text is not None:
                (out / (stem + suffix)).write_text(text)
                written.append(out / (stem + suffix))
        if self.ir_after is not None:
            (out / (stem + ".s")).write_text(self.assembly())
            written.append(out / (stem + ".s"))
        (out / (stem + ".o")).write_bytes(self.object_code)
        written.append(out / (stem + ".o"))
        return written

    def close(self) -> None:
        """Unload the code. Every address and ctypes function from this module becomes invalid."""
        with llvm_lock:
            tracker, engine = self._tracker, self._engine
            self._tracker = self._engine = None
            self._addresses.clear()
            # Order matters: the tracker's library lives inside the engine.
            if tracker is not None:
                tracker.close()
            if engine is not None:
                engine.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: llvmlite may already be torn down
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"exports={list(self.exports)}"
        return f"<CompiledModule {self.name!r} {self.source} O{self.opt_level} {state}>"


# ----------------------------------------------------------------------------------- compile


def ir_text(ir: str | lir.Module) -> str:
    """The textual form of ``ir`` (an llvmlite.ir.Module or IR text)."""
    return ir if isinstance(ir, str) else str(ir)


def compile_ir(ir: str | lir.Module, name: str | None = None, opt_level: int = 3) -> CompiledModule:
    """Parse, verify, optimize, compile and load LLVM IR; return the loaded module.

    The module's target triple and data layout are set to the host's (llvmlite.ir modules carry
    ``unknown-unknown-unknown``): the optimizer's cost models need them to vectorize.
    Raises :class:`CodegenError` naming the module and quoting LLVM if any step fails.
    """
    if not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be 0..3, got {opt_level}")
    text = ir_text(ir)
    if name is None:
        name = ir.name if isinstance(ir, lir.Module) and ir.name else "module"
    timings = CompileTimings()
    tm = target_machine(opt_level)
    with llvm_lock:
        mod = _parse_and_optimize(text, name, opt_level, timings)
        try:
            t3 = time.perf_counter()
            after = str(mod)
            exports = _module_exports(mod)
            try:
                obj = tm.emit_object(mod)
            except RuntimeError as e:
                raise CodegenError(
                    f"LLVM could not generate code for module '{name}':\n{_strip(e)}") from None
            stats.codegens += 1
            timings.codegen = time.perf_counter() - t3
        finally:
            mod.close()
        compiled = _link(obj, exports, name=name, timings=timings, source="compile",
                         opt_level=opt_level, ir_before=text, ir_after=after)
    log.debug("compiled %s: %s", name, timings)
    return compiled


def optimized_ir(ir: str | lir.Module, name: str | None = None, opt_level: int = 3) -> str:
    """The optimized IR text that :func:`compile_ir` would produce for ``ir``: parse, verify
    and optimize only (no code generation, nothing loaded). Raises :class:`CodegenError` like
    :func:`compile_ir`."""
    if not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be 0..3, got {opt_level}")
    text = ir_text(ir)
    if name is None:
        name = ir.name if isinstance(ir, lir.Module) and ir.name else "module"
    with llvm_lock:
        mod = _parse_and_optimize(text, name, opt_level, CompileTimings())
        try:
            return str(mod)
        finally:
            mod.close()


def _parse_and_optimize(text: str, name: str, opt_level: int,
                        timings: CompileTimings) -> llvm.ModuleRef:
    """Parse, verify, retarget to the host and optimize ``text``; the caller closes the module
    and holds ``llvm_lock``. Records the parse, verify and optimize times in ``timings``."""
    host = host_target()
    tm = target_machine(opt_level)
    # A private context per compile: its types and constants are freed with it, instead of
    # accumulating in LLVM's global context for the life of the process.
    ctx = llvm.create_context()
    t0 = time.perf_counter()
    try:
        mod = llvm.parse_assembly(text, context=ctx)
    except RuntimeError as e:
        raise CodegenError(f"LLVM IR of module '{name}' does not parse:\n{_strip(e)}") from None
    stats.parses += 1
    try:
        t1 = time.perf_counter()
        timings.parse = t1 - t0
        try:
            mod.verify()
        except RuntimeError as e:
            raise CodegenError(
                f"LLVM IR of module '{name}' fails verification:\n{_strip(e)}") from None
        t2 = time.perf_counter()
        timings.verify = t2 - t1
        mod.triple = host.triple
        mod.data_layout = host.data_layout
        _optimize(mod, tm, opt_level)
        stats.optimizations += 1
        timings.optimize = time.perf_counter() - t2
    except BaseException:
        mod.close()
        raise
    return mod


def load_object(object_code: bytes, name: str = "object", exports: Iterable[str] | None = None,
                *, opt_level: int = 3, ir_before: str | None = None,
                ir_after: str | None = None) -> CompiledModule:
    """Load object code (e.g. from the compile cache) without running LLVM's optimizer.

    Only symbol resolution happens: undefined symbols resolve against the current process
    (libc, libm; libgomp is loaded on demand). ``exports`` defaults to every global function and
    object the ELF symbol table defines. ``ir_before``/``ir_after`` are carried along for dumps.
    The bytes are trusted: LLVM does not defend against malicious objects, so verify them first
    (the compile cache does, by checksum).
    """
    if exports is None:
        exports = elf_symbols(object_code)[0]
    timings = CompileTimings()
    with llvm_lock:
        compiled = _link(bytes(object_code), sorted(set(exports)), name=name, timings=timings,
                         source="object", opt_level=opt_level, ir_before=ir_before,
                         ir_after=ir_after)
    log.debug("loaded %s from object code: %s", name, timings)
    return compiled


def _strip(err: BaseException) -> str:
    msg = str(err).strip()
    prefix = "LLVM IR parsing error"
    return msg[len(prefix):].strip() if msg.startswith(prefix) else msg


def _optimize(mod: llvm.ModuleRef, tm: llvm.TargetMachine, opt_level: int) -> None:
    """Run LLVM's default per-module pipeline (new pass manager) at ``opt_level``.

    Loop and SLP vectorization are switched on explicitly from O2 up: the tuning options'
    defaults are off in llvmlite, and without them an elementwise loop stays scalar.
    """
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    vectorize = opt_level >= 2
    pto.loop_vectorization = vectorize
    pto.slp_vectorization = vectorize
    pto.loop_interleaving = vectorize
    pto.loop_unrolling = opt_level >= 2
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(mod, pb)


def _module_exports(mod: llvm.ModuleRef) -> list[str]:
    """Defined, externally visible functions and globals of an (optimized) module."""
    names = []
    for value in itertools.chain(mod.functions, mod.global_variables):
        if value.is_declaration or value.name.startswith("llvm."):
            continue
        if value.linkage in (llvm.Linkage.external, llvm.Linkage.weak_any, llvm.Linkage.weak_odr,
                             llvm.Linkage.linkonce_any, llvm.Linkage.linkonce_odr) \
                and value.visibility != llvm.Visibility.hidden:
            names.append(value.name)
    return names


# -------------------------------------------------------------------------------------- link

#: Symbol prefixes that live in a runtime library Python does not load by itself.
_RUNTIME_LIBRARIES: dict[str, str] = {"GOMP_": "gomp", "omp_": "gomp"}
_loaded_runtime_libraries: set[str] = set()


def _process_has_symbol(name: str) -> bool:
    if llvm.address_of_symbol(name):
        return True
    try:
        ctypes.CDLL(None)[name]  # dlsym in the global scope, which LLJIT's process search uses
        return True
    except (AttributeError, OSError):
        return False


def _ensure_runtime_libraries(undefined: Iterable[str]) -> None:
    """Load libraries (libgomp) that the object needs but the process has not loaded.

    libgomp's idle workers spin and steal the second core from everything else unless told
    otherwise; the environment is read when libgomp loads, so set a bounded spin count here,
    unless the user chose one.
    """
    for sym in undefined:
        for prefix, lib in _RUNTIME_LIBRARIES.items():
            if not sym.startswith(prefix) or lib in _loaded_runtime_libraries:
                continue
            if _process_has_symbol(sym):
                _loaded_runtime_libraries.add(lib)
                continue
            path = ctypes.util.find_library(lib)
            if path is None:
                continue  # the link error below will name the missing symbol
            if lib == "gomp" and "OMP_WAIT_POLICY" not in os.environ:
                os.environ.setdefault("GOMP_SPINCOUNT", "10000")
            llvm.load_library_permanently(path)
            _loaded_runtime_libraries.add(lib)


def _link(obj: bytes, exports: Sequence[str], *, name: str, timings: CompileTimings,
          source: str, opt_level: int, ir_before: str | None,
          ir_after: str | None) -> CompiledModule:
    t0 = time.perf_counter()
    if _host_is_elf():
        # Also a sanity check before LLVM sees the bytes: a non-ELF or malformed object fails
        # here with a clear error. (It is no defence against crafted objects; see load_object.)
        try:
            undefined = elf_symbols(obj)[1]
        except CodegenError as e:
            raise CodegenError(f"module '{name}' could not be loaded: {e}") from None
    else:
        undefined = []  # Mach-O/COFF: LLJIT reports what it cannot resolve
    _ensure_runtime_libraries(undefined)
    # suppress_errors: LLJIT would print "JIT session error" to stderr; we raise instead.
    engine = llvm.create_lljit_compiler(target_machine(opt_level), suppress_errors=True)
    builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
    for sym in exports:
        builder.export_symbol(sym)
    try:
        tracker = builder.link(engine, f"{name}#{next(_library_ids)}")
    except RuntimeError as e:
        engine.close()
        missing = [s for s in undefined if not _process_has_symbol(s)]
        hint = f"; unresolved symbols: {', '.join(missing)}" if missing else ""
        raise CodegenError(f"module '{name}' could not be loaded into the JIT: "
                           f"{str(e).strip()}{hint}") from None
    addresses = {sym: tracker[sym] for sym in exports}
    stats.object_loads += 1
    timings.link = time.perf_counter() - t0
    return CompiledModule(name=name, object_code=obj, addresses=addresses, engine=engine,
                          tracker=tracker, timings=timings, source=source, opt_level=opt_level,
                          ir_before=ir_before, ir_after=ir_after)


# ------------------------------------------------------------------------------ ELF symbols

def _host_is_elf() -> bool:
    return llvm.get_object_format(host_target().triple) == "ELF"


_ELF_SH = struct.Struct("<IIQQQQIIQQ")
_ELF_SYM = struct.Struct("<IBBHQQ")


def elf_symbols(obj: bytes) -> tuple[list[str], list[str]]:
    """(defined global symbols, undefined symbols) of a little-endian ELF64 relocatable object.

    Defined means a global or weak function/object with default or protected visibility: the
    symbols a JIT library can export. Used to find a cached object's entry points and the
    libraries it needs. Raises :class:`CodegenError` for anything that is not such an object.
    """
    try:
        if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
            raise CodegenError("object code is not little-endian ELF64")
        shoff, = struct.unpack_from("<Q", obj, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
        if shentsize != _ELF_SH.size:
            raise CodegenError(f"unexpected ELF section header size {shentsize}")
        sections = [_ELF_SH.unpack_from(obj, shoff + i * shentsize) for i in range(shnum)]
        defined: list[str] = []
        undefined: list[str] = []
        for sh in sections:
            if sh[1] != 2:  # SHT_SYMTAB
                continue
            _, _, _, _, off, size, link, _, _, entsize = sh
            stroff, strsize = sections[link][4], sections[link][5]
            if entsize != _ELF_SYM.size or off + size > len(obj) or stroff + strsize > len(obj):
                raise CodegenError("malformed ELF symbol table")
            for i in range(size // entsize):
                st_name, info, other, shndx, _, _ = _ELF_SYM.unpack_from(obj, off + i * entsize)
                end = obj.index(b"\0", stroff + st_name, stroff + strsize)
                sym = obj[stroff + st_name:end].decode("utf-8", "replace")
                bind, typ, vis = info >> 4, info & 0xF, other & 0x3
                if not sym or bind not in (1, 2):  # STB_GLOBAL, STB_WEAK
                    continue
                if shndx == 0:
                    undefined.append(sym)
                elif typ in (1, 2) and vis in (0, 3):  # OBJECT/FUNC, DEFAULT/PROTECTED
                    defined.append(sym)
        return defined, undefined
    except (struct.error, IndexError, ValueError) as e:
        raise CodegenError(f"malformed ELF object: {e}") from None
