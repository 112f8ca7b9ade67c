"""The README generators' ``--help`` shows their whole description: the first paragraph of
the script's docstring, not its first line cut mid-sentence."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["stage_excerpts.py", "fusion_table.py"])
def test_help_prints_the_whole_first_paragraph(script):
    path = ROOT / "benchmarks" / script
    first_paragraph = ast.get_docstring(ast.parse(path.read_text())).split("\n\n")[0]
    want = " ".join(first_paragraph.split())
    assert want.endswith("."), want         # a whole sentence, or the test proves nothing
    proc = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert want in " ".join(proc.stdout.split()), proc.stdout
