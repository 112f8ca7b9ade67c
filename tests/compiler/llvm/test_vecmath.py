"""kiln's vector math (compiler/llvm/vecmath.py): compiled loops against numpy, libm, mpmath.

One module holds a map kernel per (function, dtype) (vector main loop at the host's lane
count, scalar tail) and is compiled once for the session; a second one is compiled with the
other FMA mode. Each function is swept over ~1e6 points of its domain and edge regions:

* f32 results are compared with the function evaluated in float64 (numpy, math.erf), so the
  error measured is the true error;
* f64 results are compared with numpy / libm (what kiln's eager interpreter computes; their
  own error, <= 1 ulp, is included) and, when mpmath is importable, with 40-digit values on
  a subsample (true error).

Run this file as a script (``PYTHONPATH=. python tests/compiler/llvm/test_vecmath.py``) to print
the measured table that vecmath's docstring quotes.
"""
from __future__ import annotations

import ctypes
import math
import re

import llvmlite.ir as ir
import numpy as np
import pytest

from compiler.llvm.jit import compile_ir
from compiler.llvm.target import host_target
from compiler.llvm.vecmath import (ACCURACY_ULP, FUNCTIONS, SINCOS_FAST_MAX, VecMath,
                                   define_map_kernel)

ALL = FUNCTIONS + ("pow",)
DTYPES = ("f32", "f64")
NP = {"f32": np.float32, "f64": np.float64}
EPS = {"f32": 2.0 ** -23, "f64": 2.0 ** -52}
N = 1_000_000


def lanes_for(dtype: str) -> int:
    return host_target().vector_lanes(4 if dtype == "f32" else 8)


class Kernels:
    """All map kernels of one compiled module, callable on numpy arrays."""

    def __init__(self, fma: bool | None):
        mod = ir.Module(name=f"vecmath_test_fma{fma}")
        self.vm = VecMath(mod, fma=fma)
        for dt in DTYPES:
            for fn in ALL:
                define_map_kernel(self.vm, f"map_{fn}_{dt}", fn, dt, lanes_for(dt))
        self.module = compile_ir(mod, name=mod.name)

    def __call__(self, fn: str, dtype: str, *xs: np.ndarray) -> np.ndarray:
        xs = [np.ascontiguousarray(x, dtype=NP[dtype]) for x in xs]
        out = np.full_like(xs[0], np.nan)
        cfn = self.module.ctypes_function(f"map_{fn}_{dtype}", None,
                                          [ctypes.c_void_p] * (len(xs) + 1) + [ctypes.c_int64])
        cfn(*[x.ctypes.data for x in xs], out.ctypes.data, out.size)
        return out


@pytest.fixture(scope="module")
def kernels() -> Kernels:
    return Kernels(fma=None)


@pytest.fixture(scope="module")
def kernels_other_fma() -> Kernels:
    return Kernels(fma=not host_target().has_feature("fma"))


# -- references and domains ---------------------------------------------------------------
def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_erf = np.frompyfunc(math.erf, 1, 1)

REFERENCE = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
    "sigmoid": _sigmoid, "softplus": lambda x: np.logaddexp(0.0, x),
    "erf": lambda x: _erf(x).astype(np.float64), "sin": np.sin, "cos": np.cos,
}


def reference(fn: str, *xs: np.ndarray) -> np.ndarray:
    """The function in float64 (numpy; math.erf for erf, whose eager form is less exact)."""
    with np.errstate(all="ignore"):
        xs64 = [np.asarray(x, np.float64) for x in xs]
        if fn == "pow":
            return np.power(*xs64)
        return np.asarray(REFERENCE[fn](xs64[0]), np.float64)


