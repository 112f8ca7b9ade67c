"""compile_ir / load_object: IR in, correct native code out, readable dumps, clear errors."""
import ctypes
import ctypes.util
import gc
import re

import numpy as np
import pytest
from llvm_testkernels import FUSED_ARGTYPES, FUSED_FN, fused_fma_relu_module, run_fused

from compiler.errors import KilnError
from compiler.llvm import jit
from compiler.llvm.jit import CodegenError, compile_ir, elf_symbols, load_object
from compiler.llvm.target import host_target


@pytest.fixture(scope="module")
def fused():
    return compile_ir(fused_fma_relu_module(), name="fused")


def _fp64_reference(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    return np.maximum(a.astype(np.float64) * b + c, 0.0)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 1000])
def test_fused_kernel_matches_numpy(fused, n):
    got, want = run_fused(fused, n)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # `contract` allows one rounding (FMA) instead of two: the result must then be within one
    # float32 ulp of the exact value, computed in float64 (a*b is exact there).
    exact = _fp64_reference(n)
    assert np.all(np.abs(got - exact) <= np.spacing(np.abs(exact).astype(np.float32)))


def test_fused_kernel_propagates_nan_like_numpy(fused):
    a = np.array([1, np.nan, 2, -3, 4, 5, 6, 7, 8], np.float32)
    b = np.ones_like(a)
    c = np.zeros_like(a)
    y = np.zeros_like(a)
    fn = fused.ctypes_function(FUSED_FN, None, FUSED_ARGTYPES)
    fn(a.ctypes.data, b.ctypes.data, c.ctypes.data, y.ctypes.data, a.size)
    np.testing.assert_array_equal(y, np.maximum(a * b + c, np.float32(0)))


def test_hot_loop_is_vectorized_for_this_cpu(fused):
    host = host_target()
    lanes = host.vector_lanes(4)
    assert "fmul contract" in fused.ir_before
    assert f"<{lanes} x float>" in fused.ir_after  # the loop vectorizer fired at host width
    asm = fused.assembly()
    body = asm[asm.index(f"{FUSED_FN}:"):]
    if host.arch == "x86_64":
        assert fused.asm_syntax == "intel"
        assert ".intel_syntax" in asm and "ptr [" in body
        packed_fma = [l for l in body.splitlines() if re.search(r"\bvfmadd\w*ps\b", l)]
        if host.has_feature("avx512f"):
            assert "zmm" in body
        elif host.has_feature("avx2") and host.has_feature("fma"):
            # The main loop is 8-wide ymm FMA; the vectorized epilogue may use xmm.
            assert any("ymm" in l for l in packed_fma), body
        elif host.has_feature("avx2"):
            assert "ymm" in body and not packed_fma
        else:
            assert re.search(r"\bmulps\b", body) and "xmm" in body


def test_compile_records_artifacts_and_timings(fused):
    assert fused.source == "compile" and fused.opt_level == 3
    assert fused.object_code[:4] == b"\x7fELF"
    assert fused.exports == (FUSED_FN,)
    defined, undefined = elf_symbols(fused.object_code)
    assert FUSED_FN in defined
    assert not any(s.startswith("llvm.") for s in undefined)
    t = fused.timings
    for step in ("parse", "verify", "optimize", "codegen", "link", "total"):
        assert getattr(t, step) >= 0.0
    assert "ModuleID" in fused.ir_before
    assert host_target().triple in fused.ir_after


def test_parse_error_names_module_and_quotes_llvm():
    with pytest.raises(CodegenError) as info:
        compile_ir("define i32 @f( {\n", name="broken_parse")
    msg = str(info.value)
    assert "broken_parse" in msg and "does not parse" in msg
    assert "expected" in msg  # LLVM's own diagnostic is kept
    assert isinstance(info.value, KilnError)


def test_verify_error_names_module_and_quotes_llvm():
    bad = """
define i32 @f(i32 %x) {
entry:
  br label %b
b:
  %y = add i32 %z, 1
  br label %c
c:
  %z = add i32 %x, 1
  ret i32 %y
}
"""
    with pytest.raises(CodegenError, match=r"(?s)broken_verify.*fails verification.*dominate"):
        compile_ir(bad, name="broken_verify")


