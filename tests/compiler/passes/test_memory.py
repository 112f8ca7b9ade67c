"""plan_memory and reuse_dying_inputs: kernel programs in, buffers and offsets out.

Reuse must happen exactly when an elementwise kernel reads a dying temp of its own size only
at the element it writes; each case that must not reuse would compute wrong values if it
did, and every case also runs compiled vs eager."""
from __future__ import annotations

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.kernels.lower import lower
from compiler.passes.fuse import plan_fusion
from compiler.passes.memory import live_ranges, plan_memory, reuse_dying_inputs
from runtime.program import Program


def _program(graph):
    plan = plan_fusion(graph)
    return lower(graph, lazy=plan.lazy, epilogue=plan.epilogue)


def _same_results(graph, *shapes):
    rng = np.random.default_rng(0)
    xs = [rng.random(s, dtype=np.float32) for s in shapes]
    got = Program(graph, backend="llvm")(xs)
    want = Program(graph, backend="eager")(xs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


def test_elementwise_result_overwrites_its_dying_input():
    b = GraphBuilder(name="g")
    r = b.sum(b.input("x", (64, 300)), axes=(1,))
    s = b.exp(b.neg(r))                     # two reduction readers: materialized
    b.output(b.sum(s), b.max(s))
    kp = _program(b.graph)
    assert [t.name for t in kp.temps] == ["sum", "exp"]
    assert reuse_dying_inputs(kp) == 1
    assert [t.name for t in kp.temps] == ["sum"]
    text = str(kp)
    assert "kernel @k1_exp elementwise (%exp)" in text and "    %sum[64] = v2" in text
    assert text.count("load %sum[64]") == 3          # exp and both reductions read it
    _same_results(b.graph, (64, 300))


@pytest.mark.parametrize("case", ["transposed", "used_later", "other_size"])
def test_no_reuse_when_it_would_change_results(case):
    b = GraphBuilder(name=case)
    x = b.input("x", (32, 48, 8))
    r = b.sum(x, axes=(2,))                               # temp [32, 48]
    if case == "transposed":
        # reads r[j, i] while writing s[i, j]: in place would clobber unread elements
        s = b.exp(b.transpose(b.reshape(r, shape=(48, 32)), perm=(1, 0)))
        out = [b.sum(s, axes=(0,)), b.max(s, axes=(1,))]
    elif case == "used_later":
        s = b.exp(r)
        out = [b.sum(s, axes=(0,)), b.max(s, axes=(1,)), b.sum(r, axes=(1,))]
    else:
        s = b.exp(b.broadcast_to(b.expand_dims(r, axes=(2,)), shape=(32, 48, 2)))
        out = [b.sum(s, axes=(0,)), b.max(s, axes=(1,))]
    b.output(*out)
    kp = _program(b.graph)
    assert reuse_dying_inputs(kp) == 0
    _same_results(b.graph, (32, 48, 8))


def test_plan_memory_never_overlaps_buffers_live_at_once():
    b = GraphBuilder(name="chain")
    x = b.input("x", (40, 70))
    vals = [b.sum(x, axes=(1,))]
    for i in range(5):
        e = b.exp(b.mul(vals[-1], float(i + 1)))
        vals.append(b.add(b.sum(b.broadcast_to(b.expand_dims(e, axes=(1,)), shape=(40, 3)), axes=(1,)), e))
    b.output(b.sum(vals[-1]), b.max(vals[2]))
    kp = _program(b.graph)
    plan = plan_memory(kp)
    ranges = live_ranges(kp)
    temps = kp.temps
    for i, t in enumerate(temps):
        assert t.offset % 64 == 0
        for u in temps[i + 1:]:
            (a0, a1), (b0, b1) = ranges[id(t)], ranges[id(u)]
            if a0 <= b1 and b0 <= a1:   # live together: disjoint bytes
                assert t.offset + t.nbytes <= u.offset or u.offset + u.nbytes <= t.offset
    assert plan.peak_live_bytes <= plan.arena_bytes <= plan.naive_bytes
    _same_results(b.graph, (40, 70))


def test_reuse_leaves_scan_kernels_alone():
    """A scan kernel after the reuse site (its body is a program, not an expression) is not
    rewritten when it does not read the folded temp; an RNN training step compiles and
    matches eager (this crashed once)."""
    from frontend.keras.layers import Dense, SimpleRNN
    from frontend.keras.models import Sequential

    def losses(backend):
        from frontend.keras import utils
        utils.set_random_seed(0)
        m = Sequential([SimpleRNN(8, input_shape=(5, 3)), Dense(2)])
        m.compile("sgd", "mse", backend=backend)
        rng = np.random.default_rng(0)
        x = rng.random((16, 5, 3), dtype=np.float32)
        y = rng.random((16, 2), dtype=np.float32)
        return m.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]

    np.testing.assert_allclose(losses("llvm"), losses("eager"), rtol=1e-5)
