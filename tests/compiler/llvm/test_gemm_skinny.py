"""compiler.llvm.gemm on skinny shapes: one small dimension (M, N or K) beside large ones.

These take the GEMM's shape-dependent paths (module docstring, "Skinny shapes"): dot products
along K for a small output with a long K, the transposed product for A^T with a narrow N,
operands read in place instead of packed, row tiles outermost for a short K. Every result is
checked against the exact product within the rounding bound of test_gemm.py, every epilogue
exactly against numpy applying it to the plain product, and the 2-thread result against the
serial one bit for bit. Operands read in place are checked never to be read past their end
(guard pages). The shapes of the mnist CNN training step are tested as they occur there.

Compile cost: one module per dtype (default blocking, the real one), compiled once per run.
"""
import ctypes
import mmap
import re

import llvmlite.ir as ir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compiler.llvm.gemm import (DOT_MIN_K, DOT_R, DOT_S, PARALLEL_MIN_FLOPS, Blocking,
                                Epilogue, NumpyGemm, emit_gemm, gemm_workspace_bytes)
from compiler.llvm.jit import compile_ir
from compiler.llvm.parallel import Threading
from compiler.llvm.target import host_target
from test_gemm import (THREADS, AddIndex, BiasRelu, CountCalls, WhichThread, _load_at,
                       assert_within_bound, operand)

NP = {"f32": np.float32, "f64": np.float64}
I64, PTR = ir.IntType(64), ir.PointerType()
TWO = 2 in THREADS


class ReluMask(Epilogue):
    """``mask[row * ld + col] > 0 ? v : 0`` (the relu derivative applied to an input gradient,
    as in the mnist step); ``extra`` points to ``{ptr mask, i64 ld}``."""

    key = "relu_mask"

    def emit(self, b, value, row, col, extra):
        mask = b.load(extra, typ=PTR)
        ld = b.load(b.gep(extra, [I64(1)], source_etype=I64), typ=I64)
        m = _load_at(b, mask, b.add(b.mul(row, ld), col), value)
        zero = ir.Constant(value.type, None)
        return b.select(b.fcmp_ordered(">", m, zero), value, zero)


#: (threads, epilogue) compiled per dtype: every epilogue kind, each one on a thread count
#: where it matters (compile time is ~0.4 s per variant).
VARIANTS = {
    "f32": [(t, e) for t in THREADS for e in (None, BiasRelu())]
    + [(1, ReluMask()), (1, AddIndex()), (THREADS[-1], CountCalls())]
    + ([(2, WhichThread())] if TWO else []),
    "f64": [(t, None) for t in THREADS] + [(1, BiasRelu())],
}


class Skinny:
    """Compiled GEMMs by (dtype, threads, epilogue key), default blocking."""

    def __init__(self):
        self.modules, self._fns = {}, {}
        for dtype, variants in VARIANTS.items():
            mod = ir.Module(name=f"test_gemm_skinny_{dtype}")
            names = {}
            for t, epi in variants:
                fn = emit_gemm(mod, dtype, threading=Threading(t), epilogue=epi)
                names[t, epi.key if epi else None] = fn.name
            self.modules[dtype] = compile_ir(mod, name=mod.name)
            for (t, key), fn_name in names.items():
                self._fns[dtype, t, key] = NumpyGemm(self.modules[dtype], fn_name, dtype,
                                                     Threading(t))

    def threads(self, dtype: str, epilogue: str | None) -> list[int]:
        """Thread counts compiled for this dtype and epilogue, serial first."""
        return [t for t in THREADS if (dtype, t, epilogue) in self._fns]

    def __call__(self, dtype: str, threads: int = 1, epilogue: str | None = None) -> NumpyGemm:
        return self._fns[dtype, threads, epilogue]


@pytest.fixture(scope="module")
def skinny() -> Skinny:
    return Skinny()


