"""Layers: outputs against independent numpy computations and (where importable) PyTorch
modules loaded through the documented layout conversion; shapes of the functional API;
errors that name the layer."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import layers
from frontend.layers import LayerError, from_torch, load_torch, to_torch

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# -- Dense, Activation, Flatten, Reshape ----------------------------------------------------------
def test_dense_matches_numpy_on_rank2_and_rank3():
    d = layers.Dense(4, activation="tanh")
    x = rand(5, 3)
    y = d(x)
    k, b = d.get_weights()
    assert k.shape == (3, 4) and b.shape == (4,)
    np.testing.assert_allclose(y, np.tanh(x @ k + b), rtol=1e-5, atol=1e-6)
    x3 = rand(2, 6, 3)
    np.testing.assert_allclose(d(x3), np.tanh(x3 @ k + b), rtol=1e-5, atol=1e-6)


def test_dense_without_bias_and_integer_input_cast():
    d = layers.Dense(2, use_bias=False, kernel_initializer="ones")
    y = d(np.array([[1, 2, 3]]))
    np.testing.assert_array_equal(y, [[6.0, 6.0]])
    assert len(d.weights) == 1


def test_activation_flatten_reshape():
    x = rand(2, 3, 4)
    np.testing.assert_allclose(layers.Activation("relu")(x), np.maximum(x, 0))
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, 12))
    np.testing.assert_array_equal(layers.Reshape((4, -1))(x), x.reshape(2, 4, 3))
    with pytest.raises(LayerError, match="Reshape 'bad_reshape'.*cannot reshape"):
        layers.Reshape((5,), name="bad_reshape")(x)


# -- Conv2D and pooling ------------------------------------------------------------------------------
def conv_ref(x, k, stride=1, pad=0):
    n, h, w, c = x.shape
    kh, kw, _, o = k.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, oh, ow, o), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


@pytest.mark.parametrize("padding,stride", [("valid", 1), ("same", 1), ("valid", 2)])
def test_conv2d_matches_numpy(padding, stride):
    c = layers.Conv2D(3, (3, 3), strides=stride, padding=padding, activation="relu")
    x = rand(2, 7, 7, 2)
    y = c(x)
    k, b = c.get_weights()
    assert k.shape == (3, 3, 2, 3)
    ref = np.maximum(conv_ref(x, k, stride, 1 if padding == "same" else 0) + b, 0)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_pooling_matches_numpy():
    x = rand(2, 4, 6, 3)
    blocks = x.reshape(2, 2, 2, 3, 2, 3)
    np.testing.assert_allclose(layers.MaxPooling2D()(x), blocks.max(axis=(2, 4)))
    np.testing.assert_allclose(layers.AveragePooling2D((2, 2))(x), blocks.mean(axis=(2, 4)),
                               rtol=1e-6)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D()(x), x.mean(axis=(1, 2)), rtol=1e-6)
    assert layers.MaxPooling2D((3, 3), strides=1, padding="same")(x).shape == x.shape


# -- Embedding, Dropout ---------------------------------------------------------------------------
def test_embedding_gathers_rows_and_checks_ids():
    e = layers.Embedding(10, 4)
    ids = np.array([[1, 2, 9], [0, 0, 3]])
    out = e(ids)
    np.testing.assert_array_equal(out, e.get_weights()[0][ids])
    with pytest.raises(Exception, match="out of range"):
        e(np.array([[10]]))


def test_dropout_training_vs_inference_and_fresh_masks():
    d = layers.Dropout(0.5, seed=7)
    x = np.ones((64, 64), np.float32)
    np.testing.assert_array_equal(d(x), x)              # inference: identity
    y1 = d(x, training=True)
    assert set(np.unique(y1)) == {0.0, 2.0}              # inverted dropout scaling
    assert 0.4 < (y1 == 0).mean() < 0.6
    y2 = d(x, training=True)                             # the counter advanced: a new mask
    assert (y1 != y2).any()
    assert d.weights == [] and int(d.seed_state.array) == 2
    with pytest.raises(ValueError, match="rate must be a number in"):
        layers.Dropout(1.0)


# -- BatchNormalization ----------------------------------------------------------------------------
def test_batchnorm_training_and_inference():
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = rand(16, 3) * 2 + 1
    y = bn(x, training=True)
    mean, var = x.mean(0), x.var(0)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    names = [w.name for w in bn.weights]
    assert names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.trainable for w in bn.weights] == [True, True, False, False]
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    # inference uses the moving statistics
    mm, mv = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    np.testing.assert_allclose(bn(x), (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-4, atol=1e-5)
    # a frozen layer normalizes with the moving statistics even in training mode
    bn.trainable = False
    np.testing.assert_allclose(bn(x, training=True), (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-4,
                               atol=1e-5)


def test_batchnorm_on_conv_features_and_axis_1():
    x = rand(4, 3, 5, 2)
    bn = layers.BatchNormalization()
    y = bn(x, training=True)
    m, v = x.mean((0, 1, 2)), x.var((0, 1, 2))
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-3), rtol=1e-4, atol=1e-5)
    bn1 = layers.BatchNormalization(axis=1)
    y1 = bn1(x, training=True)
    m1, v1 = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y1, (x - m1) / np.sqrt(v1 + 1e-3), rtol=1e-4, atol=1e-5)


# -- recurrent layers -------------------------------------------------------------------------------
def rnn_ref(kind, x, k, r, b, units, go_backwards=False, h0=None, c0=None):
    n, t, _ = x.shape
    h = np.zeros((n, units)) if h0 is None else h0.astype(np.float64)
    c = np.zeros((n, units)) if c0 is None else c0.astype(np.float64)
    outs = []
    steps = range(t - 1, -1, -1) if go_backwards else range(t)
    for s in steps:
        xt = x[:, s].astype(np.float64)
        if kind == "simple":
            h = np.tanh(xt @ k + h @ r + b)
        elif kind == "lstm":
            z = xt @ k + h @ r + b
            i, f, g, o = np.split(z, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:  # gru, reset_after
            xz = xt @ k + b[0]
            hz = h @ r + b[1]
            z = sigmoid(xz[:, :units] + hz[:, :units])
            rr = sigmoid(xz[:, units:2 * units] + hz[:, units:2 * units])
            hh = np.tanh(xz[:, 2 * units:] + rr * hz[:, 2 * units:])
            h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1), h, c


def _randomize(layer):
    layer.set_weights([rand(*w.shape) * 0.5 for w in layer.weights])


@pytest.mark.parametrize("cls,kind", [(layers.SimpleRNN, "simple"), (layers.LSTM, "lstm"),
                                      (layers.GRU, "gru")])
def test_recurrent_layers_match_numpy(cls, kind):
    x = rand(3, 5, 4)
    layer = cls(6, return_sequences=True)
    layer(x)
    _randomize(layer)
    k, r, b = layer.get_weights()
    g = {"simple": 1, "lstm": 4, "gru": 3}[kind]
    assert k.shape == (4, g * 6) and r.shape == (6, g * 6)
    assert b.shape == ((2, 18) if kind == "gru" else (g * 6,))
    seq, last, _ = rnn_ref(kind, x, k, r, b, 6)
    np.testing.assert_allclose(layer(x), seq, rtol=1e-4, atol=1e-5)
    layer.return_sequences = False
    np.testing.assert_allclose(layer(x), last, rtol=1e-4, atol=1e-5)


def test_lstm_return_state_go_backwards_and_initial_state():
    x = rand(2, 4, 3)
    lstm = layers.LSTM(5, return_sequences=True, return_state=True, go_backwards=True)
    lstm(x)
    _randomize(lstm)
    h0, c0 = rand(2, 5), rand(2, 5)
    seq, h, c = lstm(x, initial_state=[h0, c0])
    rseq, rh, rc = rnn_ref("lstm", x, *lstm.get_weights(), 5, go_backwards=True, h0=h0, c0=c0)
    np.testing.assert_allclose(seq, rseq, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h, rh, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, rc, rtol=1e-4, atol=1e-5)


def test_lstm_unit_forget_bias_and_gru_without_reset_after():
    lstm = layers.LSTM(3)
    lstm(rand(1, 2, 2))
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    gru = layers.GRU(3, reset_after=False)
    x = rand(2, 3, 2)
    gru(x)
    _randomize(gru)
    k, r, b = gru.get_weights()
    assert b.shape == (9,)
    h = np.zeros((2, 3))
    for t in range(3):
        xz = x[:, t] @ k + b
        z = sigmoid(xz[:, :3] + h @ r[:, :3])
        rr = sigmoid(xz[:, 3:6] + h @ r[:, 3:6])
        hh = np.tanh(xz[:, 6:] + (rr * h) @ r[:, 6:])
        h = z * h + (1 - z) * hh
    np.testing.assert_allclose(gru(x), h, rtol=1e-4, atol=1e-5)


def test_recurrent_input_checks_name_the_layer():
    with pytest.raises(LayerError, match=r"SimpleRNN 'rnn_x': expected input of shape \(batch, "
                                         r"timesteps, features\), got \(None, 4\)"):
        layers.SimpleRNN(3, name="rnn_x")(rand(2, 4))
    with pytest.raises(NotImplementedError, match="recurrent_dropout"):
        layers.LSTM(3, recurrent_dropout=0.2)


# -- functional shapes and errors --------------------------------------------------------------------
def test_functional_shapes_with_unknown_dimensions():
    inp = layers.Input((None, 8))
    seq = layers.GRU(4, return_sequences=True)(inp)
    assert seq.shape == (None, None, 4)
    out, h = layers.SimpleRNN(3, return_state=True)(seq)
    assert out.shape == (None, 3) and h.shape == (None, 3)
    img = layers.Input((28, 28, 1))
    c = layers.Conv2D(8, 3)(img)
    assert c.shape == (None, 26, 26, 8)
    assert layers.Flatten()(layers.MaxPooling2D()(c)).shape == (None, 13 * 13 * 8)
    assert layers.Conv2D(2, 3).compute_output_shape((None, 10, 10, 1)) == (None, 8, 8, 2)


def test_built_layer_rejects_a_different_feature_size():
    d = layers.Dense(2, name="dense_fixed")
    d(rand(1, 3))
    with pytest.raises(LayerError, match=r"Dense 'dense_fixed': expected input shape \(\.\.\., 3\)"
                                         r".*got \(None, 4\)"):
        d(rand(1, 4))


def test_set_weights_errors_name_the_weight():
    d = layers.Dense(2, name="dense_w")
    d(rand(1, 3))
    with pytest.raises(ValueError, match=r"weight 0 \(dense_w/kernel\) expects shape \(3, 2\), "
                                         r"got \(2, 3\)"):
        d.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="has 2 weight"):
        d.set_weights([np.zeros((3, 2))])


def test_layer_keyword_errors():
    with pytest.raises(TypeError, match="Dense: unexpected keyword argument.*unitz"):
        layers.Dense(3, unitz=4)
    with pytest.raises(ValueError, match="units must be a positive int"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="full")


def test_merging_layers():
    a, b = rand(2, 3), rand(2, 3)
    np.testing.assert_allclose(layers.Add()([a, b]), a + b, rtol=1e-6)
    np.testing.assert_allclose(layers.Average()([a, b]), (a + b) / 2, rtol=1e-6)
    np.testing.assert_allclose(layers.Concatenate()([a, b]), np.concatenate([a, b], 1))


# -- PyTorch layouts -----------------------------------------------------------------------------------
def test_torch_layout_round_trip_without_torch():
    d = layers.Dense(3)
    d(rand(1, 2))
    sd = to_torch(d)
    assert sd["weight"].shape == (3, 2)
    np.testing.assert_array_equal(from_torch(d, sd)[0], d.kernel.numpy())
    gru = layers.GRU(2)
    gru(rand(1, 3, 4))
    _randomize(gru)
    before = gru.get_weights()
    load_torch(gru, to_torch(gru))
    for a, b in zip(before, gru.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"torch weight 'weight' should have shape \(3, 2\), got "
                                         r"\(2, 3\)"):
        from_torch(d, {"weight": np.zeros((2, 3)), "bias": np.zeros(3)})
    with pytest.raises(KeyError, match="needs torch weight 'bias'"):
        from_torch(d, {"weight": np.zeros((3, 2))})


def _torch():
    return pytest.importorskip("torch")


def _t(a):
    return _torch().tensor(np.asarray(a, dtype=np.float32))


def test_dense_and_conv_match_torch_modules():
    t = _torch()
    lin = t.nn.Linear(5, 3)
    d = layers.Dense(3)
    d(rand(1, 5))
    load_torch(d, lin)
    x = rand(4, 5)
    np.testing.assert_allclose(d(x), lin(_t(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    conv = t.nn.Conv2d(2, 4, 3, stride=2, padding=1)
    c = layers.Conv2D(4, 3, strides=2, padding="same")
    img = rand(2, 9, 9, 2)  # odd size: TensorFlow's 'same' pads 1/1 here, like torch's padding=1
    c(img)
    load_torch(c, conv)
    theirs = conv(_t(img.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(c(img), theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_layers_match_torch_both_directions(kind):
    t = _torch()
    mod = {"rnn": t.nn.RNN, "lstm": t.nn.LSTM, "gru": t.nn.GRU}[kind](4, 5, batch_first=True)
    ours = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind](
        5, return_sequences=True)
    x = rand(3, 6, 4)
    ours(x)
    load_torch(ours, mod)                          # torch -> kiln
    theirs = mod(_t(x))[0].detach().numpy()
    np.testing.assert_allclose(ours(x), theirs, rtol=1e-4, atol=1e-5)
    _randomize(ours)                               # kiln -> torch
    mod.load_state_dict({k: _t(v) for k, v in to_torch(ours).items()})
    np.testing.assert_allclose(ours(x), mod(_t(x))[0].detach().numpy(), rtol=1e-4, atol=1e-5)


def test_batchnorm_and_embedding_match_torch():
    t = _torch()
    tbn = t.nn.BatchNorm1d(3, eps=1e-3, momentum=0.1)
    with t.no_grad():
        tbn.weight.uniform_(0.5, 1.5)
        tbn.bias.uniform_(-0.5, 0.5)
    bn = layers.BatchNormalization(momentum=0.9)
    x = rand(8, 3)
    bn(x)
    load_torch(bn, tbn)
    tbn.train()
    theirs = tbn(_t(x)).detach().numpy()
    np.testing.assert_allclose(bn(x, training=True), theirs, rtol=1e-4, atol=1e-5)
    # moving mean agrees; PyTorch's running_var uses the unbiased batch variance, Keras's not
    np.testing.assert_allclose(bn.moving_mean.numpy(), tbn.running_mean.numpy(), rtol=1e-5,
                               atol=1e-6)
    emb = t.nn.Embedding(7, 2)
    e = layers.Embedding(7, 2)
    ids = np.array([[0, 6, 3]])
    e(ids)
    load_torch(e, emb)
    np.testing.assert_allclose(e(ids), emb(t.tensor(ids)).detach().numpy())
