"""The scan op compiled (a body program called once per step) vs the eager interpreter,
forward and reverse-scan gradients, including zero and one steps."""
from __future__ import annotations

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.ops.scan import build_scan
from compiler.passes.autodiff import gradients
from opcheck import check_compiled


def rnn_graph(T: int, reverse: bool, dtype: str, B: int = 3, D: int = 5, H: int = 6):
    """An Elman RNN over T steps: loss and the gradient of every operand."""
    b = GraphBuilder(name="rnn")
    xs = b.input("xs", (T, B, D), dtype)
    h0 = b.input("h0", (B, H), dtype)
    w = b.input("w", (D, H), dtype)
    u = b.input("u", (H, H), dtype)

    def step(bb, carries, x_t, consts):
        (h,), (x,), (w_, u_) = carries, x_t, consts
        hn = bb.tanh(bb.add(bb.matmul(x, w_), bb.matmul(h, u_)))
        return [hn], [hn]

    (h_last,), (ys,) = build_scan(b, step, [h0], [xs], [w, u], reverse=reverse)
    loss = b.add(b.sum(b.square(ys)), b.sum(h_last))
    grads = gradients(b.graph, loss, [xs, h0, w, u])
    b.output(loss, h_last, ys, *grads)
    return b.graph


@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T", [0, 1, 2, 7])
def test_rnn_scan_compiled_matches_eager(T, reverse, dtype):
    g = rnn_graph(T, reverse, dtype)
    rng = np.random.default_rng(T)
    npt = np.float64 if dtype == "f64" else np.float32
    arrays = [(rng.normal(size=v.shape) * 0.5).astype(npt) for v in g.args]
    tol = (1e-11, 1e-12) if dtype == "f64" else (2e-5, 1e-6)
    check_compiled(g, arrays, *tol, label=f"scan T={T} reverse={reverse} {dtype}")
