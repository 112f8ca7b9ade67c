"""Initializers (distributions, fans, seeding), regularizers, activations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from frontend import activations, initializers, regularizers


def test_fans():
    assert initializers.compute_fans((3, 4)) == (3.0, 4.0)
    assert initializers.compute_fans((3, 3, 2, 8)) == (18.0, 72.0)
    assert initializers.compute_fans((5,)) == (5.0, 5.0)


@pytest.mark.parametrize("name,shape,limit", [
    ("glorot_uniform", (200, 300), math.sqrt(6 / 500)),
    ("he_uniform", (200, 300), math.sqrt(6 / 200)),
    ("lecun_uniform", (3, 3, 16, 32), math.sqrt(3 / 144)),
])
def test_uniform_variance_scaling(name, shape, limit):
    w = initializers.get(name)(shape)
    assert w.dtype == np.float32 and w.shape == shape
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("name,shape,std", [
    ("glorot_normal", (300, 500), math.sqrt(2 / 800)),
    ("he_normal", (300, 500), math.sqrt(2 / 300)),
])
def test_truncated_normal_variance_scaling(name, shape, std):
    w = initializers.get(name)(shape)
    # Keras's normal variance scaling is truncated at 2 stddev of the untruncated draw
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-6
    assert w.std() == pytest.approx(std, rel=0.05)
    assert abs(w.mean()) < 0.05 * std


def test_simple_initializers_and_seeding():
    assert (initializers.get("zeros")((2, 3)) == 0).all()
    assert (initializers.get("ones")((2,)) == 1).all()
    np.testing.assert_array_equal(initializers.Constant(3.5)((2,)), [3.5, 3.5])
    rn = initializers.RandomNormal(stddev=0.05, seed=1)
    np.testing.assert_array_equal(rn((50,)), rn((50,)))      # fixed seed: same values
    assert initializers.RandomNormal()((20000,)).std() == pytest.approx(0.05, rel=0.05)
    ru = initializers.RandomUniform()((1000,))
    assert ru.min() >= -0.05 and ru.max() < 0.05
    initializers.set_random_seed(42)
    a = initializers.get("glorot_uniform")((4, 4))
    initializers.set_random_seed(42)
    np.testing.assert_array_equal(a, initializers.get("glorot_uniform")((4, 4)))


def test_orthogonal():
    q = initializers.Orthogonal()((6, 6))
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-5)
    wide = initializers.Orthogonal(gain=2.0)((3, 8))
    np.testing.assert_allclose(wide @ wide.T, 4 * np.eye(3), atol=1e-5)


def test_initializer_errors():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        initializers.get("glorot")
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)


def test_regularizers():
    w = np.array([[1.0, -2.0], [3.0, -4.0]])
    assert regularizers.L1(0.1)(w) == pytest.approx(1.0)
    assert regularizers.L2(0.1)(w) == pytest.approx(3.0)
    assert regularizers.L1L2(0.1, 0.1)(w) == pytest.approx(4.0)
    assert regularizers.get("l2").l2 == 0.01 and regularizers.get("l1").l1 == 0.01
    assert regularizers.get(None) is None
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        regularizers.L2(-1)


X = np.linspace(-3, 3, 13).astype(np.float32)


@pytest.mark.parametrize("name,ref", [
    ("relu", lambda x: np.maximum(x, 0)),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", np.tanh),
    ("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("gelu", lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("linear", lambda x: x),
    ("softplus", lambda x: np.log1p(np.exp(x))),
    ("swish", lambda x: x / (1 + np.exp(-x))),
    ("selu", lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    ("hard_sigmoid", lambda x: np.clip(x + 3, 0, 6) / 6),
])
def test_activations_match_numpy(name, ref):
    np.testing.assert_allclose(activations.get(name)(X), ref(X.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)


def test_softmax_and_relu_options():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(activations.softmax(x), e / e.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(activations.relu(X, max_value=1.0), np.clip(X, 0, 1))
    np.testing.assert_allclose(activations.relu(X, negative_slope=0.5),
                               np.where(X > 0, X, 0.5 * X))
    with pytest.raises(ValueError, match="unknown activation 'relu7'"):
        activations.get("relu7")
