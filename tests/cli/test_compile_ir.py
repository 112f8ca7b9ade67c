"""``kiln compile`` (dumps) and ``kiln ir`` (one stage on stdout) end to end."""
from __future__ import annotations

from conftest import TINY_PY, TINY_TOML, run_kiln

from compiler.pipeline import STAGES


def test_compile_dumps_every_stage_in_pipeline_order(workdir):
    proc = run_kiln("compile", TINY_TOML, "--dump", "all", "--dump-dir", "dumps", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"train_step of {TINY_TOML} (batch 16): @tiny_train, ")
    assert " kernels, arena " in first
    files = sorted(p.name for p in (workdir / "dumps").iterdir())
    # one file per stage the compiler has now (the list grows; never a copy of it here)
    assert [f.split("-", 1)[1].rsplit(".", 1)[0] for f in files] == list(STAGES)
    assert all(f.startswith(f"{i:02d}-") for i, f in enumerate(files))
    graph = (workdir / "dumps" / files[0]).read_text()
    assert graph.startswith("graph @tiny_train(%x: f32[16,8]")   # batch from [training]
    assert "adam" not in graph      # the graph stage is the forward pass and loss only


def test_compile_predict_program_with_some_stages(workdir):
    proc = run_kiln("compile", TINY_PY, "--program", "predict", "--batch-size", "4",
                    "--dump", "kernels,graph", "--dump-dir", "d2", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (workdir / "d2").iterdir())
    assert names == [f"{STAGES.index('graph'):02d}-graph.txt",
                     f"{STAGES.index('kernels'):02d}-kernels.txt"]
    assert "@tiny_mlp_predict" in (workdir / "d2" / names[1]).read_text()


def test_ir_prints_one_stage(workdir):
    proc = run_kiln("ir", TINY_PY, "--stage", "autodiff", "--batch-size", "4", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("graph @tiny_mlp_train(%x: f32[4,8]")
    assert "%adam.iterations" in proc.stdout        # train_step: with the optimizer update
    assert proc.stderr == ""
