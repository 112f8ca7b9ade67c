"""LLVM code generation for kiln: host target detection, JIT compilation, the compile cache.

This layer takes LLVM IR (text or an ``llvmlite.ir.Module``) and gives callable native code:

* :mod:`compiler.llvm.target`: the host CPU, its features and a JIT-suited target machine;
  ``host_target().vector_width_bytes()`` is where codegen learns its vector width.
* :mod:`compiler.llvm.jit`: ``compile_ir`` (parse, verify, O3 with vectorizers, object code,
  ORC LLJIT) and ``load_object`` (link cached object code without optimizing).
* :mod:`compiler.llvm.cache`: a content-addressed, verified, atomically written disk cache
  whose events say why they missed.
"""
from compiler.llvm.cache import CacheEvent, CompileCache, KilnCacheWarning, get_or_compile
from compiler.llvm.jit import CodegenError, CompiledModule, compile_ir, load_object
from compiler.llvm.target import HostTarget, host_target

__all__ = ["CacheEvent", "CompileCache", "KilnCacheWarning", "get_or_compile", "CodegenError",
           "CompiledModule", "compile_ir", "load_object", "HostTarget", "host_target"]
