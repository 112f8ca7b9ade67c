"""Loss composites: values vs independent formulas and torch, gradients vs finite
differences in float64, stability at extreme inputs, and error messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import GraphBuilder, OpError
from compiler.ops import losses
from compiler.passes.autodiff import gradients
from runtime.eager import run_graph


def _loss(fn, y_true, y_pred, **kw):
    """Value of the loss and its gradient w.r.t. y_pred through kiln (float64)."""
    b = GraphBuilder()
    t = b.input("t", y_true.shape, "i64" if y_true.dtype.kind == "i" else "f64")
    p = b.input("p", y_pred.shape, "f64")
    loss = fn(b, t, p, **kw)
    (g,) = gradients(b.graph, loss, [p])
    b.output(loss, g)
    return run_graph(b.graph, [y_true, y_pred])


def _fd(fn, y_true, y_pred, eps=1e-6, **kw):
    g = np.zeros_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        a, c = y_pred.copy(), y_pred.copy()
        a[i] += eps
        c[i] -= eps
        g[i] = (_loss(fn, y_true, a, **kw)[0] - _loss(fn, y_true, c, **kw)[0]) / (2 * eps)
    return g


rng = np.random.default_rng(0)
Y = rng.normal(size=(4, 3))
P = rng.normal(size=(4, 3))
PROB = rng.uniform(0.05, 0.95, size=(4, 3))
BIN = (rng.random((4, 3)) < 0.5).astype(np.float64)
LABELS = np.array([0, 2, 1, 2])
ONEHOT = np.eye(3)[LABELS]
SM = np.exp(P) / np.exp(P).sum(1, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


CASES = [
    ("mse", losses.mean_squared_error, Y, P, {}, np.mean((P - Y) ** 2)),
    ("mae", losses.mean_absolute_error, Y, P, {}, np.mean(np.abs(P - Y))),
    ("bce", losses.binary_crossentropy, BIN, PROB, {},
     -np.mean(BIN * np.log(PROB) + (1 - BIN) * np.log(1 - PROB))),
    ("bce_logits", losses.binary_crossentropy, BIN, P, {"from_logits": True},
     -np.mean(BIN * np.log(_sigmoid(P)) + (1 - BIN) * np.log(1 - _sigmoid(P)))),
    ("cce", losses.categorical_crossentropy, ONEHOT, SM, {},
     -np.mean([math.log(SM[i, LABELS[i]]) for i in range(4)])),
    ("cce_logits", losses.categorical_crossentropy, ONEHOT, P, {"from_logits": True},
     -np.mean([math.log(SM[i, LABELS[i]]) for i in range(4)])),
    ("scce", losses.sparse_categorical_crossentropy, LABELS, SM, {},
     -np.mean([math.log(SM[i, LABELS[i]]) for i in range(4)])),
    ("scce_logits", losses.sparse_categorical_crossentropy, LABELS, P, {"from_logits": True},
     -np.mean([math.log(SM[i, LABELS[i]]) for i in range(4)])),
]


@pytest.mark.parametrize("name,fn,t,p,kw,want", CASES, ids=[c[0] for c in CASES])
def test_value_and_gradient(name, fn, t, p, kw, want):
    value, grad = _loss(fn, t, p, **kw)
    np.testing.assert_allclose(value, want, rtol=1e-10)
    np.testing.assert_allclose(grad, _fd(fn, t, p, **kw), rtol=1e-5, atol=1e-8)


TORCH = {
    "mse": lambda F, t, p: F.mse_loss(p, t),
    "mae": lambda F, t, p: F.l1_loss(p, t),
    "bce": lambda F, t, p: F.binary_cross_entropy(p, t),
    "bce_logits": lambda F, t, p: F.binary_cross_entropy_with_logits(p, t),
    "cce_logits": lambda F, t, p: F.cross_entropy(p, t),
    "scce_logits": lambda F, t, p: F.cross_entropy(p, t),
}


@pytest.mark.parametrize("name,fn,t,p,kw,want", [c for c in CASES if c[0] in TORCH],
                         ids=[c[0] for c in CASES if c[0] in TORCH])
def test_against_torch(name, fn, t, p, kw, want):
    torch = pytest.importorskip("torch")
    tp = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t)
    ref = TORCH[name](torch.nn.functional, tt, tp)
    ref.backward()
    value, grad = _loss(fn, t, p, **kw)
    np.testing.assert_allclose(value, ref.item(), rtol=1e-10)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_logit_forms_are_stable_at_extremes():
    z = np.array([[1000.0, -1000.0, 0.0]])
    t = np.array([[0.0, 1.0, 1.0]])
    value, grad = _loss(losses.binary_crossentropy, t, z, from_logits=True)
    np.testing.assert_allclose(value, (1000 + 1000 + math.log(2)) / 3)
    np.testing.assert_allclose(grad, [[1 / 3, -1 / 3, -1 / 6]])
    value, grad = _loss(losses.sparse_categorical_crossentropy, np.array([1]),
                        np.array([[1000.0, -1000.0]]), from_logits=True)
    np.testing.assert_allclose(value, 2000.0)
    assert np.all(np.isfinite(grad))


def test_probability_forms_clip_like_keras():
    value, _ = _loss(losses.binary_crossentropy, np.array([[1.0]]), np.array([[0.0]]))
    np.testing.assert_allclose(value, -math.log(1e-7), rtol=1e-6)


def test_reductions():
    b = GraphBuilder()
    t, p = b.input("t", (4, 3), "f64"), b.input("p", (4, 3), "f64")
    per = losses.mean_squared_error(b, t, p, reduction="none")
    total = losses.mean_squared_error(b, t, p, reduction="sum")
    b.output(per, total)
    per_v, total_v = run_graph(b.graph, [Y, P])
    np.testing.assert_allclose(per_v, np.mean((P - Y) ** 2, axis=1))
    np.testing.assert_allclose(total_v, per_v.sum())
    with pytest.raises(OpError, match="reduction must be"):
        losses.mean_squared_error(b, t, p, reduction="avg")


def test_errors_name_the_loss_and_shapes():
    b = GraphBuilder()
    p = b.input("p", (4, 3), "f32")
    with pytest.raises(OpError, match=r"mean_squared_error: targets f32\[4\] and predictions f32\[4,3\]"):
        losses.mean_squared_error(b, b.input("t", (4,), "f32"), p)
    with pytest.raises(OpError, match=r"sparse_categorical_crossentropy: labels must be i32 or i64"):
        losses.sparse_categorical_crossentropy(b, b.input("l", (4,), "f32"), p)
    with pytest.raises(OpError, match=r"labels i64\[4,1\] must have shape \[4\]"):
        losses.sparse_categorical_crossentropy(b, b.input("l2", (4, 1), "i64"), p)
