"""compiler.llvm.gemm: the generated GEMM against numpy, for every shape, layout and mode.

Tolerances. kiln sums each C element over k in order with one rounding per FMA (and one per
K panel when C is reloaded), so its error is within the classical bound
``|fl(A@B) - A@B| <= gamma_n * (|A| @ |B|)`` with ``gamma_n ~ n * u``, n = K + 2 roundings
(K FMAs, the C update, the bias add of an epilogue) and u the unit roundoff (2^-24 f32,
2^-53 f64). The exact product is computed in float64 from f32 inputs (exact products, sum
error ~K * 2^-53, negligible) and in long double from f64 inputs; numpy is the second opinion.
Threads never change results: they are compared bit for bit.

Compile cost: every GEMM variant the file needs is emitted into two modules (default blocking;
tiny blocking that reaches every block edge with small matrices) compiled once per run.
"""
import ctypes
import re

import llvmlite.ir as ir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compiler.llvm import parallel
from compiler.llvm.gemm import (GEMM_ARGTYPES, PARALLEL_MIN_FLOPS, Blocking, Epilogue,
                                NumpyGemm, emit_gemm, gemm_function_name, gemm_workspace_bytes)
from compiler.llvm.jit import compile_ir, elf_symbols
from compiler.llvm.parallel import Threading
from compiler.llvm.target import host_target

THREADS = (1, 2) if parallel.openmp_available() else (1,)
NP = {"f32": np.float32, "f64": np.float64}
I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()


# ------------------------------------------------------------------------------ epilogues


def _llvm_type(value: ir.Value) -> tuple[ir.Type, int | None]:
    t = value.type
    return (t.element, t.count) if isinstance(t, ir.VectorType) else (t, None)


def _load_at(b: ir.IRBuilder, base: ir.Value, index: ir.Value, value: ir.Value) -> ir.Value:
    """Load ``value``'s type (scalar or vector) from ``base[index]``."""
    elem, _ = _llvm_type(value)
    return b.load(b.gep(base, [index], source_etype=elem), typ=value.type, align=4)


class BiasRelu(Epilogue):
    """``max(v + bias[col], 0)``, NaN-propagating like np.maximum; ``extra`` points to a table
    whose first entry is the bias pointer."""

    key = "bias_relu"

    def emit(self, b, value, row, col, extra):
        elem, n = _llvm_type(value)
        bias_ptr = b.load(extra, typ=PTR)
        biased = b.fadd(value, _load_at(b, bias_ptr, col, value))
        suffix = ("f32" if elem == ir.FloatType() else "f64")
        name = f"llvm.maximum.{f'v{n}' if n else ''}{suffix}"
        maximum = b.module.globals.get(name) or ir.Function(
            b.module, ir.FunctionType(value.type, [value.type] * 2), name=name)
        return b.call(maximum, [biased, ir.Constant(value.type, None)])


class AddIndex(Epilogue):
    """``v + (row * 4096 + col)``: checks the row and column each value is stored at."""

    key = "add_index"

    def emit(self, b, value, row, col, extra):
        elem, n = _llvm_type(value)
        idx = b.add(b.mul(row, I64(4096)), col)
        if n is None:
            return b.fadd(value, b.sitofp(idx, elem))
        vt = ir.VectorType(I64, n)
        zeros = ir.Constant(vt, None)
        splat = b.shuffle_vector(b.insert_element(zeros, idx, I32(0)), zeros,
                                 ir.Constant(ir.VectorType(I32, n), [0] * n))
        lanes = b.add(splat, ir.Constant(vt, list(range(n))))
        return b.fadd(value, b.sitofp(lanes, value.type))


class CountCalls(Epilogue):
    """Adds 1 (atomically) to ``counts[row * ld + col]`` per element it is applied to; ``extra``
    points to ``{ptr counts, i64 ld}``. The value passes through unchanged."""

    key = "count_calls"

    def emit(self, b, value, row, col, extra):
        _, n = _llvm_type(value)
        counts = b.load(extra, typ=PTR)
        ld = b.load(b.gep(extra, [I64(1)], source_etype=I64), typ=I64)
        base = b.add(b.mul(row, ld), col)
        for lane in range(n or 1):
            slot = b.gep(counts, [b.add(base, I64(lane))], source_etype=I32)
            b.atomic_rmw("add", slot, I32(1), "monotonic")
        return value


