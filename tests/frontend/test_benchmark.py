"""The benchmark library (frontend.benchmark): records, agreement checks, the torch twin.

Smoke sizes only (repeats=2); no assertion is made on any time. torch is an extra that CI
installs: its tests skip only when torch is not installed at all, never on an import error.
"""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from frontend.bench import runner, torch_mirror
from frontend.bench.suite import SUITE_NAMES
from frontend.benchmark import BenchMismatch, BenchRecord, bench_model, format_table
from frontend.keras import layers, models
from runtime.program import Program

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
FAST = dict(repeats=2, warmup=1)


def tiny_mlp():
    m = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                           layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def tiny_data(n=6):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


@pytest.fixture(scope="module")
def records():
    x, y = tiny_data()
    return bench_model(tiny_mlp, x, y, name="tiny", batch=4, **FAST)


def test_records_fields(records):
    assert [r.program for r in records] == ["train_step", "predict"]
    for r in records:
        assert (r.model, r.batch, r.repeats) == ("tiny", 4, 2)
        assert r.compiled_ms > 0 and r.eager_ms > 0
        assert (r.torch_ms is not None) == HAS_TORCH
        assert r.kernels >= 1 and r.peak_arena_bytes >= 0 and r.eager_peak_bytes > 0
        assert r.compile_s_cold > 0 and r.compile_s_cached > 0
        assert r.eager_speedup == pytest.approx(r.eager_ms / r.compiled_ms)
        assert "compiled vs eager max rel diff" in r.loss_check
        assert r.kernel_profile is None        # only with profile=True


def test_json_round_trip_and_table(records):
    for r in records:
        d = json.loads(json.dumps(r.to_json()))
        assert d["eager_speedup"] == pytest.approx(r.eager_speedup)
        assert BenchRecord.from_json(d) == r
    table = format_table(records).splitlines()
    assert table[0].startswith("| model | program | batch | compiled ms")
    assert len(table) == 2 + len(records) and table[2].startswith("| tiny | train_step | 4 |")


def test_kernel_profile():
    x, y = tiny_data()
    (r,) = bench_model(tiny_mlp, x, y, name="t", batch=4, backends=("llvm",),
                       programs=("predict",), profile=True, **FAST)
    assert r.eager_ms is None and r.torch_ms is None
    assert len(r.kernel_profile) == r.kernels
    assert all(k["calls"] == r.repeats and k["ms_per_call"] >= 0 for k in r.kernel_profile)
    json.dumps(r.to_json())


def test_model_is_left_untouched():
    m = tiny_mlp()
    x, y = tiny_data()
    m.train_on_batch(x[:4], y[:4])   # built, with a program of its own
    before = m.get_weights()
    programs = dict(m._programs)
    bench_model(m, x, y, name="t", batch=4, backends=("llvm", "eager"),
                programs=("train_step",), **FAST)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    assert m._programs == programs


def test_eager_peak_ignores_the_rest_of_a_big_data_set():
    # The timed batch is the first rows of the data; as a slice it is a view of the whole
    # array, which the eager memory tracker must not count (kiln bench on MNIST's 60,000
    # images reported a 190 MB eager peak for a 32-image step).
    rng = np.random.default_rng(0)
    big_x = rng.standard_normal((20000, 4)).astype(np.float32)   # 320 KB
    big_y = rng.integers(0, 3, 20000)
    opts = dict(backends=("llvm", "eager"), **FAST)
    on_slice = bench_model(tiny_mlp, big_x, big_y, name="t", batch=4, **opts)
    on_copy = bench_model(tiny_mlp, big_x[:4].copy(), big_y[:4].copy(), name="t", batch=4,
                          **opts)
    for a, b in zip(on_slice, on_copy):
        assert a.eager_peak_bytes == b.eager_peak_bytes, a.program
        assert a.eager_peak_bytes < big_x.nbytes

