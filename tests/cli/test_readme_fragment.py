"""The README is true about the kiln command: every command in it (the quick-start tour and
the section on the command) runs, in order, in a scratch directory, and prints what the
README shows.

In ```console blocks a line starting with ``$ `` is a command and the lines up to the next
command are an excerpt of its output (stdout and stderr): each excerpt line must match a
whole line of the real output, where numbers may differ (times, losses: any number matches
any number) and ``...`` stands for anything (a whole line of it is skipped). A command must
fail exactly when its excerpt shows an ``error:`` line. A ```python block whose first line
is ``# NAME.py`` is written to that file first. Lines indented as ``    kiln ...`` outside
blocks are commands too (without an excerpt).
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

from conftest import ROOT, kiln_env

FRAGMENT = os.path.join(ROOT, "README.md")
NUMBER = r"[-+]?(?:\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|inf)"


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, list[str]]]]:
    """(files to write, [(command, excerpt lines)]) in fragment order."""
    files: dict[str, str] = {}
    steps: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip()
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            body = lines[i + 1:j]
            if lang == "console":
                for b in body:
                    if b.startswith("$ "):
                        steps.append((b[2:], []))
                    else:
                        steps[-1][1].append(b)
            elif lang == "python" and body and re.fullmatch(r"# [\w.]+\.py", body[0]):
                files[body[0][2:]] = "\n".join(body) + "\n"
            i = j + 1
            continue
        if line.startswith("    kiln "):
            steps.append((line.strip(), []))
        i += 1
    return files, steps


def line_pattern(excerpt: str) -> re.Pattern:
    parts = []
    for piece in excerpt.split("..."):
        tokens = re.split(f"({NUMBER})", piece)
        parts.append("".join(NUMBER if k % 2 else re.escape(t) for k, t in enumerate(tokens)))
    return re.compile(".*".join(parts))


def shims(bin_dir) -> None:
    """``kiln`` and ``python`` on PATH, both this interpreter (the console script may not be
    installed where the tests run)."""
    bin_dir.mkdir()
    for name, cmd in (("kiln", f'"{sys.executable}" -m frontend.cli'),
                      ("python", f'"{sys.executable}"')):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nexec {cmd} "$@"\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_fragment_parses():
    files, steps = parse(open(FRAGMENT).read())
    commands = [c.split()[:2] for c, _ in steps]
    for sub in ("train", "predict", "compile", "ir", "bench"):
        assert ["kiln", sub] in commands, sub
    assert "my_model.py" in files


def test_fragment_commands_run_and_print_what_it_shows(tmp_path):
    files, steps = parse(open(FRAGMENT).read())
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(os.path.join(ROOT, "examples"), work / "examples")
    for name, text in files.items():
        (work / name).write_text(text)
    shims(tmp_path / "bin")
    env = kiln_env()
    env["PATH"] = str(tmp_path / "bin") + os.pathsep + env["PATH"]
    for command, excerpt in steps:
        proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)
        output = (proc.stdout + proc.stderr).splitlines()
        should_fail = any("error:" in e for e in excerpt)
        assert (proc.returncode != 0) == should_fail, (command, proc.returncode, proc.stderr)
        for e in excerpt:
            if e.strip() == "...":
                continue
            pattern = line_pattern(e)
            assert any(pattern.fullmatch(o) for o in output), \
                f"{command!r}: no output line like {e!r}; got:\n" + "\n".join(output)