class Case:
    """One product with an epilogue kind: its operands, the ``extra`` table, and the check of
    a result against the exact product."""

    def __init__(self, rng, dtype, M, N, K, la="row", lb="row", epilogue=None,
                 accumulate=False):
        self.dtype, self.epilogue, self.accumulate = dtype, epilogue, accumulate
        self.a = operand(rng, (M, K), la, NP[dtype])
        self.b = operand(rng, (K, N), lb, NP[dtype])
        self.c0 = rng.standard_normal((M, N)).astype(NP[dtype])
        self.bias = rng.standard_normal(N).astype(NP[dtype])
        # a mask with both signs (and exact zeros, which the relu derivative maps to 0)
        self.mask = np.round(rng.standard_normal((M, N))).astype(NP[dtype])
        self.counts = np.zeros((M, N), np.int32)
        if epilogue == "bias_relu":
            self.table = (ctypes.c_void_p * 1)(self.bias.ctypes.data)
        elif epilogue == "relu_mask":
            self.table = (ctypes.c_int64 * 2)(self.mask.ctypes.data, N)
        elif epilogue in ("count_calls", "which_thread"):
            self.table = (ctypes.c_int64 * 2)(self.counts.ctypes.data, N)
        else:
            self.table = None

    def run(self, g: NumpyGemm, c: np.ndarray | None = None) -> np.ndarray:
        if c is None:
            c = self.c0.copy() if self.accumulate else np.full_like(self.c0, np.nan)
        self.counts[...] = 0
        g(self.a, self.b, c, accumulate=self.accumulate,
          extra=ctypes.addressof(self.table) if self.table is not None else 0)
        return c

    def expected(self, plain: np.ndarray) -> np.ndarray:
        """What the epilogue must make of the plain product ``plain`` (numpy, same operations
        in the same precision, so the comparison is exact)."""
        if self.epilogue == "bias_relu":
            return np.maximum(plain + self.bias, 0)
        if self.epilogue == "relu_mask":
            return np.where(self.mask > 0, plain, 0).astype(plain.dtype)
        if self.epilogue == "add_index":
            M, N = plain.shape
            return plain + (np.arange(M)[:, None] * 4096 + np.arange(N)).astype(plain.dtype)
        return plain

    def check(self, got: np.ndarray, plain: np.ndarray) -> None:
        """``plain`` (the GEMM without epilogue) within the rounding bound of the exact
        product; ``got`` exactly the epilogue applied to it, once per element."""
        assert_within_bound(plain, self.a, self.b, self.c0, accumulate=self.accumulate)
        assert np.array_equal(got, self.expected(plain))
        if self.epilogue == "count_calls":
            assert np.array_equal(self.counts, np.ones_like(self.counts))


def _run_all_threads(skinny: Skinny, case: Case, epilogue: str | None) -> list[np.ndarray]:
    """The product on every thread count compiled with this epilogue (serial first)."""
    return [case.run(skinny(case.dtype, t, epilogue)) for t in skinny.threads(case.dtype,
                                                                                epilogue)]


def _check_case(skinny: Skinny, case: Case) -> None:
    plains = _run_all_threads(skinny, case, None)
    gots = _run_all_threads(skinny, case, case.epilogue) if case.epilogue else plains
    for runs in (plains, gots):  # threads never change a bit (compared as raw bytes: NaN-safe)
        for other in runs[1:]:
            assert np.array_equal(runs[0].view(np.uint8), other.view(np.uint8))
    case.check(gots[0], plains[0])


# (label, M, N, K, layout of A, layout of B, f32 epilogue): the contractions of the mnist CNN
# training step (Conv2D(32, 3x3) on 28x28x1, Flatten, Dense(10), batch 32).
MNIST = [
    ("logits x @ W + b", 32, 10, 21632, "row", "row", "bias_relu"),
    ("weight grad x^T @ g", 21632, 10, 32, "col", "row", None),
    ("input grad g @ W^T, relu mask", 32, 21632, 10, "row", "col", "relu_mask"),
    ("conv im2col @ kernel + b, relu", 21632, 32, 9, "row", "row", "bias_relu"),
    ("filter grad cols^T @ g", 9, 32, 21632, "col", "row", None),
]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("label,M,N,K,la,lb,epilogue", MNIST, ids=[m[0] for m in MNIST])
def test_mnist_step_shapes(skinny, dtype, label, M, N, K, la, lb, epilogue):
    if not skinny.threads(dtype, epilogue):
        epilogue = "bias_relu"
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    _check_case(skinny, Case(rng, dtype, M, N, K, la, lb, epilogue))


