"""compile/fit/evaluate/predict: learning, History, callbacks, partial batches and shared
state, data conversion and its errors, and one optimizer step against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import callbacks, layers, regularizers
from frontend.models import Model, Sequential
from frontend.training import DataError
from runtime.optimizers import SGD, Adam

RNG = np.random.default_rng(5)


def blobs(n=120, seed=0):
    """Three well-separated Gaussian blobs in 4-D, float64 features and int64 labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], float)
    y = rng.integers(0, 3, n)
    return centers[y] + rng.normal(scale=0.3, size=(n, 4)), y


def classifier(opt="adam", **compile_kw):
    m = Sequential([layers.Dense(16, activation="relu", input_shape=(4,)),
                    layers.Dense(3, activation="softmax")])
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              **compile_kw)
    return m


def test_fit_learns_and_returns_history():
    x, y = blobs()
    m = classifier(Adam(learning_rate=0.05))
    h = m.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert set(h.history) == {"loss", "accuracy"} and h.epoch == list(range(8))
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    loss, acc = m.evaluate(x, y, verbose=0)
    assert acc > 0.9
    assert m.history is h
    np.testing.assert_array_equal(m.predict(x, verbose=0).argmax(1) == y,
                                  m.predict(x, batch_size=7, verbose=0).argmax(1) == y)


def test_partial_batches_have_their_own_program_and_share_state():
    x, y = blobs(10)
    m = classifier("adam")
    m.fit(x, y, epochs=2, batch_size=4, verbose=0)          # batches 4, 4, 2
    train = [s for k, s in m._programs.items() if k[0] == "train"]
    assert sorted(s.program.graph.inputs[0].shape[0] for s in train) == [2, 4]
    a, b = train
    for w in m.weights:
        assert a.program.state[w.param_name] is w.array is b.program.state[w.param_name]
    slots = [k for k in a.program.state if k.endswith(".m")]
    assert slots and all(a.program.state[k] is b.program.state[k] for k in slots)
    assert int(a.program.state["adam.iterations"]) == 6      # 3 steps per epoch, one counter


def test_evaluate_weights_batches_by_size():
    x, y = blobs(10)
    m = classifier()
    whole = m.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    parts = m.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert parts["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert parts["accuracy"] == pytest.approx(whole["accuracy"])
    p = m.predict(x, verbose=0)
    ref_loss = -np.log(p[np.arange(10), y]).mean()
    assert whole["loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert whole["accuracy"] == pytest.approx((p.argmax(1) == y).mean())


def test_validation_split_and_validation_data():
    x, y = blobs(40)
    m = classifier()
    h = m.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    val = m.evaluate(x[30:], y[30:], verbose=0, return_dict=True)
    assert h.history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-5)
    h2 = m.fit(x, y, epochs=1, validation_data=(x[:5], y[:5]), verbose=0)
    assert "val_accuracy" in h2.history


def test_early_stopping_patience():
    x, y = blobs(20)
    m = classifier(SGD(learning_rate=0.0))                   # the loss cannot improve
    es = callbacks.EarlyStopping(monitor="loss", patience=2)
    h = m.fit(x, y, epochs=10, callbacks=[es], verbose=0, shuffle=False)
    assert len(h.history["loss"]) == 3 and es.stopped_epoch == 2


def test_early_stopping_restores_best_weights():
    x, y = blobs(30)
    m = classifier(SGD(learning_rate=0.05))
    snaps = []
    es = callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True,
                                 min_delta=10.0)   # no epoch improves by 10: best is epoch 0
    track = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snaps.append(m.get_weights()))
    m.fit(x, y, epochs=5, validation_data=(x, y), callbacks=[es, track], verbose=0)
    assert es.best_epoch == 0 and len(snaps) == 2
    for a, b in zip(m.get_weights(), snaps[0]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(snaps[0][0], snaps[1][0])


def test_progress_bar_output(capsys):
    x, y = blobs(16)
    m = classifier()
    m.fit(x, y, epochs=2, batch_size=8)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "loss:" in text and "accuracy:" in text
    m.fit(x, y, epochs=1, verbose=2)
    assert "Epoch 1/1 - " in capsys.readouterr().out


def test_labels_out_of_range_and_non_integer():
    x, y = blobs(12)
    m = classifier()
    bad = y.copy()
    bad[7] = 3
    with pytest.raises(DataError, match=r"targets for output 'dense.*': class ids \(3 classes "
                                        r"predicted.*must be in \[0, 3\), got 3 at index \(7,\)"):
        m.fit(x, bad, verbose=0)
    with pytest.raises(DataError, match="expected integer values, got 0.5"):
        m.fit(x, np.where(np.arange(12) == 2, 0.5, 1.0), verbose=0)
    h = m.fit(x, y.astype(np.float64).reshape(-1, 1), epochs=1, verbose=0)  # (N, 1) floats: ok
    assert len(h.history["loss"]) == 1


def test_feature_shape_and_length_errors():
    x, y = blobs(12)
    m = classifier()
    with pytest.raises(DataError, match=r"input 'dense.*' of model '.*': expected shape "
                                        r"\(None, 4\), got \(12, 5\)"):
        m.fit(np.zeros((12, 5)), y, verbose=0)
    with pytest.raises(DataError, match="the inputs have 12 samples but the targets have 11"):
        m.fit(x, y[:11], verbose=0)
    with pytest.raises(DataError, match="expected numbers, got an array of dtype <U1"):
        m.predict(np.array([["a"] * 4]), verbose=0)
    reg = Sequential([layers.Dense(3, input_shape=(4,))])
    reg.compile("sgd", "categorical_crossentropy")
    with pytest.raises(DataError, match="use sparse_categorical_crossentropy"):
        reg.fit(x, y, verbose=0)


def test_embedding_ids_checked_before_running():
    m = Sequential([layers.Embedding(5, 2, input_length=3, name="emb"), layers.Flatten(),
                    layers.Dense(1)])
    m.compile("adam", "mse")
    with pytest.raises(DataError, match=r"ids read by layer 'emb' \(input_dim=5\) must be in "
                                        r"\[0, 5\), got 5 at index \(1, 2\)"):
        m.predict(np.array([[0, 1, 2], [3, 4, 5]]), verbose=0)
    assert m.predict(np.array([[0.0, 1.0, 4.0]]), verbose=0).shape == (1, 1)


def test_compile_errors():
    m = Sequential([layers.Dense(1, input_shape=(2,))])
    with pytest.raises(RuntimeError, match="must be compiled before fit"):
        m.fit(np.zeros((2, 2)), np.zeros(2), verbose=0)
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        m.compile("adamm", "mse")
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        m.compile("sgd", "msee")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        m.compile("sgd", "mse", backend="gpu")
    m.compile("sgd", "mse", backend="eager")
    m.fit(np.zeros((2, 2)), np.zeros(2), verbose=0)
    assert all(s.program.backend == "eager" for s in m._programs.values())


def test_regularizers_add_to_the_loss():
    m = Sequential([layers.Dense(2, input_shape=(3,), kernel_regularizer=regularizers.L2(0.5),
                                 bias_initializer="ones")])
    m.compile("sgd", "mse")
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2))
    k, b = m.get_weights()
    mse = ((x @ k + b - y) ** 2).mean()
    assert m.evaluate(x, y, verbose=0) == pytest.approx(mse + 0.5 * (k ** 2).sum(), rel=1e-5)


