"""The ``kiln`` console script is declared, and ``kiln --help`` lists every subcommand."""
from __future__ import annotations

import os
import tomllib
from importlib import metadata

from conftest import ROOT, run_kiln


def test_console_script_is_declared():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["scripts"]["kiln"] == "frontend.cli.main:main"
    assert any(d.startswith("matplotlib") for d in project["optional-dependencies"]["plot"])


def test_installed_entry_point_matches():
    # the README's quick start (and CI) install the checkout: pip install -e ".[test,...]"
    try:
        dist = metadata.distribution("kiln")
    except metadata.PackageNotFoundError:
        raise AssertionError("kiln is not installed; run pip install -e .") from None
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("kiln") == "frontend.cli.main:main", \
        f"console script kiln: {scripts.get('kiln')!r}; pip install -e . again"


def test_help_lists_the_subcommands(tmp_path):
    proc = run_kiln("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for sub in ("train", "predict", "compile", "ir", "bench"):
        assert f"    {sub} " in proc.stdout, sub
    assert "EXECUTED" in proc.stdout            # Python model files run as code: said plainly
