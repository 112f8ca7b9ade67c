"""``kiln compile`` (dumps) and ``kiln ir`` (one stage on stdout) end to end."""
from __future__ import annotations

import os

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



class _GuardedEnv(dict):
    """``os.environ`` for a test: the KILN_DUMP variables can be read but not changed."""

    GUARDED = ("KILN_DUMP", "KILN_DUMP_DIR")

    def __setitem__(self, key, value):
        assert key not in self.GUARDED, f"the command set {key}={value!r}"
        super().__setitem__(key, value)

    def __delitem__(self, key):
        assert key not in self.GUARDED, f"the command removed {key}"
        super().__delitem__(key)

    def pop(self, key, *default):
        assert key not in self.GUARDED, f"the command removed {key}"
        return super().pop(key, *default)


def test_compile_records_stages_without_touching_the_environment(monkeypatch, tmp_path, capsys):
    """The stages asked for are compile options of the program, not KILN_DUMP set in-process:
    the user's KILN_DUMP / KILN_DUMP_DIR neither change nor decide what is written where."""
    from frontend.cli.main import main

    env_dir = tmp_path / "env_dumps"
    env = _GuardedEnv({**os.environ, "KILN_DUMP": "asm", "KILN_DUMP_DIR": str(env_dir)})
    monkeypatch.setattr(os, "environ", env)
    status = main(["compile", TINY_TOML, "--dump", "fuse", "--dump-dir", str(tmp_path / "d")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == \
        [f"{STAGES.index('fuse'):02d}-fuse.txt"]
    assert "fused kernels" in (tmp_path / "d" / f"{STAGES.index('fuse'):02d}-fuse.txt").read_text()
    assert not env_dir.exists()
    assert env["KILN_DUMP"] == "asm" and env["KILN_DUMP_DIR"] == str(env_dir)


def test_recording_options_keep_the_other_knobs_of_the_environment(monkeypatch):
    from frontend.cli.compile import recording_options

    monkeypatch.setenv("KILN_DISABLE_PASSES", "merge")
    monkeypatch.setenv("KILN_DUMP", "asm")
    monkeypatch.setenv("KILN_DUMP_DIR", "elsewhere")
    opts = recording_options(["graph", "fuse"])
    assert (list(opts.dump), opts.dump_dir, list(opts.disable)) == (["graph", "fuse"], None,
                                                                    ["merge"])
    assert recording_options([]) is None     # no stage asked: the environment's options


# -- the batch training really runs ----------------------------------------------------------
LINEAR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "examples", "models", "linear_regression.json")   # 5 samples, no batch size


def test_train_compile_and_ir_use_the_batch_fit_runs(workdir):
    """linear_regression.json has 5 training samples and the default batch size 32: fit runs
    batches of 5, so train says batch 5 and compile/ir build that program, not batch 32."""
    proc = run_kiln("train", LINEAR, "--epochs", "1", "-o", "lin", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert ", 5 samples, 1 epoch(s), batch 5 (all 5 training samples: fewer than the batch " \
           "size, 32), backend llvm" in proc.stdout.splitlines()[0]
    proc = run_kiln("compile", LINEAR, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"train_step of {LINEAR} (batch 5, all 5 training samples: "
                                  f"fewer than the batch size, 32): @linear_regression_train")
    proc = run_kiln("ir", LINEAR, "--stage", "graph", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("graph @linear_regression_train(%x: f32[5,5], ")
    assert proc.stderr == "kiln ir: batch 5, all 5 training samples: fewer than the batch " \
                          "size, 32\n"
    # an explicit --batch-size is compiled as asked (a program to look at), and said plainly
    proc = run_kiln("ir", LINEAR, "--stage", "graph", "--batch-size", "8", cwd=workdir)
    assert proc.stdout.startswith("graph @linear_regression_train(%x: f32[8,5], ")
    assert proc.stderr == ""


def test_fit_batch_counts_mnist_without_loading_it():
    from frontend.cli.loading import fit_samples, load

    loaded = load(os.path.join(os.path.dirname(LINEAR), "mnist_cnn.toml"), smoke=True)
    assert loaded.train_samples() == 512          # [smoke] n_train
    assert loaded.fit_batch(32) == 32 and loaded.fit_batch(4096) == 512
    assert not loaded._data_loaded
    assert fit_samples(10, 0.0) == 10 and fit_samples(10, 0.25) == 7   # Keras's split