class WhichThread(Epilogue):
    """Writes ``omp_get_thread_num()`` to ``owner[row * ld + col]``; ``extra`` points to
    ``{ptr owner, i64 ld}``. Shows which thread stored each element."""

    key = "which_thread"

    def emit(self, b, value, row, col, extra):
        _, n = _llvm_type(value)
        tid_fn = b.module.globals.get("omp_get_thread_num") or ir.Function(
            b.module, ir.FunctionType(I32, []), name="omp_get_thread_num")
        tid = b.call(tid_fn, [])
        owner = b.load(extra, typ=PTR)
        ld = b.load(b.gep(extra, [I64(1)], source_etype=I64), typ=I64)
        base = b.add(b.mul(row, ld), col)
        for lane in range(n or 1):
            b.store(tid, b.gep(owner, [b.add(base, I64(lane))], source_etype=I32))
        return value


# ------------------------------------------------------------------------------ fixtures


def small_blocking(dtype: str) -> Blocking:
    """The host's register tile with tiny cache blocks: 2 tiles per M and N block, KC = 11
    (two unrolled k steps of 4 + 3 remainder, and one L x L transpose block + 3 when L = 8)."""
    d = Blocking.for_host(dtype)
    return Blocking(lanes=d.lanes, mr=d.mr, nr=d.nr, mc=2 * d.mr, kc=11, nc=2 * d.nr)


class Gemms:
    """Compiled GEMMs by (dtype, threads, blocking kind, epilogue key)."""

    def __init__(self):
        self.modules = {}
        self._fns = {}
        for kind in ("default", "small"):
            mod = ir.Module(name=f"test_gemm_{kind}")
            names = {}
            for dtype, t, epi in self._variants(kind):
                blk = small_blocking(dtype) if kind == "small" else None
                fn = emit_gemm(mod, dtype, threading=Threading(t), epilogue=epi, blocking=blk)
                names[dtype, t, epi.key if epi else None] = (fn.name, blk)
            self.modules[kind] = compile_ir(mod, name=f"test_gemm_{kind}")
            for (dtype, t, key), (fn_name, blk) in names.items():
                self._fns[dtype, t, kind, key] = NumpyGemm(self.modules[kind], fn_name, dtype,
                                                           Threading(t), blk)

    @staticmethod
    def _variants(kind: str):
        """(dtype, threads, epilogue): every plain GEMM with default blocking; with the tiny
        blocking, f64 serial, f32 on all thread counts and the epilogues (those that matter
        under threads on both counts)."""
        if kind == "default":
            return [(d, t, None) for d in ("f32", "f64") for t in THREADS]
        out = [("f64", 1, None)]
        for t in THREADS:
            out += [("f32", t, None), ("f32", t, BiasRelu()), ("f32", t, CountCalls())]
        if 2 in THREADS:
            out.append(("f32", 2, WhichThread()))
        return out + [("f32", 1, AddIndex())]

    def threads(self, dtype: str, kind: str) -> list[int]:
        """Thread counts compiled for plain GEMMs of ``dtype`` and blocking ``kind``."""
        return [t for t in THREADS if (dtype, t, kind, None) in self._fns]

    def __call__(self, dtype: str, threads: int = 1, kind: str = "default",
                 epilogue: str | None = None) -> NumpyGemm:
        return self._fns[dtype, threads, kind, epilogue]


@pytest.fixture(scope="module")
def gemms() -> Gemms:
    return Gemms()


# ------------------------------------------------------------------------------ helpers


def exact_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    wide = np.float64 if a.dtype == np.float32 else np.longdouble
    return a.astype(wide) @ b.astype(wide)


