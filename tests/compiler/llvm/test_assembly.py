"""Assembly checks on the host: whole programs compiled by the pipeline keep their hot loops
vectorized, use FMA where the pattern allows it, and never call libm per lane.

These catch a *lost* optimization (a change in codegen that still computes the right values,
so no numeric test notices, but runs several times slower). Each check asks the host what it
has (``compiler.llvm.target.host_target``, LLVM's own detection through llvmlite, the source of
the features code generation uses) and skips, naming the missing feature, only when the host
genuinely lacks it.

The assembly is ``CompiledProgram.stage_text("asm")`` (Intel syntax on x86-64); kernels may be
inlined into the entry point, so checks read every function of the module, and name the
function they matched when they fail.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.kernels.ir import Elementwise, Matmul, Reduce, Softmax
from compiler.llvm.codegen import PARALLEL_MIN_ELEMENTS
from compiler.llvm.gemm import Blocking
from compiler.llvm.jit import elf_symbols
from compiler.llvm.target import host_target
from compiler.pipeline import CompileOptions, CompiledProgram, compile_graph
from runtime.program import Program

HOST = host_target()

#: Big enough for the vector loop to dominate and for the threaded split to run.
BIG = PARALLEL_MIN_ELEMENTS * 2 + 3

#: libm entry points that a per-lane (scalarized) transcendental would call.
LIBM = {f"{fn}{suffix}" for fn in ("exp", "expm1", "log", "log1p", "tanh", "erf", "pow", "sin",
                                    "cos", "exp2", "__exp_finite", "__log_finite")
        for suffix in ("", "f")}
#: Symbols generated code may legitimately import: the OpenMP runtime for threaded kernels.
RUNTIME_PREFIXES = ("GOMP_", "omp_")


def require_x86(*features: str) -> None:
    """Skip unless the host is x86-64 with every LLVM feature named (e.g. "avx2", "fma")."""
    if HOST.arch != "x86_64":
        pytest.skip(f"instruction checks are written for x86-64; host is {HOST.arch}")
    missing = [f for f in features if not HOST.has_feature(f)]
    if missing:
        pytest.skip(f"host CPU {HOST.cpu} lacks {', '.join(missing)}")


def vector_register() -> str:
    """The widest vector register class the host's code generation fills (via the same
    ``vector_width_bytes`` codegen asks)."""
    return {64: "zmm", 32: "ymm"}.get(HOST.vector_width_bytes(), "xmm")


def compile_program(build) -> CompiledProgram:
    """Compile the graph that ``build(b)`` builds on a fresh GraphBuilder (cache allowed: a
    cache hit still gives the assembly of the same object)."""
    b = GraphBuilder(name=build.__name__)
    build(b)
    return compile_graph(b.graph, options=CompileOptions())


def functions(asm: str) -> dict[str, str]:
    """Split assembly text into {function label: its instructions} (local ``.L`` labels stay
    inside their function)."""
    out: dict[str, str] = {}
    name = None
    for line in asm.splitlines():
        m = re.match(r'^"?([A-Za-z_][\w.$]*)"?:', line)
        if m and not m.group(1).startswith(".L"):
            name = m.group(1)
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def instructions(asm: str, pattern: str) -> list[str]:
    """The instruction lines of ``asm`` that match ``pattern`` (a regex)."""
    return [l.strip() for l in asm.splitlines() if re.search(pattern, l)]


def kernel_kinds(compiled: CompiledProgram) -> list[type]:
    return [type(k) for k in compiled.kernels.kernels]


# ==============================================================================================
# elementwise
# ==============================================================================================
@pytest.mark.parametrize("dtype,suffix", [("f32", "ps"), ("f64", "pd")])
def test_fused_chain_is_vectorized_with_fma(dtype, suffix):
    """relu(a*b + c) * d over a large array: one fused kernel whose loop runs on full-width
    vector registers, with the multiply-add contracted into a packed FMA."""
    require_x86("avx2")
    reg = vector_register()

    def fused_fma_chain(b):
        a, x, c, d = (b.input(n, (BIG,), dtype) for n in "abcd")
        b.output(b.mul(b.relu(b.add(b.mul(a, x), c)), d))

    compiled = compile_program(fused_fma_chain)
    assert kernel_kinds(compiled) == [Elementwise], compiled.stage_text("kernels")
    asm = compiled.stage_text("asm")
    assert instructions(asm, rf"\bv\w+{suffix}\s+{reg}\d+"), f"no packed {reg} arithmetic"
    if HOST.has_feature("fma"):
        fmas = instructions(asm, rf"\bvfn?m(add|sub)\w*{suffix}\s+{reg}")
        assert fmas, f"a*b+c did not become a packed {reg} FMA"
    else:
        assert not instructions(asm, r"\bvfn?madd"), "FMA emitted on a host without it"
        assert instructions(asm, rf"\bvmul{suffix}\s+{reg}")


def test_broadcast_and_transposed_operands_stay_vectorized():
    """A row-broadcast bias and a contiguous operand: the inner loop still runs full-width
    (broadcast operands are a splat, not a gather)."""
    require_x86("avx2")
    reg = vector_register()

    def bias_tanh(b):
        x = b.input("x", (257, 259), "f32")
        bias = b.input("bias", (259,), "f32")
        b.output(b.tanh(b.add(x, bias)))

    asm = compile_program(bias_tanh).stage_text("asm")
    assert instructions(asm, rf"\bv\w+ps\s+{reg}\d+"), f"no packed {reg} float code"


# ==============================================================================================
# transcendentals
# ==============================================================================================
UNARY = {
    "exp": lambda b, x: b.exp(x),
    "tanh": lambda b, x: b.tanh(x),
    "sigmoid": lambda b, x: b.sigmoid(x),
    "log": lambda b, x: b.log(x),
    "softplus": lambda b, x: b.softplus(x),
    "erf": lambda b, x: b.erf(x),
    "gelu": lambda b, x: b.gelu(x),
}


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("fn", sorted(UNARY))
def test_transcendentals_are_inline_polynomials(fn, dtype):
    """exp/tanh/sigmoid/... kernels import no libm function (a scalarized ``llvm.exp.v8f32``
    would import ``expf`` and call it once per lane) and compute on full vector registers."""
    def transcendental(b):
        x = b.input("x", (BIG,), dtype)
        b.output(UNARY[fn](b, x))

    compiled = compile_program(transcendental)
    _, undefined = elf_symbols(compiled.module.object_code)
    libm = sorted(set(undefined) & LIBM)
    assert not libm, f"{fn} {dtype}: the kernel imports {libm} (per-lane libm calls)"
    foreign = [s for s in undefined if not s.startswith(RUNTIME_PREFIXES)]
    assert not foreign, f"{fn} {dtype}: unexpected imports {foreign}"
    asm = compiled.stage_text("asm")
    for name in LIBM:
        assert not re.search(rf"\b(offset|call)\s+{re.escape(name)}\b", asm), (fn, name)
    if HOST.arch == "x86_64" and HOST.has_feature("avx2"):
        reg = vector_register()
        suffix = "ps" if dtype == "f32" else "pd"
        assert instructions(asm, rf"\bv\w+{suffix}\s+{reg}\d+"), f"{fn} {dtype}: no {reg} code"


def test_softmax_exp_is_vectorized():
    """softmax's row sweeps (max, exp-and-sum, scale) use vector registers and no libm."""
    require_x86("avx2")
    reg = vector_register()

    def softmax_rows(b):
        x = b.input("x", (64, 1000), "f32")
        b.output(b.softmax(x, axis=-1))

    compiled = compile_program(softmax_rows)
    assert Softmax in kernel_kinds(compiled)
    _, undefined = elf_symbols(compiled.module.object_code)
    assert not set(undefined) & LIBM, undefined
    asm = compiled.stage_text("asm")
    assert instructions(asm, rf"\bvmaxps\s+{reg}"), "row max not vectorized"
    assert instructions(asm, rf"\bvaddps\s+{reg}"), "sum of exps not vectorized"


