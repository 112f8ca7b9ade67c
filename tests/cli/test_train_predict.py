"""``kiln train`` and ``kiln predict`` end to end on the tiny model files."""
from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from conftest import TINY_PY, TINY_TOML, assert_error, run_kiln
from frontend.cli.main import main


@pytest.fixture(scope="module")
def trained(workdir):
    """tiny.toml trained with explicit options (2 epochs, 48 samples, seed 3)."""
    proc = run_kiln("train", TINY_TOML, "--epochs", "2", "--batch-size", "16", "--limit", "48",
                    "--seed", "3", "-o", "out", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return proc, workdir / "out"


def test_train_prints_each_epoch_and_saves_weights_and_metrics(trained):
    proc, out = trained
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"training {TINY_TOML}: model 'tiny', 48 samples, 2 epoch(s), "
                               f"batch 16, backend llvm, seed 3")
    assert lines[1].startswith("epoch 1/2: loss ") and " - accuracy " in lines[1]
    assert lines[2].startswith("epoch 2/2: loss ")
    assert lines[3].startswith("test (32 samples): loss ")
    assert proc.stderr == ""            # no progress bar when stderr is not a terminal
    record = json.loads((out / "metrics.json").read_text())
    assert record["epochs"] == 2 and record["batch_size"] == 16 and record["seed"] == 3
    assert len(record["history"]["loss"]) == 2
    assert set(record["test"]) == {"loss", "accuracy"}
    with np.load(out / "weights.npz") as w:
        assert w["dense/kernel"].shape == (8, 16) and w["dense_1/kernel"].shape == (16, 3)


