"""Declared model files (frontend.model_file): the examples load, train and match the same
models built in Python; TOML and JSON declare the same models; every error names the file,
the key path and the right line; nothing in a file is ever executed."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frontend
from frontend.datasets import mnist, rotten_tomatoes
from frontend.initializers import set_random_seed
from frontend.keras.preprocessing.sequence import pad_sequences
from frontend.keras.preprocessing.text import Tokenizer
from frontend.layers import (LSTM, Concatenate, Conv2D, Dense, Embedding, Flatten,
                             Input)
from frontend.model_file import (DatasetSpec, ModelDeclaration, ModelFileError,
                                 TrainingSettings, load_dataset, load_model_file)
from frontend.models import Model, Sequential

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def fit_declared(name: str, **dataset_overrides):
    """Load an example, train it as its [smoke] section says; returns (model, x, y)."""
    model = load_model_file(EXAMPLES / name)
    decl = model.declaration.smoke_version()
    spec = dataclasses.replace(decl.dataset, **dataset_overrides)
    (x, y), _ = load_dataset(spec)
    before = model.get_weights()
    t = decl.training
    model.fit(x, y, epochs=t.epochs, batch_size=t.batch_size, shuffle=t.shuffle, verbose=0)
    # training happened: a comparison of untrained models would prove little
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    return model, x, y


def assert_same_weights(a, b, rtol=1e-5, atol=1e-6):
    wa, wb = a.get_weights(), b.get_weights()
    assert [w.shape for w in wa] == [w.shape for w in wb]
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def same_names(model):
    """The declared model's layer names, for the Python twin: the same names make the same
    graph, so the second model reuses the first one's compiled code (the test only pays
    one compile on a cold cache)."""
    return iter([l.name for l in model.layers])


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def load_error(path) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    return info.value


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


# ------------------------------------------------------------------------------------------
# the examples: load, train one short epoch, same weights as the model built in Python
# ------------------------------------------------------------------------------------------
def test_mnist_cnn_matches_the_seed_program():
    n = 128
    model, x, y = fit_declared("mnist_cnn.toml", n_train=n)
    d = model.declaration
    assert isinstance(d, ModelDeclaration) and d.path == str(EXAMPLES / "mnist_cnn.toml")
    assert d.training == TrainingSettings(epochs=5, batch_size=32, seed=0)
    assert d.dataset.name == "mnist" and d.dataset.reshape == (28, 28, 1)

    # the seed program's steps, on the same first n images
    (x_train, y_train), _ = mnist.load_data()
    x_ref = x_train[:n].reshape(n, 28, 28, 1) / 255.0
    np.testing.assert_array_equal(x, x_ref.astype(np.float32))
    np.testing.assert_array_equal(y, y_train[:n])
    set_random_seed(0)
    names = same_names(model)
    ref = Sequential(name=model.name)
    ref.add(Conv2D(32, kernel_size=(3, 3), activation='relu', input_shape=(28, 28, 1),
                   name=next(names)))
    ref.add(Flatten(name=next(names)))
    ref.add(Dense(10, activation='softmax', name=next(names)))
    ref.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    ref.fit(x_ref, y_train[:n], epochs=1, batch_size=32, verbose=0)
    assert_same_weights(model, ref)
    assert model.metrics_names == ref.metrics_names == ["loss", "accuracy"]


def test_mlp_matches_the_seed_program():
    model, x, y = fit_declared("mlp.toml")
    assert x.shape == (256, 32) and model.declaration.training.epochs == 10
    set_random_seed(0)
    names = same_names(model)
    ref = Sequential(name=model.name)
    ref.add(Dense(64, activation='relu', input_shape=(32,), name=next(names)))
    ref.add(Dense(10, activation='softmax', name=next(names)))
    ref.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    with np.load(EXAMPLES / "data" / "clusters.npz") as data:
        ref.fit(data["x_train"][:256], data["y_train"][:256], epochs=1, batch_size=32,
                verbose=0)
    assert_same_weights(model, ref)


def test_linear_regression_json_matches_the_seed_program():
    model, x, y = fit_declared("linear_regression.json")   # [smoke]: 300 epochs
    assert model.declaration.training.epochs == 1000
    X = np.array([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8],
                  [5, 6, 7, 8, 9]])
    y_ref = np.dot(X, np.array([1, 2, 3, 4, 5])) + 10
    Xn = (X - X.mean(axis=0)) / X.std(axis=0)       # the example's standardization
    np.testing.assert_allclose(x, Xn, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y, y_ref)
    set_random_seed(0)
    ref = Sequential([Dense(1, input_shape=(X.shape[1],), name=model.layers[0].name)],
                     name=model.name)
    ref.compile(optimizer='sgd', loss='mean_squared_error')
    ref.fit(Xn, y_ref, epochs=300, verbose=0)
    assert_same_weights(model, ref, rtol=1e-4, atol=1e-4)
    # standardized features make the seed's SGD converge
    assert np.abs(model.predict(x, verbose=0).ravel() - y_ref).max() < 1.0


def test_text_lstm_matches_the_seed_program():
    n = 64
    model, x, y = fit_declared("text_lstm.toml", n_train=n)
    (x_train, y_train), _ = rotten_tomatoes.load_data()
    tokenizer = Tokenizer(num_words=10000, oov_token="<unk>")
    tokenizer.fit_on_texts(x_train[:n])
    padded = pad_sequences(tokenizer.texts_to_sequences(x_train[:n]), maxlen=40,
                           padding='post', truncating='post')
    np.testing.assert_array_equal(x, padded)
    set_random_seed(0)
    names = same_names(model)
    ref = Sequential(name=model.name)
    ref.add(Embedding(10000, 100, input_length=40, name=next(names)))
    ref.add(LSTM(100, name=next(names)))
    ref.add(Dense(1, activation='sigmoid', name=next(names)))
    ref.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
    ref.fit(padded, np.asarray(y_train[:n]), epochs=1, batch_size=32, verbose=0)
    assert_same_weights(model, ref)
    assert model.input_specs()[0].dtype == "i32"


def test_load_model_file_is_exported_lazily_from_frontend():
    assert frontend.load_model_file is load_model_file
    assert "load_model_file" in dir(frontend)


def test_smoke_version_applies_the_smoke_section():
    d = load_model_file(EXAMPLES / "mnist_cnn.toml").declaration
    s = d.smoke_version()
    assert (s.training.epochs, s.dataset.n_train, s.dataset.n_test) == (1, 512, 256)
    assert (d.training.epochs, d.dataset.n_train) == (5, None)
    assert s.training.batch_size == d.training.batch_size


# ------------------------------------------------------------------------------------------
# TOML and JSON declare the same models
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist_cnn.toml", "mlp.toml", "text_lstm.toml"])
def test_toml_example_and_its_json_translation_give_the_same_model(tmp_path, name):
    with open(EXAMPLES / name, "rb") as f:
        data = tomllib.load(f)
    if data["dataset"].get("path"):  # relative to the model file: keep it pointing there
        data["dataset"]["path"] = str(EXAMPLES / data["dataset"]["path"])
    json_file = write(tmp_path, name.replace(".toml", ".json"), json.dumps(data, indent=2))
    a, b = load_model_file(EXAMPLES / name), load_model_file(json_file)
    assert [type(l) for l in a.layers] == [type(l) for l in b.layers]
    strip = lambda c: {k: v for k, v in c.items() if k != "name"}  # noqa: E731
    assert [strip(l.get_config()) for l in a.layers] == [strip(l.get_config()) for l in b.layers]
    assert_same_weights(a, b, rtol=0, atol=0)          # same seed, same initial weights
    da, db = a.declaration, b.declaration
    assert (da.training, da.dataset, da.smoke, da.compile) == \
        (db.training, db.dataset, db.smoke, db.compile)


# A small TOML writer for the declarations generated below (tables of scalars, arrays of
# scalars and inline tables; [[model.layers]] as an array of tables).
def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict) -> str:
    out = []
    for section, table in doc.items():
        out.append(f"[{section}]")
        layers = table.get("layers") if section == "model" else None
        out += [f"{k} = {toml_value(v)}" for k, v in table.items() if k != "layers"]
        for layer in layers or []:
            out.append("\n[[model.layers]]")
            out += [f"{k} = {toml_value(v)}" for k, v in layer.items()]
        out.append("")
    return "\n".join(out)


dense_layer = st.fixed_dictionaries(
    {"type": st.just("Dense"), "units": st.integers(1, 12)},
    optional={"activation": st.sampled_from(["relu", "tanh", "sigmoid", "linear"]),
              "use_bias": st.booleans(),
              "kernel_initializer": st.sampled_from(
                  ["glorot_uniform", "he_normal", {"type": "random_normal", "stddev": 0.1}]),
              "kernel_regularizer": st.sampled_from(["l2", {"type": "l1", "l1": 0.001}])})
other_layer = st.sampled_from([{"type": "Dropout", "rate": 0.25},
                               {"type": "Activation", "activation": "relu"},
                               {"type": "BatchNormalization", "momentum": 0.9}])
declarations = st.fixed_dictionaries({
    "model": st.fixed_dictionaries({
        "input_shape": st.lists(st.integers(1, 6), min_size=1, max_size=1),
        "layers": st.lists(st.one_of(dense_layer, other_layer), min_size=1, max_size=4)}),
    "compile": st.fixed_dictionaries({
        "optimizer": st.sampled_from(["sgd", "adam", {"type": "rmsprop", "rho": 0.8}]),
        "loss": st.sampled_from(["mse", "mean_absolute_error"])}),
    "training": st.fixed_dictionaries({"seed": st.integers(0, 2 ** 31),
                                       "epochs": st.integers(0, 9),
                                       "shuffle": st.booleans()}),
})


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=declarations)
def test_any_declaration_in_toml_and_json_gives_the_same_model(tmp_path, doc):
    a = load_model_file(write(tmp_path, "m.toml", to_toml(doc)))
    b = load_model_file(write(tmp_path, "m.json", json.dumps(doc)))
    assert [type(l).__name__ for l in a.layers] == [l["type"] for l in doc["model"]["layers"]]
    assert [type(l) for l in a.layers] == [type(l) for l in b.layers]
    assert_same_weights(a, b, rtol=0, atol=0)
    assert a.declaration.training == b.declaration.training
    assert a.declaration.training.seed == doc["training"]["seed"]
    assert type(a.optimizer) is type(b.optimizer) and a.compiled and b.compiled


# ------------------------------------------------------------------------------------------
# errors: file, key path and line
# ------------------------------------------------------------------------------------------
BASE = (EXAMPLES / "mnist_cnn.toml").read_text()


@pytest.mark.parametrize("old, new, key, words", [
    ("batch_size = 32", "batch_sise = 32", "training.batch_sise",
     ["unknown key", "did you mean 'batch_size'"]),
    ("[training]", "[trainig]", "trainig", ["unknown key", "expected one of"]),
    ('type = "Flatten"', 'type = "Flaten"', "model.layers[1].type",
     ["unknown layer type", "did you mean 'Flatten'"]),
    ("units = 10", "unit = 10", "model.layers[2].unit",
     ["unknown argument 'unit' for layer type Dense", "units"]),
    ("units = 10", 'units = "10"', "model.layers[2].units",
     ["expected a positive integer", 'got "10" (a string)']),
    ("kernel_size = [3, 3]", "kernel_size = [3, 0]", "model.layers[0].kernel_size[1]",
     ["expected a positive integer", "got 0"]),
    ("epochs = 5", "epochs = 2.5", "training.epochs", ["expected a non-negative integer",
                                                       "got 2.5 (a float)"]),
    ('optimizer = "adam"', 'optimizer = {type = "adam", beta_1 = "high"}',
     "compile.optimizer.beta_1", ["expected a finite number", 'got "high"']),
    ('loss = "sparse_categorical_crossentropy"',
     'loss = {type = "sparse_categorical_crossentropy", from_logits = 1}',
     "compile.loss.from_logits", ["expected true or false", "got 1 (an integer)"]),
    ('metrics = ["accuracy"]', 'metrics = ["accuracy", "acuracy"]', "compile.metrics[1]",
     ["unknown metric", "expected one of"]),
    ("reshape = [28, 28, 1]", "reshape = [784]", "dataset.reshape",
     ["(784,)", "(28, 28, 1)"]),
])
def test_toml_errors_name_key_and_line(tmp_path, old, new, key, words):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    e = load_error(write(tmp_path, "bad.toml", text))
    assert e.key == key
    assert e.line == line_of(text, new.splitlines()[0])
    assert str(e).startswith(f"{tmp_path / 'bad.toml'}:{e.line}: {key}: ")
    for w in words:
        assert w in str(e)


def test_toml_errors_inside_layer_tables_and_inline_tables(tmp_path):
    text = BASE.replace('activation = "softmax"',
                        'activation = "softmax"\n\n# a comment\nkernel_regularizer = '
                        '{type = "l2", l3 = 0.1}')
    e = load_error(write(tmp_path, "bad.toml", text))
    assert e.key == "model.layers[2].kernel_regularizer.l3"
    assert e.line == line_of(text, "l3 = 0.1") and "unknown argument 'l3'" in str(e)
    # a missing required key points at its table's header
    text = BASE.replace('type = "Flatten"', 'name = "flat"')
    e = load_error(write(tmp_path, "bad2.toml", text))
    assert e.key == "model.layers[1]" and "missing required key 'type'" in str(e)
    assert e.line == [i + 1 for i, l in enumerate(text.splitlines())
                      if l == "[[model.layers]]"][1]


def test_dropout_rate_out_of_range(tmp_path):
    text = BASE.replace('type = "Flatten"', 'type = "Flatten"\n\n[[model.layers]]\n'
                                            'type = "Dropout"\nrate = 1.5')
    e = load_error(write(tmp_path, "bad.toml", text))
    assert (e.key, e.line) == ("model.layers[2].rate", line_of(text, "rate = 1.5"))
    assert "expected a finite number >= 0.0 and < 1.0, got 1.5" in str(e)


def test_layer_that_cannot_take_its_input_is_reported_at_the_layer(tmp_path):
    text = BASE.replace('type = "Flatten"', 'type = "LSTM"\nunits = 4')
    e = load_error(write(tmp_path, "bad.toml", text))
    assert e.key == "model.layers[1]" and "LSTM" in str(e) and "(None, 26, 26, 32)" in str(e)


def test_toml_syntax_error_reports_parser_line_and_column(tmp_path):
    text = BASE.replace("units = 10", "units = = 10")
    e = load_error(write(tmp_path, "bad.toml", text))
    assert (e.line, e.column) == (line_of(text, "units = = 10"), 9)
    assert "TOML syntax error" in str(e) and e.key is None


def test_json_errors_name_key_and_line(tmp_path):
    text = (EXAMPLES / "linear_regression.json").read_text()
    text = text.replace('"path": "data/linear_regression.npz"',
                        f'"path": {json.dumps(str(EXAMPLES / "data" / "linear_regression.npz"))}')
    bad = text.replace('{"type": "Dense", "units": 1}',
                       '{"type": "Dense",\n       "units": 1,\n       "kernel_size": 3}')
    e = load_error(write(tmp_path, "bad.json", bad))
    assert (e.key, e.line) == ("model.layers[0].kernel_size", line_of(bad, '"kernel_size"'))
    assert "unknown argument 'kernel_size' for layer type Dense" in str(e)
    bad = text.replace('"epochs": 1000', '"epochs": "many"')
    e = load_error(write(tmp_path, "bad2.json", bad))
    assert (e.key, e.line) == ("training.epochs", line_of(bad, '"epochs": "many"'))
    assert 'got "many" (a string)' in str(e)
    bad = text.replace('"seed": 0', '"seed": 0,\n    "seed": 1')
    e = load_error(write(tmp_path, "bad3.json", bad))
    assert (e.key, e.line) == ("training.seed", line_of(bad, '"seed": 1'))
    assert "duplicate key" in str(e)


def test_json_syntax_error_reports_parser_line_and_column(tmp_path):
    text = (EXAMPLES / "linear_regression.json").read_text().replace('"sgd",', '"sgd"')
    e = load_error(write(tmp_path, "bad.json", text))
    assert "JSON syntax error" in str(e)
    assert e.line == line_of(text, '"loss": "mean_squared_error"') and e.column == 5


def test_missing_file_and_unknown_extension(tmp_path):
    e = load_error(tmp_path / "nowhere.toml")
    assert "no such file" in str(e) and str(tmp_path / "nowhere.toml") in str(e)
    e = load_error(write(tmp_path, "model.yaml", "model: {}"))
    assert "expected a .toml or .json model file" in str(e) and "'.yaml'" in str(e)


def test_npz_dataset_missing_key_or_file(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 32), np.float32),
             y_train=np.zeros(4, np.int32), x_test=np.zeros((2, 32), np.float32),
             labels=np.zeros(2, np.int32))
    text = (EXAMPLES / "mlp.toml").read_text().replace('path = "data/clusters.npz"',
                                                       'path = "d.npz"\ny_test = "y_tst"')
    e = load_error(write(tmp_path, "m.toml", text))
    assert (e.key, e.line) == ("dataset.y_test", line_of(text, 'y_test = "y_tst"'))
    assert "no array 'y_tst'" in str(e) and "labels" in str(e)
    # the default key name, not written in the file: reported at [dataset]
    text = text.replace('y_test = "y_tst"\n', "")
    e = load_error(write(tmp_path, "m2.toml", text))
    assert (e.key, e.line) == ("dataset.y_test", line_of(text, "[dataset]"))
    text = text.replace('path = "d.npz"', 'path = "missing.npz"')
    e = load_error(write(tmp_path, "m3.toml", text))
    assert (e.key, e.line) == ("dataset.path", line_of(text, "missing.npz"))
    assert "no such file" in str(e)


def test_npz_dataset_that_is_not_an_npz_archive(tmp_path):
    """An .npy, or a text file named .npz: one line naming the file and what it is (numpy
    returns a bare array for the first and suggests allow_pickle for the second)."""
    np.save(tmp_path / "d.npy", np.zeros((4, 32), np.float32))
    (tmp_path / "t.npz").write_text("x_train,y_train\n1,2\n")
    base = (EXAMPLES / "mlp.toml").read_text()
    for name, what in (("d.npy", "is an .npy array, not an .npz archive"),
                       ("t.npz", "is not an .npz (zip) archive")):
        text = base.replace('path = "data/clusters.npz"', f'path = "{name}"')
        e = load_error(write(tmp_path, f"m_{name}.toml", text))
        assert (e.key, e.line) == ("dataset.path", line_of(text, name))
        assert what in str(e) and "pickle" not in str(e)


def test_load_dataset_reports_a_key_removed_after_loading(tmp_path):
    arrays = {k: np.zeros((3, 2), np.float32) for k in ("x_train", "y_train", "x_test", "y_test")}
    np.savez(tmp_path / "d.npz", **arrays)
    text = ('[model]\ninput_shape = [2]\n[[model.layers]]\ntype = "Dense"\nunits = 2\n'
            '[dataset]\nname = "npz"\npath = "d.npz"\n')
    spec = load_model_file(write(tmp_path, "m.toml", text)).declaration.dataset
    np.savez(tmp_path / "d.npz", **{k: v for k, v in arrays.items() if k != "x_test"})
    with pytest.raises(ModelFileError, match=r"m\.toml:6: dataset\.x_test: .*no array"):
        load_dataset(spec)


# property: wherever the mistake is, the reported line is the line that holds it
@st.composite
def layer_files(draw):
    n = draw(st.integers(1, 5))
    units = [draw(st.integers(1, 9)) for _ in range(n)]
    bad = draw(st.integers(0, n - 1))
    kind = draw(st.sampled_from(["unknown_arg", "bad_value", "unknown_type"]))
    gaps = [draw(st.integers(0, 2)) for _ in range(n)]
    return units, bad, kind, gaps


def toml_with_error(units, bad, kind, gaps):
    lines = ["# generated", "[model]", "input_shape = [3]"]
    where = None
    for i, u in enumerate(units):
        lines += [""] * gaps[i] + ["[[model.layers]]"]
        lines += ["# layer"] * (gaps[i] % 2)
        t = '"Dense"' if (i != bad or kind != "unknown_type") else '"Dens"'
        lines.append(f"type = {t}")
        if i == bad and kind == "unknown_type":
            where = (len(lines), f"model.layers[{i}].type")
        lines.append(f"units = {u}" if (i != bad or kind != "bad_value") else "units = -1")
        if i == bad and kind == "bad_value":
            where = (len(lines), f"model.layers[{i}].units")
        if i == bad and kind == "unknown_arg":
            lines.append("filters = 3")
            where = (len(lines), f"model.layers[{i}].filters")
    return "\n".join(lines) + "\n", where


def json_with_error(units, bad, kind, gaps):
    lines = ['{"model": {', '  "input_shape": [3],', '  "layers": [']
    where = None
    for i, u in enumerate(units):
        lines += [""] * gaps[i]
        lines.append("    {")
        t = '"Dense"' if (i != bad or kind != "unknown_type") else '"Dens"'
        lines.append(f'      "type": {t},')
        if i == bad and kind == "unknown_type":
            where = (len(lines), f"model.layers[{i}].type")
        extra = i == bad and kind == "unknown_arg"
        lines.append(f'      "units": {u if (i != bad or kind != "bad_value") else -1}'
                     + ("," if extra else ""))
        if i == bad and kind == "bad_value":
            where = (len(lines), f"model.layers[{i}].units")
        if extra:
            lines.append('      "filters": 3')
            where = (len(lines), f"model.layers[{i}].filters")
        lines.append("    }" + ("," if i < len(units) - 1 else ""))
    lines += ["  ]", "}}"]
    return "\n".join(lines) + "\n", where


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=layer_files())
def test_reported_line_is_where_the_mistake_is(tmp_path, case):
    for ext, make in ((".toml", toml_with_error), (".json", json_with_error)):
        text, (line, key) = make(*case)
        e = load_error(write(tmp_path, "m" + ext, text))
        assert (e.key, e.line) == (key, line), (ext, text, str(e))


# ------------------------------------------------------------------------------------------
# nothing in a file is executed
# ------------------------------------------------------------------------------------------
_AUDIT = {"on": False, "events": []}


def _audit(event, args):
    if _AUDIT["on"] and event in ("exec", "compile", "import", "os.system", "subprocess.Popen",
                                  "pickle.find_class", "os.exec", "os.posix_spawn"):
        _AUDIT["events"].append((event, args[:1]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only while "on"

PAYLOAD = "__import__('os').system('touch {marker}')"


@pytest.mark.parametrize("old, new_template, loads", [
    ('activation = "relu"', 'activation = "{payload}"', False),
    ('type = "Flatten"', 'type = "{payload}"', False),
    ('optimizer = "adam"', 'optimizer = {{type = "{payload}"}}', False),
    ('loss = "sparse_categorical_crossentropy"', 'loss = "{payload}"', False),
    ('name = "mnist"', 'name = "{payload}"', False),
    ('name = "mnist_cnn"', 'name = "{payload}"', True),          # a name is only a name
    ('type = "Flatten"', 'type = "Flatten"\nname = "{payload}"', True),
])
def test_python_looking_strings_are_never_executed(tmp_path, old, new_template, loads):
    marker = tmp_path / "executed"
    payload = PAYLOAD.format(marker=marker).replace('"', '\\"')
    text = BASE.replace(old, new_template.format(payload=payload), 1)
    assert text != BASE
    path = write(tmp_path, "evil.toml", text)

    def attempt():
        try:
            return load_model_file(path)
        except ModelFileError as e:
            return e
    attempt()  # warm up: modules kiln imports lazily are imported now, not under audit
    _AUDIT["events"].clear()
    _AUDIT["on"] = True
    try:
        result = attempt()
    finally:
        _AUDIT["on"] = False
    assert _AUDIT["events"] == []
    assert not marker.exists()
    if loads:
        assert not isinstance(result, ModelFileError), result
        names = [result.name] + [l.name for l in result.layers]
        assert PAYLOAD.format(marker=marker) in names
    else:
        assert isinstance(result, ModelFileError)
        assert "unknown" in str(result) or "expected one of" in str(result)


# ------------------------------------------------------------------------------------------
# other forms
# ------------------------------------------------------------------------------------------
def test_functional_model_file(tmp_path):
    text = """