def test_batchnorm_and_dropout_in_training():
    x, y = blobs(32)
    m = Sequential([layers.Dense(8, input_shape=(4,)), layers.BatchNormalization(),
                    layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    bn = m.layers[1]
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(bn.moving_mean.numpy(), 0)       # moved by 4 training steps
    assert int(m.layers[2].seed_state.array) == 4            # dropout counter advanced per step
    p1, p2 = m.predict(x, verbose=0), m.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)                    # inference: deterministic
    m.train_on_batch(x[:8], y[:8])
    assert int(m.layers[2].seed_state.array) == 5


def test_learning_rate_scheduler_changes_rate_without_recompiling():
    x, y = blobs(16)
    m = classifier(SGD(learning_rate=0.1))
    seen = []
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    probe = callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(
        float(m._opt_state["sgd.learning_rate"]) if m._opt_state else None))
    h = m.fit(x, y, epochs=3, batch_size=16, callbacks=[sched, probe], verbose=0)
    assert seen[1:] == pytest.approx([0.05, 0.1 / 3])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert len([k for k in m._programs if k[0] == "train"]) == 1


def test_multi_output_losses_and_weights():
    inp = layers.Input((4,))
    h = layers.Dense(8, activation="relu")(inp)
    a = layers.Dense(1, name="out_a")(h)
    b = layers.Dense(3, activation="softmax", name="out_b")(h)
    m = Model(inp, [a, b])
    m.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 2.0],
              metrics=[["mae"], ["accuracy"]])
    x, y = blobs(16)
    yr = x.sum(1)
    logs = m.evaluate(x, [yr, y], verbose=0, return_dict=True)
    assert set(logs) == {"loss", "out_a_loss", "out_b_loss", "out_a_mae", "out_b_accuracy"}
    assert logs["loss"] == pytest.approx(0.5 * logs["out_a_loss"] + 2.0 * logs["out_b_loss"],
                                         rel=1e-5)
    h = m.fit(x, {"out_a": yr, "out_b": y}, epochs=2, verbose=0)
    assert len(h.history["out_b_accuracy"]) == 2