def test_eager_backend_trains_the_same(trained, workdir):
    """Same file, options and seed on the eager backend: the same losses (float32 rounding)."""
    proc = run_kiln("train", TINY_TOML, "--epochs", "2", "--batch-size", "16", "--limit", "48",
                    "--seed", "3", "--backend", "eager", "-o", "out_eager", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "backend eager" in proc.stdout.splitlines()[0]
    compiled = json.loads((trained[1] / "metrics.json").read_text())["history"]["loss"]
    eager = json.loads((workdir / "out_eager" / "metrics.json").read_text())["history"]["loss"]
    np.testing.assert_allclose(eager, compiled, rtol=1e-4)


def test_python_model_file_with_smoke_settings(workdir):
    proc = run_kiln("train", TINY_PY, "--smoke", "-o", "out_py", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "model 'tiny_mlp', 32 samples, 1 epoch(s), batch 16" in lines[0]   # smoke dict
    assert lines[1].startswith("epoch 1/1: loss ")
    assert lines[2].startswith("test (16 samples): ")
    assert (workdir / "out_py" / "weights.npz").exists()


def test_predict_writes_probabilities(trained, workdir):
    x = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32)
    np.save(workdir / "x.npy", x)
    proc = run_kiln("predict", TINY_TOML, "--weights", trained[1] / "weights.npz",
                    "--input", "x.npy", "-o", "p.npy", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wrote predictions float32[5, 3] to p.npy"
    p = np.load(workdir / "p.npy")
    assert p.shape == (5, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)   # softmax rows


def test_predict_rejects_weights_of_the_wrong_shape(trained, workdir):
    with np.load(trained[1] / "weights.npz") as w:
        weights = {k: w[k] for k in w.files}
    weights["dense/kernel"] = np.zeros((8, 17), np.float32)
    np.savez(workdir / "bad_weights.npz", **weights)
    np.save(workdir / "x5.npy", np.zeros((5, 8), np.float32))
    proc = run_kiln("predict", TINY_TOML, "--weights", "bad_weights.npz", "--input", "x5.npy",
                    cwd=workdir)
    assert_error(proc, 1, "bad_weights.npz", "'dense/kernel'", "(8, 16)", "(8, 17)")


def test_predict_rejects_input_of_the_wrong_shape(trained, workdir):
    np.save(workdir / "x_bad.npy", np.zeros((5, 7), np.float32))
    proc = run_kiln("predict", TINY_TOML, "--weights", trained[1] / "weights.npz",
                    "--input", "x_bad.npy", cwd=workdir)
    assert_error(proc, 1, "x_bad.npy", "(None, 8)", "(5, 7)")


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal (where the progress bar goes)."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(monkeypatch, tmp_path, capsys):
    for flags, want_bar in (([], True), (["--no-progress"], False)):
        err = _Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        status = main(["train", TINY_TOML, "--epochs", "2", "--limit", "32", "--batch-size",
                       "16", "-o", str(tmp_path / "run"), *flags])
        out = capsys.readouterr().out
        assert status == 0, err.getvalue()
        bar = err.getvalue()
        if want_bar:   # tqdm's bar of each epoch: 2 steps of 16 samples
            assert "epoch 1/2:" in bar and "epoch 2/2:" in bar and "/2 [" in bar, bar
            assert "step/s" in bar, bar
        else:
            assert bar == ""
        # the results on stdout are the same lines either way
        assert [line.split(":")[0] for line in out.splitlines()[1:3]] == ["epoch 1/2",
                                                                          "epoch 2/2"]


def test_seed_decides_the_run(trained, tmp_path, capsys):
    """In-process runs with the fixture's options: seed 3 reproduces its losses, seed 4
    starts from other weights."""
    def losses(seed: int) -> list[float]:
        out = tmp_path / f"seed{seed}"
        assert main(["train", TINY_TOML, "--epochs", "2", "--batch-size", "16", "--limit", "48",
                     "--seed", str(seed), "-o", str(out)]) == 0
        capsys.readouterr()
        return json.loads((out / "metrics.json").read_text())["history"]["loss"]

    reference = json.loads((trained[1] / "metrics.json").read_text())["history"]["loss"]
    np.testing.assert_allclose(losses(3), reference, rtol=1e-6)
    assert not np.allclose(losses(4), reference, rtol=1e-3)


# -- what kiln predict takes: inputs as they are, an .npz by input name ----------------------
def _predict(capsys, trained, x_path, *more) -> tuple[int, str, str]:
    try:
        status = main(["predict", TINY_TOML, "--weights", str(trained[1] / "weights.npz"),
                       "--input", str(x_path), *more])
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def test_predict_npz_input_is_keyed_by_the_models_input_name(trained, workdir):
    # as the shell runs it: automatic layer names are per process (a fresh one says 'dense')
    x = np.random.default_rng(2).normal(size=(4, 8)).astype(np.float32)
    np.savez(workdir / "by_graph_name.npz", x=x)      # %x, as kiln ir shows the argument
    proc = run_kiln("predict", TINY_TOML, "--weights", trained[1] / "weights.npz", "--input",
                    "by_graph_name.npz", cwd=workdir)
    line = assert_error(proc, 1, "by_graph_name.npz: model 'tiny' takes input 'dense'",
                        "the file has 'x'")
    assert "the dict has" not in line
    np.savez(workdir / "by_input_name.npz", dense=x)  # the first layer's name
    proc = run_kiln("predict", TINY_TOML, "--weights", trained[1] / "weights.npz", "--input",
                    "by_input_name.npz", "-o", "by_name.npy", cwd=workdir)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    np.testing.assert_allclose(np.load(workdir / "by_name.npy").sum(axis=1), 1.0, rtol=1e-5)


def test_predict_warns_that_integer_inputs_are_not_scaled(trained, tmp_path, capsys):
    raw = np.random.default_rng(3).integers(0, 256, size=(4, 8)).astype(np.uint8)
    np.save(tmp_path / "raw.npy", raw)
    status, out, err = _predict(capsys, trained, tmp_path / "raw.npy", "-o",
                                str(tmp_path / "raw.pred.npy"))
    assert status == 0, err
    (line,) = err.splitlines()
    assert line.startswith("kiln predict: warning: ") and "raw.npy holds uint8 values" in line
    assert "not scaled" in line
    # used as they are: the same predictions as the values converted to float32
    np.save(tmp_path / "as_float.npy", raw.astype(np.float32))
    status, _, err = _predict(capsys, trained, tmp_path / "as_float.npy", "-o",
                              str(tmp_path / "float.pred.npy"))
    assert status == 0 and err == "", err
    np.testing.assert_array_equal(np.load(tmp_path / "raw.pred.npy"),
                                  np.load(tmp_path / "float.pred.npy"))


def test_predict_warning_names_the_declared_scaling(tmp_path, capsys):
    """mnist_cnn.toml declares scale = true: raw uint8 pixels are predicted unscaled, and the
    warning says the declared scaling is not applied."""
    import os
    from conftest import ROOT
    from frontend.cli.loading import load
    from frontend.cli.predict import check_inputs

    loaded = load(os.path.join(ROOT, "examples", "models", "mnist_cnn.toml"))
    check_inputs(loaded, np.zeros((2, 28, 28, 1), np.uint8), "raw.npy")
    (line,) = capsys.readouterr().err.splitlines()
    assert "raw.npy holds uint8 values and model 'mnist_cnn' takes float32" in line
    assert "[dataset] scaling (scale = true: pixels / 255) is not applied" in line
    check_inputs(loaded, np.zeros((2, 28, 28, 1), np.float32), "scaled.npy")
    assert capsys.readouterr().err == ""