# ==============================================================================================
# GEMM
# ==============================================================================================
@pytest.mark.parametrize("transpose_b", [False, True])
def test_gemm_microkernel_uses_packed_fma(transpose_b):
    """A 192x160x256 float32 matmul (well above the direct path) goes through the packed GEMM,
    whose microkernel is a run of packed FMAs on full-width registers (12 per k step for a 6x16
    tile with 8 lanes, the k loop unrolled); B read transposed changes only the packing."""
    require_x86("avx2", "fma")
    reg = vector_register()

    def gemm(b):
        a = b.input("a", (192, 256), "f32")
        w = b.input("w", (160, 256) if transpose_b else (256, 160), "f32")
        b.output(b.matmul(a, b.transpose(w, perm=[1, 0]) if transpose_b else w))

    compiled = compile_program(gemm)
    assert Matmul in kernel_kinds(compiled)
    fns = functions(compiled.stage_text("asm"))
    ukernels = {name: instructions(body, rf"\bvfmadd\w*ps\s+{reg}")
                for name, body in fns.items() if "ukernel" in name}
    assert ukernels, f"no GEMM microkernel among the functions {sorted(fns)}"
    # one k step of the register tile is mr * nr / lanes FMAs (the tile the host's Blocking
    # chose: 6 x 16 with 8 lanes -> 12); the k loop is unrolled, so there are at least that many
    blk = Blocking.for_host("f32")
    per_step = blk.mr * blk.nr // HOST.vector_lanes(4)
    name, fmas = max(ukernels.items(), key=lambda kv: len(kv[1]))
    assert len(fmas) >= per_step, (f"{name}: {len(fmas)} packed {reg} FMAs, fewer than one "
                                   f"k step of the {blk.mr}x{blk.nr} tile ({per_step})")


