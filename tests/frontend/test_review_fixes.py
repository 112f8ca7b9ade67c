"""Regression tests from a Keras/TF-semantics review of the frontend and runtime optimizers.

Each test pins one behaviour that was wrong before the review, against a numpy reference
written from the Keras 3 / TensorFlow 1 formulas:

* ``fit(validation_split=..., validation_data=...)``: Keras ignores validation_split when
  validation_data is given, so every sample trains.
* ``fit(validation_freq=k)``: Keras validates after epoch e (0-based) when ``(e + 1) % k ==
  0``, counted from epoch 0 even with ``initial_epoch``; a list of 1-based epochs also works.
* ``tf.train.MomentumOptimizer`` with a learning rate that changes between steps (a
  placeholder or ``exponential_decay``): TF1 keeps ``a = m*a + g`` and steps ``-lr_t*a``
  (Nesterov: ``-lr_t*(g + m*a)``), which differs from Keras's ``v = m*v - lr*g`` once the
  learning rate varies.
* ``LearningRateScheduler(schedule)``: Keras also accepts a one-argument ``schedule(epoch)``;
  a schedule returning a non-number is an error naming the callback.
"""
from __future__ import annotations

import numpy as np
import pytest

import frontend.graph as tfg
import frontend.training as training
from frontend import layers
from frontend.models import Sequential
from runtime.optimizers import SGD

RNG = np.random.default_rng(11)


def _linear():
    m = Sequential([layers.Dense(1, input_shape=(3,))])
    m.compile(SGD(0.0), "mse")
    return m


def _spy_steps(monkeypatch):
    seen = []
    orig = training.get_step

    def spy(model, kind, xs, ys=None):
        seen.append((kind, xs[0].shape[0]))
        return orig(model, kind, xs, ys)
    monkeypatch.setattr(training, "get_step", spy)
    return seen


def test_validation_data_overrides_validation_split(monkeypatch):
    x = RNG.normal(size=(10, 3)).astype(np.float32)
    y = RNG.normal(size=(10, 1)).astype(np.float32)
    m = _linear()
    seen = _spy_steps(monkeypatch)
    h = m.fit(x, y, epochs=1, batch_size=100, validation_split=0.2,
              validation_data=(x[:3], y[:3]), verbose=0)
    assert seen == [("train", 10), ("evaluate", 3)]
    assert "val_loss" in h.history


def test_validation_split_alone_takes_the_last_fraction(monkeypatch):
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10, dtype=np.float32).reshape(10, 1)
    m = _linear()
    seen = _spy_steps(monkeypatch)
    h = m.fit(x, y, epochs=1, batch_size=100, validation_split=0.2, shuffle=True, verbose=0)
    assert seen == [("train", 8), ("evaluate", 2)]
    k, b = m.get_weights()
    pred = x[8:] @ k + b
    np.testing.assert_allclose(h.history["val_loss"][0], ((pred - y[8:]) ** 2).mean(), rtol=1e-5)


def test_validation_freq_counts_from_epoch_zero():
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    y = RNG.normal(size=(6, 1)).astype(np.float32)
    m = _linear()
    # Keras: validate after epochs e with (e + 1) % 2 == 0, i.e. e = 1 and e = 3
    h = m.fit(x, y, epochs=4, initial_epoch=1, validation_freq=2, validation_data=(x, y),
              verbose=0)
    assert h.epoch == [1, 2, 3] and len(h.history["val_loss"]) == 2
    h = m.fit(x, y, epochs=4, validation_freq=[1, 4], validation_data=(x, y), verbose=0)
    assert len(h.history["val_loss"]) == 2


@pytest.mark.parametrize("nesterov", [False, True])
def test_tf1_momentum_with_changing_learning_rate(nesterov):
    g = tfg.Graph()
    with g.as_default():
        x0 = RNG.normal(size=(3,)).astype(np.float32)
        target = RNG.normal(size=(3,)).astype(np.float32)
        w = tfg.Variable(x0, name="w")
        lr = tfg.placeholder(tfg.float32, [])
        loss = tfg.reduce_sum(tfg.square(w - target))
        train = tfg.train.MomentumOptimizer(lr, 0.9, use_nesterov=nesterov).minimize(loss)
        wr, a = x0.astype(np.float64), np.zeros(3)
        with tfg.Session() as sess:
            sess.run(tfg.global_variables_initializer())
            for rate in (0.1, 0.01, 0.05, 0.2):
                sess.run(train, {lr: rate})
                grad = 2 * (wr - target)
                a = 0.9 * a + grad
                wr = wr - rate * (grad + 0.9 * a if nesterov else a)
            np.testing.assert_allclose(sess.run(w), wr, rtol=1e-5, atol=1e-6)


def test_learning_rate_scheduler_accepts_one_argument_schedule():
    from frontend import callbacks
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    y = RNG.normal(size=(4, 1)).astype(np.float32)
    m = _linear()
    sched = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    h = m.fit(x, y, epochs=2, callbacks=[sched], verbose=0)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05])
    with pytest.raises(ValueError, match="LearningRateScheduler"):
        m.fit(x, y, epochs=1, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: None)],
              verbose=0)
