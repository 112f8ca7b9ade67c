"""runtime.check: KILN_CHECK=kernels compares every kernel's output with the eager interpreter
and names the first one that disagrees; KILN_CHECK=nan names the op where a NaN first appears.

A wrong kernel is simulated by changing the eager reference of one op (dataclasses.replace of
its OpDef in the registry) before the program is built: compiled and eager then disagree at
exactly that op, as they would if its kernel were wrong."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.ops import registry
from compiler.passes.autodiff import gradients
from compiler.pipeline import CompileOptions
from runtime.check import CheckFailure, mismatch
from runtime.program import Program

RNG = np.random.default_rng(7)
X = RNG.normal(size=(16, 12)).astype(np.float32)
Y = RNG.integers(0, 5, size=16).astype(np.int64)
W1 = (RNG.normal(size=(12, 20)) * 0.3).astype(np.float32)
W2 = (RNG.normal(size=(20, 5)) * 0.3).astype(np.float32)


def _train_step():
    """Two dense layers (relu), softmax cross-entropy, SGD: matmuls with epilogues, a
    reduction, a softmax, gradients and in-place updates."""
    b = GraphBuilder(name="checked_mlp")
    x, y = b.input("x", (16, 12)), b.input("y", (16,), "i64")
    w1, w2 = b.param("w1", (12, 20)), b.param("w2", (20, 5))
    h = b.relu(b.matmul(x, w1))
    logits = b.matmul(h, w2)
    loss = b.mean(b.neg(b.sum(b.mul(b.one_hot(y, depth=5), b.log_softmax(logits, axis=1)),
                              axes=(1,))))
    g1, g2 = gradients(b.graph, loss, [w1, w2])
    b.output(loss, b.sub(w1, b.mul(g1, 0.1)), b.sub(w2, b.mul(g2, 0.1)))
    return b.graph


def _program(check):
    return Program(_train_step(), state={"w1": W1.copy(), "w2": W2.copy()},
                   updates={1: "w1", 2: "w2"}, backend="llvm",
                   compile_options=CompileOptions(check=check, cache=False))


def test_a_correct_program_passes_every_call_and_computes_what_unchecked_code_does():
    checked, plain = _program("kernels"), _program(None)
    for _ in range(3):
        np.testing.assert_array_equal(checked([X, Y])[0], plain([X, Y])[0])
    for name in ("w1", "w2"):
        np.testing.assert_array_equal(checked.state[name], plain.state[name])
    # every temp keeps bytes of its own, so it still holds its kernel's result after the call
    memory = checked.compiled.memory
    assert memory.arena_bytes == memory.naive_bytes
    assert plain.compiled.memory.arena_bytes < memory.arena_bytes


@pytest.fixture
def wrong(monkeypatch):
    """Make the eager reference of ``op`` differ from its kernels."""
    def patch(op: str, fn):
        old = registry.get_op(op)
        monkeypatch.setitem(registry._REGISTRY, op, dataclasses.replace(old, impl=fn))
    return patch


def test_the_first_kernel_that_disagrees_is_named(wrong):
    # relu's reference now leaks negatives: the kernel computing relu (the first matmul with
    # its relu epilogue) disagrees first; everything after it disagrees too, but is not blamed
    wrong("relu", lambda ins, attrs, ctx: np.where(ins[0] > 0, ins[0], 0.5 * ins[0]))
    p = _program("kernels")
    with pytest.raises(CheckFailure) as e:
        p([X, Y])
    msg = str(e.value)
    assert msg.startswith("program @checked_mlp: kernel k0_relu (matmul, relu; built at "
                          "test_check.py:")
    assert "disagrees with the eager interpreter at %relu = relu" in msg
    assert "elements differ; first at [" in msg


def test_a_wrong_program_output_is_reported(wrong):
    # the loss (a program result) is computed by a reduction kernel writing the output itself
    reference = registry.get_op("mean").impl
    wrong("mean", lambda ins, attrs, ctx: reference(ins, attrs, ctx) + 1)
    with pytest.raises(CheckFailure, match=r"@checked_mlp: output 0 \(%\S+, written by kernel "
                                           r"k\d+_\S+ .*\) is wrong: 1 of 1 elements differ"):
        _program("kernels")([X, Y])


def _log_program(check):
    b = GraphBuilder(name="logs")
    x = b.input("x", (4, 6))
    w = b.param("w", (4, 6))
    b.output(b.sum(b.log(b.mul(x, 2.0)), axes=(1,)), b.add(w, b.exp(x)))
    return Program(b.graph, state={"w": np.zeros((4, 6), np.float32)}, updates={1: "w"},
                   backend="llvm", compile_options=CompileOptions(check=check, cache=False))


def test_nan_check_names_the_op_where_it_first_appears():
    x = np.ones((4, 6), np.float32)
    p = _log_program("nan")
    p([x])                           # finite: nothing to report
    x[2, 3] = -1.0                   # log of a negative number
    with pytest.raises(CheckFailure, match=r"@logs: the first NaN/Inf appears at \S+ = log.*"
                                           r"1 of 24 elements.*computed in kernel k\d+_\S+ "
                                           r"\(fused there\)"):
        p([x])
    x = np.ones((4, 6), np.float32)
    x[0, 0] = np.nan
    with pytest.raises(CheckFailure, match=r"@logs: input %x already holds 1 NaN/Inf"):
        p([x])


def test_nan_check_blames_compiled_code_when_the_interpreter_stays_finite(wrong):
    wrong("log", lambda ins, attrs, ctx: np.zeros_like(ins[0]))
    x = np.ones((4, 6), np.float32)
    x[1, 1] = -2.0
    with pytest.raises(CheckFailure, match="interpreter computes finite values.*KILN_CHECK="
                                           "kernels"):
        _log_program("nan")([x])


def test_check_option_and_environment_are_validated(monkeypatch):
    with pytest.raises(ValueError, match=r"check must be one of None, 'kernels', 'nan', got 'on'"):
        CompileOptions(check="on")
    monkeypatch.setenv("KILN_CHECK", "Kernels")
    assert CompileOptions.from_env().check == "kernels"
    monkeypatch.setenv("KILN_CHECK", "yes")
    with pytest.raises(ValueError, match="KILN_CHECK must be 'kernels' or 'nan'.*'yes'"):
        CompileOptions.from_env()


def test_mismatch_tolerance_scales_with_the_value_and_dtype():
    want = np.array([1000.0, 1e-3, -5.0], np.float32)
    assert mismatch(want * (1 + 1e-5), want, "f32") is None
    assert mismatch(want + np.float32(0.01), want, "f32") is None   # 1e-5 of the largest
    assert "1 of 3 elements differ; first at [1]" in mismatch(
        want + np.array([0, 1.0, 0], np.float32), want, "f32")
    assert mismatch(want.astype(np.float64) * (1 + 1e-7), want.astype(np.float64), "f64")
    assert mismatch(np.array([np.nan]), np.array([np.nan]), "f64") is None
    assert mismatch(np.array([1, 2]), np.array([1, 3]), "i64").startswith("1 of 2")
    # a difference of values near 1 is only as exact as their ulp: judged against them
    p = np.array([1 - 1.2e-7, 0.5], np.float32)
    small = np.array([1.7e-7, 1e-8], np.float32)
    assert mismatch(small, small * 0.98, "f32") is not None
    assert mismatch(small, small * 0.98, "f32", operands=[p]) is None
