"""Losses and metrics against hand-written numpy formulas (Keras's), the logits shortcut, and
the 'accuracy' resolution."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import losses, metrics
from frontend.layers.eager import eager_apply

RNG = np.random.default_rng(3)
EPS = 1e-7


def probs(n, c):
    z = RNG.normal(size=(n, c))
    e = np.exp(z - z.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


Y = RNG.normal(size=(6, 3)).astype(np.float32)
P = RNG.normal(size=(6, 3)).astype(np.float32)
PROB = RNG.uniform(0.05, 0.95, size=(6, 3)).astype(np.float32)
BIN = RNG.integers(0, 2, size=(6, 3)).astype(np.float32)
SOFT = probs(6, 4)
ONEHOT = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 6)]
IDS = RNG.integers(0, 4, 6)

CASES = [
    ("mse", Y, P, lambda t, p: ((p - t) ** 2).mean(-1)),
    ("mae", Y, P, lambda t, p: np.abs(p - t).mean(-1)),
    ("mape", Y, P, lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
    ("msle", np.abs(Y), np.abs(P), lambda t, p: ((np.log(np.maximum(p, EPS) + 1)
                                                  - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1)),
    ("huber", Y, P, lambda t, p: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2,
                                          np.abs(p - t) - 0.5).mean(-1)),
    ("log_cosh", Y, P, lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    ("binary_crossentropy", BIN, PROB,
     lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)),
    ("categorical_crossentropy", ONEHOT, SOFT, lambda t, p: -(t * np.log(p)).sum(-1)),
    ("sparse_categorical_crossentropy", IDS, SOFT,
     lambda t, p: -np.log(p[np.arange(len(t)), t.astype(int)])),
    ("hinge", BIN, P, lambda t, p: np.maximum(1 - (2 * t - 1) * p, 0).mean(-1)),
    ("squared_hinge", BIN, P, lambda t, p: (np.maximum(1 - (2 * t - 1) * p, 0) ** 2).mean(-1)),
    ("kl_divergence", SOFT, probs(6, 4), lambda t, p: (t * np.log(t / p)).sum(-1)),
    ("poisson", np.abs(Y), np.abs(P), lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    ("cosine_similarity", Y, P, lambda t, p: -((t / np.linalg.norm(t, axis=-1, keepdims=True))
                                               * (p / np.linalg.norm(p, axis=-1, keepdims=True))
                                               ).sum(-1)),
]


@pytest.mark.parametrize("name,t,p,ref", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_numpy(name, t, p, ref):
    loss = losses.get(name)
    expected = ref(t.astype(np.float64), p.astype(np.float64))
    np.testing.assert_allclose(loss(t, p), expected.mean(), rtol=2e-5, atol=1e-6)
    fn = getattr(losses, loss.name if hasattr(losses, loss.name) else name)
    if callable(fn) and not isinstance(fn, type):
        np.testing.assert_allclose(fn(t, p), expected, rtol=2e-5, atol=1e-6)


def test_reductions_and_from_logits():
    z = RNG.normal(size=(5, 4)).astype(np.float32)
    ids = RNG.integers(0, 4, 5)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    per = -logp[np.arange(5), ids]
    scce = losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    np.testing.assert_allclose(scce(ids, z), per.sum(), rtol=1e-5)
    none = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(none(ids, z), per, rtol=1e-5)
    bce = losses.BinaryCrossentropy(from_logits=True)
    t = RNG.integers(0, 2, (5, 4)).astype(np.float32)
    ref = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(bce(t, z), ref.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.MeanSquaredError(reduction="avg")


def test_label_smoothing():
    cce = losses.CategoricalCrossentropy(label_smoothing=0.2)
    t = ONEHOT * 0.8 + 0.2 / 4
    np.testing.assert_allclose(cce(ONEHOT, SOFT), -(t * np.log(SOFT)).sum(-1).mean(), rtol=1e-5)


def test_softmax_output_uses_logits_form():
    """A probability loss on softmax(z) is computed from z (tf.keras): finite where clipping
    at 1e-7 would bias the value."""
    z = np.array([[0.0, 40.0, -40.0]], np.float32)
    ids = np.array([2])

    def build(t, zt):
        p = zt.op("softmax")
        return losses.sparse_categorical_crossentropy(t, p)
    val = eager_apply(build, ids.astype(np.int32), z)
    np.testing.assert_allclose(val, [80.0], rtol=1e-5)          # exact: -log_softmax
    clipped = losses.sparse_categorical_crossentropy(ids, np.array([[0.0, 1.0, 0.0]], np.float32))
    np.testing.assert_allclose(clipped, [-np.log(1e-7)], rtol=1e-4)  # probabilities: clipped


def test_get_errors_and_callables():
    with pytest.raises(ValueError, match="unknown loss 'mean_squared_eror'"):
        losses.get("mean_squared_eror")
    custom = losses.get(lambda t, p: ((p - t) * (p - t)).mean(axis=-1))
    np.testing.assert_allclose(custom(Y, P), ((P - Y) ** 2).mean(), rtol=1e-5)
    assert isinstance(losses.get("MeanSquaredError"), losses.MeanSquaredError)
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)


# -- metrics ---------------------------------------------------------------------------------------------
def test_accuracy_metrics_match_numpy():
    p = probs(8, 3)
    ids = RNG.integers(0, 3, 8)
    m = metrics.SparseCategoricalAccuracy()
    assert m(ids, p) == pytest.approx((p.argmax(1) == ids).mean())
    oh = np.eye(3)[ids]
    assert metrics.CategoricalAccuracy()(oh, p) == pytest.approx((p.argmax(1) == ids).mean())
    yb = RNG.integers(0, 2, (8, 1))
    pb = RNG.uniform(size=(8, 1))
    assert metrics.BinaryAccuracy()(yb, pb) == pytest.approx(((pb > 0.5) == yb).mean())
    top2 = metrics.SparseTopKCategoricalAccuracy(k=2)
    ranks = (p > p[np.arange(8), ids][:, None]).sum(1)
    assert top2(ids, p) == pytest.approx((ranks < 2).mean())


def test_metric_state_accumulates_over_updates():
    m = metrics.MeanAbsoluteError()
    a, b = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 2))
    c, d = RNG.normal(size=(2, 2)), RNG.normal(size=(2, 2))
    m.update_state(a, b)
    m.update_state(c, d)
    expected = np.abs(np.concatenate([a - b, c - d])).mean()
    assert m.result() == pytest.approx(expected, rel=1e-5)
    m.reset_state()
    assert m.result() == 0.0
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(a, b)
    rmse.update_state(c, d)
    assert rmse.result() == pytest.approx(np.sqrt(((np.concatenate([a - b, c - d])) ** 2).mean()),
                                          rel=1e-5)
    prec, rec = metrics.Precision(), metrics.Recall()
    t = np.array([1, 0, 1, 1, 0])
    pr = np.array([0.9, 0.8, 0.2, 0.7, 0.1])
    assert prec(t, pr) == pytest.approx(2 / 3) and rec(t, pr) == pytest.approx(2 / 3)


@pytest.mark.parametrize("loss,yt,yp,expected", [
    ("binary_crossentropy", (None, 3), (None, 3), metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", (None,), (None, 10), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (None, 10), (None, 10), metrics.CategoricalAccuracy),
    ("mse", (None, 1), (None, 1), metrics.BinaryAccuracy),
    ("mse", (None,), (None, 10), metrics.SparseCategoricalAccuracy),
    ("mse", (None, 1), (None, 10), metrics.SparseCategoricalAccuracy),
    ("mse", (None, 10), (None, 10), metrics.CategoricalAccuracy),
])
def test_accuracy_resolution(loss, yt, yp, expected):
    m = metrics.resolve("accuracy", losses.get(loss), yt, yp)
    assert type(m) is expected and m.name == "accuracy"
    assert metrics.resolve("acc", losses.get(loss), yt, yp).name == "acc"


def test_metric_get_names():
    m = metrics.get("mse")
    assert isinstance(m, metrics.MeanSquaredError) and m.name == "mse"
    with pytest.raises(ValueError, match="unknown metric 'accuracyy'"):
        metrics.get("accuracyy")
