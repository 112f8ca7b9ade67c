"""The Keras examples run in their --smoke configuration (in-process, so the suite pays for
imports once)."""
from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _main(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_mlp_keras_example(capsys):
    acc = _main("mlp_keras")(["--smoke"])
    assert acc > 0.8
    assert "Total params: 2,762" in capsys.readouterr().out


def test_linear_regression_keras_example():
    assert _main("linear_regression_keras")(["--smoke"]) < 1.0   # max error on targets ~100


def test_cnn_keras_example():
    assert 0.0 <= _main("cnn_keras")(["--smoke"]) <= 1.0


def test_mnist_cnn_keras_example():
    assert _main("mnist_cnn_keras")(["--smoke"]) > 0.3   # chance is 0.1


def test_rnn_keras_subclass_example():
    assert 0.0 <= _main("rnn_keras_subclass")(["--smoke"]) <= 1.0


def test_text_lstm_keras_example():
    pytest.importorskip("frontend.keras.preprocessing.text")
    assert 0.0 <= _main("text_lstm_keras")(["--smoke"]) <= 1.0
