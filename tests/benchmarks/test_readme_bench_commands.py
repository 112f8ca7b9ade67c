"""Every ``python benchmarks/...`` command in the README's code blocks runs, with ``--smoke``
appended (a few seconds each), exits 0 and prints its usual tables.

The commands are read from README.md (fenced and indented code blocks), never listed here, so
a command added to the README is run here too; its script's table header must then be added
to ``HEADERS`` (the test says so). The README's ``--update-readme`` generators
(``fusion_table.py``, ``stage_excerpts.py``) rewrite README.md, so they are not run here:
tests/runtime/test_fusion_report.py (``test_table_command_and_readme_block``) and
tests/runtime/test_stage_excerpts.py run their print mode and compare it with the README's
blocks; ``test_update_readme_generators_are_tested_elsewhere`` checks such a test exists for
every generator the README names.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.llvm.parallel import Threading

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: Per script: patterns each of which must match a whole line of the smoke run's output (the
#: table headers the script prints, and the first cells of its rows).
HEADERS = {
    "bench_steps.py": [
        r"CPUs available \d+; .*",
        r"\| model \| program \| batch \| compiled ms \| eager ms \| torch ms \| .* \| check \|",
        r"\| linear_regression \| train_step \| 5 \| .*compiled vs eager max rel diff .*",
        r"\| linear_regression \| predict \| 5 \| .*compiled vs eager max rel diff .*",
        r"\| \d+\^2 f32 matmul \| numpy ms \| numpy GFLOP/s \| kiln ms \| kiln GFLOP/s \| "
        r"numpy/kiln \|",
        r"\| 1 thread\(s\) \| .*",
        r"load average after: .*",
    ],
    "bench_gemm.py": [
        r"GEMM f32: GFLOP/s, medians \(kiln vs numpy on .*\)",
        r"1 thread \(kiln compile .*",
        r"\s+shape\s+kiln\s+numpy\s+ratio\s+kiln us\s+reps",
        r"\s+33x47x29 A\^T\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+",
    ],
    "bench_vecmath.py": [
        r"# fma=\S+\s+scalar=False\s+n=\d+\s+repeat=\d+\s+compile .*",
        r"function\s+dtype\s+kiln Gelem/s\s+numpy Gelem/s\s+speedup",
        r"exp\s+f32\s+[\d.]+\s+[\d.]+\s+[\d.]+x",
        r"random_normal\s+f64\s+[\d.]+\s+[\d.]+\s+[\d.]+x",
    ],
    # on a host with one usable thread the script says so and stops: nothing to compare
    "bench_threads.py": [
        r"# load average before: .*; team of \d+; .*|only 1 thread available here.*",
    ] + ([
        r"\| training step \| machine \| 1 thread \| \d+ threads, fixed \| \d+ threads, "
        r"adaptive \| adaptive vs best \| adaptive team at end \|",
        r"\| mlp \| as is \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| \d+ \|",
        r"\| mlp \| \+1 busy process \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| \d+ \|",
    ] if Threading.host().num_threads > 1 else []),
}


def code_lines(text: str) -> list[str]:
    """The lines of the markdown's code blocks: fenced (```) and indented (4 spaces, after a
    blank line or another indented line)."""
    out: list[str] = []
    fenced = False
    previous_blank_or_code = True
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            previous_blank_or_code = False
            continue
        if fenced:
            out.append(line)
            continue
        indented = line.startswith("    ") and line.strip()
        if indented and previous_blank_or_code:
            out.append(line)
        previous_blank_or_code = not line.strip() or bool(indented and previous_blank_or_code)
    return out


def bench_commands(text: str) -> list[str]:
    """``python benchmarks/...`` commands of the code blocks, without prompts and comments."""
    commands = []
    for line in code_lines(text):
        line = line.strip().removeprefix("$ ")
        if line.startswith("python benchmarks/"):
            commands.append(line.split(" #", 1)[0].strip())
    return commands


def generator_commands(text: str) -> list[str]:
    """Every ``python benchmarks/X.py ... --update-readme`` in the README, code or prose."""
    return re.findall(r"python benchmarks/\S+\.py[^`\n]*--update-readme", text)


def _runnable() -> list[str]:
    return [c for c in bench_commands(README.read_text()) if "--update-readme" not in c]


def test_readme_parses_into_benchmark_commands():
    text = README.read_text()
    commands = bench_commands(text)
    assert commands, "no python benchmarks/... command in the README's code blocks"
    # the parser reads both kinds of block (the README's benchmark commands are indented)
    assert bench_commands("x\n\n    python benchmarks/a.py --n 1   # note\n") == \
        ["python benchmarks/a.py --n 1"]
    assert bench_commands("```console\n$ python benchmarks/b.py\n```\n") == \
        ["python benchmarks/b.py"]
    assert bench_commands("text\n    python benchmarks/c.py\n") == []   # a continuation line
    for c in commands:
        script = shlex.split(c)[1]
        assert (ROOT / script).is_file(), f"README names {script}, which does not exist"


def test_update_readme_generators_are_tested_elsewhere():
    tests = [p for p in (ROOT / "tests").rglob("test_*.py") if p.resolve() != Path(__file__)]
    sources = "\n".join(p.read_text() for p in tests)
    for command in generator_commands(README.read_text()):
        script = Path(shlex.split(command)[1]).name
        assert f'"{script}"' in sources, f"no test runs {script} (README: {command})"


@pytest.mark.parametrize("command", _runnable())
def test_readme_bench_command_smoke(command):
    argv = shlex.split(command)
    script = Path(argv[1]).name
    assert script in HEADERS, f"{command}: add the table lines {script} prints to HEADERS"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]]
                                                       if env.get("PYTHONPATH") else []))
    proc = subprocess.run([sys.executable, *argv[1:], "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    for pattern in HEADERS[script]:
        assert any(re.fullmatch(pattern, line) for line in lines), \
            f"{command} --smoke: no output line like {pattern!r}; got:\n{proc.stdout}"
    assert "WRONG" not in proc.stdout
