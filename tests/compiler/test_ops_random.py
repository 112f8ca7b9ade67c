"""random_uniform, random_normal (Philox4x32-10, counter-based) and the dropout composite.

The bit layout is checked against a scalar Python re-implementation written here from the
module docstring (the spec a code generator follows), and the block function against the
published Random123 known-answer vectors; statistics are checked with generous bounds.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import GraphBuilder, OpError
from compiler.ir.parser import parse
from compiler.ir.printer import print_graph
from compiler.ops import get_op
from compiler.ops.random import dropout, philox4x32

M32 = 0xFFFFFFFF


# -- an independent scalar Philox4x32 (Salmon et al. 2011), plain Python ints ----------------
def ref_philox(ctr, key, rounds=10):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0 = (k0 + 0x9E3779B9) & M32
            k1 = (k1 + 0xBB67AE85) & M32
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
    return c0, c1, c2, c3


def ref_words(block, step, seed):
    step %= 1 << 64
    seed %= 1 << 64
    return ref_philox((block & M32, block >> 32, step & M32, step >> 32), (seed & M32, seed >> 32))


# Random123 kat_vectors: (rounds, counter, key, expected output)
KAT = [
    (10, (0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (10, (M32,) * 4, (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (10, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    (7, (0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
    (7, (M32,) * 4, (M32, M32), (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
    (7, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A)),
]


@pytest.mark.parametrize("rounds,ctr,key,want", KAT)
def test_philox_known_answers(rounds, ctr, key, want):
    got = philox4x32(np.array(ctr, dtype=np.uint32), key, rounds=rounds)
    assert got.dtype == np.uint32
    assert [int(x) for x in got] == list(want)
    assert ref_philox(ctr, key, rounds) == want  # the test's own reference is right too


def test_philox_batched_matches_scalar():
    rng = np.random.default_rng(0)
    ctr = rng.integers(0, 1 << 32, size=(4, 5, 7), dtype=np.uint64)
    key = (0xDEADBEEF, 0x01234567)
    got = philox4x32(ctr, key)
    assert got.shape == (4, 5, 7) and got.dtype == np.uint32
    for i in range(5):
        for j in range(7):
            assert tuple(int(x) for x in got[:, i, j]) == ref_philox(
                tuple(int(x) for x in ctr[:, i, j]), key)


def test_philox_rejects_bad_words():
    with pytest.raises(ValueError):
        philox4x32([0, 0, 0], (0, 0))
    with pytest.raises(ValueError):
        philox4x32([0, 0, 0, 1 << 32], (0, 0))
    with pytest.raises(ValueError):
        philox4x32([0, 0, 0, 0], (0, 1 << 32))


# -- helpers ---------------------------------------------------------------------------------
def run(opname, step, counter_dtype=np.int64, **attrs):
    op = get_op(opname)
    (out,) = op.evaluate([np.array(step, counter_dtype)], op.check_attrs(attrs))
    return out


def uniform(step=5, **attrs):
    return run("random_uniform", step, **attrs)


def normal(step=5, **attrs):
    return run("random_normal", step, **attrs)


# -- bit layout against the documented spec ----------------------------------------------------
# 70001 f32 elements span 17501 blocks (more than one internal chunk, a ragged last block).
SEEDS_STEPS = [(1, 0), (0x1234_5678_9ABC_DEF0, (7 << 32) + 3), (-1, -2)]
F32_INDICES = [0, 1, 2, 3, 4, 5, 65535, 65536, 65537, 65538, 65539, 70000]


@pytest.mark.parametrize("seed,step", SEEDS_STEPS)
def test_uniform_f32_layout(seed, step):
    u = uniform(step, seed=seed, shape=(7, 10001), dtype="f32").reshape(-1)
    assert u.dtype == np.float32
    for e in F32_INDICES:
        w = ref_words(e // 4, step, seed)[e % 4]
        assert u[e] == np.float32((w >> 8) * 2.0 ** -24), e


@pytest.mark.parametrize("seed,step", SEEDS_STEPS)
def test_uniform_f64_layout(seed, step):
    u = uniform(step, seed=seed, shape=(35001,), dtype="f64")
    for e in [0, 1, 2, 3, 32767, 32768, 32769, 35000]:
        w = ref_words(e // 2, step, seed)
        lane = e % 2
        x = w[2 * lane] | (w[2 * lane + 1] << 32)
        assert u[e] == (x >> 11) * 2.0 ** -53, e


@pytest.mark.parametrize("seed,step", SEEDS_STEPS)
def test_normal_layout(seed, step):
    z32 = normal(step, seed=seed, shape=(70001,), dtype="f32")
    z64 = normal(step, seed=seed, shape=(35001,), dtype="f64")
    for e in F32_INDICES:
        w = ref_words(e // 4, step, seed)
        p = (e % 4) // 2
        u1 = 1.0 - w[2 * p] * 2.0 ** -32
        u2 = w[2 * p + 1] * 2.0 ** -32
        trig = math.cos if e % 2 == 0 else math.sin
        n = math.sqrt(-2.0 * math.log(u1)) * trig(2 * math.pi * u2)
        assert z32[e] == pytest.approx(n, rel=1e-6, abs=1e-6), e
    for e in [0, 1, 2, 3, 32768, 32769, 35000]:
        w = ref_words(e // 2, step, seed)
        u1 = 1.0 - ((w[0] | (w[1] << 32)) >> 11) * 2.0 ** -53
        u2 = ((w[2] | (w[3] << 32)) >> 11) * 2.0 ** -53
        trig = math.cos if e % 2 == 0 else math.sin
        n = math.sqrt(-2.0 * math.log(u1)) * trig(2 * math.pi * u2)
        assert z64[e] == pytest.approx(n, rel=1e-13, abs=1e-13), e


def test_layout_is_independent_of_shape():
    """Element e depends on (seed, step, e) only: a prefix of a larger draw."""
    big = uniform(9, seed=3, shape=(4, 1000), dtype="f32").reshape(-1)
    small = uniform(9, seed=3, shape=(7,), dtype="f32")
    np.testing.assert_array_equal(small, big[:7])
    big = normal(9, seed=3, shape=(100, 3), dtype="f64").reshape(-1)
    np.testing.assert_array_equal(normal(9, seed=3, shape=(5,), dtype="f64"), big[:5])


def test_uniform_values_are_on_the_documented_grid():
    u32 = uniform(seed=11, shape=(10000,), dtype="f32").astype(np.float64) * 2 ** 24
    u64 = uniform(seed=11, shape=(10000,), dtype="f64") * 2.0 ** 53
    assert np.all(u32 == np.floor(u32))
    assert np.all(u64 == np.floor(u64))


# -- determinism -----------------------------------------------------------------------------
@pytest.mark.parametrize("opname", ["random_uniform", "random_normal"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_deterministic_and_fresh_per_step_and_seed(opname, dtype):
    a = dict(seed=42, shape=(64, 33), dtype=dtype)
    x = run(opname, 7, **a)
    assert x.shape == (64, 33) and x.dtype == np.dtype(np.float32 if dtype == "f32" else np.float64)
    np.testing.assert_array_equal(x, run(opname, 7, **a))
    assert np.mean(x == run(opname, 8, **a)) < 0.01
    assert np.mean(x == run(opname, 7, **{**a, "seed": 43})) < 0.01
    # The high halves of step and seed matter too.
    assert np.mean(x == run(opname, 7 + (1 << 32), **a)) < 0.01
    assert np.mean(x == run(opname, 7, **{**a, "seed": 42 + (1 << 32)})) < 0.01


def test_counter_i32_and_negative_values():
    a = dict(seed=5, shape=(3, 4), dtype="f32")
    np.testing.assert_array_equal(run("random_uniform", 12, np.int32, **a),
                                  run("random_uniform", 12, np.int64, **a))
    np.testing.assert_array_equal(run("random_uniform", -3, np.int32, **a),
                                  run("random_uniform", -3, np.int64, **a))
    # a negative seed is its two's complement
    np.testing.assert_array_equal(uniform(seed=-1, shape=(9,), dtype="f64"),
                                  uniform(seed=(1 << 64) - 1, shape=(9,), dtype="f64"))


def test_empty_and_scalar_shapes():
    assert uniform(seed=1, shape=(0, 3), dtype="f32").shape == (0, 3)
    s = normal(seed=1, shape=(), dtype="f64")
    assert s.shape == () and np.isfinite(s)


# -- shape/dtype rule and errors ----------------------------------------------------------------
def test_builder_types_and_op_facets():
    b = GraphBuilder()
    c = b.input("step", (), "i64")
    u = b.random_uniform(c, seed=1, shape=(3, 4), dtype="f32")
    n = b.random_normal(c, seed=2, shape=(5,), dtype="f64", mean=1.0, stddev=2.0)
    assert (u.shape, u.dtype) == ((3, 4), "f32")
    assert (n.shape, n.dtype) == ((5,), "f64")
    for name in ("random_uniform", "random_normal"):
        op = get_op(name)
        assert op.family == "random"
        assert op.type_attrs == ("shape", "dtype")
        assert not op.differentiable


def test_ir_text_round_trip():
    b = GraphBuilder()
    c = b.input("step", (), "i64")
    b.output(b.random_uniform(c, seed=(1 << 64) - 1, shape=(2, 3), dtype="f32",
                              minval=-1.0, maxval=3.0),
             b.random_normal(c, seed=-7, shape=(4,), dtype="f64", stddev=0.5))
    text = print_graph(b.graph)
    assert "f32[2,3]" in text and "seed=18446744073709551615" in text
    g = parse(text)
    assert print_graph(g) == text
    n0, n1 = g.nodes[0], g.nodes[1]
    assert n0.attrs["shape"] == (2, 3) and n0.attrs["dtype"] == "f32"
    assert n1.attrs["seed"] == -7 and n1.attrs["stddev"] == 0.5


@pytest.mark.parametrize("counter_type,msg", [
    (((), "f32"), "integer scalar"),
    (((2,), "i64"), "integer scalar"),
    (((), "bool"), "integer scalar"),
])
def test_counter_must_be_integer_scalar(counter_type, msg):
    b = GraphBuilder()
    c = b.input("c", *counter_type)
    with pytest.raises(OpError, match=msg):
        b.random_uniform(c, seed=1, shape=(2,), dtype="f32")
    with pytest.raises(OpError, match=msg):
        b.random_normal(c, seed=1, shape=(2,), dtype="f32")


@pytest.mark.parametrize("attrs,msg", [
    (dict(dtype="i32"), "expected dtype f32 or f64, got i32"),
    (dict(dtype="bool"), "expected dtype f32 or f64, got bool"),
    (dict(minval=1.0, maxval=1.0), "minval < maxval"),
    (dict(minval=2.0, maxval=1.0), "minval < maxval"),
    (dict(minval=1.0, maxval=1.0 + 1e-12), "equal once rounded to f32"),
    (dict(minval=-3e38, maxval=3e38), "overflows f32"),
    (dict(minval=0.0, maxval=math.inf), "finite"),
    (dict(seed=1 << 64), "64-bit seed"),
    (dict(seed=-(1 << 63) - 1), "64-bit seed"),
])
def test_uniform_errors(attrs, msg):
    b = GraphBuilder()
    c = b.input("step", (), "i64")
    full = {"seed": 1, "shape": (2,), "dtype": "f32", **attrs}
    with pytest.raises(OpError, match=msg):
        b.random_uniform(c, **full)


@pytest.mark.parametrize("attrs,msg", [
    (dict(dtype="i64"), "expected dtype f32 or f64, got i64"),
    (dict(stddev=-1.0), "stddev >= 0"),
    (dict(mean=math.nan), "finite"),
])
def test_normal_errors(attrs, msg):
    b = GraphBuilder()
    c = b.input("step", (), "i64")
    with pytest.raises(OpError, match=msg):
        b.random_normal(c, **{"seed": 1, "shape": (2,), "dtype": "f32", **attrs})


def test_seed_is_required():
    b = GraphBuilder()
    c = b.input("step", (), "i64")
    with pytest.raises(OpError, match="seed"):
        b.random_uniform(c, shape=(2,), dtype="f32")


# -- statistics ---------------------------------------------------------------------------------
N = 100_000


def ks_distance(sample, cdf):
    s = np.sort(np.asarray(sample, np.float64))
    f = cdf(s)
    i = np.arange(1, len(s) + 1)
    return max(np.max(i / len(s) - f), np.max(f - (i - 1) / len(s)))


# D > 1.95 / sqrt(n) has probability < 0.1% for a true sample.
KS_BOUND = 1.95 / math.sqrt(N)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (-3.0, 5.0), (100.0, 101.0)])
def test_uniform_statistics(dtype, lo, hi):
    u = uniform(3, seed=2024, shape=(N,), dtype=dtype, minval=lo, maxval=hi)
    assert u.min() >= lo and u.max() < hi
    x = (u.astype(np.float64) - lo) / (hi - lo)
    assert abs(x.mean() - 0.5) < 0.01
    assert abs(x.var() - 1 / 12) < 0.005
    assert ks_distance(x, lambda t: np.clip(t, 0, 1)) < KS_BOUND
    counts = np.bincount(np.minimum((x * 20).astype(int), 19), minlength=20)
    chi2 = float(np.sum((counts - N / 20) ** 2 / (N / 20)))
    assert chi2 < 50  # 19 degrees of freedom: p(chi2 > 50) ~ 1e-4
    # neighbouring elements (same block, adjacent blocks) are uncorrelated
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.02
    assert abs(np.corrcoef(x[:-4], x[4:])[0, 1]) < 0.02


def test_uniform_range_is_half_open_even_at_one_ulp():
    """[1, nextafter(1)) in f32: the only value allowed is 1.0 (rounding must not reach maxval)."""
    hi = float(np.nextafter(np.float32(1.0), np.float32(2.0)))
    u = uniform(seed=8, shape=(10000,), dtype="f32", minval=1.0, maxval=hi)
    assert np.all(u == np.float32(1.0))
    hi64 = float(np.nextafter(1.0, 2.0))
    u = uniform(seed=8, shape=(10000,), dtype="f64", minval=1.0, maxval=hi64)
    assert np.all(u == 1.0)


def _normal_cdf(t):
    return 0.5 * (1.0 + np.frompyfunc(math.erf, 1, 1)(t / math.sqrt(2.0)).astype(np.float64))


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_normal_statistics(dtype):
    z = normal(4, seed=99, shape=(N,), dtype=dtype).astype(np.float64)
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 0.015
    assert abs(z.std() - 1.0) < 0.015
    assert abs(np.mean(np.abs(z) < 1.0) - 0.6827) < 0.01
    assert abs(np.mean(z ** 3)) < 0.05          # skewness 0
    assert abs(np.mean(z ** 4) - 3.0) < 0.1     # kurtosis 3
    assert ks_distance(z, _normal_cdf) < KS_BOUND
    # the cosine and sine halves of one Box-Muller pair are uncorrelated
    assert abs(np.corrcoef(z[0::2], z[1::2])[0, 1]) < 0.02


def test_normal_mean_and_stddev():
    z = normal(1, seed=5, shape=(N,), dtype="f64", mean=3.0, stddev=0.25)
    assert abs(z.mean() - 3.0) < 0.005 and abs(z.std() - 0.25) < 0.005
    std = normal(1, seed=5, shape=(N,), dtype="f64")
    np.testing.assert_allclose(z, 3.0 + 0.25 * std, rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(normal(1, seed=5, shape=(4,), dtype="f32", mean=2.0,
                                         stddev=0.0), np.full(4, 2.0, np.float32))


def test_normal_f32_is_the_f64_computation_rounded():
    """Computed in f64 and cast: f32 normals are the f64 Box-Muller of 32-bit uniforms."""
    z = normal(2, seed=6, shape=(8,), dtype="f32")
    ref = []
    for e in range(8):
        w = ref_words(e // 4, 2, 6)
        p = (e % 4) // 2
        r = math.sqrt(-2.0 * math.log(1.0 - w[2 * p] * 2.0 ** -32))
        t = 2 * math.pi * w[2 * p + 1] * 2.0 ** -32
        ref.append(r * (math.cos(t) if e % 2 == 0 else math.sin(t)))
    np.testing.assert_array_equal(z, np.array(ref).astype(np.float32))


# -- dropout ------------------------------------------------------------------------------------
def _eval_graph(graph, args):
    from runtime.eager import run_graph
    return run_graph(graph, args)


def _dropout_graph(shape, rate, seed=17, dtype="f32"):
    b = GraphBuilder()
    x = b.param("x", shape, dtype)
    c = b.input("step", (), "i64")
    y = dropout(b, x, c, rate, seed=seed)
    b.output(y)
    return b, x, c, y


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_dropout_keeps_and_scales(rate, dtype):
    b, x, c, y = _dropout_graph((200, 500), rate, dtype=dtype)
    npt = np.float32 if dtype == "f32" else np.float64
    xv = np.random.default_rng(1).uniform(0.5, 2.0, size=(200, 500)).astype(npt)
    (yv,) = _eval_graph(b.graph, {"x": xv, "step": np.array(3, np.int64)})
    assert yv.dtype == npt and yv.shape == xv.shape
    kept = yv != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(yv[kept], xv[kept] / (1 - rate), rtol=1e-6)
    # the mean is preserved (inverted dropout)
    assert abs(yv.mean() / xv.mean() - 1) < 0.05
    # another step draws another mask
    (yv2,) = _eval_graph(b.graph, {"x": xv, "step": np.array(4, np.int64)})
    assert np.mean(kept == (yv2 != 0)) < 0.5 + 0.5 * (rate ** 2 + (1 - rate) ** 2)
    (yv3,) = _eval_graph(b.graph, {"x": xv, "step": np.array(3, np.int64)})
    np.testing.assert_array_equal(yv, yv3)


def test_dropout_mask_is_the_uniform_draw():
    b, x, c, y = _dropout_graph((1000,), 0.3, seed=5)
    xv = np.ones(1000, np.float32)
    (yv,) = _eval_graph(b.graph, {"x": xv, "step": np.array(11, np.int64)})
    u = uniform(11, seed=5, shape=(1000,), dtype="f32")
    np.testing.assert_array_equal(yv != 0, u >= np.float32(0.3))


def test_dropout_rate_zero_is_identity():
    b = GraphBuilder()
    x = b.param("x", (3, 4), "f32")
    c = b.input("step", (), "i64")
    n_nodes = len(b.graph.nodes)
    assert dropout(b, x, c, 0.0, seed=1) is x
    assert dropout(b, x, c, 0, seed=1) is x
    assert len(b.graph.nodes) == n_nodes


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, math.nan, math.inf, True, "0.5", None])
def test_dropout_rejects_bad_rates(rate):
    b = GraphBuilder()
    x = b.param("x", (3,), "f32")
    c = b.input("step", (), "i64")
    with pytest.raises(OpError, match="dropout: expected rate"):
        dropout(b, x, c, rate, seed=1)


def test_dropout_rejects_non_float_operand_and_bad_counter():
    b = GraphBuilder()
    xi = b.input("xi", (3,), "i32")
    c = b.input("step", (), "i64")
    with pytest.raises(OpError, match="dropout: expected a float operand"):
        dropout(b, xi, c, 0.5, seed=1)
    x = b.param("x", (3,), "f32")
    cf = b.input("cf", (), "f32")
    with pytest.raises(OpError, match="integer scalar"):
        dropout(b, x, cf, 0.5, seed=1)


def test_dropout_gradient_is_mask_times_scale():
    from compiler.passes.autodiff import gradients
    rate = 0.25
    b, x, c, y = _dropout_graph((50, 40), rate, seed=23)
    w = b.input("w", (50, 40), "f32")
    loss = b.sum(b.mul(y, w))
    (gx,) = gradients(b.graph, loss, [x])
    b.output(gx)
    rng = np.random.default_rng(2)
    xv = rng.normal(size=(50, 40)).astype(np.float32)
    wv = rng.normal(size=(50, 40)).astype(np.float32)
    yv, gv = _eval_graph(b.graph, {"x": xv, "step": np.array(6, np.int64), "w": wv})
    mask = uniform(6, seed=23, shape=(50, 40), dtype="f32") >= np.float32(rate)
    np.testing.assert_allclose(gv, np.where(mask, wv / (1 - rate), 0), rtol=1e-6)
    np.testing.assert_allclose(yv, np.where(mask, xv / (1 - rate), 0), rtol=1e-6)
