"""Each example runs in a reduced smoke configuration and reaches a sensible result."""
from __future__ import annotations

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_graph_ir_mlp_learns(capsys):
    mod = _load("graph_ir_mlp")
    final_loss = mod.main(["--steps", "150", "--print-ir"])
    out = capsys.readouterr().out
    assert "graph @mlp_train_step(" in out and "return %mean" in out
    # ln(3) ~ 1.10 is chance level for three classes.
    assert final_loss < 0.6
