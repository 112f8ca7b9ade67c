"""The fusion report behind the README's table (benchmarks/fusion_table.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from compiler import GraphBuilder
from compiler.passes.autodiff import gradients
from runtime.fusion_report import fusion_figures
from runtime.program import Program

ROOT = Path(__file__).resolve().parents[2]


def _mlp_step() -> Program:
    b = GraphBuilder(name="mlp_step")
    x, y = b.input("x", (16, 20)), b.input("y", (16, 4))
    w1, w2 = b.param("w1", (20, 32)), b.param("w2", (32, 4))
    h = b.relu(b.matmul(x, w1))
    loss = b.mean(b.square(b.sub(b.matmul(h, w2), y)))
    g1, g2 = gradients(b.graph, loss, [w1, w2])
    b.output(loss, b.sub(w1, b.mul(g1, 0.1)), b.sub(w2, b.mul(g2, 0.1)))
    rng = np.random.default_rng(0)
    state = {"w1": rng.normal(size=(20, 32)).astype(np.float32),
             "w2": rng.normal(size=(32, 4)).astype(np.float32)}
    return Program(b.graph, state=state, updates={1: "w1", 2: "w2"}, backend="llvm")


def test_fusion_cuts_kernels_and_traffic_and_the_arena_beats_eager():
    f = fusion_figures("mlp", _mlp_step())
    assert f.kernels_after < f.kernels_before
    assert f.bytes_after < f.bytes_before
    assert 0 < f.arena_after < f.eager_peak
    row = f.row()
    assert row.startswith("| mlp | ") and f"{f.kernels_before} → {f.kernels_after}" in row
    assert f.nodes_after_simplify < f.nodes_before_simplify   # autodiff leaves identities


def test_bytes_per_step_counts_each_touched_buffer_once_per_kernel():
    p = _mlp_step()
    kp = p.compiled.kernels
    manual = sum(sum({id(b): b.nbytes for b in k.reads() + k.writes()}.values())
                 for k in kp.kernels)
    assert kp.bytes_per_step() == manual > 0


def test_table_command_and_readme_block(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("fusion_table",
                                                  ROOT / "benchmarks" / "fusion_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    table = mod.main(["--models", "linear_regression.json"])
    lines = table.splitlines()
    assert lines[0].startswith("| training step | graph nodes (simplify) | kernels |")
    assert len(lines) == 3
    assert lines[2].startswith("| linear_regression (batch 5) |")
    readme = (ROOT / "README.md").read_text()
    assert readme.count(mod.START) == 1 and readme.count(mod.END) == 1
    block = readme.split(mod.START)[1].split(mod.END)[0]
    assert block.strip().splitlines()[0] == lines[0]
    assert {m.split(".")[0] for m in mod.MODELS} <= {
        r.split("|")[1].split("(")[0].strip() for r in block.strip().splitlines()[2:]}
