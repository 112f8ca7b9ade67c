"""The fuse pass as IR text in, fusion text out: the expected texts are the spec.

``plan_fusion`` decides which ops share a kernel; ``annotate_groups`` prints the graph followed
by the fused kernels (root: members) and, for every candidate kept apart, the reason. Each rule
of compiler/passes/fuse.py has a test that fires it, and each legality rule a test that it does
not fire where fusing would be wrong or wasteful:

* elementwise producers inlined into their single expression-consuming reader (elementwise,
  reductions, softmax), through view ops; graph outputs and values read by an op that needs
  memory (matmul) materialized; cheap ops recomputed for up to 4 readers; no recomputation
  when the reader broadcasts the value (a row vector summed as a matrix);
* contraction epilogues: matmul/conv2d + bias + activation fused into one contraction kernel,
  through a reshape (a relu mask read through one), a duplicated cheap node on the path
  becoming the root; not through a transpose, not when the product is read twice or is a
  graph output, only one contraction per root.

The cases that must not fuse, and every epilogue case, are also compiled (LLVM) and compared
with the eager interpreter on random data, in float32 and float64, with shapes whose sizes are
not multiples of the vector width, on both sides of the GEMM/direct-loop threshold
(``GEMM_MIN_MACS``). Epilogue cases also check the kernel program: one contraction kernel with
the activation in its epilogue and no separate elementwise kernel.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from compiler.ir import dtypes
from compiler.ir.graph import Graph
from compiler.ir.parser import parse
from compiler.kernels import expr as ex
from compiler.kernels.ir import Elementwise, Matmul
from compiler.llvm.contraction import GEMM_MIN_MACS
from compiler.passes.fuse import annotate_groups, plan_fusion
from runtime.program import Program

TOL = {"f32": 2e-5, "f64": 1e-12}


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def graph_of(text: str, dt: str = "f32") -> Graph:
    """Parse ``text`` with every ``DT`` replaced by the dtype ``dt``."""
    return parse(textwrap.dedent(text).replace("DT", dt))


def fusion(g: Graph) -> str:
    """The fuse dump of ``g`` without the graph text it starts with (checked to be there)."""
    text = annotate_groups(g, plan_fusion(g))
    head = str(g).rstrip("\n") + "\n\n"
    assert text.startswith(head)
    return text[len(head):]


def check_fusion(text: str, expected: str, dt: str = "f32") -> Graph:
    g = graph_of(text, dt)
    assert fusion(g).strip() == textwrap.dedent(expected).strip()
    return g


def random_inputs(g: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for v in g.inputs:
        if dtypes.is_float(v.dtype):
            out[v.name] = rng.normal(size=v.shape).astype(dtypes.to_numpy(v.dtype))
        else:
            out[v.name] = np.asarray(rng.integers(0, 1000, size=v.shape),
                                     dtypes.to_numpy(v.dtype))
    return out


def compiled_vs_eager(g: Graph, seed: int = 0) -> Program:
    """Run ``g`` compiled and eagerly on the same random inputs; every output must agree within
    a tolerance relative to the output's largest magnitude (sums of products of N(0,1) values:
    rounding grows with the magnitude, not with each element). Returns the compiled program."""
    assert not g.params
    inputs = random_inputs(g, seed)
    compiled = Program(g, {}, backend="llvm")
    got = compiled(inputs)
    want = Program(g, {}, backend="eager")(inputs)
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape, i
        tol = TOL[g.outputs[i].dtype] if dtypes.is_float(g.outputs[i].dtype) else 0
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=f"output {i}")
    return compiled


def kernels(p: Program) -> list:
    return p.compiled.kernels.kernels


def headers(p: Program) -> list[str]:
    return [k.header() for k in kernels(p)]


DTYPES = ("f32", "f64")


# ==========================================================================================
# elementwise producers
# ==========================================================================================
def test_chain_inlined_into_reduction():
    # neg's only reader is exp, exp's only reader the sum: both are its prologue.
    check_fusion("""
        graph @g(%x: f32[5,7]) {
          %n = neg(%x) : f32[5,7]
          %e = exp(%n) : f32[5,7]
          %s = sum(%e) {axes=[1]} : f32[5]
          return %s
        }
    """, """
        fused kernels (root: members, computed in order):
          %s: %n, %e, %s
    """)


def test_inlined_through_views_into_elementwise_and_softmax():
    # exp is read through a transpose, log (an output) through nothing; tanh through a unit
    # reshape into a softmax. Outputs are materialized with their reason.
    check_fusion("""
        graph @g(%x: f32[3,4], %y: f32[4,3]) {
          %e = exp(%x) : f32[3,4]
          %t = transpose(%e) : f32[4,3]
          %l = log(%t) : f32[4,3]
          %h = tanh(%y) : f32[4,3]
          %r = reshape(%h) : f32[4,1,3]
          %sm = softmax(%r) : f32[4,1,3]
          return %l, %sm
        }
    """, """
        fused kernels (root: members, computed in order):
          %l: %e, %l
          %sm: %h, %sm
        not fused:
          %l: it is a graph output
    """)


def test_general_reshape_is_not_a_view_of_an_expression():
    # [4,6] -> [6,4] moves elements across rows: it needs its operand in memory.
    text = """
        graph @g(%x: DT[4,6]) {
          %e = exp(%x) : DT[4,6]
          %r = reshape(%e) : DT[6,4]
          %s = sum(%r) {axes=[1]} : DT[6]
          return %s
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
        not fused:
          %e: read by a reshape that is not a view of an expression
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        assert headers(p) == ["kernel @k0_e elementwise (%e)", "kernel @k1_s reduction (%s)"]


def test_cheap_value_recomputed_in_each_reader_up_to_four():
    # %a (one add of arguments) is recomputed by its 4 readers; %b (exp) is not cheap and
    # %c (cheap) has 5 readers: both are stored.
    g = check_fusion("""
        graph @g(%x: DT[6,9], %y: DT[6,9]) {
          %a = add(%x, %y) : DT[6,9]
          %a1 = exp(%a) : DT[6,9]
          %a2 = sum(%a) {axes=[0]} : DT[9]
          %a3 = max(%a) {axes=[1]} : DT[6]
          %a4 = softmax(%a) : DT[6,9]
          %b = exp(%x) : DT[6,9]
          %b1 = neg(%b) : DT[6,9]
          %b2 = sum(%b) {axes=[1]} : DT[6]
          %c = mul(%x, %y) : DT[6,9]
          %c1 = neg(%c) : DT[6,9]
          %c2 = exp(%c) : DT[6,9]
          %c3 = sum(%c) : DT[]
          %c4 = min(%c) {axes=[0]} : DT[9]
          %c5 = tanh(%c) : DT[6,9]
          return %a1, %a2, %a3, %a4, %b1, %b2, %c1, %c2, %c3, %c4, %c5
        }
    """, """
        fused kernels (root: members, computed in order):
          %a1: %a, %a1
        not fused:
          %c5: it is a graph output
          %c2: it is a graph output
          %c1: it is a graph output
          %c: read by 5 nodes
          %b1: it is a graph output
          %b: read by 2 nodes
          %a1: it is a graph output
    """, "f64")
    for dt in DTYPES:
        compiled_vs_eager(graph_of(str(g).replace("f64", "DT"), dt))


def test_consumer_needing_memory_keeps_the_value():
    # %a is read by a matmul (needs its operand in memory) and an add: stored once, not
    # recomputed (a matmul is not an expression consumer). %e's only reader is a matmul.
    text = """
        graph @g(%x: DT[7,13], %y: DT[7,13], %w: DT[13,5]) {
          %a = add(%x, %y) : DT[7,13]
          %m = matmul(%a, %w) : DT[7,5]
          %z = add(%a, %x) : DT[7,13]
          %e = exp(%y) : DT[7,13]
          %m2 = matmul(%e, %w) : DT[7,5]
          return %m, %z, %m2
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
        not fused:
          %m2: it is a graph output
          %e: read by matmul, which needs its operand in memory
          %z: it is a graph output
          %m: it is a graph output
          %a: read by 2 nodes
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        # (%z and %e, same shape, no hazard, are then merged into %a's kernel)
        assert headers(p) == ["kernel @k0_a elementwise (%a, %z, %e)",
                              "kernel @k1_m contraction (%m)", "kernel @k2_m2 contraction (%m2)"]


def test_reductions_over_different_axes_share_a_stored_producer():
    # exp is not cheap: stored once for both reductions (each would otherwise recompute it).
    # A cheap producer (mul) is recomputed as the prologue of each reduction.
    text = """
        graph @g(%x: DT[9,13], %y: DT[9,13]) {
          %e = exp(%x) : DT[9,13]
          %s0 = sum(%e) {axes=[0]} : DT[13]
          %s1 = max(%e) {axes=[1]} : DT[9]
          %m = mul(%x, %y) : DT[9,13]
          %t0 = sum(%m) {axes=[1]} : DT[9]
          %t1 = min(%m) {axes=[0]} : DT[13]
          return %s0, %s1, %t0, %t1
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
          %t0: %m, %t0
        not fused:
          %e: read by 2 nodes
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        assert headers(p)[0] == "kernel @k0_e elementwise (%e)"
        assert sum(isinstance(k, Elementwise) for k in kernels(p)) == 1


def test_broadcast_into_reduction_is_not_recomputed_per_element():
    # A row vector broadcast to a matrix and summed: inlining exp into the sum would compute
    # it 11 times per element. The cheap neg is not recomputed either (its readers broadcast).
    text = """
        graph @g(%x: DT[13], %y: DT[11,13]) {
          %e = exp(%x) : DT[13]
          %b = broadcast_to(%e) : DT[11,13]
          %s = sum(%b) {axes=[0]} : DT[13]
          %n = neg(%x) : DT[13]
          %p = mul(%n, %y) : DT[11,13]
          %q = sub(%y, %n) : DT[11,13]
          return %s, %p, %q
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
        not fused:
          %q: it is a graph output
          %p: it is a graph output
          %n: read by 2 nodes
          %e: its reader %s would recompute it 143/13 times per element
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        # exp runs in its own kernel over its own 13 points
        (ek,) = [k for k in kernels(p) if "%e" in k.header()]
        assert isinstance(ek, Elementwise) and ek.shape == (13,)


# ==========================================================================================
# contraction epilogues
# ==========================================================================================
MATMUL_SHAPES = [
    # (a shape, b shape): above and below the GEMM threshold, tails everywhere, a batch
    ((37, 29), (29, 13)),
    ((3, 5), (5, 7)),
    ((2, 9, 17), (17, 11)),
]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("ashape, bshape", MATMUL_SHAPES)
def test_matmul_bias_relu_is_one_contraction_kernel(dt, ashape, bshape):
    out = ashape[:-1] + bshape[-1:]
    s = lambda shape: ",".join(map(str, shape))  # noqa: E731
    text = f"""
        graph @g(%x: DT[{s(ashape)}], %w: DT[{s(bshape)}], %b: DT[{bshape[-1]}]) {{
          %mm = matmul(%x, %w) : DT[{s(out)}]
          %a = add(%mm, %b) : DT[{s(out)}]
          %r = relu(%a) : DT[{s(out)}]
          return %r
        }}
    """
    g = check_fusion(text, """
        fused kernels (root: members, computed in order):
          %r: %mm, %a, %r
        not fused:
          %r: it is a graph output
    """, dt)
    macs = int(np.prod(out)) * ashape[-1]
    assert (macs >= GEMM_MIN_MACS) == (ashape == (37, 29) or len(ashape) == 3)
    p = compiled_vs_eager(g)
    assert headers(p) == ["kernel @k0_r contraction (%mm, %r)"]
    (k,) = kernels(p)
    assert k.epilogue is not None
    assert {e.op for e in _expr_nodes(k.epilogue)} >= {"acc", "add", "max"}
    assert k.c[0] is p.compiled.kernels.outputs[0]


def _expr_nodes(e):
    return list(ex.iter_nodes(e if isinstance(e, list) else [e]))


def test_matmul_read_through_transpose_is_not_fused():
    # Directly: the transpose is not elementwise. Through an inlined add: the root reads the
    # product at transposed indices, which the GEMM's epilogue cannot do.
    text = """
        graph @g(%x: DT[23,31], %w: DT[31,23], %v: DT[31,23], %b: DT[23]) {
          %mm = matmul(%x, %w) : DT[23,23]
          %t = transpose(%mm) : DT[23,23]
          %r = relu(%t) : DT[23,23]
          %mm2 = matmul(%x, %v) : DT[23,23]
          %a = add(%mm2, %b) : DT[23,23]
          %t2 = transpose(%a) : DT[23,23]
          %r2 = tanh(%t2) : DT[23,23]
          return %r, %r2
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
          %r2: %a, %r2
        not fused:
          %r2: it is a graph output
          %mm2: %r2 reads it through a view
          %r: it is a graph output
          %mm: %t (transpose) is not an elementwise op over the contraction's index space
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        for k in kernels(p):
            if isinstance(k, Matmul):
                assert k.epilogue is None


def test_matmul_read_twice_or_as_output_or_broadcast_is_not_fused():
    text = """
        graph @g(%x: DT[6,10], %w1: DT[10,7], %w2: DT[10,7], %w3: DT[10,7], %w4: DT[10,7],
                 %z: DT[3,6,7]) {
          %m1 = matmul(%x, %w1) : DT[6,7]
          %r1 = relu(%m1) : DT[6,7]
          %s1 = sum(%m1) {axes=[1]} : DT[6]
          %m2 = matmul(%x, %w2) : DT[6,7]
          %r2 = relu(%m2) : DT[6,7]
          %m3 = matmul(%x, %w3) : DT[6,7]
          %a3 = add(%m3, %z) : DT[3,6,7]
          %m4 = matmul(%x, %w4) : DT[6,7]
          %s4 = mean(%m4) {axes=[0]} : DT[7]
          return %r1, %s1, %m2, %r2, %a3, %s4
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
        not fused:
          %m4: %s4 (mean) is not an elementwise op over the contraction's index space
          %a3: it is a graph output
          %m3: %a3 (add) is not an elementwise op over the contraction's index space
          %r2: it is a graph output
          %m2: it is a graph output
          %r1: it is a graph output
          %m1: read by 2 nodes
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        assert all(k.epilogue is None for k in kernels(p) if isinstance(k, Matmul))


def test_one_contraction_per_root():
    # add(matmul1, matmul2): the later product becomes the epilogue's acc, the earlier one is
    # stored and loaded by that epilogue.
    text = """
        graph @g(%x: DT[40,24], %w: DT[24,9], %v: DT[24,9]) {
          %mm1 = matmul(%x, %w) : DT[40,9]
          %mm2 = matmul(%x, %v) : DT[40,9]
          %r = add(%mm1, %mm2) : DT[40,9]
          return %r
        }
    """
    check_fusion(text, """
        fused kernels (root: members, computed in order):
          %r: %mm2, %r
        not fused:
          %r: it is a graph output
          %mm1: its epilogue root %r already ends contraction %mm2
    """)
    for dt in DTYPES:
        p = compiled_vs_eager(graph_of(text, dt))
        assert headers(p) == ["kernel @k0_mm1 contraction (%mm1)",
                              "kernel @k1_r contraction (%mm2, %r)"]
        mm1, mm2 = kernels(p)
        assert mm1.epilogue is None
        assert mm1.c[0] in {e.buffer for e in _expr_nodes(mm2.epilogue) if e.op == "load"}


CONV_CASES = [
    # x shape, w shape, padding: GEMM path (70x27x5 MACs) and direct (12x8x3), odd sizes
    ((2, 9, 7, 3), (3, 3, 3, 5), "valid"),
    ((1, 4, 5, 2), (2, 2, 2, 3), "valid"),
    ((2, 5, 6, 3), (3, 3, 3, 7), "same"),
]


def _conv_out(xs, ws, padding):
    n, h, w, _ = xs
    kh, kw, _, o = ws
    if padding == "same":
        return (n, h, w, o)
    return (n, h - kh + 1, w - kw + 1, o)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("xs, ws, padding", CONV_CASES)
def test_conv_bias_relu_is_one_contraction_kernel(dt, xs, ws, padding):
    s = lambda shape: ",".join(map(str, shape))  # noqa: E731
    out = _conv_out(xs, ws, padding)
    g = check_fusion(f"""
        graph @g(%x: DT[{s(xs)}], %w: DT[{s(ws)}], %b: DT[{ws[-1]}]) {{
          %c = conv2d(%x, %w) {{padding="{padding}"}} : DT[{s(out)}]
          %a = add(%c, %b) : DT[{s(out)}]
          %r = relu(%a) : DT[{s(out)}]
          return %r
        }}
    """, """
        fused kernels (root: members, computed in order):
          %r: %c, %a, %r
        not fused:
          %r: it is a graph output
    """, dt)
    p = compiled_vs_eager(g)
    # im2col, then one contraction whose epilogue (re-indexed to the GEMM's [M, O]) holds the
    # bias add and the relu and writes the output; no elementwise kernel
    ks = kernels(p)
    assert [k.family for k in ks] == ["contraction", "contraction"]
    assert headers(p)[1] == "kernel @k1_r contraction (%c, %r)"
    k = ks[1]
    assert isinstance(k, Matmul) and k.c[0] is p.compiled.kernels.outputs[0]
    m = out[0] * out[1] * out[2]
    assert (k.m, k.n) == (m, ws[-1])
    text = str(p.compiled.kernels)
    assert "epilogue:" in text and " = max " in text.split("kernel @k1_r")[1]


def test_conv_with_random_epilogue_falls_back_to_a_temp():
    # The dropout mask depends on the element's (n, oy, ox, o) index: the epilogue cannot be
    # re-indexed to the GEMM's rows, so the product goes to a temp and an elementwise kernel
    # applies the whole root expression. Results must match eager (same Philox bits).
    for dt, xs, ws in (("f32", (2, 9, 7, 3), (3, 3, 3, 5)), ("f64", (1, 4, 5, 2), (2, 2, 2, 3))):
        s = lambda shape: ",".join(map(str, shape))  # noqa: E731
        out = _conv_out(xs, ws, "valid")
        g = check_fusion(f"""
            graph @g(%x: DT[{s(xs)}], %w: DT[{s(ws)}], %b: DT[{ws[-1]}], %step: i64[]) {{
              %c = conv2d(%x, %w) : DT[{s(out)}]
              %a = add(%c, %b) : DT[{s(out)}]
              %r = relu(%a) : DT[{s(out)}]
              %u = random_uniform(%step) {{seed=5}} : DT[{s(out)}]
              %half = constant() {{value=0.5}} : DT[]
              %keep = greater_equal(%u, %half) : bool[{s(out)}]
              %two = constant() {{value=2.0}} : DT[]
              %sc = mul(%r, %two) : DT[{s(out)}]
              %zero = constant() {{value=0.0}} : DT[]
              %d = where(%keep, %sc, %zero) : DT[{s(out)}]
              return %d
            }}
        """, """
            fused kernels (root: members, computed in order):
              %d: %c, %a, %r, %u, %keep, %sc, %d
            not fused:
              %d: it is a graph output
        """, dt)
        p = compiled_vs_eager(g)
        assert headers(p)[1:] == ["kernel @k1_d contraction (%c, %d)",
                                  "kernel @k2_d elementwise (%d)"]
        mm, ew = kernels(p)[1:]
        assert mm.epilogue is None and mm.c[0].kind == "temp"
        assert mm.c[0] in ew.reads()


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("m, k, n", [(12, 23, 10), (4, 5, 6)])
def test_matmul_reshape_relu_mask_fuses_through_the_reshape(dt, m, k, n):
    # A relu-gradient mask read through a reshape of the product: reshapes keep row-major
    # order, so the epilogue is the mask re-indexed to the product's [M, N].
    r0, r1 = 2, m * n // 2
    g = check_fusion(f"""
        graph @g(%x: DT[{m},{k}], %w: DT[{k},{n}], %dy: DT[{r0},{r1}]) {{
          %mm = matmul(%x, %w) : DT[{m},{n}]
          %rs = reshape(%mm) : DT[{r0},{r1}]
          %zero = constant() {{value=0.0}} : DT[]
          %pos = greater(%rs, %zero) : bool[{r0},{r1}]
          %y = where(%pos, %dy, %zero) : DT[{r0},{r1}]
          return %y
        }}
    """, """
        fused kernels (root: members, computed in order):
          %y: %mm, %pos, %y
        not fused:
          %y: it is a graph output
    """, dt)
    p = compiled_vs_eager(g)
    assert headers(p) == ["kernel @k0_y contraction (%mm, %y)"]
    (mk,) = kernels(p)
    assert mk.epilogue is not None and mk.c[0] is p.compiled.kernels.outputs[0]


@pytest.mark.parametrize("dt", DTYPES)
def test_matmul_reshape_bias_relu_fallback(dt):
    g = check_fusion("""
        graph @g(%x: DT[4,9], %w: DT[9,6], %b: DT[12]) {
          %mm = matmul(%x, %w) : DT[4,6]
          %rs = reshape(%mm) : DT[2,12]
          %a = add(%rs, %b) : DT[2,12]
          %y = relu(%a) : DT[2,12]
          return %y
        }
    """, """
        fused kernels (root: members, computed in order):
          %y: %mm, %a, %y
        not fused:
          %y: it is a graph output
    """, dt)
    compiled_vs_eager(g)


@pytest.mark.parametrize("dt", DTYPES)
def test_duplicated_cheap_node_becomes_the_root(dt):
    # %a (add) has two expression readers and would be recomputed in each; as the matmul's
    # epilogue it is stored once instead, and its readers load it.
    g = check_fusion("""
        graph @g(%x: DT[33,21], %w: DT[21,10], %b: DT[10]) {
          %mm = matmul(%x, %w) : DT[33,10]
          %a = add(%mm, %b) : DT[33,10]
          %s = sigmoid(%a) : DT[33,10]
          %t = tanh(%a) : DT[33,10]
          return %s, %t
        }
    """, """
        fused kernels (root: members, computed in order):
          %a: %mm, %a
        not fused:
          %t: it is a graph output
          %s: it is a graph output
          %a: it ends the epilogue of contraction %mm
    """, dt)
    p = compiled_vs_eager(g)
    assert headers(p)[0] == "kernel @k0_a contraction (%mm, %a)"
    mk = kernels(p)[0]
    assert mk.epilogue is not None and mk.c[0].kind == "temp"
    # both readers load the stored %a (merged into one two-output kernel)
    assert headers(p)[1:] == ["kernel @k1_s elementwise (%s, %t)"]


@pytest.mark.parametrize("dt", DTYPES)
def test_duplicated_chain_ends_at_its_first_cheap_node(dt):
    # The chain add -> relu is cheap and relu is read twice (neg and exp), so both would be
    # recomputed in each reader; the epilogue stops at the first of them, %add, which is
    # materialized as the root. relu stays recomputed in both readers, from %add in memory.
    g = check_fusion("""
        graph @g(%x: DT[8,9], %w: DT[9,5], %b: DT[5]) {
          %mm = matmul(%x, %w) : DT[8,5]
          %add = add(%mm, %b) : DT[8,5]
          %relu = relu(%add) : DT[8,5]
          %n = neg(%relu) : DT[8,5]
          %e = exp(%relu) : DT[8,5]
          return %n, %e
        }
    """, """
        fused kernels (root: members, computed in order):
          %add: %mm, %add
          %n: %relu, %n
        not fused:
          %e: it is a graph output
          %n: it is a graph output
          %add: it ends the epilogue of contraction %mm
    """, dt)
    p = compiled_vs_eager(g)
    assert headers(p) == ["kernel @k0_add contraction (%mm, %add)",
                          "kernel @k1_n elementwise (%n, %e)"]
    ew = kernels(p)[1]
    assert sum(e.op == "max" for e in _expr_nodes(ew.exprs[0])) == 1   # relu, once


def test_explain_and_plan_text():
    g = graph_of("""
        graph @g(%x: f32[8,9], %w: f32[9,5], %b: f32[5]) {
          %mm = matmul(%x, %w) : f32[8,5]
          %a = add(%mm, %b) : f32[8,5]
          %r = relu(%a) : f32[8,5]
          %e = exp(%x) : f32[8,9]
          %s = sum(%e) {axes=[1]} : f32[8]
          return %r, %s
        }
    """)
    plan = plan_fusion(g)
    assert plan.explain("mm") == "%mm is a contraction with its epilogue fused in %r"
    assert plan.explain("a") == "%a is fused into %r"
    assert plan.explain("r") == "%r is materialized: it is a graph output"
    assert plan.lazy == {"a", "e"} and plan.epilogue == {"mm": "r"}


def test_pass_manager_fuse_dump_is_annotate_groups():
    # The pipeline's "fuse" dump is this text, for the graph after simplify.
    from compiler.passes.manager import PassManager

    g = graph_of("""
        graph @g(%x: f32[8,9], %w: f32[9,5], %b: f32[5]) {
          %mm = matmul(%x, %w) : f32[8,5]
          %a = add(%mm, %b) : f32[8,5]
          %r = relu(%a) : f32[8,5]
          return %r
        }
    """)
    pm = PassManager(dump=["fuse"])
    after, plan = pm.run(g)
    assert plan.epilogue == {"mm": "r"}
    assert pm.dumps["fuse"] == annotate_groups(after, plan)
    assert pm.dumps["fuse"].endswith("""
fused kernels (root: members, computed in order):
  %r: %mm, %a, %r
not fused:
  %r: it is a graph output
""")
