"""The Keras seed programs (/work/shared/seed-programs) run with only their import lines
changed: ``tensorflow`` -> ``frontend.tf``, ``tensorflow.keras``/``keras`` ->
``frontend.keras``, and (for speed) ``keras.datasets.mnist`` -> a few hundred real MNIST
images. Names the programs leave undefined (``x_train``...) are given small data."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

# The programs this project was created from, copied verbatim into the repository so that the
# test runs on any checkout.
SEEDS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seed_programs")


def rewrite_imports(src: str) -> str:
    """Change import lines only; every other line stays as written."""
    lines = []
    for line in src.splitlines():
        if line.startswith(("import ", "from ")):
            line = re.sub(r"^import tensorflow as tf$", "import frontend.tf as tf", line)
            line = re.sub(r"^from tensorflow\.keras\b", "from frontend.keras", line)
            line = re.sub(r"^from keras\.datasets import mnist$",
                          "from seed_smoke_data import mnist", line)
            line = re.sub(r"^from keras\.", "from frontend.keras.", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def run_seed(name: str, **given):
    with open(os.path.join(SEEDS, name)) as f:
        original = f.read()
    src = rewrite_imports(original)
    changed = [(a, b) for a, b in zip(original.splitlines(), src.splitlines()) if a != b]
    assert all(a.startswith(("import ", "from ")) for a, _ in changed)
    env = {"__name__": "__seed__", **given}
    exec(compile(src, name, "exec"), env)
    return env


RNG = np.random.default_rng(0)


def test_linear_regression_keras():
    env = run_seed("linear_regression_keras.py")
    # SGD at lr 0.01 on these raw features diverges in Keras too (see the example); the
    # program runs its 1000 epochs and predicts one value per sample.
    assert env["predictions"].shape == (5, 1)


def test_mlp_keras():
    env = run_seed("mlp_keras.py", x_train=RNG.normal(size=(48, 32)),
                   y_train=RNG.integers(0, 10, 48))
    assert len(env["model"].history.history["accuracy"]) == 10


def test_cnn_keras():
    env = run_seed("cnn_keras.py", x_train=RNG.random((4, 28, 28, 1)),
                   y_train=RNG.integers(0, 10, 4))
    assert env["model"].count_params() == 93322   # as Keras's summary of this model


def test_rnn_keras_subclass():
    env = run_seed("rnn_keras_subclass.py", x_train=RNG.normal(size=(16, 4, 32)),
                   y_train=RNG.integers(0, 10, (16, 4)))
    m = env["model"]
    assert [type(l).__name__ for l in m.layers] == ["SimpleRNN", "Dense"]
    assert m.predict(RNG.normal(size=(2, 9, 32)), verbose=0).shape == (2, 9, 10)


def test_mnist_cnn_keras(capsys):
    env = run_seed("mnist_cnn_keras.py")
    assert 0.0 <= env["test_acc"] <= 1.0
    assert "Test accuracy:" in capsys.readouterr().out


def test_text_lstm_keras(tmp_path, monkeypatch):
    pytest.importorskip("frontend.keras.preprocessing.text")
    (tmp_path / "data.txt").write_text("the film is a joy to watch and the cast is great; "
                                       "a warm, funny and smart film")
    monkeypatch.chdir(tmp_path)
    env = run_seed("text_lstm_keras.py")
    assert env["padded"].shape[0] == 1
    assert len(env["model"].history.history["loss"]) == 5