def sweep(fn: str, dtype: str, n: int = N, seed: int = 0) -> np.ndarray:
    """About n deterministic points covering fn's domain, its edges and tiny arguments."""
    rng = np.random.default_rng(seed)
    f32 = dtype == "f32"
    big = 1e30 if f32 else 1e300

    def uni(a, b, frac):
        return rng.uniform(a, b, int(n * frac))

    def logs(a, b, frac, sign=1.0):
        return sign * np.exp(rng.uniform(math.log(a), math.log(b), int(n * frac)))

    tiny = [logs(1e-30, 1.0, 1 / 8), logs(1e-30, 1.0, 1 / 8, -1.0)]
    if fn == "exp":
        lo, hi = (-104.0, 89.0) if f32 else (-746.0, 710.0)
        parts = [uni(lo, hi, 1 / 2), uni(-2, 2, 1 / 8), uni(hi - 2, hi, 1 / 16),
                 uni(lo, lo + 18, 1 / 16)] + tiny
    elif fn == "expm1":
        parts = [uni(-40, 89 if f32 else 710, 1 / 2), uni(-1, 1, 1 / 4)] + tiny
    elif fn == "log":
        top = 0x7F800000 if f32 else 0x7FF0000000000000
        bits = rng.integers(1, top, n // 2, dtype=np.int64)
        allf = bits.astype(np.uint32).view(np.float32) if f32 else bits.view(np.float64)
        parts = [allf.astype(np.float64), uni(0.5, 2, 1 / 4), uni(1 - 1e-3, 1 + 1e-3, 1 / 4)]
    elif fn == "log1p":
        parts = [uni(-1, 1, 1 / 4), logs(1.0, big, 1 / 8),
                 -1 + logs(1e-7 if f32 else 1e-15, 1e-2, 1 / 8)] + tiny
    elif fn in ("tanh", "erf"):
        parts = [uni(-7, 7, 1 / 2), uni(0.5, 1.1, 1 / 8)] + [t * 20 for t in tiny]
    elif fn in ("sigmoid", "softplus"):
        r = 110.0 if f32 else 750.0
        parts = [uni(-r, r, 1 / 4), uni(-20, 20, 1 / 4), logs(1e-30, r, 1 / 4),
                 logs(1e-30, r, 1 / 4, -1.0)]
    elif fn in ("sin", "cos"):
        parts = [uni(-10, 10, 1 / 4), uni(0, 2 * math.pi, 1 / 4), logs(1e-30, 2 ** 20, 1 / 4),
                 logs(1e-3, 2 ** 20, 1 / 4, -1.0)]
    else:
        raise ValueError(fn)
    return np.concatenate(parts).astype(NP[dtype])


def pow_sweeps(dtype: str, n: int = N // 4, seed: int = 1):
    """(name, x, y) sets: whole range with |y log x| bounded, x near 1 with large |y|,
    moderate exponents, negative bases with integer exponents, results near overflow."""
    rng = np.random.default_rng(seed)
    lmax = 88.0 if dtype == "f32" else 709.0
    lx = rng.uniform(-lmax, lmax, n)
    y = rng.uniform(-1, 1, n) * lmax / np.maximum(np.abs(lx), 1e-3)
    y = np.where(rng.random(n) < 0.2, np.round(y), y)
    near = np.exp(rng.uniform(-lmax, lmax, n))
    sets = [("wide", np.exp(lx), y),
            ("near 1", 1 + rng.uniform(-0.1, 0.1, n), rng.uniform(-2000, 2000, n)),
            ("moderate", np.exp(rng.uniform(-50, 50, n)), rng.uniform(-3, 3, n)),
            ("negative base", -np.exp(rng.uniform(-5, 5, n)), np.round(rng.uniform(-30, 30, n))),
            ("near overflow", near, rng.uniform(0.9, 1.0, n) * lmax / np.log(near))]
    return [(name, x.astype(NP[dtype]), yy.astype(NP[dtype])) for name, x, yy in sets]


def errors(got: np.ndarray, ref: np.ndarray, dtype: str):
    """(max ulp error, max relative error over normal-range results, the worst index,
    indices where finiteness differs) of got against a float64 reference."""
    npt = NP[dtype]
    with np.errstate(over="ignore"):
        ref_t = ref.astype(npt)  # the reference rounded to the result type
    mismatch = np.flatnonzero(np.isfinite(ref_t) != np.isfinite(got)
                              | (np.isnan(ref_t) != np.isnan(got)))
    ok = np.isfinite(ref_t) & np.isfinite(got)
    g, r = got[ok].astype(np.float64), ref[ok]
    ulps = np.abs(g - r) / np.spacing(np.abs(r.astype(npt))).astype(np.float64)
    normal = np.abs(r) >= np.finfo(npt).tiny
    rel = np.abs(g - r)[normal] / np.abs(r[normal])
    worst = np.flatnonzero(ok)[np.argmax(ulps)] if ulps.size else -1
    return (float(ulps.max()) if ulps.size else 0.0, float(rel.max()) if rel.size else 0.0,
            worst, mismatch)


def check(kern: Kernels, fn: str, dtype: str, xs, label: str = "") -> tuple[float, float]:
    got = kern(fn, dtype, *xs)
    ref = reference(fn, *xs)
    ulp, rel, worst, mismatch = errors(got, ref, dtype)
    where = ", ".join(f"x{i}={xs[i][worst]!r}" for i in range(len(xs)))
    assert mismatch.size == 0, (
        f"{fn} {dtype} {label}: {mismatch.size} results differ in finiteness, e.g. at "
        f"{[x[mismatch[0]] for x in xs]}: got {got[mismatch[0]]!r}, numpy {ref[mismatch[0]]!r}")
    bound = ACCURACY_ULP[fn, dtype]
    assert ulp <= bound, (f"{fn} {dtype} {label}: max error {ulp:.3f} ulp > {bound} at {where}: "
                          f"got {got[worst]!r}, reference {ref[worst]!r}")
    assert rel <= bound * EPS[dtype], f"{fn} {dtype} {label}: relative error {rel:.3g}"
    return ulp, rel


# -- accuracy sweeps ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_accuracy_sweep(kernels, fn, dtype):
    check(kernels, fn, dtype, [sweep(fn, dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_accuracy_sweep(kernels, dtype):
    for name, x, y in pow_sweeps(dtype):
        check(kernels, "pow", dtype, [x, y], name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ALL)
def test_other_fma_mode_is_as_accurate(kernels_other_fma, fn, dtype):
    """fma=False (or True on a host without FMA) is held to the same bounds."""
    if fn == "pow":
        for name, x, y in pow_sweeps(dtype, n=N // 40, seed=2):
            check(kernels_other_fma, fn, dtype, [x, y], name)
    else:
        check(kernels_other_fma, fn, dtype, [sweep(fn, dtype, n=N // 10, seed=3)])


def test_f64_against_mpmath(kernels):
    """True error of the f64 functions on a subsample (numpy's own error excluded)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    exact = {"exp": mp.exp, "expm1": mp.expm1, "log": mp.log, "log1p": mp.log1p,
             "tanh": mp.tanh, "sigmoid": lambda v: 1 / (1 + mp.exp(-v)),
             "softplus": lambda v: mp.log1p(mp.exp(v)), "erf": mp.erf, "sin": mp.sin,
             "cos": mp.cos}
    rng = np.random.default_rng(5)
    failures = []
    for fn in ALL:
        if fn == "pow":
            x, y = pow_sweeps("f64", n=1000, seed=6)[0][1:]
            args, want = [x, y], [mp.power(mp.mpf(float(a)), mp.mpf(float(b)))
                                  for a, b in zip(x, y)]
        else:
            x = rng.choice(sweep(fn, "f64", n=20000, seed=7), 1500, replace=False)
            args, want = [x], [exact[fn](mp.mpf(float(v))) for v in x]
        got = kernels(fn, "f64", *args)
        worst = 0.0
        for g, w in zip(got, want):
            if not (mp.mpf("1e-300") < abs(w) < mp.mpf("1e300")):
                continue
            worst = max(worst, float(abs(mp.mpf(float(g)) - w) / float(np.spacing(float(abs(w))))))
        if worst > ACCURACY_ULP[fn, "f64"]:
            failures.append(f"{fn}: {worst:.3f} ulp")
    assert not failures, failures


# -- special values ---------------------------------------------------------------------------
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 0.3, 1e-30, -1e-30, 1e-45,
           5e-324, -5e-324, math.inf, -math.inf, math.nan, 88.72, 89.0, -87.5, -103.9, -104.0,
           709.7, 710.0, -745.1, -746.0, 1e30, -1e30, 1e300, 3.4e38, 1.5, -1.5, 0.25, 1e6,
           2.0 ** 20, 2.0 ** 20 + 0.5, 1e22, -1e22, 2.0 ** 24 + 2, 2.0 ** 53]


def specials(dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):  # 1e300 is inf in f32, on purpose
        return np.array(SPECIAL, NP[dtype])


def _same(got, want, bound_ulp: float) -> bool:
    if np.isnan(want) or np.isnan(got):
        return bool(np.isnan(want) and np.isnan(got))
    if np.isinf(want) or want == 0 or np.isinf(got) or got == 0:
        return bool(got == want and np.signbit(got) == np.signbit(want))
    return bool(abs(float(got) - float(want)) <= bound_ulp * np.spacing(abs(want)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_special_values_like_numpy(kernels, fn, dtype):
    """NaN, +-inf, signed zeros, overflow, underflow and subnormals as numpy (same dtype)."""
    x = specials(dtype)
    got = kernels(fn, dtype, x)
    with np.errstate(all="ignore"):
        want = reference(fn, x).astype(NP[dtype])
    bad = [(x[i], got[i], want[i]) for i in range(x.size)
           if not _same(got[i], want[i], ACCURACY_ULP[fn, dtype])]
    assert not bad, f"{fn} {dtype}: (x, got, numpy): {bad}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_special_values_like_numpy(kernels, dtype):
    """Every pair of special values: numpy's (C99) rules for 0, inf, NaN, 1 and signs."""
    vals = specials(dtype)
    x, y = (a.ravel() for a in np.meshgrid(vals, vals))
    got = kernels("pow", dtype, x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    bad = [(x[i], y[i], got[i], want[i]) for i in range(x.size)
           if not _same(got[i], want[i], ACCURACY_ULP["pow", dtype])]
    assert not bad, f"pow {dtype}: (x, y, got, numpy): {bad[:20]}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_thresholds(kernels, dtype):
    """The last finite and first infinite exp, the subnormal range and the first zero."""
    npt = NP[dtype]
    fmax, tiny = np.finfo(npt).max, np.finfo(npt).smallest_subnormal
    top = np.log(np.float64(fmax))
    x = np.array([np.nextafter(npt(top), npt(0)), np.nextafter(npt(top), npt(np.inf)),
                  np.log(np.float64(np.finfo(npt).tiny)), np.log(np.float64(tiny)),
                  np.log(np.float64(tiny)) - 0.7], npt)
    got = kernels("exp", dtype, x)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64))
    assert np.isfinite(got[0]) and got[0] > fmax / 2 and np.isinf(got[1])
    for g, w in zip(got[2:4], want[2:4]):
        assert 0 < g and abs(g - w) <= np.spacing(npt(w)) * 1.01  # subnormal, rounded once
    assert got[4] == 0.0


@pytest.mark.parametrize("fn", ["sin", "cos"])
def test_sincos_beyond_fast_range_uses_libm(kernels, fn):
    """|x| > 2**20: those lanes (only those) call libm, so the result is libm's exactly."""
    n = 4 * lanes_for("f64") + 3
    x = np.linspace(-1e8, 1e8, n)
    x[::3] = np.linspace(-3.0, 3.0, x[::3].size)  # fast lanes mixed in
    got = kernels(fn, "f64", x)
    libm = np.array([getattr(math, fn)(v) for v in x])
    far = np.abs(x) > SINCOS_FAST_MAX
    assert far.any() and (~far).any()
    np.testing.assert_array_equal(got[far], libm[far])
    assert np.all(np.abs(got[~far] - libm[~far]) <= 2 * np.spacing(np.abs(libm[~far])))


# -- structure: vectorized, inlined, no libm calls ------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ALL)
def test_vector_lanes_and_scalar_tail_agree_bitwise(kernels, fn, dtype):
    """The same input gives the same bits in the vector loop and in the scalar tail."""
    lanes = lanes_for(dtype)
    if lanes == 1:
        pytest.skip("no vector loop at one lane")
    rng = np.random.default_rng(9)
    vals = rng.choice(sweep("exp" if fn == "pow" else fn, dtype, n=1000), lanes)
    x = np.concatenate([vals, vals[:-1]])  # lanes in the vector loop, lanes - 1 in the tail
    args = [np.abs(x) + 0.5, np.resize(np.array([2.5, -1.5, 3.0], x.dtype), x.size)] \
        if fn == "pow" else [x]
    if fn == "pow":
        args[1] = np.concatenate([args[1][:lanes], args[1][:lanes - 1]])
    got = kernels(fn, dtype, *args)
    np.testing.assert_array_equal(got[:lanes - 1].view(np.uint8), got[lanes:].view(np.uint8))


def test_any_vector_width():
    """Odd widths and wider-than-host vectors work too (LLVM splits or pads them)."""
    mod = ir.Module(name="vecmath_widths")
    vm = VecMath(mod)
    shapes = [("f32", 3), ("f32", 16), ("f64", 5)]
    fns = ("exp", "log1p", "erf", "sin", "pow")
    for dt, lanes in shapes:
        for fn in fns:
            define_map_kernel(vm, f"map_{fn}_{dt}_{lanes}", fn, dt, lanes)
    compiled = compile_ir(mod, name=mod.name)
    x = np.linspace(-0.9, 3.0, 41)
    for dt, lanes in shapes:
        xs = x.astype(NP[dt])
        for fn in fns:
            args = [np.abs(xs) + 0.1, xs] if fn == "pow" else [xs]
            out = np.empty_like(xs)
            cfn = compiled.ctypes_function(f"map_{fn}_{dt}_{lanes}", None,
                                           [ctypes.c_void_p] * (len(args) + 1) + [ctypes.c_int64])
            cfn(*[a.ctypes.data for a in args], out.ctypes.data, out.size)
            ulp, _, _, mismatch = errors(out, reference(fn, *args), dt)
            assert mismatch.size == 0 and ulp <= ACCURACY_ULP[fn, dt], (fn, dt, lanes, ulp)


def test_functions_are_internal_inlined_and_vectorized(kernels):
    host = host_target()
    lanes = lanes_for("f32")
    before, after = kernels.module.ir_before, kernels.module.ir_after
    suffix = f"v{lanes}f32" if lanes > 1 else "f32"
    assert re.search(rf'define internal <{lanes} x float> @"kiln\.exp\.{suffix}"\(.*\) '
                     r'alwaysinline', before) or lanes == 1
    assert 'define internal float @"kiln.exp.f32"' in before
    assert "kiln.exp" not in after  # inlined and deleted
    asm = kernels.module.assembly()
    for fn in ("exp", "log", "tanh", "erf"):
        body = asm[asm.index(f"map_{fn}_f32:"):]
        body = body[:body.index(".Lfunc_end")] if ".Lfunc_end" in body else body
        assert not re.search(r"\bcall\b", body), f"{fn}: the kernel calls out (libm per lane?)"
        if host.arch == "x86_64" and host.has_feature("avx2") and not host.has_feature("avx512f"):
            assert "ymm" in body
            if host.has_feature("fma"):
                assert re.search(r"\bvfn?madd\w*ps\b", body), fn


def test_type_errors():
    mod = ir.Module()
    vm = VecMath(mod)
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ir.IntType(32), ir.FloatType(),
                                                          ir.DoubleType()]), name="f")
    b = ir.IRBuilder(fn.append_basic_block())
    i, f, d = fn.args
    with pytest.raises(TypeError, match="expected float, double"):
        vm.exp(b, i)
    with pytest.raises(TypeError, match="same type"):
        vm.pow(b, f, d)
    with pytest.raises(ValueError, match="no function 'cbrt'"):
        vm.call("cbrt", b, f)
    with pytest.raises(ValueError, match="dtype"):
        define_map_kernel(vm, "k", "exp", "f16", 8)


def test_functions_are_defined_once_per_type():
    mod = ir.Module()
    vm = VecMath(mod)
    v8 = ir.VectorType(ir.FloatType(), 8)
    fn = ir.Function(mod, ir.FunctionType(v8, [v8]), name="f")
    b = ir.IRBuilder(fn.append_basic_block())
    y = vm.sigmoid(b, vm.exp(b, fn.args[0]))
    b.ret(vm.tanh(b, y))
    names = [g.name for g in mod.functions if g.name.startswith("kiln.")]
    assert sorted(names) == ["kiln.exp.v8f32", "kiln.sigmoid.v8f32", "kiln.tanh.v8f32"]
    text = str(mod)
    assert text.count('define internal <8 x float> @"kiln.exp.v8f32"') == 1


# -- the table quoted in vecmath's docstring ------------------------------------------------
def measure_table() -> str:
    """Max ulp / relative error per function and dtype on this machine (script mode)."""
    kern = Kernels(fma=None)
    rows = [f"{'function':9s} {'f32 ulp':>8s} {'f32 rel':>9s} {'f64 ulp':>8s} {'f64 rel':>9s}"]
    for fn in ALL:
        cells = []
        for dt in DTYPES:
            sets = [[sweep(fn, dt)]] if fn != "pow" else [[x, y] for _, x, y in pow_sweeps(dt)]
            ulp = rel = 0.0
            for xs in sets:
                u, r, _, _ = errors(kern(fn, dt, *xs), reference(fn, *xs), dt)
                ulp, rel = max(ulp, u), max(rel, r)
            cells.append(f"{ulp:8.2f} {rel:9.2e}")
        rows.append(f"{fn:9s} " + " ".join(cells))
    return "\n".join(rows)


if __name__ == "__main__":
    print(measure_table())