def test_dataset_of_batches():
    x, y = blobs(24)

    class Batches:
        def __iter__(self):
            for i in range(0, 24, 8):
                yield x[i:i + 8], y[i:i + 8]

        def __len__(self):
            return 3
    m = classifier()
    h = m.fit(Batches(), epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    assert m.predict([x[:5]], verbose=0).shape == (5, 3)


def test_train_and_test_on_batch():
    x, y = blobs(8)
    m = classifier(SGD(learning_rate=0.5))
    first = m.test_on_batch(x, y)
    m.train_on_batch(x, y)
    loss, acc = m.test_on_batch(x, y)
    assert loss < first[0] and 0 <= acc <= 1


def test_subclassed_rnn_model_trains():
    class Tagger(Model):
        def __init__(self):
            super().__init__()
            self.rnn = layers.SimpleRNN(8, return_sequences=True, input_shape=(None, 3))
            self.dense = layers.Dense(2, activation="softmax")

        def call(self, x, mask=None):
            return self.dense(self.rnn(x))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 5, 3))
    y = (x[..., 0] > 0).astype(np.int64)          # per-step label: sign of the first feature
    m = Tagger()
    m.compile(Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    assert m.predict(rng.normal(size=(2, 7, 3)), verbose=0).shape == (2, 7, 2)  # any length


def test_one_lstm_training_step_matches_torch():
    torch = pytest.importorskip("torch")
    from frontend.layers import to_torch
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    y = rng.normal(size=(4, 2)).astype(np.float32)
    m = Sequential([layers.LSTM(6, input_shape=(5, 3)), layers.Dense(2)])
    m.compile(Adam(learning_rate=0.01, epsilon=0.0), "mse")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 6, batch_first=True)
            self.fc = torch.nn.Linear(6, 2)

        def forward(self, t):
            return self.fc(self.lstm(t)[0][:, -1])
    net = Net()
    net.lstm.load_state_dict({k: torch.tensor(v) for k, v in to_torch(m.layers[0]).items()})
    net.fc.load_state_dict({k: torch.tensor(v) for k, v in to_torch(m.layers[1]).items()})
    # PyTorch's LSTM has two biases that are only ever added; training both would move their
    # sum twice as fast as Keras's one bias. Freeze bias_hh (zero after the conversion) so
    # bias_ih plays the role of Keras's bias.
    net.lstm.bias_hh_l0.requires_grad_(False)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.01, eps=0.0)
    for _ in range(2):
        loss = torch.nn.functional.mse_loss(net(torch.tensor(x)), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ours = m.train_on_batch(x, y)
        assert ours == pytest.approx(loss.item(), rel=1e-5)
    np.testing.assert_allclose(m.layers[1].kernel.numpy(), net.fc.weight.detach().numpy().T,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.layers[0].recurrent_kernel.numpy(),
                               net.lstm.weight_hh_l0.detach().numpy().T, rtol=1e-4, atol=1e-6)


def _tiny(kind):
    """(model, x, y): a small regression problem through one layer of each kind."""
    rng = np.random.default_rng(4)
    if kind in ("simple_rnn", "lstm", "gru"):
        cls = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
        body, x = [cls(4, input_shape=(5, 3))], rng.normal(size=(8, 5, 3))
    elif kind in ("conv", "maxpool", "avgpool"):
        extra = {"conv": [], "maxpool": [layers.MaxPooling2D()],
                 "avgpool": [layers.AveragePooling2D()]}[kind]
        body = [layers.Conv2D(3, 3, padding="same", input_shape=(6, 6, 2))] + extra + \
            [layers.Flatten()]
        x = rng.normal(size=(8, 6, 6, 2))
    elif kind == "embedding":
        body, x = [layers.Embedding(10, 4, input_length=3), layers.Flatten()], \
            rng.integers(0, 10, (8, 3))
    elif kind == "batchnorm":
        body, x = [layers.Dense(6, input_shape=(3,)), layers.BatchNormalization()], \
            rng.normal(size=(8, 3))
    elif kind == "dropout":
        body, x = [layers.Dense(6, input_shape=(3,)), layers.Dropout(0.2)], rng.normal(size=(8, 3))
    else:
        body, x = [layers.Dense(6, activation=kind, input_shape=(3,))], rng.normal(size=(8, 3))
    m = Sequential(body + [layers.Dense(1)])
    m.compile(Adam(0.05), "mse")
    return m, x, rng.normal(size=(8, 1))


@pytest.mark.parametrize("kind", ["relu", "gelu", "elu", "simple_rnn", "lstm", "gru", "conv",
                                  "maxpool", "avgpool", "embedding", "batchnorm", "dropout"])
def test_gradients_reach_every_layer_and_lower_the_loss(kind):
    m, x, y = _tiny(kind)
    first = m.layers[0].get_weights()
    losses = [m.train_on_batch(x, y) for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0]
    assert any(not np.allclose(a, b) for a, b in zip(first, m.layers[0].get_weights()))


def test_llvm_backend_agrees_with_eager():
    pytest.importorskip("runtime.executable")
    x, y = blobs(24)
    hist = {}
    init = None
    for backend in ("eager", "llvm"):
        m = classifier(SGD(0.1, momentum=0.9), backend=backend)
        if init is None:
            init = m.get_weights()
        m.set_weights(init)
        hist[backend] = m.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hist["llvm"]["loss"], hist["eager"]["loss"], rtol=1e-4)
