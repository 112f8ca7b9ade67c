"""``kiln bench``: a model file and the suite, JSON lines, the chart and its missing extra."""
from __future__ import annotations

import json

import pytest

from conftest import TINY_PY, assert_error, run_kiln


def test_bench_model_json_lines(workdir):
    proc = run_kiln("bench", TINY_PY, "--repeats", "3", "--warmup", "1", "--backends",
                    "llvm,eager", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["model"], r["program"], r["batch"]) for r in records] == \
        [("tiny_mlp", "train_step", 16), ("tiny_mlp", "predict", 16)]
    for r in records:
        assert r["compiled_ms"] > 0 and r["eager_ms"] > 0 and r["torch_ms"] is None
        assert r["kernels"] >= 1 and r["peak_arena_bytes"] > 0 and r["repeats"] == 3


def test_bench_suite_table_and_plot(workdir):
    pytest.importorskip("matplotlib")
    proc = run_kiln("bench", "--suite", "--only", "linear_regression", "--repeats", "2",
                    "--warmup", "0", "--backends", "llvm,eager", "--programs", "predict",
                    "--plot", "bench.png", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| model | program | batch | compiled ms |")
    assert lines[2].startswith("| linear_regression | predict | 5 |")
    assert lines[-1] == "wrote bench.png"
    assert (workdir / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_line(workdir, tmp_path):
    # A stand-in package that fails to import, first on the path: matplotlib "not installed".
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text(
        "raise ImportError('No module named matplotlib')\n")
    proc = run_kiln("bench", TINY_PY, "--plot", "out.png", cwd=workdir, extra_path=str(tmp_path))
    assert_error(proc, 1, "--plot needs matplotlib", "kiln[plot]")
    assert not (workdir / "out.png").exists()
