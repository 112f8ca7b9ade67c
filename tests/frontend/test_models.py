"""Model construction (Sequential, functional, subclassed), weights order, summary text, and
weight files."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import layers
from frontend.layers import LayerError
from frontend.models import Model, Sequential

RNG = np.random.default_rng(1)


def mlp(name=None):
    return Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                       layers.Dense(3, activation="softmax")], name=name)


def test_sequential_list_and_add_build_immediately():
    a = mlp()
    b = Sequential()
    b.add(layers.Dense(8, activation="relu", input_shape=(4,)))
    b.add(layers.Dense(3, activation="softmax"))
    for m in (a, b):
        assert m.built and m.layers[1].output_shape == (None, 3)
        assert [w.shape for w in m.weights] == [(4, 8), (8,), (8, 3), (3,)]
        assert m.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    c = Sequential([layers.Input((4,)), layers.Dense(2)])
    assert c.built and c.layers[0].output_shape == (None, 2)


def test_deferred_build_from_data():
    m = Sequential([layers.Dense(5), layers.Dense(1)])
    assert not m.built
    with pytest.raises(ValueError, match="has not been built yet"):
        m.summary()
    out = m.predict(RNG.normal(size=(3, 7)), verbose=0)
    assert out.shape == (3, 1) and m.built
    assert m.layers[0].kernel.shape == (7, 5)


def test_summary_text(capsys):
    m = Sequential([layers.Dense(64, activation="relu", input_shape=(32,)),
                    layers.BatchNormalization(), layers.Dense(10, activation="softmax")],
                   name="summary_model")
    m.summary()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == 'Model: "summary_model"'
    row = next(l for l in lines if "(Dense)" in l and "(None, 64)" in l)
    assert row.rstrip().endswith("2,112")
    bn = next(l for l in lines if "(BatchNormalization)" in l)
    assert "(None, 64)" in bn and bn.rstrip().endswith("256")
    assert " Total params: 3,018 (11.79 KB)" in lines
    assert " Trainable params: 2,890 (11.29 KB)" in lines
    assert " Non-trainable params: 128 (512.00 B)" in lines


def test_functional_multi_input_multi_output():
    a = layers.Input((3,), name="a")
    b = layers.Input((2,), name="b")
    h = layers.Concatenate()([a, b])
    h = layers.Dense(4, activation="relu", name="hidden")(h)
    out1 = layers.Dense(1, name="reg")(h)
    out2 = layers.Dense(3, activation="softmax", name="cls")(h)
    m = Model(inputs=[a, b], outputs=[out1, out2])
    assert type(m).__name__ == "Functional" and isinstance(m, Model)
    assert [l.name for l in m.layers[:2]] == ["a", "b"]
    assert m.output_names == ["reg", "cls"]
    xa, xb = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 2))
    p1, p2 = m.predict([xa, xb], verbose=0)
    assert p1.shape == (5, 1) and p2.shape == (5, 3)
    d1, d2 = m.predict({"a": xa, "b": xb}, verbose=0)
    np.testing.assert_allclose(p1, d1)
    # the same computation in numpy
    k, bias = m.get_layer("hidden").get_weights()
    hh = np.maximum(np.concatenate([xa, xb], 1) @ k + bias, 0)
    k1, b1 = m.get_layer("reg").get_weights()
    np.testing.assert_allclose(p1, hh @ k1 + b1, rtol=1e-5, atol=1e-5)


def test_functional_operators_and_nested_model():
    x = layers.Input((3,))
    y = layers.Dense(3)(x)
    z = y * 2.0 + x
    m = Model(x, z)
    xs = RNG.normal(size=(2, 3))
    k, b = m.layers[1].get_weights()
    np.testing.assert_allclose(m.predict(xs, verbose=0), (xs @ k + b) * 2 + xs, rtol=1e-5,
                               atol=1e-5)
    outer = Sequential([layers.Input((3,)), m, layers.Dense(1)])
    assert outer.predict(xs, verbose=0).shape == (2, 1)


class TwoLayer(Model):
    def __init__(self):
        super().__init__()
        self.first = layers.Dense(4, activation="tanh")
        self.blocks = [layers.Dense(4), layers.Dense(2)]

    def call(self, x, training=None):
        x = self.first(x)
        for blk in self.blocks:
            x = blk(x)
        return x


def test_subclassed_model_tracks_layers_in_order():
    m = TwoLayer()
    assert [type(l).__name__ for l in m.layers] == ["Dense", "Dense", "Dense"]
    m.build((None, 3))
    assert [w.shape for w in m.weights] == [(3, 4), (4,), (4, 4), (4,), (4, 2), (2,)]
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    w = m.get_weights()
    ref = ((np.tanh(x @ w[0] + w[1]) @ w[2] + w[3]) @ w[4] + w[5])
    np.testing.assert_allclose(m(x), ref, rtol=1e-5, atol=1e-5)
    text = []
    m.summary(print_fn=text.append)
    assert "(None, 2)" in text[0] and "Total params: 46" in text[0]


def test_get_set_weights_round_trip():
    m = mlp()
    w = [RNG.normal(size=a.shape).astype(np.float32) for a in m.get_weights()]
    m.set_weights(w)
    for a, b in zip(m.get_weights(), w):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="has 4 weight"):
        m.set_weights(w[:3])


def test_save_load_round_trip_across_automatic_names(tmp_path):
    m = mlp()
    m.layers[0].set_weights([np.full((4, 8), 0.5, np.float32), np.arange(8, dtype=np.float32)])
    path = tmp_path / "model.weights.npz"
    m.save_weights(path)
    fresh = mlp()          # new automatic layer names (dense_k), same structure
    assert fresh.layers[0].name != m.layers[0].name
    fresh.load_weights(path)
    for a, b in zip(m.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(fresh.predict(x, verbose=0), m.predict(x, verbose=0))


def test_load_weights_errors(tmp_path):
    m = mlp()
    path = tmp_path / "w.npz"
    m.save_weights(path)
    wider = Sequential([layers.Dense(8, input_shape=(5,)), layers.Dense(3)])
    with pytest.raises(ValueError, match=r"weight 'dense/kernel': model '.*' expects shape "
                                         r"\(5, 8\), the file has \(4, 8\)"):
        wider.load_weights(path)
    before = wider.get_weights()
    np.testing.assert_array_equal(before[1], wider.get_weights()[1])  # nothing was written
    deeper = Sequential([layers.Dense(8, input_shape=(4,)), layers.Dense(3), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"has no weight 'dense_2/kernel' \(model .* expects "
                                         r"shape \(3, 1\)\)"):
        deeper.load_weights(path)
    shallower = Sequential([layers.Dense(8, input_shape=(4,))])
    with pytest.raises(ValueError, match="has weight\\(s\\) 'dense_1/bias', 'dense_1/kernel' that"):
        shallower.load_weights(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad.npz is not an \.npz \(zip\) archive"):
        m.load_weights(bad)
    np.save(tmp_path / "array.npy", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"array.npy is an \.npy array, not a weights \.npz "
                                         r"archive"):
        m.load_weights(tmp_path / "array.npy")
    np.savez(tmp_path / "objects.npz", **{"dense/kernel": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="objects.npz .*holds Python objects, which kiln never "
                                         "unpickles") as e:
        m.load_weights(tmp_path / "objects.npz")
    assert "allow_pickle" not in str(e.value)
    with pytest.raises(ValueError, match="is not built"):
        Sequential([layers.Dense(2)]).load_weights(path)


def test_duplicate_layer_names_are_rejected():
    with pytest.raises(ValueError, match="two layers are named 'same'"):
        Sequential([layers.Dense(2, name="same", input_shape=(2,)), layers.Dense(2, name="same")])


def test_model_call_on_arrays_matches_predict():
    m = mlp()
    x = RNG.normal(size=(6, 4))
    np.testing.assert_allclose(m(x), m.predict(x, verbose=0), rtol=1e-6)


def test_sequential_input_shape_mismatch_is_named():
    m = mlp(name="shape_model")
    with pytest.raises(ValueError, match=r"input 'dense.*' of model 'shape_model': expected "
                                         r"shape \(None, 4\), got \(2, 5\)"):
        m.predict(np.zeros((2, 5)), verbose=0)
    with pytest.raises(LayerError, match="Sequential 'shape_model' expects inputs of shape"):
        m.build((None, 7))


def test_tensor_indexing_in_call():
    class LastStep(Model):
        def __init__(self):
            super().__init__()
            self.rnn = layers.GRU(3, return_sequences=True)

        def call(self, x):
            seq = self.rnn(x)
            return seq[:, -1] + seq[..., 0:1, :].reshape(-1, 3)

    m = LastStep()
    x = RNG.normal(size=(2, 4, 5)).astype(np.float32)
    out = m(x)
    seq = m.rnn(x)
    np.testing.assert_allclose(out, seq[:, -1] + seq[:, 0], rtol=1e-5, atol=1e-6)
    assert m.rnn.input_shape == (None, 4, 5)
