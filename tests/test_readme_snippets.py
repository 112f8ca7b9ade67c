"""Every ```python block of README.md runs as shown: each is a whole program, run on its own
in a fresh interpreter from the repository root (where a reader who cloned the repository
and followed the quick start would paste it), and must exit 0.

The blocks are read from README.md, never listed here, so a snippet added to the README is
run too. The compile cache is the environment's (``KILN_CACHE_DIR``, or kiln's default),
shared with the rest of the test suite. Snippets that train do so on small subsets, so the
whole module takes seconds; a snippet that grows slow must be shrunk in the README.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Seconds one snippet may take (the module's total is far below: they run side by side).
TIMEOUT = 60


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number of the opening fence, code)`` of every ```python fenced block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if re.fullmatch(r"```python\s*", lines[i]):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            assert j < len(lines), f"README.md:{i + 1}: ```python block is never closed"
            blocks.append((i + 1, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]]
                                                       if env.get("PYTHONPATH") else []))
    env.pop("KILN_DUMP", None)       # a developer's dump settings must not write files here
    env.pop("KILN_DUMP_DIR", None)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _run(code: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(code, -1, "", f"timed out after {TIMEOUT} s: shrink "
                                                         f"the snippet in the README")


@pytest.fixture(scope="module")
def results() -> dict[int, subprocess.CompletedProcess]:
    """Every block's run, two at a time (they are independent; most time is imports)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda block: _run(block[1]), BLOCKS)
        return {line: proc for (line, _), proc in zip(BLOCKS, done)}


def test_readme_has_python_snippets():
    # the extraction itself: the README shows the Python API in several styles
    assert len(BLOCKS) >= 5
    assert any("keras" in code for _, code in BLOCKS)
    assert any("frontend.tf" in code for _, code in BLOCKS)


@pytest.mark.parametrize("line", [line for line, _ in BLOCKS],
                         ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_snippet_runs(results, line):
    proc = results[line]
    assert proc.returncode == 0, (f"the ```python block at README.md:{line} failed "
                                  f"(status {proc.returncode}):\n{proc.stderr[-3000:]}")