[model]
kind = "functional"
outputs = ["out"]

[[model.inputs]]
name = "a"
shape = [4]

[[model.inputs]]
name = "b"
shape = [3]

[[model.layers]]
type = "Dense"
name = "ha"
inputs = "a"
units = 5
activation = "relu"

[[model.layers]]
type = "Concatenate"
name = "cat"
inputs = ["ha", "b"]

[[model.layers]]
type = "Dense"
name = "out"
units = 2

[compile]
optimizer = {type = "sgd", learning_rate = 0.1, momentum = 0.9}
loss = "mse"

[training]
seed = 7
"""
    model = load_model_file(write(tmp_path, "f.toml", text))
    set_random_seed(7)
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    h = Dense(5, activation="relu", name="ha")(a)
    out = Dense(2, name="out")(Concatenate(name="cat")([h, b]))
    ref = Model([a, b], out)
    assert_same_weights(model, ref, rtol=0, atol=0)
    assert model.optimizer.momentum == 0.9 and model.optimizer.learning_rate == 0.1
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0),
                               ref.predict([xa, xb], verbose=0), rtol=1e-6)
    bad = text.replace('inputs = ["ha", "b"]', 'inputs = ["ha", "c"]')
    e = load_error(write(tmp_path, "g.toml", bad))
    assert e.key == "model.layers[1].inputs[1]" and e.line == line_of(bad, '"c"')
    assert "unknown input or layer name 'c'" in str(e)


def test_minimal_file_without_compile_or_dataset(tmp_path):
    p = write(tmp_path, "m.toml", '[model]\ninput_shape = [3]\n[[model.layers]]\n'
                                  'type = "Dense"\nunits = 2\n')
    model = load_model_file(p)
    assert not model.compiled and model.built
    assert model.declaration.dataset is None and model.declaration.smoke is None
    assert model.declaration.training == TrainingSettings()
    assert model.predict(np.ones((2, 3)), verbose=0).shape == (2, 2)
    assert model.declaration.smoke_version() is model.declaration


def test_embedding_smaller_than_the_vocabulary_is_an_error(tmp_path):
    text = (EXAMPLES / "text_lstm.toml").read_text().replace("input_dim = 10000",
                                                              "input_dim = 500")
    e = load_error(write(tmp_path, "t.toml", text))
    assert (e.key, e.line) == ("model.layers[0].input_dim", line_of(text, "input_dim = 500"))
    assert "expected at least dataset.num_words = 10000" in str(e) and "got 500" in str(e)


def test_dataset_spec_is_frozen():
    spec = load_model_file(EXAMPLES / "mlp.toml").declaration.dataset
    assert isinstance(spec, DatasetSpec) and os.path.isabs(spec.path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.n_train = 3  # type: ignore[misc]


def test_seed_argument_replaces_the_declared_seed():
    path = EXAMPLES / "mlp.toml"
    declared = load_model_file(path)
    again = load_model_file(path, seed=declared.declaration.training.seed)
    other = load_model_file(path, seed=12345)
    assert other.declaration.training.seed == 12345
    for a, b in zip(declared.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in
               zip(declared.get_weights(), other.get_weights()))


@pytest.mark.parametrize("bad", ["7", -1, 1.5, True])
def test_seed_argument_is_checked(bad):
    with pytest.raises(ModelFileError, match=r"mlp\.toml: seed: expected a non-negative integer"):
        load_model_file(EXAMPLES / "mlp.toml", seed=bad)


@pytest.mark.parametrize("key,text,message", [
    ("model.layers", '[model]\ninput_shape = [3]\nlayers = []\n',
     "expected a non-empty array of layer tables ([[model.layers]]), got"),
    ("model.inputs", '[model]\nkind = "functional"\noutputs = ["d"]\ninputs = 3\n'
                     '[[model.layers]]\ntype = "Dense"\nname = "d"\nunits = 2\n',
     "expected a non-empty array of input tables {name, shape, dtype}, got"),
])
def test_layers_and_inputs_must_be_non_empty_arrays(tmp_path, key, text, message):
    e = load_error(write(tmp_path, "m.toml", text))
    assert e.key == key and message in str(e)