def assert_within_bound(got, a, b, c0=None, bias=None, *, accumulate=False, relu=False):
    """|got - exact| <= (K + 3) * u * (|A| @ |B| + |C0| + |bias|) + tiny, element-wise."""
    u = np.finfo(got.dtype).eps / 2
    K = a.shape[1]
    exact = exact_product(a, b)
    scale = np.abs(a).astype(exact.dtype) @ np.abs(b).astype(exact.dtype)
    if accumulate:
        exact = exact + c0
        scale = scale + np.abs(c0)
    if bias is not None:
        exact = exact + bias
        scale = scale + np.abs(bias)
    if relu:
        exact = np.maximum(exact, 0)  # 1-Lipschitz: the bound carries over
    bound = (K + 3) * u * scale + np.finfo(got.dtype).tiny
    err = np.abs(got.astype(exact.dtype) - exact)
    assert np.all(err <= bound), f"max err {err.max()} vs bound {bound[err > bound].min()}"


def operand(rng, shape, layout, dtype):
    """A (rows, cols) operand in a given memory layout: row-major, column-major (transposed),
    a strided sub-view, reversed rows (negative stride) or broadcast rows (zero stride)."""
    r, c = shape
    if layout == "row":
        return rng.standard_normal((r, c)).astype(dtype)
    if layout == "col":
        return np.asfortranarray(rng.standard_normal((r, c)).astype(dtype))
    if layout == "sub":
        return rng.standard_normal((2 * r + 1, 3 * c + 2)).astype(dtype)[1::2, 2::3]
    if layout == "neg":
        return rng.standard_normal((r, c)).astype(dtype)[::-1]
    if layout == "bcast":
        return np.broadcast_to(rng.standard_normal((1, c)).astype(dtype), (r, c))
    raise ValueError(layout)


# ------------------------------------------------------------------------------ tests

EDGE_SHAPES = [(0, 0, 0), (0, 5, 3), (5, 0, 3), (5, 3, 0), (1, 1, 1), (5, 1, 5), (1, 17, 9),
               (7, 17, 3), (6, 16, 4), (12, 32, 8), (13, 33, 9), (64, 10, 64), (37, 50, 23)]


