"""The host target: what machine kiln generates code for, detected at run time.

Nothing here is hard-coded: the CPU name, its feature string, the triple and the data layout all
come from LLVM's host detection through llvmlite, so the same source tree produces AVX-512 code on
a machine that has it and SSE code on one that does not. Code generation asks this module (never a
constant) how wide its vectors should be.

Initialisation happens once per process (``ensure_initialized``). ``llvm.initialize()`` raises in
llvmlite 0.50, and is not needed: only the native target, its asm printer and its asm parser are.

Why the target machine is configured the way it is:

* opt level 3 and ``jit=True``: the machine code is loaded into this process by ORC LLJIT.
* code model ``jitdefault`` (the *large* model on x86-64): JIT-loaded sections and the libraries
  they call (libc, libm, libgomp) can be more than 2 GiB apart. With the small, non-PIC model
  RuntimeDyld hits an out-of-range 32-bit relocation and LLVM *aborts the process* (measured:
  assertion in RuntimeDyldELF::resolveX86_64Relocation). The large model costs a ``movabs`` per
  constant-pool address, which the optimizer hoists out of hot loops.
* Intel assembly syntax: LLVM reads ``-x86-asm-syntax`` when a target machine creates its
  MCAsmInfo, so the option is set *before* the first target machine exists. Setting it later
  is accepted silently and changes nothing (measured); ``jit.CompiledModule.assembly`` checks
  which syntax actually came out.
"""
from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass, field
from typing import Mapping

import llvmlite
import llvmlite.binding as llvm

__all__ = ["HostTarget", "host_target", "target_machine", "ensure_initialized", "llvm_lock"]

#: LLVM's C++ objects (target machines, the global context, cl::opt options) are not safe to use
#: from several Python threads at once; every kiln entry into LLVM takes this lock. It is
#: re-entrant so that helpers can nest.
llvm_lock = threading.RLock()

_initialized = False


def ensure_initialized() -> None:
    """Initialise LLVM's native target, asm printer and asm parser exactly once per process."""
    global _initialized
    with llvm_lock:
        if _initialized:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        if llvm.get_process_triple().split("-", 1)[0] in ("x86_64", "i386", "i686"):
            # Must precede the first TargetMachine (see module docstring). Affects assembly text
            # only; object code is identical in either syntax.
            llvm.set_option("kiln", "-x86-asm-syntax=intel")
        _initialized = True


@dataclass(frozen=True)
class HostTarget:
    """Everything code generation needs to know about the machine it runs on.

    ``features`` is LLVM's flattened feature string (``+avx2,+fma,-avx512f,...``), sorted so that
    it is stable across processes and can be part of a cache key; ``feature_map`` is the same
    information as a dict.
    """

    cpu: str
    features: str
    feature_map: Mapping[str, bool]
    triple: str
    data_layout: str
    llvm_version: tuple[int, int, int]
    llvmlite_version: str
    pointer_bytes: int
    target_machine: llvm.TargetMachine = field(repr=False, compare=False)

    def has_feature(self, name: str) -> bool:
        """True if the host CPU has the LLVM feature ``name`` (e.g. ``"avx2"``, ``"fma"``)."""
        return bool(self.feature_map.get(name.lstrip("+"), False))

    @property
    def arch(self) -> str:
        """The architecture part of the triple (``x86_64``, ``aarch64``, ...)."""
        return self.triple.split("-", 1)[0]

    def vector_width_bytes(self) -> int:
        """Width of the widest native SIMD register that codegen should fill, in bytes.

        64 with AVX-512F, 32 with AVX2 (or AVX: its 256-bit registers serve float math even
        without AVX2's integer ops), 16 otherwise (SSE2 is baseline on x86-64; NEON on aarch64).
        """
        if self.has_feature("avx512f"):
            return 64
        if self.has_feature("avx2") or self.has_feature("avx"):
            return 32
        return 16

    def vector_lanes(self, element_bytes: int) -> int:
        """Lanes of one native vector for elements of ``element_bytes`` (fp32 with AVX2: 8)."""
        if element_bytes <= 0:
            raise ValueError(f"element size must be positive, got {element_bytes}")
        return max(1, self.vector_width_bytes() // element_bytes)

    def describe(self) -> str:
        """One line for debug output: triple, CPU, vector width and the notable SIMD features."""
        notable = [f for f in ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "neon")
                   if self.has_feature(f)]
        return (f"{self.triple} cpu={self.cpu} vector={self.vector_width_bytes() * 8}-bit "
                f"features={'+' + ',+'.join(notable) if notable else '(none)'} "
                f"llvm={'.'.join(map(str, self.llvm_version))} llvmlite={self.llvmlite_version}")


@functools.lru_cache(maxsize=None)
def target_machine(opt_level: int = 3) -> llvm.TargetMachine:
    """A JIT-suited TargetMachine for the host at ``opt_level`` (cached per level)."""
    if not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be 0..3, got {opt_level}")
    ensure_initialized()
    with llvm_lock:
        triple = llvm.get_process_triple()
        tgt = llvm.Target.from_triple(triple)
        return tgt.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                         features=_host_features().flatten(),
                                         opt=opt_level, reloc="default", codemodel="jitdefault",
                                         jit=True)


def _host_features() -> llvm.FeatureMap:
    try:
        return llvm.get_host_cpu_features()
    except RuntimeError:
        # LLVM cannot enumerate features on some hosts; the CPU name alone still selects them.
        return llvm.FeatureMap()


@functools.lru_cache(maxsize=None)
def host_target() -> HostTarget:
    """Detect the host once per process and describe it (see :class:`HostTarget`)."""
    ensure_initialized()
    with llvm_lock:
        fmap = _host_features()
        tm = target_machine(3)
        td = tm.target_data
        layout = str(td)
        return HostTarget(
            cpu=llvm.get_host_cpu_name(),
            features=fmap.flatten(),
            feature_map=dict(fmap),
            triple=tm.triple,
            data_layout=layout,
            llvm_version=tuple(llvm.llvm_version_info),
            llvmlite_version=llvmlite.__version__,
            pointer_bytes=ctypes.sizeof(ctypes.c_void_p),
            target_machine=tm,
        )
