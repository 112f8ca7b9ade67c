"""A subclassed model (no declared input shape) through the commands, in-process: shapes come
from the file's data for compile/ir and from the input array for predict."""
from __future__ import annotations

import os

import numpy as np

from conftest import DATA
from frontend.cli.main import main

SUBCLASSED = os.path.join(DATA, "subclassed.py")


def test_ir_takes_shapes_from_the_data(capsys):
    assert main(["ir", SUBCLASSED, "--stage", "graph", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph @net_train(%x: f32[4,5]") and "%y: f32[4,2]" in out


def test_train_then_predict_builds_the_model_for_the_input(capsys, tmp_path):
    assert main(["train", SUBCLASSED, "--epochs", "1", "-o", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "model 'net', 40 samples, 1 epoch(s), batch 8" in out
    assert "test (" not in out                      # the file declares no test data
    np.save(tmp_path / "x.npy", np.ones((3, 5), np.float32))
    # a fresh process would build a fresh model; so does a fresh load here
    assert main(["predict", SUBCLASSED, "--weights", str(tmp_path / "run" / "weights.npz"),
                 "--input", str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x.pred.npy").shape == (3, 2)