def test_unresolved_symbol_is_an_error_not_a_crash():
    ir = """
declare double @kiln_no_such_function_anywhere(double)
define double @f(double %x) {
  %r = call double @kiln_no_such_function_anywhere(double %x)
  ret double %r
}
"""
    with pytest.raises(CodegenError, match="kiln_no_such_function_anywhere"):
        compile_ir(ir, name="unresolved")


def test_libm_and_libgomp_symbols_resolve_from_the_process():
    ir = """
declare float @expf(float)
declare i32 @omp_get_max_threads()
define float @e(float %x) {
  %r = call float @expf(float %x)
  ret float %r
}
define i32 @threads() {
  %t = call i32 @omp_get_max_threads()
  ret i32 %t
}
"""
    if ctypes.util.find_library("gomp") is None:  # pragma: no cover - libgomp is on this host
        with pytest.raises(CodegenError, match="omp_get_max_threads"):
            compile_ir(ir, name="runtime_libs")
        return
    mod = compile_ir(ir, name="runtime_libs")
    e = mod.ctypes_function("e", ctypes.c_float, [ctypes.c_float])
    assert e(1.0) == pytest.approx(np.exp(np.float32(1.0)), rel=1e-6)
    assert mod.ctypes_function("threads", ctypes.c_int, [])() >= 1


def test_load_object_runs_without_optimizing(fused):
    before = jit.stats.snapshot()
    loaded = load_object(fused.object_code, name="reloaded")
    after = jit.stats.snapshot()
    assert after["optimizations"] == before["optimizations"]
    assert after["codegens"] == before["codegens"]
    assert after["object_loads"] == before["object_loads"] + 1
    assert loaded.source == "object" and loaded.exports == (FUSED_FN,)
    got, want = run_fused(loaded, 1000, seed=3)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(CodegenError, match="without its optimized IR"):
        loaded.assembly()
    with_ir = load_object(fused.object_code, name="reloaded_ir", ir_after=fused.ir_after)
    assert with_ir.assembly() == fused.assembly()


def test_load_object_rejects_non_objects():
    with pytest.raises(CodegenError, match="not_an_object"):
        load_object(b"this is not object code" * 10, name="not_an_object", exports=["f"])


def test_unknown_symbol_lists_exports(fused):
    with pytest.raises(CodegenError, match=FUSED_FN):
        fused.address("nope")


def test_same_symbol_in_two_modules_and_lifetime():
    m1 = compile_ir(fused_fma_relu_module(salt=1.0), name="one")
    m2 = compile_ir(fused_fma_relu_module(salt=2.0), name="two")
    assert m1.address(FUSED_FN) != m2.address(FUSED_FN)
    fn = m1.ctypes_function(FUSED_FN, None, FUSED_ARGTYPES)
    del m1
    gc.collect()
    # The ctypes function keeps its module (and engine) alive.
    a = np.arange(16, dtype=np.float32) - 8
    y = np.empty_like(a)
    fn(a.ctypes.data, a.ctypes.data, a.ctypes.data, y.ctypes.data, a.size)
    np.testing.assert_allclose(y, np.maximum(a * a + a, 0))
    m2.close()
    assert m2.closed
    with pytest.raises(CodegenError, match="closed"):
        m2.address(FUSED_FN)


def test_opt_level_zero_is_correct_and_scalar():
    m = compile_ir(fused_fma_relu_module(), name="o0", opt_level=0)
    got, want = run_fused(m, 37)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert "x float>" not in m.ir_after
    with pytest.raises(ValueError):
        compile_ir(fused_fma_relu_module(), opt_level=5)


def test_dump_writes_every_stage(fused, tmp_path):
    paths = fused.dump(tmp_path / "dump")
    assert sorted(p.name for p in paths) == ["fused.ll", "fused.o", "fused.opt.ll", "fused.s"]
    assert (tmp_path / "dump" / "fused.o").read_bytes() == fused.object_code
    assert (tmp_path / "dump" / "fused.opt.ll").read_text() == fused.ir_after