@st.composite
def skinny_problems(draw):
    """(M, N, K): one dimension small (0, 1, odd sizes included), the others larger; "dot"
    draws a small output with K long enough for the dot path, "wide" a product big enough
    for the threads to split it."""
    kind = draw(st.sampled_from(["small_n", "small_k", "small_m", "dot", "wide"]))
    small = st.integers(0, 17)
    if kind == "small_n":
        return draw(st.integers(0, 300)), draw(small), draw(st.integers(0, 70))
    if kind == "small_k":
        return draw(st.integers(0, 40)), draw(st.integers(0, 400)), draw(st.integers(0, 12))
    if kind == "small_m":
        return draw(small), draw(st.integers(0, 70)), draw(st.integers(0, 600))
    if kind == "dot":
        return (draw(st.integers(1, 2 * Blocking.for_host("f32").mr + 3)), draw(small),
                draw(st.integers(DOT_MIN_K, 3 * Blocking.for_host("f32").kc + 9)))
    M, N = draw(st.sampled_from([(3000, 10), (40, 1400), (2, 700), (700, 3)]))
    return M, N, draw(st.integers(PARALLEL_MIN_FLOPS // (M * N) + 1, 400))


layouts = st.sampled_from(["row", "col", "sub", "neg", "bcast"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=skinny_problems(), la=layouts, lb=layouts, accumulate=st.booleans(),
       dtype=st.sampled_from(["f32", "f64"]), epi=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_property_skinny_shapes(skinny, shape, la, lb, accumulate, dtype, epi, seed):
    M, N, K = shape
    epilogue = [None, "bias_relu", "count_calls", "relu_mask"][epi]
    if not skinny.threads(dtype, epilogue):
        epilogue = None
    rng = np.random.default_rng(seed)
    case = Case(rng, dtype, M, N, K, la, lb, epilogue, accumulate)
    _check_case(skinny, case)
    # C inside a larger buffer: the elements around it stay untouched.
    full = rng.standard_normal((M + 2, N + 3)).astype(NP[dtype])
    before = full.copy()
    c = full[1:M + 1, :N]
    c[...] = case.c0
    case.run(skinny(dtype, skinny.threads(dtype, epilogue)[-1], epilogue), c)
    outside = np.ones(full.shape, bool)
    outside[1:M + 1, :N] = False
    assert np.array_equal(full[outside], before[outside])


def test_epilogue_gets_row_and_column_on_every_path(skinny):
    rng = np.random.default_rng(11)
    # dot path, transposed path, A in place with B's edge panel packed, A^T and B in place,
    # rows-outer order, all packed
    for M, N, K, la, lb in ((7, 9, 700, "row", "row"), (300, 10, 20, "col", "row"),
                            (50, 13, 30, "col", "row"), (9, 32, 300, "col", "row"),
                            (13, 200, 7, "row", "col"), (40, 40, 40, "row", "row")):
        case = Case(rng, "f32", M, N, K, la, lb, "add_index")
        case.check(case.run(skinny("f32", 1, "add_index")), case.run(skinny("f32", 1)))


@pytest.mark.skipif(not TWO, reason="libgomp not loadable")
def test_dot_path_threads_split_the_output_into_dot_tiles(skinny):
    """On the dot path the two threads store contiguous blocks of DOT_R x DOT_S tiles: rows
    for a tall output, columns for a wide one."""
    rng = np.random.default_rng(12)
    for M, N, K, split in ((32, 10, 2000, "M"), (2, 600, 1000, "N")):
        assert M * N * K >= PARALLEL_MIN_FLOPS and K >= DOT_MIN_K
        case = Case(rng, "f32", M, N, K, epilogue="which_thread")
        case.counts[...] = -1
        c = np.empty((M, N), np.float32)
        skinny("f32", 2, "which_thread")(case.a, case.b, c, extra=ctypes.addressof(case.table))
        owner = case.counts
        assert set(np.unique(owner)) == {0, 1}
        if split == "M":
            per_row = owner[:, 0]
            assert (owner == per_row[:, None]).all() and (np.diff(per_row) >= 0).all()
            assert np.argmax(per_row) % DOT_R == 0
        else:
            per_col = owner[0, :]
            assert (owner == per_col[None, :]).all() and (np.diff(per_col) >= 0).all()
            assert np.argmax(per_col) % DOT_S == 0
        assert_within_bound(c, case.a, case.b)


@pytest.mark.parametrize("threads", THREADS)
def test_workspace_size_is_sufficient_on_skinny_paths(skinny, threads):
    """The generated code writes only inside gemm_workspace_bytes: canaries around it survive
    (dot path packing B's columns, in one and in two column chunks; in-place operands with a
    packed edge panel; the transposed path's buffers; rows outer)."""
    rng = np.random.default_rng(13)
    for M, N, K, la, lb in ((32, 10, 21632, "row", "row"), (3, 4079, 2000, "row", "row"),
                            (2, 4500, 150, "row", "row"), (9, 33, 5000, "col", "row"),
                            (21632, 10, 32, "col", "row"), (40, 1000, 10, "row", "col")):
        g = skinny("f32", threads)
        need = gemm_workspace_bytes("f32", M, N, K, threads)
        raw = np.empty(need + 256, np.uint8)
        start = (-raw.ctypes.data) % 64 + 64
        raw[:] = 0xA5
        a, b = operand(rng, (M, K), la, np.float32), operand(rng, (K, N), lb, np.float32)
        c = np.empty((M, N), np.float32)
        g.fn(M, N, K, a.ctypes.data, *[s // 4 for s in a.strides], b.ctypes.data,
             *[s // 4 for s in b.strides], c.ctypes.data, N, 0, raw.ctypes.data + start, None)
        assert (raw[:start] == 0xA5).all() and (raw[start + need:] == 0xA5).all()
        assert_within_bound(c, a, b)


def test_dot_kernel_is_vectorized(skinny):
    """The dot kernel's register tile is DOT_R x DOT_S vector FMAs along K (in the optimized
    IR: a scalarized tile would show here before it shows as a slowdown)."""
    ir_after = skinny.modules["f32"].ir_after
    start = ir_after.index("@kiln_gemm.dot.f32")
    body = ir_after[start:ir_after.index("\n}", start)]
    lanes = host_target().vector_lanes(4)
    fma = "fma" if host_target().has_feature("fma") else "fmuladd"
    assert body.count(f"@llvm.{fma}.v{lanes}f32(") >= DOT_R * DOT_S


def test_microkernel_calls_no_library_function(skinny):
    """No libc call in the microkernel: LLVM once turned its edge tile's element loop (a plain
    copy without an epilogue) into calls to memcpy for a few dozen bytes, 7% of the time of
    21632 x 10 x 32. Optimized for size, the microkernel no longer gets them; this keeps it so."""
    ir_after = skinny.modules["f32"].ir_after
    name = next(f for f in re.findall(r"@(kiln_gemm_f32_t1\.ukernel)\(", ir_after))
    start = ir_after.index(f"@{name}(")
    body = ir_after[start:ir_after.index("\n}", start)]
    assert "memcpy" not in body and "memmove" not in body and "memset" not in body


class GuardedArrays:
    """Arrays whose last byte is followed by an inaccessible page: a kernel reading past the
    end of an operand (a missing clamp on an edge tile read in place) dies on the spot."""

    PAGE = mmap.PAGESIZE

    def __init__(self):
        self._maps = []
        libc = ctypes.CDLL(None, use_errno=True)
        self._mprotect = libc.mprotect
        self._mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

    def array(self, rng, shape, layout, dtype):
        """A (rows, cols) operand, row-major ("row") or column-major ("col"), ending at a
        guard page."""
        src = rng.standard_normal(shape).astype(dtype)
        nbytes = max(src.nbytes, 1)
        size = -(-nbytes // self.PAGE) * self.PAGE + self.PAGE
        mem = mmap.mmap(-1, size)
        base = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        assert self._mprotect(base + size - self.PAGE, self.PAGE, 0) == 0  # PROT_NONE
        self._maps.append((mem, base, size))
        flat = np.frombuffer(mem, dtype, src.size, size - self.PAGE - src.nbytes)
        order = "F" if layout == "col" else "C"
        out = flat.reshape(shape, order=order)
        out[...] = src
        return out

    def close(self):
        for mem, base, size in self._maps:
            self._mprotect(base + size - self.PAGE, self.PAGE, 3)  # PROT_READ | PROT_WRITE
        self._maps.clear()


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_operands_read_in_place_are_never_read_past_their_end(skinny, dtype):
    """Every path that reads A or B where they are (dot path, transposed path, A or B in
    place) on shapes whose last tiles are partial in every direction, with both operands
    ending at a guard page."""
    rng = np.random.default_rng(14)
    guard = GuardedArrays()
    try:
        for M, N, K, la, lb in ((13, 9, 333, "row", "row"),     # dot path, B packed
                                (13, 9, 333, "row", "col"),     # dot path, B^T in place
                                (203, 11, 37, "col", "row"),    # transposed, A^T in place
                                (19, 29, 41, "row", "row"),     # A and B in place
                                (7, 21, 300, "col", "row"),     # A^T and B in place
                                (25, 75, 9, "row", "col")):     # rows outer
            a = guard.array(rng, (M, K), la, NP[dtype])
            b = guard.array(rng, (K, N), lb, NP[dtype])
            for t in skinny.threads(dtype, None):
                c = np.full((M, N), np.nan, NP[dtype])
                skinny(dtype, t)(a, b, c)
                assert_within_bound(c, np.array(a), np.array(b))
    finally:
        guard.close()
