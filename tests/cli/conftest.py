"""Helpers for the kiln command's tests: run ``kiln`` in a subprocess, check its errors.

Each test runs the real command (``python -m frontend.cli``: the console script may not be
on PATH) with the checkout first on PYTHONPATH. The compile cache is whatever
``KILN_CACHE_DIR`` says (or kiln's default), shared by every subprocess, so only the first
compile of each program is cold.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "cli", "data")
TINY_TOML = os.path.join(DATA, "tiny.toml")
TINY_PY = os.path.join(DATA, "tiny_mlp.py")


def kiln_env(extra_path: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = ([extra_path] if extra_path else []) + [ROOT]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("KILN_DUMP", None)   # a developer's dump settings must not leak into the runs
    env.pop("KILN_DUMP_DIR", None)
    return env


def run_kiln(*args: str, cwd: str | os.PathLike, extra_path: str | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """``kiln ARGS`` in ``cwd``; returns the finished process (text stdout and stderr)."""
    return subprocess.run([sys.executable, "-m", "frontend.cli", *map(str, args)], cwd=cwd,
                          env=kiln_env(extra_path), capture_output=True, text=True,
                          timeout=timeout)


def assert_error(proc: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    """The run failed with ``status`` and exactly one line on stderr naming every needle."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A scratch directory per test module (runs write their outputs here)."""
    return tmp_path_factory.mktemp("kiln_cli")
