"""merge_elementwise (compiler/kernels/merge.py): multi-output fusion of elementwise kernels.

Pins down, on kernel programs lowered from small graphs (the merged kernel headers as text):

* neighbouring elementwise kernels over the same shape become one kernel with several outputs;
  a value the later kernel read from the earlier one's output is substituted (no load of it is
  left), and a temp that only fed the later kernel is no longer stored (it disappears from the
  program text);
* the hazards that must block a merge: the later kernel reads the earlier one's output at a
  different element (through a transpose; through a shifted slice of a padded buffer); the
  later kernel writes, in place, a buffer the earlier one reads at other elements; different
  shapes; an intervening kernel (a matmul, or an elementwise kernel of another shape) writing
  what the later kernel reads. Each has a control that differs only in the hazard and does
  merge, and each is also run compiled and compared with the eager interpreter;
* optimizer steps: SGD with momentum and Adam on two params give one elementwise kernel per
  param update (the param and its slots written by the same kernel), and the whole training
  step compiled stays within 1e-6 (relative to the largest magnitude) of eager for 5 steps.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.ir import dtypes
from compiler.ir.graph import Graph
from compiler.ir.parser import parse
from compiler.kernels import expr as ex
from compiler.kernels.ir import Elementwise
from compiler.kernels.lower import lower
from compiler.passes.autodiff import gradients
from compiler.passes.fuse import plan_fusion
from runtime.optimizers import SGD, Adam
from runtime.program import Program

TOL = {"f32": 2e-6, "f64": 1e-13}
DTYPES = ("f32", "f64")


def graph_of(text: str, dt: str = "f32") -> Graph:
    return parse(textwrap.dedent(text).replace("DT", dt))


def lowered(g: Graph, merge: bool = True, updates=None):
    plan = plan_fusion(g)
    return lower(g, lazy=plan.lazy, epilogue=plan.epilogue, updates=updates or {}, merge=merge)


def headers(kp) -> list[str]:
    return [k.header() for k in kp.kernels]


def run_both(g: Graph, state=None, updates=None, steps: int = 1, seed: int = 0):
    """Compiled and eager programs of ``g`` on the same random inputs for ``steps`` calls;
    outputs and the final state must agree. Returns the compiled program."""
    rng = np.random.default_rng(seed)
    state = state or {}
    compiled = Program(g, {k: np.array(v, copy=True) for k, v in state.items()},
                       updates=updates, backend="llvm")
    eager = Program(g, {k: np.array(v, copy=True) for k, v in state.items()},
                    updates=updates, backend="eager")
    for _ in range(steps):
        inputs = {v.name: rng.normal(size=v.shape).astype(dtypes.to_numpy(v.dtype))
                  for v in g.inputs}
        for i, (a, b) in enumerate(zip(compiled(inputs), eager(inputs))):
            close(a, b, f"output {i}")
    for k in compiled.state:
        close(compiled.state[k], eager.state[k], f"state {k}")
    return compiled


def close(a: np.ndarray, b: np.ndarray, what: str, tol: float | None = None) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, what
    if not np.issubdtype(b.dtype, np.floating):
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    tol = TOL["f32" if b.dtype == np.float32 else "f64"] if tol is None else tol
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


# ==========================================================================================
# merging, substitution, dead temps
# ==========================================================================================
@pytest.mark.parametrize("dt", DTYPES)
def test_readers_of_a_temp_merge_and_the_temp_is_dropped(dt):
    # exp is not cheap and has two readers: stored in a temp, read by two kernels. Merged, the
    # readers take exp's value from the register and the temp is never written.
    g = graph_of("""
        graph @g(%x: DT[7,13], %y: DT[7,13]) {
          %e = exp(%x) : DT[7,13]
          %a = add(%e, %y) : DT[7,13]
          %b = mul(%e, %y) : DT[7,13]
          return %a, %b
        }
    """, dt)
    before = lowered(g, merge=False)
    assert headers(before) == ["kernel @k0_e elementwise (%e)", "kernel @k1_a elementwise (%a)",
                               "kernel @k2_b elementwise (%b)"]
    assert "temp %e " in str(before)
    after = lowered(g)
    assert headers(after) == ["kernel @k0_e elementwise (%e, %a, %b)"]
    text = str(after)
    assert "%e" not in text.split("kernel @")[0]            # no temp %e
    assert "load %e" not in text and "%e[" not in text     # neither stored nor loaded
    assert after.temps == []
    (k,) = after.kernels
    assert [b.name for b, _ in k.outs] == ["out0", "out1"]
    # one exp node, shared by both outputs
    assert sum(e.op == "exp" for e in ex.iter_nodes(k.exprs)) == 1
    p = run_both(g)
    assert headers(p.compiled.kernels) == ["kernel @k0_e elementwise (%e, %a, %b)"]


def test_kept_temp_is_still_stored():
    # the temp is also read by a matmul: the merged kernel must still write it
    g = graph_of("""
        graph @g(%x: f32[7,13], %y: f32[7,13], %w: f32[13,5]) {
          %e = exp(%x) : f32[7,13]
          %a = add(%e, %y) : f32[7,13]
          %m = matmul(%e, %w) : f32[7,5]
          return %a, %m
        }
    """)
    kp = lowered(g)
    assert headers(kp) == ["kernel @k0_e elementwise (%e, %a)", "kernel @k1_m contraction (%m)"]
    (ek, mk) = kp.kernels
    assert [b.name for b, _ in ek.outs] == ["e", "out0"]
    assert mk.a[0] is ek.outs[0][0]
    run_both(g)


# ==========================================================================================
# hazards
# ==========================================================================================
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("transposed", [True, False])
def test_read_of_the_output_at_another_element_blocks(dt, transposed):
    # %a reads %e (stored: it is an output) through a transpose: at point (i, j) it needs
    # e[j, i], which the merged loop may not have computed yet.
    read = "%t = transpose(%e) : DT[9,9]" if transposed else "%t = neg(%e) : DT[9,9]"
    g = graph_of(f"""
        graph @g(%x: DT[9,9], %y: DT[9,9]) {{
          %e = exp(%x) : DT[9,9]
          {read}
          %a = add(%t, %y) : DT[9,9]
          return %e, %a
        }}
    """, dt)
    want = (["kernel @k0_e elementwise (%e)", "kernel @k1_a elementwise (%a)"] if transposed
            else ["kernel @k0_e elementwise (%e, %a)"])
    assert headers(lowered(g)) == want
    p = run_both(g)
    assert headers(p.compiled.kernels) == want


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shift", [1, 0])
def test_shifted_slice_of_a_written_buffer_blocks(dt, shift):
    # pad writes exp(x) into rows shift.. of %p (a region kernel over [6,11]); %y reads rows
    # 0..5 of %p: with shift 1 the element it reads at (i, j) is not the one the region
    # kernel writes there.
    g = graph_of(f"""
        graph @g(%x: DT[6,11]) {{
          %e = exp(%x) : DT[6,11]
          %p = pad(%e) {{pads=[[{shift}, {1 - shift}], [0, 0]]}} : DT[7,11]
          %s = slice(%p) {{starts=[0, 0], limits=[6, 11]}} : DT[6,11]
          %one = constant() {{value=1.0}} : DT[]
          %y = add(%s, %one) : DT[6,11]
          return %y, %p
        }}
    """, dt)
    kp = lowered(g)
    if shift:
        assert headers(kp) == ["kernel @k0_e elementwise (%e)", "kernel @k1_p elementwise (%p)",
                               "kernel @k2_p elementwise (%p)", "kernel @k3_y elementwise (%y)"]
    else:
        # same element: %y takes the region kernel's value instead of loading %p
        assert headers(kp) == ["kernel @k0_e elementwise (%e)", "kernel @k1_p elementwise (%p)",
                               "kernel @k2_p elementwise (%p, %y)"]
        assert not any(e.op == "load" and e.buffer.name == "out1"
                       for e in ex.iter_nodes(kp.kernels[2].exprs))
    run_both(g)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("transposed", [True, False])
def test_in_place_write_of_a_buffer_read_at_other_elements_blocks(dt, transposed):
    # %nw updates param %w in place; %o (earlier) reads %w transposed. Merged, point (i, j)
    # would overwrite w[i, j] before point (j, i) reads it. Read at the same element (the
    # control) the merge is fine: each point loads before it stores.
    read = "%t = transpose(%w) : DT[9,9]" if transposed else "%t = neg(%w) : DT[9,9]"
    g = graph_of(f"""
        graph @g(%w: param DT[9,9], %gr: DT[9,9]) {{
          {read}
          %o = add(%t, %gr) : DT[9,9]
          %lr = constant() {{value=0.1}} : DT[]
          %m = mul(%gr, %lr) : DT[9,9]
          %nw = sub(%w, %m) : DT[9,9]
          return %o, %nw
        }}
    """, dt)
    kp = lowered(g, updates={1: "w"})
    want = (["kernel @k0_o elementwise (%o)", "kernel @k1_nw elementwise (%nw)"] if transposed
            else ["kernel @k0_o elementwise (%o, %nw)"])
    assert headers(kp) == want
    assert kp.kernels[-1].outs[-1][0] is kp.params[0]          # written in place
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(9, 9)).astype(dtypes.to_numpy(dt))
    p = run_both(g, {"w": w0}, {1: "w"}, steps=2)
    assert headers(p.compiled.kernels) == want


@pytest.mark.parametrize("dt", DTYPES)
def test_different_shapes_do_not_merge(dt):
    # same number of elements, different shapes: each keeps its own loop
    g = graph_of("""
        graph @g(%x: DT[6,10], %y: DT[10,6], %z: DT[60]) {
          %a = exp(%x) : DT[6,10]
          %b = exp(%y) : DT[10,6]
          %r = reshape(%a) : DT[60]
          %c = add(%r, %z) : DT[60]
          return %a, %b, %c
        }
    """, dt)
    want = ["kernel @k0_a elementwise (%a)", "kernel @k1_b elementwise (%b)",
            "kernel @k2_c elementwise (%c)"]
    assert headers(lowered(g)) == want
    run_both(g)


@pytest.mark.parametrize("dt", DTYPES)
def test_intervening_matmul_writing_what_the_later_kernel_reads_blocks(dt):
    # %k reads %e (same element: mergeable) and %m, which the matmul between them writes.
    g = graph_of("""
        graph @g(%x: DT[12,10], %a: DT[12,7], %w: DT[7,10]) {
          %e = exp(%x) : DT[12,10]
          %m = matmul(%a, %w) : DT[12,10]
          %k = add(%m, %e) : DT[12,10]
          %s = sum(%m) {axes=[0]} : DT[10]
          return %e, %k, %s
        }
    """, dt)
    want = ["kernel @k0_e elementwise (%e)", "kernel @k1_m contraction (%m)",
            "kernel @k2_k elementwise (%k)", "kernel @k3_s reduction (%s)"]
    assert headers(lowered(g)) == want
    run_both(g)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("between", [True, False])
def test_intervening_elementwise_writing_what_the_later_kernel_reads_blocks(dt, between):
    # %q (another shape) is written between %e and %k, and %k reads it: %k cannot move up to
    # %e. Control: with %q computed first, %k merges into %e.
    e = "%e = exp(%x) : DT[6,10]"
    q = "%q = exp(%y) : DT[10]"
    first, second = (e, q) if between else (q, e)
    g = graph_of(f"""
        graph @g(%x: DT[6,10], %y: DT[10]) {{
          {first}
          {second}
          %k = add(%e, %q) : DT[6,10]
          return %e, %q, %k
        }}
    """, dt)
    want = (["kernel @k0_e elementwise (%e)", "kernel @k1_q elementwise (%q)",
             "kernel @k2_k elementwise (%k)"] if between else
            ["kernel @k0_q elementwise (%q)", "kernel @k1_e elementwise (%e, %k)"])
    assert headers(lowered(g)) == want
    run_both(g)


# ==========================================================================================
# optimizer steps
# ==========================================================================================
def train_step(opt):
    b = GraphBuilder(name="train")
    x = b.input("x", (13, 11))
    y = b.input("y", (13, 3))
    w = b.param("w", (11, 3))
    bias = b.param("b", (3,))
    out = b.add(b.matmul(x, w), bias)
    loss = b.mean(b.square(b.sub(out, y)))
    grads = gradients(b.graph, loss, [w, bias])
    upd = opt.build(b, [w, bias], grads)
    names = list(upd.new_values)
    b.output(loss, *upd.new_values.values())
    return b.graph, upd.initial_state, {i + 1: n for i, n in enumerate(names)}


@pytest.mark.parametrize("opt, slots", [(lambda: SGD(0.1, momentum=0.9), ("momentum",)),
                                        (lambda: Adam(0.01), ("m", "v"))],
                         ids=["sgd_momentum", "adam"])
def test_optimizer_step_is_one_elementwise_kernel_per_param(opt, slots):
    g, init, updates = train_step(opt())
    rng = np.random.default_rng(0)
    state = {"w": rng.normal(size=(11, 3)).astype(np.float32),
             "b": rng.normal(size=3).astype(np.float32), **init}
    compiled = Program(g, {k: np.array(v, copy=True) for k, v in state.items()},
                       updates=updates, backend="llvm")
    eager = Program(g, {k: np.array(v, copy=True) for k, v in state.items()},
                    updates=updates, backend="eager")
    kp = compiled.compiled.kernels
    by_name = {b.name: b for b in kp.params}
    for p in ("w", "b"):
        bufs = [by_name[p]] + [by_name[f"{p}.{s}"] for s in slots]
        writers = {id(k): k for k in kp.kernels for buf in bufs if buf in k.writes()}
        assert len(writers) == 1, (p, [k.header() for k in writers.values()])
        (k,) = writers.values()
        assert isinstance(k, Elementwise)
        assert all(buf in k.writes() for buf in bufs)
    for _ in range(5):
        inputs = {"x": rng.normal(size=(13, 11)).astype(np.float32),
                  "y": rng.normal(size=(13, 3)).astype(np.float32)}
        (lc,), (le,) = compiled(inputs), eager(inputs)
        close(lc, le, "loss", 1e-6)
    for name in eager.state:
        close(compiled.state[name], eager.state[name], name, 1e-6)


def test_overlapping_writes_to_one_buffer_do_not_merge():
    # Kernel IR built by hand: P writes b[0:4], K then b[1:5] (one element apart). In program
    # order b = [1, 2, 2, 2, 2]; one merged loop would let P's store at point i + 1 overwrite
    # K's store at point i. Writes to disjoint regions of one buffer are kept apart as well.
    from compiler.kernels.ir import Buffer, KernelProgram
    from compiler.kernels.merge import merge_elementwise
    from compiler.kernels.view import View

    def program(k_start):
        b = Buffer("b", "f32", 8, "output")
        dense = View.dense((8,))
        p = Elementwise("k0_p", ("p",), None, (4,), [(b, dense.slice([0], [4], [1]))],
                        [ex.const(1.0, "f32")])
        k = Elementwise("k1_k", ("k",), None, (4,),
                        [(b, dense.slice([k_start], [k_start + 4], [1]))],
                        [ex.const(2.0, "f32")])
        return KernelProgram("g", [], [], [b], [p, k])

    for start in (1, 4):
        kp = program(start)
        assert merge_elementwise(kp) == 0
        assert headers(kp) == ["kernel @k0_p elementwise (%p)", "kernel @k1_k elementwise (%k)"]
