"""Bad invocations: one line on stderr naming the problem, exit status 2 (usage) or 1 (model,
data, file), a traceback only with --debug.

Two cases run as real subprocesses (the exit status the shell sees); the rest call
:func:`frontend.cli.main.main` in-process, which is the same code without paying a Python
start per case.
"""
from __future__ import annotations

import numpy as np

from conftest import TINY_TOML, assert_error, run_kiln
from frontend.cli.main import main


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """``kiln ARGV`` in-process: (status, stdout, stderr); argparse's exits become a status."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(status, err, want_status, *needles) -> str:
    lines = err.splitlines()
    assert status == want_status, err
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err
    return lines[0]


# -- as the shell sees them ------------------------------------------------------------------
def test_missing_model_file_subprocess(tmp_path):
    assert_error(run_kiln("train", "nosuch.toml", cwd=tmp_path), 1, "nosuch.toml",
                 "no such file")


def test_unknown_subcommand_subprocess(tmp_path):
    line = assert_error(run_kiln("frobnicate", cwd=tmp_path), 2, "'frobnicate'")
    assert "train" in line and "bench" in line   # the valid choices are listed


# -- usage errors: status 2 ------------------------------------------------------------------
def test_no_command(capsys):
    one_error_line(*run_main(capsys)[::2], 2, "a command is required")


def test_unknown_option(capsys):
    line = one_error_line(*run_main(capsys, "train", TINY_TOML, "--epoch-count", "3")[::2], 2,
                          "--epoch-count")
    # the subcommand's usage error, as every other error of a subcommand
    assert line.startswith("kiln train: error: unrecognized arguments: --epoch-count 3"), line
    assert "see kiln train --help" in line


def test_unknown_option_before_the_model(capsys):
    line = one_error_line(*run_main(capsys, "ir", "--frobnicate", TINY_TOML, "--stage",
                                    "graph")[::2], 2, "--frobnicate")
    assert line.startswith("kiln ir: error: "), line


def test_unknown_stage_lists_the_pipeline_stages(capsys):
    from compiler.pipeline import STAGES
    line = one_error_line(*run_main(capsys, "ir", TINY_TOML, "--stage", "nope")[::2], 2,
                          "'nope'")
    assert all(s in line for s in STAGES)


def test_unknown_dump_stage(capsys):
    one_error_line(*run_main(capsys, "compile", TINY_TOML, "--dump", "fuse,bogus")[::2], 2,
                   "'bogus'")




def test_bad_option_values(capsys):
    one_error_line(*run_main(capsys, "train", TINY_TOML, "--epochs", "-1")[::2], 2, "--epochs")
    one_error_line(*run_main(capsys, "train", TINY_TOML, "--epochs", "0")[::2], 2,
                   "--epochs must be at least 1, got 0")
    one_error_line(*run_main(capsys, "bench", TINY_TOML, "--suite")[::2], 2, "--suite")
    one_error_line(*run_main(capsys, "bench", TINY_TOML, "--backends", "eager")[::2], 2,
                   "--backends", "llvm")


# -- model and data errors: status 1 ---------------------------------------------------------
def test_missing_model_file(capsys):
    one_error_line(*run_main(capsys, "compile", "nosuch.py")[::2], 1, "nosuch.py")


def test_model_that_is_not_a_model_file_is_status_1_as_a_directory(capsys, tmp_path):
    """The README: 1 for model, data, weights or input problems, 2 for usage. A MODEL of
    the wrong type is a problem with the file given, like a directory or a missing file."""
    path = tmp_path / "model.yaml"
    path.write_text("layers: []\n")
    one_error_line(*run_main(capsys, "train", path)[::2], 1, "model.yaml", ".toml", ".py")
    one_error_line(*run_main(capsys, "train", tmp_path)[::2], 1, "is a directory")


def test_malformed_declared_model_names_file_line_and_key(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(open(TINY_TOML).read().replace('units = 16', 'units = "sixteen"'))
    line = one_error_line(*run_main(capsys, "train", path)[::2], 1, "bad.toml:",
                          "model.layers[0].units")
    assert "sixteen" in line


def test_declared_model_syntax_error(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"model": {"layers": [}')
    one_error_line(*run_main(capsys, "ir", path, "--stage", "graph")[::2], 1, "broken.json:1")


def test_python_model_file_error_names_its_line(capsys, tmp_path):
    path = tmp_path / "bad_model.py"
    path.write_text("from frontend import keras\n\n"
                    "model = keras.Sequential([keras.layers.Dense(-3, input_shape=(4,))])\n")
    one_error_line(*run_main(capsys, "train", path)[::2], 1, "bad_model.py:3", "ValueError",
                   "units")


def test_python_model_file_without_model(capsys, tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    one_error_line(*run_main(capsys, "compile", path)[::2], 1, "empty.py", "'model'")


def test_python_model_file_training_and_smoke_sections_are_checked(capsys, tmp_path):
    model = ("from frontend import keras\n"
             "model = keras.Sequential([keras.layers.Dense(1, input_shape=(4,))])\n")
    path = tmp_path / "sections.py"
    path.write_text(model + "training = [3]\n")
    one_error_line(*run_main(capsys, "compile", path)[::2], 1, "sections.py",
                   "'training' is a list, expected a dict with keys epochs")
    path.write_text(model + "smoke = {'epochs': 1, 'bogus': 2}\n")
    one_error_line(*run_main(capsys, "train", path, "--smoke")[::2], 1, "sections.py",
                   "smoke: unknown key(s) 'bogus'; expected")


def test_train_needs_data(capsys, tmp_path):
    path = tmp_path / "nodata.py"
    path.write_text("from frontend import keras\n"
                    "model = keras.Sequential([keras.layers.Dense(1, input_shape=(4,))])\n"
                    "model.compile(optimizer='sgd', loss='mse')\n")
    one_error_line(*run_main(capsys, "train", path)[::2], 1, "nodata.py", "no dataset")


def test_predict_missing_weights(capsys, tmp_path):
    one_error_line(*run_main(capsys, "predict", TINY_TOML, "--weights", tmp_path / "w.npz",
                             "--input", tmp_path / "x.npy")[::2], 1, "w.npz", "no such file")


def test_debug_shows_the_traceback(capsys, tmp_path):
    path = tmp_path / "bad_model.py"
    path.write_text("raise RuntimeError('boom in the model file')\n")
    status, _, err = run_main(capsys, "compile", path, "--debug")
    assert status == 1
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == f"kiln compile: error: {path}:1: RuntimeError: boom in the " \
                                   f"model file"
    # and without --debug, the last line alone
    status, _, err = run_main(capsys, "compile", path)
    assert err.splitlines() == [f"kiln compile: error: {path}:1: RuntimeError: boom in the "
                                f"model file"]


def test_debug_before_the_subcommand(capsys):
    status, _, err = run_main(capsys, "--debug", "train", "nosuch.toml")
    assert status == 1 and "Traceback" in err and err.splitlines()[-1].endswith("no such file")


def test_predict_weights_that_are_an_npy_array(capsys, tmp_path):
    # np.load returns a bare array for an .npy: it used to end in "TypeError: 'numpy.ndarray'
    # object does not support the context manager protocol"
    np.save(tmp_path / "x.npy", np.zeros((2, 8), np.float32))
    line = one_error_line(*run_main(capsys, "predict", TINY_TOML, "--weights",
                                    tmp_path / "x.npy", "--input", tmp_path / "x.npy")[::2],
                          1, "x.npy is an .npy array, not a weights .npz archive")
    assert "TypeError" not in line


def test_predict_weights_that_are_not_a_zip_archive(capsys, tmp_path):
    # numpy takes any other file for a pickle and suggests allow_pickle: kiln never does
    (tmp_path / "w.npz").write_text("these are not weights\n")
    np.save(tmp_path / "x.npy", np.zeros((2, 8), np.float32))
    line = one_error_line(*run_main(capsys, "predict", TINY_TOML, "--weights",
                                    tmp_path / "w.npz", "--input", tmp_path / "x.npy")[::2],
                          1, "w.npz is not an .npz (zip) archive")
    assert "pickle" not in line


def test_help_epilog_names_the_model_file_sections(capsys):
    status, out, _ = run_main(capsys, "--help")
    assert status == 0
    text = " ".join(out.split())
    for section in ("[model]", "[compile]", "[training]", "[dataset]", "[smoke]"):
        assert section in text, section
    assert "`data`, `training` and `smoke`" in text