def test_eager_mismatch_raises(monkeypatch):
    real = runner.copy_state

    def perturbed(state, backend):
        out = real(state, backend)
        if backend == "eager":
            k = next(n for n in out if n.endswith("kernel"))
            out[k] += 0.5
        return out

    monkeypatch.setattr(runner, "copy_state", perturbed)
    x, y = tiny_data()
    with pytest.raises(BenchMismatch, match="compiled and eager losses disagree"):
        bench_model(tiny_mlp, x, y, name="t", batch=4, backends=("llvm", "eager"),
                    programs=("train_step",), **FAST)


def test_backend_arguments_checked():
    x, y = tiny_data()
    with pytest.raises(ValueError, match="must include 'llvm'"):
        bench_model(tiny_mlp, x, y, name="t", batch=4, backends=("eager",))
    with pytest.raises(ValueError, match="unknown program"):
        bench_model(tiny_mlp, x, y, name="t", batch=4, programs=("evaluate",))


def test_program_compiled_accessor():
    m = tiny_mlp()
    x, y = tiny_data()
    graph, state, updates = runner._step_parts(m, "predict", [x[:4]], [])
    assert Program(graph, dict(state), updates, backend="eager").compiled is None
    cp = Program(graph, {k: v.copy() for k, v in state.items()}, updates,
                 backend="llvm").compiled
    assert len(cp.kernels.kernels) >= 1


def test_suite_names():
    assert SUITE_NAMES == ("mlp", "mnist_cnn", "cnn_keras", "linear_regression",
                           "rnn_keras_subclass", "text_lstm")


@needs_torch
def test_torch_mismatch_raises(monkeypatch):
    real = torch_mirror.to_torch

    def perturbed(layer):
        sd = real(layer)
        sd["weight"] = sd["weight"] + 0.5
        return sd

    monkeypatch.setattr(torch_mirror, "to_torch", perturbed)
    x, y = tiny_data()
    with pytest.raises(BenchMismatch, match="compiled and torch losses disagree"):
        bench_model(tiny_mlp, x, y, name="t", batch=4, backends=("llvm", "torch"),
                    programs=("train_step",), **FAST)


@needs_torch
def test_torch_conv_flatten_permutation():
    # A Dense after Flatten of conv activations: the mirror permutes its kernel rows from
    # NHWC to NCHW order; a wrong permutation fails the loss check.
    m = models.Sequential([layers.Conv2D(3, 3, activation="relu", input_shape=(7, 7, 2)),
                           layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dense(4, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 7, 7, 2)).astype(np.float32), rng.integers(0, 4, 3)
    (r,) = bench_model(m, x, y, name="conv", batch=3, backends=("llvm", "torch"),
                       programs=("train_step",), **FAST)
    assert r.torch_ms is not None and "torch" in r.loss_check


@needs_torch
def test_torch_embedding_gru_rmsprop():
    m = models.Sequential([layers.Embedding(11, 4, input_length=5), layers.GRU(3),
                           layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="rmsprop", loss="binary_crossentropy")
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 11, (4, 5)).astype(np.int32), rng.integers(0, 2, (4, 1))
    (r,) = bench_model(m, x, y, name="gru", batch=4, backends=("llvm", "torch"),
                       programs=("train_step",), **FAST)
    assert r.torch_ms is not None and "torch" in r.loss_check


@needs_torch
def test_torch_dropout_is_not_compared():
    m = models.Sequential([layers.Dense(5, activation="relu", input_shape=(4,)),
                           layers.Dropout(0.5), layers.Dense(3)])
    m.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(3).standard_normal((4, 4)).astype(np.float32)
    (r,) = bench_model(m, x, x[:, :3], name="drop", batch=4, backends=("llvm", "torch"),
                       programs=("train_step",), **FAST)
    assert "Dropout" in r.loss_check and r.torch_ms is not None


def test_unsupported_torch_mapping_is_reported():
    m = models.Sequential([layers.Dense(3, input_shape=(4,), kernel_regularizer="l2")])
    m.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(4).standard_normal((4, 4)).astype(np.float32)
    (r,) = bench_model(m, x, None, name="reg", batch=4, programs=("predict",), **FAST)
    assert r.torch_ms is None
    assert ("regularizers" in r.loss_check) if HAS_TORCH else ("not installed" in r.loss_check)
