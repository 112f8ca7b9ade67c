"""The README's stage excerpts come from benchmarks/stage_excerpts.py and cover every stage."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from compiler.pipeline import STAGES

ROOT = Path(__file__).resolve().parents[2]


def test_readme_stage_excerpts_are_generated_for_every_stage():
    spec = importlib.util.spec_from_file_location("stage_excerpts",
                                                  ROOT / "benchmarks" / "stage_excerpts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.excerpts()
    headers = [line for line in text.splitlines() if line.startswith("`") and line.endswith("`:")]
    assert headers == [f"`{s}`:" for s in STAGES]
    readme = (ROOT / "README.md").read_text()
    block = readme.split(mod.START)[1].split(mod.END)[0]
    assert [line for line in block.splitlines() if line.startswith("`") and line.endswith("`:")] \
        == headers
    # the graph stage's lines are the same text (no numbers that vary between runs)
    first = lambda t: t.split("`graph`:\n```\n")[1].split("\n...")[0]   # noqa: E731
    assert first(block) == first(text)


def test_clear_session_restarts_automatic_names():
    from frontend.keras import layers, utils

    utils.clear_session()
    first = layers.Dense(2).name
    assert layers.Dense(2).name == first + "_1"
    utils.clear_session()
    assert layers.Dense(2).name == first