# ==============================================================================================
# reductions
# ==============================================================================================
@pytest.mark.parametrize("kind,insn", [("sum", "vaddps"), ("max", "vmaxps"), ("mean", "vaddps")])
@pytest.mark.parametrize("axis", [-1, 0])
def test_reductions_are_vectorized(kind, insn, axis):
    """Row reductions (innermost axis reduced: vector accumulators, lanes combined at the end)
    and column reductions (innermost axis kept: a vector of outputs per step) both run on
    full-width registers, with the elementwise prologue (abs: a sign-bit mask, which, unlike a
    square, cannot be contracted into an FMA with the accumulation) fused in."""
    require_x86("avx2")
    reg = vector_register()

    def reduction(b):
        x = b.input("x", (97, 1031), "f32")
        b.output(b.op(kind, b.abs(x), axes=[axis]))

    compiled = compile_program(reduction)
    assert kernel_kinds(compiled) == [Reduce], compiled.stage_text("kernels")
    asm = compiled.stage_text("asm")
    assert instructions(asm, rf"\b{insn}\s+{reg}"), f"{kind} over axis {axis}: no {insn} {reg}"
    assert instructions(asm, rf"\bvandn?ps\s+{reg}"), "the fused abs is not vectorized"


def test_checked_programs_compute_what_their_assembly_claims():
    """The programs whose assembly is checked above also compute the right values (a guard
    against checking the assembly of a miscompiled kernel)."""
    b = GraphBuilder(name="checked_fma")
    a, x, c = (b.input(n, (BIG,), "f32") for n in "abc")
    b.output(b.add(b.mul(a, x), c), b.sum(b.exp(b.tanh(a)), axes=[0]))
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=BIG).astype(np.float32) for _ in range(3)]
    got = Program(b.graph, backend="llvm")(arrays)
    want = Program(b.graph, backend="eager")(arrays)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
