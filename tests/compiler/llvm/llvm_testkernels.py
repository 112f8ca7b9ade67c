"""Hand-written llvmlite.ir kernels shared by the compiler/llvm tests, and the worker that the
concurrency test starts in other processes (it must live in an importable module, not in a
pytest-collected file, for the ``spawn`` start method)."""
from __future__ import annotations

import ctypes

import llvmlite.ir as ir
import numpy as np

F32 = ir.FloatType()
I64 = ir.IntType(64)
PTR = ir.PointerType()  # opaque: LLVM 22 has no typed pointers

FUSED_FN = "fused_fma_relu"
FUSED_ARGTYPES = [ctypes.c_void_p] * 4 + [ctypes.c_int64]


def fused_fma_relu_module(name: str = "fused", salt: float | None = None) -> ir.Module:
    """``void fused_fma_relu(ptr a, ptr b, ptr c, ptr y, i64 n)``:
    ``y[i] = maximum(a[i]*b[i] + c[i], 0)`` over fp32.

    The fmul/fadd carry ``contract`` so LLVM may fuse them into FMA (a numerics choice: one
    rounding instead of two). ``llvm.maximum`` propagates NaN like ``np.maximum`` (``maxnum``
    would not); it is declared as a plain function with its mangled name, as
    ``declare_intrinsic`` mishandles it. ``noalias`` on the pointers lets the vectorizer skip
    its runtime overlap check. ``salt`` (if given) adds ``* 1.0``-style variation so tests get
    distinct IR texts (distinct cache keys) with the same results.
    """
    mod = ir.Module(name=name)
    fnty = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR, I64])
    fn = ir.Function(mod, fnty, name=FUSED_FN)
    for arg in fn.args[:4]:
        arg.add_attribute("noalias")
    a, b, c, y, n = fn.args
    maximum = ir.Function(mod, ir.FunctionType(F32, [F32, F32]), name="llvm.maximum.f32")

    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    done = fn.append_basic_block("done")
    bld = ir.IRBuilder(entry)
    bld.cbranch(bld.icmp_signed(">", n, I64(0)), loop, done)

    bld.position_at_end(loop)
    i = bld.phi(I64, name="i")
    i.add_incoming(I64(0), entry)

    def load(p: ir.Value) -> ir.Value:
        return bld.load(bld.gep(p, [i], inbounds=True, source_etype=F32), typ=F32)

    prod = bld.fmul(load(a), load(b), flags=("contract",))
    acc = bld.fadd(prod, load(c), flags=("contract",))
    if salt is not None:
        acc = bld.fadd(acc, F32(0.0), flags=("contract",))  # distinct text, same value
        acc = bld.fmul(acc, F32(1.0), name=f"salt{str(salt).replace('.', '_')}")
    out = bld.call(maximum, [acc, F32(0.0)])
    bld.store(out, bld.gep(y, [i], inbounds=True, source_etype=F32))
    nxt = bld.add(i, I64(1), name="next")
    i.add_incoming(nxt, loop)
    bld.cbranch(bld.icmp_signed("<", nxt, n), loop, done)

    bld.position_at_end(done)
    bld.ret_void()
    return mod


def run_fused(module, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run the fused kernel of a CompiledModule on random inputs of length ``n``;
    return (result, numpy reference)."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    y = np.full(n, np.float32(-7.0))  # poison: an unwritten element shows up
    fn = module.ctypes_function(FUSED_FN, None, FUSED_ARGTYPES)
    fn(a.ctypes.data, b.ctypes.data, c.ctypes.data, y.ctypes.data, n)
    return y, np.maximum(a * b + c, np.float32(0.0))


def concurrent_worker(cache_dir: str, salts: list[float], barrier, queue) -> None:
    """Child process: wait for the sibling, then compile (or load) every salted kernel through
    the shared cache directory and report (kinds, all results correct) or the error."""
    try:
        from compiler.llvm.cache import CompileCache

        cache = CompileCache(cache_dir)
        barrier.wait(timeout=60)
        kinds, ok = [], True
        for salt in salts:
            module, event = cache.get_or_compile(fused_fma_relu_module(salt=salt))
            got, want = run_fused(module, 1000, seed=int(salt))
            ok = ok and np.allclose(got, want, rtol=1e-6, atol=1e-6)
            kinds.append(event.kind)
        queue.put(("ok", kinds, ok))
    except BaseException as e:  # report, do not hang the parent
        queue.put(("error", repr(e), False))