@pytest.mark.parametrize("kind", ["default", "small"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_matches_numpy_on_edge_shapes(gemms, dtype, kind):
    rng = np.random.default_rng(1)
    for threads in gemms.threads(dtype, kind):
        g = gemms(dtype, threads, kind)
        for M, N, K in EDGE_SHAPES:
            a = rng.standard_normal((M, K)).astype(NP[dtype])
            b = rng.standard_normal((K, N)).astype(NP[dtype])
            c = np.full((M, N), np.nan, NP[dtype])  # poison: an unwritten element shows up
            g(a, b, c)
            assert_within_bound(c, a, b)
            np.testing.assert_allclose(c, a @ b, rtol=1e-4 if dtype == "f32" else 1e-12,
                                       atol=1e-4 if dtype == "f32" else 1e-12)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_long_k_crosses_default_kc_panels(gemms, dtype):
    rng = np.random.default_rng(2)
    blk = Blocking.for_host(dtype)
    M, N, K = blk.mr * 2 + 1, blk.nr + 3, 2 * blk.kc + 7
    a, b = operand(rng, (M, K), "col", NP[dtype]), operand(rng, (K, N), "row", NP[dtype])
    c0 = rng.standard_normal((M, N)).astype(NP[dtype])
    c = c0.copy()
    gemms(dtype)(a, b, c, accumulate=True)
    assert_within_bound(c, a, b, c0, accumulate=True)


def test_k_zero_writes_zeros_or_keeps_c(gemms):
    for kind in ("default", "small"):
        for threads in THREADS:
            g = gemms("f32", threads, kind)
            a, b = np.zeros((9, 0), np.float32), np.zeros((0, 19), np.float32)
            c = np.full((9, 19), np.nan, np.float32)
            g(a, b, c)
            assert np.array_equal(c, np.zeros_like(c))
            c0 = np.arange(9 * 19, dtype=np.float32).reshape(9, 19)
            c = c0.copy()
            g(a, b, c, accumulate=True)
            assert np.array_equal(c, c0 + 0)


layouts = st.sampled_from(["row", "col", "sub", "neg", "bcast"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(M=st.integers(0, 40), N=st.integers(0, 40), K=st.integers(0, 40), la=layouts, lb=layouts,
       padded_c=st.booleans(), accumulate=st.booleans(), dtype=st.sampled_from(["f32", "f64"]),
       kind=st.sampled_from(["default", "small"]), seed=st.integers(0, 2**16))
def test_property_any_shape_and_layout(gemms, M, N, K, la, lb, padded_c, accumulate, dtype, kind,
                                       seed):
    rng = np.random.default_rng(seed)
    a = operand(rng, (M, K), la, NP[dtype])
    b = operand(rng, (K, N), lb, NP[dtype])
    # C inside a larger buffer (row stride > N): the elements around it must stay untouched.
    full = rng.standard_normal((M + 2, N + 3 * padded_c)).astype(NP[dtype])
    c = full[1:M + 1, :N]
    before = full.copy()
    c0 = c.copy()
    available = gemms.threads(dtype, kind)
    threads = available[seed % len(available)]
    gemms(dtype, threads, kind)(a, b, c, accumulate=accumulate)
    assert_within_bound(c, a, b, c0, accumulate=accumulate)
    outside = np.ones(full.shape, bool)
    outside[1:M + 1, :N] = False
    assert np.array_equal(full[outside], before[outside])


@pytest.mark.parametrize("kind", ["default", "small"])
def test_threads_give_bitwise_identical_results(gemms, kind):
    if len(THREADS) < 2:
        pytest.skip("libgomp not loadable")
    rng = np.random.default_rng(3)
    # Above PARALLEL_MIN_FLOPS; tall (split M, shared packed B), wide (split N), square.
    for M, N, K in ((203, 45, 64), (21, 300, 90), (90, 100, 60), (128, 128, 128)):
        assert M * N * K >= PARALLEL_MIN_FLOPS
        for dtype in ("f32", "f64") if kind == "default" else ("f32",):
            a = operand(rng, (M, K), "row", NP[dtype])
            b = operand(rng, (K, N), "col" if M > N else "row", NP[dtype])
            c1, c2 = (np.full((M, N), np.nan, NP[dtype]) for _ in range(2))
            gemms(dtype, 1, kind)(a, b, c1)
            gemms(dtype, 2, kind)(a, b, c2)
            assert np.array_equal(c1.view(np.uint8), c2.view(np.uint8)), (M, N, K, dtype)
            assert_within_bound(c2, a, b)


def test_two_threads_split_the_output_into_blocks(gemms):
    """The 2-thread GEMM really runs on two threads, each storing one contiguous block of
    whole tiles: rows when M has more tiles (split M), columns otherwise (split N)."""
    if len(THREADS) < 2:
        pytest.skip("libgomp not loadable")
    rng = np.random.default_rng(7)
    blk = small_blocking("f32")
    # (13 x 40 x 1000 with A^T: row-major A would take the dot path, tested on its own.)
    for M, N, K, split in ((120, 40, 120, "M"), (13, 40, 1000, "M"), (6, 400, 240, "N")):
        assert M * N * K >= PARALLEL_MIN_FLOPS
        a = operand(rng, (M, K), "col" if K > 512 else "row", np.float32)
        b = operand(rng, (K, N), "row", np.float32)
        owner = np.full((M, N), -1, np.int32)
        table = (ctypes.c_int64 * 2)(owner.ctypes.data, N)
        c = np.empty((M, N), np.float32)
        gemms("f32", 2, "small", "which_thread")(a, b, c, extra=ctypes.addressof(table))
        assert set(np.unique(owner)) == {0, 1}
        if split == "M":
            per_row = owner[:, 0]
            assert (owner == per_row[:, None]).all() and (np.diff(per_row) >= 0).all()
            assert np.argmax(per_row) % blk.mr == 0  # the boundary is between tiles
        else:
            per_col = owner[0, :]
            assert (owner == per_col[None, :]).all() and (np.diff(per_col) >= 0).all()
            assert np.argmax(per_col) % blk.nr == 0
        assert_within_bound(c, a, b)


def test_bias_relu_epilogue_is_exact(gemms):
    rng = np.random.default_rng(4)
    for threads in THREADS:
        for M, N, K, accumulate in ((7, 19, 30, False), (13, 40, 25, True), (90, 100, 60, False),
                                    (5, 3, 0, False), (4, 9, 0, True), (1, 37, 20, False),
                                    (1, 37, 20, True), (13, 1, 21, False), (13, 1, 21, True)):
            a, b = operand(rng, (M, K), "row", np.float32), operand(rng, (K, N), "row", np.float32)
            c0 = rng.standard_normal((M, N)).astype(np.float32)
            bias = rng.standard_normal(N).astype(np.float32)
            table = (ctypes.c_void_p * 1)(bias.ctypes.data)
            plain, fused = c0.copy(), c0.copy()
            gemms("f32", threads, "small")(a, b, plain, accumulate=accumulate)
            gemms("f32", threads, "small", "bias_relu")(a, b, fused, accumulate=accumulate,
                                                        extra=ctypes.addressof(table))
            # Applied once, to the final value: equal to numpy applying it afterwards.
            assert np.array_equal(fused, np.maximum(plain + bias, np.float32(0)))
            assert_within_bound(fused, a, b, c0, bias, accumulate=accumulate, relu=True)


def test_bias_relu_propagates_nan(gemms):
    a = np.ones((3, 4), np.float32)
    a[1, 2] = np.nan
    b = np.ones((4, 20), np.float32)
    bias = np.full(20, -100.0, np.float32)  # relu would otherwise clamp everything to 0
    table = (ctypes.c_void_p * 1)(bias.ctypes.data)
    c = np.empty((3, 20), np.float32)
    gemms("f32", 1, "small", "bias_relu")(a, b, c, extra=ctypes.addressof(table))
    assert np.isnan(c[1]).all() and not np.isnan(c[[0, 2]]).any()


def test_epilogue_gets_row_and_column(gemms):
    rng = np.random.default_rng(5)
    for threads in (1,):
        for M, N, K in ((13, 37, 20), (80, 70, 50), (1, 37, 20), (13, 1, 20)):
            a, b = operand(rng, (M, K), "row", np.float32), operand(rng, (K, N), "row", np.float32)
            plain, indexed = np.empty((M, N), np.float32), np.empty((M, N), np.float32)
            gemms("f32", threads, "small")(a, b, plain)
            gemms("f32", threads, "small", "add_index")(a, b, indexed)
            index = (np.arange(M)[:, None] * 4096 + np.arange(N)).astype(np.float32)
            assert np.array_equal(indexed, plain + index)


def test_epilogue_applied_exactly_once_per_element(gemms):
    rng = np.random.default_rng(6)
    for threads in THREADS:
        # K = 40 is four KC panels with the small blocking; 90x100x60 runs on two threads.
        for M, N, K in ((13, 37, 40), (90, 100, 60), (6, 16, 0), (1, 37, 9), (13, 1, 9)):
            a, b = operand(rng, (M, K), "row", np.float32), operand(rng, (K, N), "row", np.float32)
            counts = np.zeros((M, N), np.int32)
            table = (ctypes.c_int64 * 2)(counts.ctypes.data, N)
            c = np.empty((M, N), np.float32)
            gemms("f32", threads, "small", "count_calls")(a, b, c, extra=ctypes.addressof(table))
            assert np.array_equal(counts, np.ones_like(counts))
            assert_within_bound(c, a, b)


@settings(max_examples=40, deadline=None)
@given(M=st.integers(0, 60), N=st.integers(0, 60), K=st.integers(0, 60),
       kind=st.sampled_from(["default", "small"]), threads=st.sampled_from(THREADS))
def test_workspace_size_is_sufficient(gemms, M, N, K, kind, threads):
    """The generated code writes only inside gemm_workspace_bytes: canaries around it survive."""
    g = gemms("f32", threads, kind)
    need = gemm_workspace_bytes("f32", M, N, K, threads, g.blocking)
    assert need % 64 == 0 and need >= 0
    raw = np.empty(need + 256, np.uint8)
    start = (-raw.ctypes.data) % 64 + 64
    raw[:] = 0xA5
    rng = np.random.default_rng(M * 3600 + N * 60 + K)
    a, b = operand(rng, (M, K), "row", np.float32), operand(rng, (K, N), "col", np.float32)
    c = np.empty((M, N), np.float32)
    g.fn(M, N, K, a.ctypes.data, K, 1, b.ctypes.data, 1, K, c.ctypes.data, N, 0,
         raw.ctypes.data + start, None)
    assert (raw[:start] == 0xA5).all() and (raw[start + need:] == 0xA5).all()
    assert_within_bound(c, a, b)


def test_workspace_bytes_formula():
    blk = Blocking.for_host("f32")
    assert gemm_workspace_bytes("f32", 0, 0, 0, 1) == 0
    one = gemm_workspace_bytes("f32", 512, 512, 512, 1)
    assert one == (blk.kc * 512 * 4 + blk.kc * blk.mc * 4)  # one B block + one A block
    assert gemm_workspace_bytes("f32", 512, 512, 512, Threading(2)) == 2 * one
    assert gemm_workspace_bytes("f64", 10, 10, 10, 1) >= 8 * 10 * 10 * 2
    with pytest.raises(ValueError, match="dtype"):
        gemm_workspace_bytes("i32", 1, 1, 1, 1)


def test_ukernel_assembly_uses_vector_fma(gemms):
    host = host_target()
    compiled = gemms.modules["default"]
    asm = compiled.assembly()
    start = asm.index(f"{gemm_function_name('f32', Threading(1))}.ukernel:")
    body = asm[start:asm.index(".Lfunc_end", start)]
    lanes = host.vector_lanes(4)
    assert f"<{lanes} x float>" in compiled.ir_after
    if host.arch != "x86_64":
        pytest.skip("instruction check is for x86-64")
    reg = "zmm" if host.has_feature("avx512f") else "ymm" if host.has_feature("avx") else "xmm"
    if host.has_feature("fma"):
        fmas = [l for l in body.splitlines() if re.search(rf"\bvfmadd\w*ps\s+{reg}", l)]
        blk = Blocking.for_host("f32")
        assert len(fmas) >= 4 * blk.mr * blk.nr // lanes  # the k loop unrolled by 4
    else:
        assert re.search(rf"mulps\s+{reg}", body)


def test_serial_gemm_references_no_libgomp(gemms):
    mod = ir.Module(name="serial_only")
    emit_gemm(mod, "f32", threading=Threading(1))
    assert "GOMP" not in str(mod) and "omp_" not in str(mod)
    if len(THREADS) > 1:
        _, undefined = elf_symbols(gemms.modules["default"].object_code)
        assert "GOMP_parallel" in undefined


def test_emit_is_idempotent_and_names_variants():
    mod = ir.Module(name="names")
    t1 = Threading(1)
    f = emit_gemm(mod, "f32", threading=t1)
    assert emit_gemm(mod, "f32", threading=t1) is f
    g = emit_gemm(mod, "f32", threading=t1, epilogue=BiasRelu())
    h = emit_gemm(mod, "f64", threading=t1)
    assert len({f.name, g.name, h.name}) == 3
    assert g.name == gemm_function_name("f32", t1, BiasRelu()) and "bias_relu" in g.name
    assert emit_gemm(mod, "f32", threading=t1, name="custom").name == "custom"
    assert [a.type for a in f.args] == [I64, I64, I64, PTR, I64, I64, PTR, I64, I64, PTR, I64,
                                        I32, PTR, PTR]
    assert len(GEMM_ARGTYPES) == len(f.args)
    with pytest.raises(ValueError, match="dtype"):
        emit_gemm(mod, "f16", threading=t1)


def test_numpy_wrapper_rejects_bad_arrays(gemms):
    g = gemms("f32")
    a, b, c = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32), np.ones((3, 5), np.float32)
    with pytest.raises(TypeError, match="float32"):
        g(a.astype(np.float64), b, c)
    with pytest.raises(ValueError, match="shapes"):
        g(a, b[:3], c)
    with pytest.raises(ValueError, match="unit column stride"):
        g(a, b, np.ones((3, 10), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="overlaps"):
        square = np.ones((4, 4), np.float32)
        g(square, square, square)
    ro = c.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        g(a, b, ro)


def test_blocking_validation():
    d = Blocking.for_host("f32")
    assert d.nr % d.lanes == 0 and d.mc % d.mr == 0 and d.nc % d.nr == 0
    with pytest.raises(ValueError):
        Blocking(lanes=8, mr=6, nr=12, mc=12, kc=8, nc=24)
