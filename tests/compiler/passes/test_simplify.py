"""The simplify passes as IR text in, IR text out: the expected texts are the spec.

Each rule has a test that fires it and, where a tempting rewrite would be wrong, a test
that it does not fire (float x*0, float x-x, reshape chains through a transpose, CSE of
nodes with different attributes, ...). Every check also verifies the graph after each pass
and runs it eagerly before and after on random data (inf, nan and signed zeros included)
to confirm the rewrite kept the values. The last tests measure a real MLP training graph.
"""
from __future__ import annotations

import importlib.util
import os
import textwrap
from collections import Counter

import numpy as np

from compiler import GraphBuilder
from compiler.ir import dtypes
from compiler.ir.graph import Graph
from compiler.ir.parser import parse
from compiler.ir.printer import print_graph
from compiler.ir.verify import verify
from compiler.ops.scan import build_scan
from compiler.passes.autodiff import gradients
from compiler.passes.simplify import (NOT_APPLIED, RULES, cse, dce, fold_constants, simplify,
                                      simplify_algebra, simplify_with_stats, strip_stop_gradient)
from runtime.eager import run_graph

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _example(name: str):
    """Load ``examples/<name>.py`` as a module (as tests/examples does)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

SPECIALS = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])


def random_args(g: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Arguments for ``g``: floats with inf, nan and both zeros mixed in; small ints."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in g.args:
        dt = dtypes.to_numpy(v.dtype)
        if dtypes.is_float(v.dtype):
            a = rng.normal(size=v.shape) * 3
            if a.size >= 4:
                a.reshape(-1)[:len(SPECIALS)] = SPECIALS[:a.size]
        elif dtypes.is_int(v.dtype):
            a = rng.integers(-3, 4, size=v.shape)
        else:
            a = rng.random(size=v.shape) < 0.5
        out[v.name] = np.asarray(a).astype(dt)
    return out


def assert_same_results(before: list[np.ndarray], after: list[np.ndarray]) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=0, equal_nan=True)


def check(passes, before: str, after: str) -> Graph:
    """Parse ``before``, run ``passes`` (verifying after each), compare with ``after``, and
    check that eager results did not change."""
    g = parse(textwrap.dedent(before))
    args = random_args(g)
    want = run_graph(g, args)
    for p in passes if isinstance(passes, (list, tuple)) else [passes]:
        assert p(g) is g
        verify(g)
    assert print_graph(g).strip() == textwrap.dedent(after).strip()
    assert_same_results(want, run_graph(g, args))
    return g


def algebra(g: Graph) -> Graph:
    """simplify_algebra then dce, so the expected texts show only what is left."""
    return dce(simplify_algebra(g))


def unchanged(passes, text: str) -> None:
    check(passes, text, text)


# ------------------------------------------------------------------------------------------
# dce
# ------------------------------------------------------------------------------------------
def test_dce_removes_what_no_output_reads():
    check(dce, """
        graph @g(%x: f32[3], %s: i64[]) {
          %a = neg(%x) : f32[3] loc("kept")
          %b = exp(%a) : f32[3] loc("dead: reads a live value")
          %c = log(%b) : f32[3] loc("dead: only read by dead nodes")
          %r = random_uniform(%s) {seed=7} : f32[3] loc("dead: random ops are pure")
          return %a
        }
    """, """
        graph @g(%x: f32[3], %s: i64[]) {
          %a = neg(%x) : f32[3] loc("kept")
          return %a
        }
    """)


def test_dce_cleans_scan_bodies_but_keeps_their_arguments():
    check(dce, """
        graph @body(%c: f32[2], %x: f32[2]) {
          %dead = exp(%x) : f32[2]
          %n = add(%c, %x) : f32[2]
          return %n, %n
        }
        graph @g(%c0: f32[2], %xs: f32[3,2]) {
          %s, %ys = scan(%c0, %xs) {body=@body, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          return %ys
        }
    """, """
        graph @body(%c: f32[2], %x: f32[2]) {
          %n = add(%c, %x) : f32[2]
          return %n, %n
        }

        graph @g(%c0: f32[2], %xs: f32[3,2]) {
          %s, %ys = scan(%c0, %xs) {body=@body, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          return %ys
        }
    """)


# ------------------------------------------------------------------------------------------
# fold_constants
# ------------------------------------------------------------------------------------------
def test_fold_gradient_seed_chain_in_place():
    # The head of every mean-loss gradient: seed * (1/n), reshaped and broadcast. Folded
    # nodes keep their names and locations; the operands they no longer read are dce's job.
    check([fold_constants, dce], """
        graph @g(%x: f32[4]) {
          %seed = constant() {value=1.0} : f32[] loc("grad")
          %n = constant() {value=0.25} : f32[] loc("loss/grad")
          %m = mul(%seed, %n) : f32[] loc("loss/grad")
          %r = reshape(%m) : f32[1] loc("loss/grad")
          %b = broadcast_to(%r) : f32[4] loc("loss/grad")
          %g = neg(%b) : f32[4] loc("loss/grad")
          %y = mul(%g, %x) : f32[4] loc("loss/grad")
          return %y
        }
    """, """
        graph @g(%x: f32[4]) {
          %g = constant() {value=-0.25} : f32[4] loc("loss/grad")
          %y = mul(%g, %x) : f32[4] loc("loss/grad")
          return %y
        }
    """)


def test_fold_non_uniform_result_is_dense():
    check([fold_constants, dce], """
        graph @g() {
          %a = constant() {value=dense<f32[2] [1.0, 2.0]>} : f32[2]
          %b = constant() {value=dense<f32[2] [0.5, 0.5]>} : f32[2]
          %c = add(%a, %b) : f32[2] loc("here")
          %i = constant() {value=7} : i64[]
          %d = cast(%i) : f64[]
          return %c, %d
        }
    """, """
        graph @g() {
          %c = constant() {value=dense<f32[2] [1.5, 2.5]>} : f32[2] loc("here")
          %d = constant() {value=7.0} : f64[]
          return %c, %d
        }
    """)


def test_fold_keeps_ieee_specials_and_signed_zero():
    check([fold_constants, dce], """
        graph @g() {
          %z = constant() {value=0.0} : f64[]
          %n = div(%z, %z) : f64[]
          %i = div(%z, %z) : f64[]
          %m = neg(%z) : f64[]
          %e = exp(%m) : f64[]
          %big = constant() {value=1000.0} : f32[]
          %inf = exp(%big) : f32[]
          return %n, %m, %e, %inf
        }
    """, """
        graph @g() {
          %n = constant() {value=nan} : f64[]
          %m = constant() {value=-0.0} : f64[]
          %e = constant() {value=1.0} : f64[]
          %inf = constant() {value=inf} : f32[]
          return %n, %m, %e, %inf
        }
    """)


def test_fold_does_not_materialize_large_results():
    # 64 * 784 > 4096 elements: the broadcast of a scalar stays a broadcast (a view).
    unchanged([fold_constants, dce], """
        graph @g(%x: f32[64,784]) {
          %c = constant() {value=0.5} : f32[]
          %b = broadcast_to(%c) : f32[64,784]
          %y = mul(%x, %b) : f32[64,784]
          return %y
        }
    """)


def test_fold_random_ops_only_when_tiny():
    # Random ops are pure (counter and seed in, bits out), so folding is exact, but only
    # tiny draws are worth a dense literal. The folded bits are Philox's: they are compared
    # with the op's own output rather than spelled here.
    g = parse("""
        graph @g() {
          %step = constant() {value=3} : i64[]
          %tiny = random_uniform(%step) {seed=1} : f32[2]
          %big = random_uniform(%step) {seed=1} : f32[64]
          return %tiny, %big
        }
    """)
    want = run_graph(g, {})
    dce(fold_constants(g))
    verify(g)
    assert [(n.op, n.outputs[0].name) for n in g.nodes] == [
        ("constant", "step"), ("constant", "tiny"), ("random_uniform", "big")]
    assert isinstance(g.nodes[1].attrs["value"], np.ndarray)
    assert_same_results(want, run_graph(g, {}))


def test_fold_leaves_reference_errors_to_run_time():
    # An out-of-range gather index is reported when the graph runs, not by the compiler.
    g = parse("""
        graph @g() {
          %p = constant() {value=dense<f32[2] [1.0, 2.0]>} : f32[2]
          %i = constant() {value=dense<i64[1] [5]>} : i64[1]
          %y = gather(%p, %i) : f32[1]
          return %y
        }
    """)
    fold_constants(g)
    verify(g)
    assert g.outputs[0].producer.op == "gather"


def test_fold_tiny_scan_with_constant_operands():
    check([fold_constants, dce], """
        graph @body(%c: f32[], %x: f32[]) {
          %n = add(%c, %x) : f32[]
          return %n, %n
        }
        graph @g() {
          %c0 = constant() {value=1.0} : f32[]
          %xs = constant() {value=dense<f32[3] [1.0, 2.0, 3.0]>} : f32[3]
          %s, %ys = scan(%c0, %xs) {body=@body, num_carry=1, num_xs=1, length=3} : f32[], f32[3] loc("rnn")
          return %s, %ys
        }
    """, """
        graph @g() {
          %s.0 = constant() {value=7.0} : f32[] loc("rnn")
          %ys.1 = constant() {value=dense<f32[3] [2.0, 4.0, 7.0]>} : f32[3] loc("rnn")
          return %s.0, %ys.1
        }
    """)


# ------------------------------------------------------------------------------------------
# cse
# ------------------------------------------------------------------------------------------
def test_cse_merges_whole_duplicate_chains():
    check(cse, """
        graph @g(%x: f32[3]) {
          %a = exp(%x) : f32[3] loc("first")
          %b = neg(%a) : f32[3]
          %a2 = exp(%x) : f32[3] loc("second")
          %b2 = neg(%a2) : f32[3]
          %y = add(%b, %b2) : f32[3]
          return %y, %b2
        }
    """, """
        graph @g(%x: f32[3]) {
          %a = exp(%x) : f32[3] loc("first")
          %b = neg(%a) : f32[3]
          %y = add(%b, %b) : f32[3]
          return %y, %b
        }
    """)


def test_cse_compares_constants_by_bits():
    # 0.0 and -0.0 differ; equal dense arrays merge, different ones do not; f32 vs f64 differ.
    check(cse, """
        graph @g() {
          %a = constant() {value=0.0} : f32[]
          %b = constant() {value=-0.0} : f32[]
          %c = constant() {value=0.0} : f32[]
          %d = constant() {value=0.0} : f64[]
          %e = constant() {value=dense<f32[2] [1.0, nan]>} : f32[2]
          %f = constant() {value=dense<f32[2] [1.0, nan]>} : f32[2]
          %h = constant() {value=dense<f32[2] [1.0, 2.0]>} : f32[2]
          %n1 = constant() {value=nan} : f32[]
          %n2 = constant() {value=nan} : f32[]
          return %a, %b, %c, %d, %e, %f, %h, %n1, %n2
        }
    """, """
        graph @g() {
          %a = constant() {value=0.0} : f32[]
          %b = constant() {value=-0.0} : f32[]
          %d = constant() {value=0.0} : f64[]
          %e = constant() {value=dense<f32[2] [1.0, nan]>} : f32[2]
          %h = constant() {value=dense<f32[2] [1.0, 2.0]>} : f32[2]
          %n1 = constant() {value=nan} : f32[]
          return %a, %b, %a, %d, %e, %e, %h, %n1, %n1
        }
    """)


def test_cse_keeps_nodes_with_different_attributes():
    unchanged(cse, """
        graph @g(%x: f32[2,3], %s: i64[]) {
          %a = sum(%x) {axes=[0]} : f32[3]
          %b = sum(%x) {axes=[0], keepdims=true} : f32[1,3]
          %c = sum(%x) {axes=[-1]} : f32[2]
          %d = transpose(%x) {perm=[1, 0]} : f32[3,2]
          %e = leaky_relu(%x) : f32[2,3]
          %f = leaky_relu(%x) {alpha=0.1} : f32[2,3]
          %r1 = random_uniform(%s) {seed=1} : f32[4]
          %r2 = random_uniform(%s) {seed=2} : f32[4]
          %p1 = pad(%x) {pads=[[0, 1], [0, 0]]} : f32[3,3]
          %p2 = pad(%x) {pads=[[0, 1], [0, 0]], value=-0.0} : f32[3,3]
          return %a, %b, %c, %d, %e, %f, %r1, %r2, %p1, %p2
        }
    """)


def test_cse_merges_random_ops_with_the_same_seed_and_counter():
    check(cse, """
        graph @g(%s: i64[]) {
          %r1 = random_normal(%s) {seed=5} : f32[4]
          %r2 = random_normal(%s) {seed=5} : f32[4]
          %y = sub(%r1, %r2) : f32[4]
          return %y
        }
    """, """
        graph @g(%s: i64[]) {
          %r1 = random_normal(%s) {seed=5} : f32[4]
          %y = sub(%r1, %r1) : f32[4]
          return %y
        }
    """)


def test_cse_compares_scan_bodies_by_identity():
    # @f and @f_copy are equal in structure but distinct graphs: only the scans of @f merge.
    check(cse, """
        graph @f(%c: f32[2], %x: f32[2]) {
          %n = add(%c, %x) : f32[2]
          return %n, %n
        }
        graph @f_copy(%c: f32[2], %x: f32[2]) {
          %n = add(%c, %x) : f32[2]
          return %n, %n
        }
        graph @g(%c0: f32[2], %xs: f32[3,2]) {
          %s1, %y1 = scan(%c0, %xs) {body=@f, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          %s2, %y2 = scan(%c0, %xs) {body=@f, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          %s3, %y3 = scan(%c0, %xs) {body=@f_copy, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          return %s1, %y2, %s3
        }
    """, """
        graph @f(%c: f32[2], %x: f32[2]) {
          %n = add(%c, %x) : f32[2]
          return %n, %n
        }

        graph @f_copy(%c: f32[2], %x: f32[2]) {
          %n = add(%c, %x) : f32[2]
          return %n, %n
        }

        graph @g(%c0: f32[2], %xs: f32[3,2]) {
          %s1, %y1 = scan(%c0, %xs) {body=@f, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          %s3, %y3 = scan(%c0, %xs) {body=@f_copy, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]
          return %s1, %y1, %s3
        }
    """)


# ------------------------------------------------------------------------------------------
# simplify_algebra: one test per rule, and the rewrites that must not happen
# ------------------------------------------------------------------------------------------
def test_mul_one_on_either_side():
    check(algebra, """
        graph @g(%x: f32[3], %i: i32[3]) {
          %one = constant() {value=1.0} : f32[]
          %a = mul(%x, %one) : f32[3]
          %b = mul(%one, %a) : f32[3]
          %ione = constant() {value=1} : i32[]
          %c = mul(%i, %ione) : i32[3]
          return %b, %c
        }
    """, """
        graph @g(%x: f32[3], %i: i32[3]) {
          return %x, %i
        }
    """)


def test_mul_by_broadcast_ones_keeps_the_result_type():
    # x * ones[2,3] has a bigger type than x: it becomes broadcast_to(x), with mul's name and
    # loc. The ones are seen through the reshape/broadcast chain autodiff builds.
    check(algebra, """
        graph @g(%x: f32[3]) {
          %one = constant() {value=1.0} : f32[]
          %r = reshape(%one) : f32[1,1]
          %ones = broadcast_to(%r) : f32[2,3]
          %y = mul(%ones, %x) : f32[2,3] loc("dense/grad")
          return %y
        }
    """, """
        graph @g(%x: f32[3]) {
          %y = broadcast_to(%x) : f32[2,3] loc("dense/grad")
          return %y
        }
    """)


def test_mul_zero_only_for_integers():
    check(algebra, """
        graph @g(%x: f32[3], %i: i64[3]) {
          %z = constant() {value=0.0} : f32[]
          %a = mul(%x, %z) : f32[3]
          %iz = constant() {value=0} : i64[3]
          %b = mul(%i, %iz) : i64[3]
          return %a, %b
        }
    """, """
        graph @g(%x: f32[3], %i: i64[3]) {
          %z = constant() {value=0.0} : f32[]
          %a = mul(%x, %z) : f32[3]
          %iz = constant() {value=0} : i64[3]
          return %a, %iz
        }
    """)


def test_mul_minus_one_is_neg():
    check(algebra, """
        graph @g(%x: f32[3]) {
          %m = constant() {value=-1.0} : f32[]
          %y = mul(%m, %x) : f32[3] loc("l")
          return %y
        }
    """, """
        graph @g(%x: f32[3]) {
          %y = neg(%x) : f32[3] loc("l")
          return %y
        }
    """)


def test_div_one():
    check(algebra, """
        graph @g(%x: f64[3]) {
          %one = constant() {value=1.0} : f64[]
          %y = div(%x, %one) : f64[3]
          %z = div(%one, %x) : f64[3]
          return %y, %z
        }
    """, """
        graph @g(%x: f64[3]) {
          %one = constant() {value=1.0} : f64[]
          %z = div(%one, %x) : f64[3]
          return %x, %z
        }
    """)


def test_add_and_sub_of_zero():
    check(algebra, """
        graph @g(%x: f32[3], %i: i32[3]) {
          %z = constant() {value=0.0} : f32[]
          %nz = constant() {value=-0.0} : f32[]
          %a = add(%x, %z) : f32[3]
          %b = add(%nz, %a) : f32[3]
          %c = sub(%b, %z) : f32[3]
          %iz = constant() {value=0} : i32[]
          %d = add(%iz, %i) : i32[3]
          return %c, %d
        }
    """, """
        graph @g(%x: f32[3], %i: i32[3]) {
          return %x, %i
        }
    """)


def test_zero_minus_x_is_neg_unless_the_type_would_change():
    check(algebra, """
        graph @g(%x: f32[3]) {
          %z = constant() {value=0.0} : f32[]
          %a = sub(%z, %x) : f32[3] loc("l")
          %zz = constant() {value=0.0} : f32[2,3]
          %b = sub(%zz, %x) : f32[2,3]
          return %a, %b
        }
    """, """
        graph @g(%x: f32[3]) {
          %a = neg(%x) : f32[3] loc("l")
          %zz = constant() {value=0.0} : f32[2,3]
          %b = sub(%zz, %x) : f32[2,3]
          return %a, %b
        }
    """)


def test_x_minus_x_only_for_integers():
    # For floats inf - inf and nan - nan are NaN: x - x stays (as in XLA and JAX).
    check(algebra, """
        graph @g(%x: f32[3], %i: i64[2,3]) {
          %a = sub(%x, %x) : f32[3]
          %b = sub(%i, %i) : i64[2,3] loc("ints")
          return %a, %b
        }
    """, """
        graph @g(%x: f32[3], %i: i64[2,3]) {
          %a = sub(%x, %x) : f32[3]
          %constant = constant() {value=0} : i64[2,3] loc("ints")
          return %a, %constant
        }
    """)


def test_additions_of_negations():
    check(algebra, """
        graph @g(%x: f32[3], %y: f32[3]) {
          %n = neg(%y) : f32[3]
          %a = add(%x, %n) : f32[3]
          %b = add(%n, %x) : f32[3]
          %c = sub(%x, %n) : f32[3]
          return %a, %b, %c
        }
    """, """
        graph @g(%x: f32[3], %y: f32[3]) {
          %a = sub(%x, %y) : f32[3]
          %b = sub(%x, %y) : f32[3]
          %c = add(%x, %y) : f32[3]
          return %a, %b, %c
        }
    """)


def test_neg_neg():
    check(algebra, """
        graph @g(%x: f32[3], %i: i32[3]) {
          %a = neg(%x) : f32[3]
          %b = neg(%a) : f32[3]
          %c = neg(%i) : i32[3]
          %d = neg(%c) : i32[3]
          return %b, %d, %a
        }
    """, """
        graph @g(%x: f32[3], %i: i32[3]) {
          %a = neg(%x) : f32[3]
          return %x, %i, %a
        }
    """)


def test_scalarize_splat_operand():
    # The cotangent of a mean times a [64,784] broadcast constant: the mul reads the scalar
    # and the whole broadcast chain dies. Not when the splat decides the result shape.
    check(algebra, """
        graph @g(%x: f32[64,784], %v: f32[784]) {
          %c = constant() {value=0.5} : f32[1,1]
          %b = broadcast_to(%c) : f32[64,784]
          %y = mul(%b, %x) : f32[64,784] loc("loss/grad")
          %w = mul(%b, %v) : f32[64,784]
          return %y, %w
        }
    """, """
        graph @g(%x: f32[64,784], %v: f32[784]) {
          %c = constant() {value=0.5} : f32[1,1]
          %b = broadcast_to(%c) : f32[64,784]
          %constant = constant() {value=0.5} : f32[] loc("loss/grad")
          %y = mul(%constant, %x) : f32[64,784] loc("loss/grad")
          %w = mul(%b, %v) : f32[64,784]
          return %y, %w
        }
    """)


def test_where_with_equal_branches_or_constant_condition():
    check(algebra, """
        graph @g(%c: bool[2,3], %x: f32[3], %y: f32[3]) {
          %a = where(%c, %x, %x) : f32[2,3] loc("same")
          %t = constant() {value=true} : bool[]
          %b = where(%t, %x, %y) : f32[3]
          %f = constant() {value=false} : bool[3]
          %d = where(%f, %x, %y) : f32[3]
          return %a, %b, %d
        }
    """, """
        graph @g(%c: bool[2,3], %x: f32[3], %y: f32[3]) {
          %a = broadcast_to(%x) : f32[2,3] loc("same")
          return %a, %x, %y
        }
    """)


def test_cast_to_the_same_dtype_but_not_cast_chains():
    check(algebra, """
        graph @g(%x: f32[3], %d: f64[3]) {
          %a = cast(%x) : f32[3]
          %b = cast(%d) : f32[3]
          %c = cast(%b) : f64[3]
          return %a, %c
        }
    """, """
        graph @g(%x: f32[3], %d: f64[3]) {
          %b = cast(%d) : f32[3]
          %c = cast(%b) : f64[3]
          return %x, %c
        }
    """)


def test_stop_gradient_is_kept_once():
    check(algebra, """
        graph @g(%x: f32[3]) {
          %a = stop_gradient(%x) : f32[3]
          %b = stop_gradient(%a) : f32[3]
          return %b
        }
    """, """
        graph @g(%x: f32[3]) {
          %a = stop_gradient(%x) : f32[3]
          return %a
        }
    """)


def test_strip_stop_gradient_after_autodiff():
    check([strip_stop_gradient, dce], """
        graph @g(%x: f32[3]) {
          %a = stop_gradient(%x) : f32[3]
          %b = exp(%a) : f32[3]
          return %b, %a
        }
    """, """
        graph @g(%x: f32[3]) {
          %b = exp(%x) : f32[3]
          return %b, %x
        }
    """)


def test_transposes():
    check(algebra, """
        graph @g(%x: f32[2,3,4]) {
          %id = transpose(%x) {perm=[0, 1, 2]} : f32[2,3,4]
          %t1 = transpose(%id) {perm=[1, 2, 0]} : f32[3,4,2]
          %t2 = transpose(%t1) {perm=[2, 0, 1]} : f32[2,3,4]
          %t3 = transpose(%t1) {perm=[1, 0, 2]} : f32[4,3,2]
          %t4 = transpose(%t3) : f32[2,3,4]
          %t5 = transpose(%t1) : f32[2,4,3]
          return %t2, %t4, %t5
        }
    """, """
        graph @g(%x: f32[2,3,4]) {
          %t5 = transpose(%x) {perm=[0, 2, 1]} : f32[2,4,3]
          return %x, %x, %t5
        }
    """)


def test_transpose_of_unit_axes_is_a_reshape():
    # From the VJP of a batch-1 matmul: transpose(reshape(v, [1,4])) -> reshape(v, [4,1]).
    check(algebra, """
        graph @g(%v: f32[4], %m: f32[2,1,3]) {
          %r = reshape(%v) : f32[1,4]
          %t = transpose(%r) {perm=[1, 0]} : f32[4,1] loc("grad")
          %u = transpose(%m) {perm=[1, 0, 2]} : f32[1,2,3]
          %w = transpose(%m) {perm=[2, 1, 0]} : f32[3,1,2]
          return %t, %u, %w
        }
    """, """
        graph @g(%v: f32[4], %m: f32[2,1,3]) {
          %t = reshape(%v) : f32[4,1] loc("grad")
          %u = reshape(%m) : f32[1,2,3]
          %w = transpose(%m) {perm=[2, 1, 0]} : f32[3,1,2]
          return %t, %u, %w
        }
    """)


def test_reshape_chains():
    check(algebra, """
        graph @g(%x: f32[2,3]) {
          %a = reshape(%x) : f32[6]
          %b = expand_dims(%a) {axes=[0]} : f32[1,6]
          %c = reshape(%b) : f32[3,2]
          %d = squeeze(%b) : f32[6]
          %e = reshape(%d) : f32[2,3]
          %f = reshape(%x) : f32[2,3]
          return %c, %e, %f
        }
    """, """
        graph @g(%x: f32[2,3]) {
          %c = reshape(%x) : f32[3,2]
          return %c, %x, %x
        }
    """)


def test_reshape_chain_through_a_transpose_is_kept():
    # reshape . transpose . reshape is not one reshape: the transpose reorders elements.
    unchanged(algebra, """
        graph @g(%x: f32[6]) {
          %a = reshape(%x) : f32[2,3]
          %b = transpose(%a) {perm=[1, 0]} : f32[3,2]
          %c = reshape(%b) : f32[6]
          return %c
        }
    """)


def test_broadcasts():
    check(algebra, """
        graph @g(%x: f32[3]) {
          %a = broadcast_to(%x) : f32[3]
          %b = broadcast_to(%a) : f32[2,3]
          %c = broadcast_to(%b) : f32[4,2,3]
          return %c
        }
    """, """
        graph @g(%x: f32[3]) {
          %c = broadcast_to(%x) : f32[4,2,3]
          return %c
        }
    """)


def test_reductions_over_no_or_unit_axes():
    check(algebra, """
        graph @g(%x: f32[2,1,3], %s: f32[]) {
          %a = sum(%x) {axes=[]} : f32[2,1,3]
          %b = mean(%x) {axes=[1]} : f32[2,3]
          %c = max(%x) {axes=[1], keepdims=true} : f32[2,1,3]
          %d = sum(%x) {axes=[0, 1]} : f32[3]
          %e = mean(%s) : f32[]
          return %a, %b, %c, %d, %e
        }
    """, """
        graph @g(%x: f32[2,1,3], %s: f32[]) {
          %b = reshape(%x) : f32[2,3]
          %d = sum(%x) {axes=[0, 1]} : f32[3]
          return %x, %b, %x, %d, %s
        }
    """)


def test_no_exp_log_round_trips():
    # exp(log x) is NaN for x < 0 and log(exp x) is inf for large x: neither is x.
    unchanged(algebra, """
        graph @g(%x: f32[3]) {
          %a = log(%x) : f32[3]
          %b = exp(%a) : f32[3]
          %c = exp(%x) : f32[3]
          %d = log(%c) : f32[3]
          return %b, %d
        }
    """)


def test_rules_and_exclusions_are_documented():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.doc and r.ops for r in RULES)
    assert any("x * 0" in k for k in NOT_APPLIED) and any("x - x" in k for k in NOT_APPLIED)


# ------------------------------------------------------------------------------------------
# simplify: the fixed point, statistics, real gradient graphs
# ------------------------------------------------------------------------------------------
def test_simplify_runs_to_a_fixed_point():
    g = check(simplify, """
        graph @g(%x: f32[2,3]) {
          %one = constant() {value=1.0} : f32[]
          %two = constant() {value=2.0} : f32[]
          %half = div(%one, %two) : f32[]
          %h = reshape(%half) : f32[1,1]
          %hb = broadcast_to(%h) : f32[2,3]
          %t = transpose(%x) {perm=[1, 0]} : f32[3,2]
          %tt = transpose(%t) {perm=[1, 0]} : f32[2,3]
          %a = mul(%tt, %one) : f32[2,3]
          %b = mul(%x, %hb) : f32[2,3] loc("b")
          %c = mul(%a, %hb) : f32[2,3] loc("c")
          %y = add(%b, %c) : f32[2,3]
          return %y
        }
    """, """
        graph @g(%x: f32[2,3]) {
          %half = constant() {value=0.5} : f32[]
          %b = mul(%x, %half) : f32[2,3] loc("b")
          %y = add(%b, %b) : f32[2,3]
          return %y
        }
    """)
    stats = simplify_with_stats(g)
    assert stats.converged and stats.rounds == 1 and stats.nodes_before == stats.nodes_after == 3


def test_simplify_statistics():
    g = parse("""
        graph @g(%x: f32[3]) {
          %one = constant() {value=1.0} : f32[]
          %a = mul(%x, %one) : f32[3]
          %b = exp(%a) : f32[3]
          %c = exp(%x) : f32[3]
          %d = add(%b, %c) : f32[3]
          return %d
        }
    """)
    stats = simplify_with_stats(g, check=True)
    assert (stats.nodes_before, stats.nodes_after) == (5, 2)
    assert stats.converged and stats.rounds == 2
    assert stats.rewrites["simplify_algebra"] == Counter({"mul_one": 1})
    assert stats.rewrites["cse"] == Counter({"cse": 1})
    assert stats.total("dce") == 1
    assert str(stats) == ("simplify: 5 -> 2 nodes in 2 round(s), fixed point (fold_constants 0, "
                          "simplify_algebra 1, cse 1, dce 1)")


def _mlp(batch=60, hidden=64, classes=3):
    graph, _ = _example("graph_ir_mlp").build_train_step(batch, hidden, classes)
    rng = np.random.default_rng(0)
    args = {v.name: rng.normal(size=v.shape).astype(np.float32) for v in graph.args
            if v.dtype == "f32"}
    args["y"] = rng.integers(0, classes, size=(batch,)).astype(np.int64)
    return graph, args


def test_mlp_training_graph_shrinks_and_computes_the_same(capsys):
    graph, args = _mlp()
    want = run_graph(graph, args)
    stats = simplify_with_stats(graph, check=True)
    with capsys.disabled():
        print(f"\n  MLP training graph: {stats}")
    verify(graph)
    assert stats.converged
    assert stats.nodes_after < stats.nodes_before
    assert_same_results(want, run_graph(graph, args))
    # A fixed point: a second run finds nothing; and the result reads back from its text.
    again = simplify_with_stats(graph)
    assert again.rounds == 1 and again.nodes_after == stats.nodes_after
    assert print_graph(parse(print_graph(graph))) == print_graph(graph)
    # What the gradient graph no longer holds (all its shapes are under the fold limit):
    # nothing left to fold, no view of a constant, no duplicate constant, no dead node.
    def constant(v):
        return v.producer is not None and v.producer.op == "constant"
    assert not [n for n in graph.nodes if n.inputs and all(constant(v) for v in n.inputs)]
    consts = [(n.attrs["value"], n.output.type) for n in graph.nodes if n.op == "constant"]
    assert len(consts) == len(set(consts))
    assert graph.live_nodes() == graph.nodes


def test_each_pass_alone_keeps_the_mlp_verified_and_correct():
    for p in (fold_constants, simplify_algebra, cse, dce):
        graph, args = _mlp(batch=8, hidden=4)
        want = run_graph(graph, args)
        p(graph)
        verify(graph)
        assert_same_results(want, run_graph(graph, args))


def test_scan_gradient_graph_bodies_are_simplified():
    b = GraphBuilder(name="rnn")
    xs = b.input("xs", (5, 3))
    h0, w, u = b.param("h0", (4,)), b.param("w", (3, 4)), b.param("u", (4, 4))

    def step(bb, c, x, p):
        pre = bb.add(bb.matmul(bb.reshape(x[0], shape=(1, 3)), p[0]),
                     bb.matmul(bb.reshape(c[0], shape=(1, 4)), p[1]))
        h = bb.tanh(bb.reshape(pre, shape=(4,)))
        return [h], [bb.mul(h, 1.0)]

    _, (ys,) = build_scan(b, step, [h0], [xs], [w, u])
    loss = b.sum(b.square(ys))
    b.output(loss, *gradients(b.graph, loss, [h0, w, u, xs]))
    g = b.graph
    args = {v.name: np.random.default_rng(1).normal(size=v.shape).astype(np.float32)
            for v in g.args}
    want = run_graph(g, args)
    stats = simplify_with_stats(g, check=True)
    assert stats.nodes_after < stats.nodes_before
    assert stats.rewrites["simplify_algebra"]["mul_one"] >= 1
    assert stats.rewrites["simplify_algebra"]["transpose_as_reshape"] >= 1
    assert_same_results(want, run_graph(g, args))
