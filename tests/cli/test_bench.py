"""``kiln bench``: a model file and the suite, JSON lines, the chart and its missing extra."""
from __future__ import annotations

import json

from conftest import TINY_PY, assert_error, run_kiln
from frontend.cli.main import main

#: What issue 6 promises every --json object holds.
REQUIRED_JSON_FIELDS = ("model", "program", "batch", "compiled_ms", "eager_ms", "torch_ms",
                        "kernels", "peak_arena_bytes", "compile_s_cold", "compile_s_cached")


def test_bench_model_json_lines(workdir):
    proc = run_kiln("bench", TINY_PY, "--repeats", "3", "--warmup", "1", "--backends",
                    "llvm,eager", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["model"], r["program"], r["batch"]) for r in records] == \
        [("tiny_mlp", "train_step", 16), ("tiny_mlp", "predict", 16)]
    for r in records:
        assert set(REQUIRED_JSON_FIELDS) <= set(r), set(REQUIRED_JSON_FIELDS) - set(r)
        assert r["compiled_ms"] > 0 and r["eager_ms"] > 0 and r["torch_ms"] is None
        assert r["kernels"] >= 1 and r["peak_arena_bytes"] > 0 and r["repeats"] == 3
        assert r["compile_s_cold"] > 0 and r["compile_s_cached"] > 0


def test_bench_suite_table_and_plot(workdir):
    # matplotlib is the `plot` extra, which the README's quick start and CI install
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


def test_profile_adds_a_table_of_kernels(capsys):
    status = main(["bench", TINY_PY, "--programs", "predict", "--backends", "llvm",
                   "--repeats", "2", "--warmup", "0", "--profile"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    kernels = int(lines[2].split("|")[9])          # the table's kernels column
    start = lines.index("kernels of tiny_mlp predict (batch 16), slowest first:")
    assert lines[start + 1].split() == ["kernel", "family", "us/call", "share", "bytes", "GB/s",
                                        "GFLOP/s"]
    rows = [line.split() for line in lines[start + 2:start + 2 + kernels]]
    assert len(rows) == kernels and all(len(r) == 7 for r in rows)
    times = [float(r[2]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert all(int(r[4]) > 0 for r in rows)                       # bytes touched per call
    contractions = [r for r in rows if r[1] == "contraction"]
    assert contractions and all(float(r[6]) > 0 for r in contractions)
    assert all(r[6] == "-" for r in rows if r[1] != "contraction")


def test_bench_threads_runs_in_a_restricted_child(workdir, monkeypatch):
    """--threads N: the benchmark runs in a child whose thread variables are N before numpy
    loads; its records say how many threads kiln had (3 here: not this machine's default,
    unless it has exactly 3 CPUs, so the test sees the difference)."""
    from compiler.llvm.parallel import Threading

    monkeypatch.setenv("KILN_NUM_THREADS", "3")
    want = Threading.host().num_threads      # 3, or 1 where libgomp is missing
    monkeypatch.delenv("KILN_NUM_THREADS")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    proc = run_kiln("bench", TINY_PY, "--threads", "3", "--repeats", "2", "--warmup", "0",
                    "--backends", "llvm,eager", "--programs", "predict", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert record["threads"] == want and record["program"] == "predict"
    assert proc.stderr.splitlines() == [
        f"kiln bench: --threads 3: OPENBLAS_NUM_THREADS=3 OMP_NUM_THREADS=3 MKL_NUM_THREADS=3 "
        f"KILN_NUM_THREADS=3; kiln {want} thread(s), torch 3"]
    # without --threads: the machine's threads, recorded the same way
    proc = run_kiln("bench", TINY_PY, "--repeats", "2", "--warmup", "0", "--backends", "llvm",
                    "--programs", "predict", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["threads"] == Threading.host().num_threads


def test_bench_threads_must_be_positive(capsys):
    assert main(["bench", TINY_PY, "--threads", "0"]) == 2
    assert "--threads must be at least 1, got 0" in capsys.readouterr().err
