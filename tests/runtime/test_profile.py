"""Per-kernel run-time profiles: counts from the generated entry function, converted to
times, and the KILN_DEBUG=2 report at process exit."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from compiler import GraphBuilder
from compiler.pipeline import CompileOptions
from runtime.profile import format_profile
from runtime.program import Program


def _program(profile: bool) -> Program:
    b = GraphBuilder(name="mlp")
    x = b.input("x", (64, 256))
    w = b.param("w", (256, 128))
    h = b.relu(b.matmul(x, w))
    b.output(b.sum(b.exp(b.neg(h)), axes=(1,)))
    return Program(b.graph, state={"w": np.full((256, 128), 0.01, np.float32)}, backend="llvm",
                   compile_options=CompileOptions(profile=profile, cache=False))


def test_profile_counts_every_kernel_call_and_gives_consistent_rates():
    p = _program(profile=True)
    x = np.ones((64, 256), np.float32)
    want = p([x])[0]
    p.reset_profile()
    for _ in range(3):
        np.testing.assert_array_equal(p([x])[0], want)   # profiling does not change results
    recs = p.profile()
    assert [r.kernel for r in recs] == [k.name for k in p.compiled.kernels.kernels]
    assert all(r.calls == 3 for r in recs) and all(r.seconds > 0 for r in recs)
    gemm = next(r for r in recs if r.family == "contraction")
    assert gemm.flops == 2 * 64 * 256 * 128
    assert gemm.gflop_per_s == gemm.flops * 3 / gemm.seconds / 1e9
    assert gemm.bytes >= (64 * 256 + 256 * 128 + 64 * 128) * 4 - 64 * 128 * 4
    table = format_profile("mlp", recs)
    assert "profile of @mlp: 3 call(s)" in table and gemm.kernel in table
    p.reset_profile()
    assert all(r.calls == 0 for r in p.profile())


def test_unprofiled_and_eager_programs_have_no_profile():
    assert _program(profile=False).profile() is None
    b = GraphBuilder(name="g")
    b.output(b.exp(b.input("x", (3,))))
    assert Program(b.graph, backend="eager").profile() is None


def test_kiln_debug_2_prints_the_profile_at_exit(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from compiler import GraphBuilder
        from runtime.program import Program
        b = GraphBuilder(name="tiny")
        b.output(b.tanh(b.input("x", (1000,))))
        p = Program(b.graph, backend="llvm")
        for _ in range(4):
            p([np.zeros(1000, np.float32)])
    """)
    env = dict(os.environ, KILN_DEBUG="2", KILN_CACHE_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "kiln: compiled @tiny" in res.stderr          # KILN_DEBUG >= 1: the compile report
    assert "profile of @tiny: 4 call(s)" in res.stderr   # KILN_DEBUG = 2: the run-time profile
