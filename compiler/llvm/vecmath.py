"""Vectorized transcendental functions, emitted as LLVM IR (no libm call per lane).

LLVM scalarizes ``llvm.exp.v8f32`` and friends into one libm call per lane (about 0.4
Gelem/s); kiln's elementwise kernels instead call the functions defined here, which are
straight-line IR on whole vectors: range reduction, a polynomial evaluated with FMA, and the
result rebuilt from exponent bits. Special values (NaN, +-inf, overflow, underflow, signed
zero) are handled explicitly, branch-free, with compare + select.

API
---
``VecMath(module)`` emits into one ``llvmlite.ir.Module``. Each method takes the caller's
``IRBuilder`` and values of type ``float``, ``double``, ``<n x float>`` or ``<n x double>``
(any ``n``: host lanes in a kernel's main loop, a scalar in its tail) and returns a value of
the same type::

    vm = VecMath(module)
    y = vm.exp(builder, x)             # also expm1, log, log1p, tanh, sigmoid, softplus,
    y = vm.call("tanh", builder, x)    # erf, sin, cos; by name for table-driven lowering
    s, c = vm.sincos(builder, x)
    z = vm.pow(builder, x, y)

The first use of a (function, type) pair defines an internal ``alwaysinline`` function named
like LLVM's own intrinsics, ``kiln.exp.v8f32``, ``kiln.log.f64`` (readable IR, each body built
once per module); the optimizer inlines it and deletes it, so nothing is exported and the
hot loop contains only the inlined vector code.

Numerics choices
----------------
* No fast-math flags anywhere: the formulas depend on IEEE rounding (the round-to-integer
  shifter, Fast2Sum, exact Cody-Waite products); reassociation would break them.
* FMA: polynomials use ``llvm.fma`` when the host has FMA (``fma=None``, the default, asks
  :func:`~compiler.llvm.target.host_target`). Without hardware FMA ``llvm.fma`` would become
  a libm call per lane, so ``fma=False`` uses a multiply and an add instead; every exact
  product the algorithms need (pow's double-double arithmetic) then uses Dekker's split.
  Results may differ by an ulp between the two modes; both are tested.
* Denormal results are produced, not flushed (exp's 2**n is applied in two halves so that
  the one rounding happens last; log prescales subnormal inputs). kiln never sets FTZ/DAZ.
* pow and sin/cos of f32 work in f64 internally: simpler and more accurate, at about half
  the f32 speed (pow f32 is still faster than numpy's powf loop).

Algorithms
----------
Polynomial coefficients are weighted minimax fits made for kiln (a Remez exchange in
60-digit mpmath arithmetic, weights chosen so that the fit minimises the error of the final
result, not of the polynomial), then rounded to the working precision; the accuracy quoted
below is what the tests measure, not what the fits promise. Degrees are f32 / f64.

* ``exp``: n = round(x/ln2) by the 1.5*2**p shifter, r = x - n*ln2 with ln2 split in two
  (the high part has enough trailing zeros that n*ln2_hi is exact), e**r = 1 + r + r**2*q(r)
  (q: degree 4 / 9), times 2**n applied as 2**(n//2) * 2**(n - n//2) so that
  results near the overflow threshold and in the subnormal range come out right. x is
  clamped first (NaN passes through the clamp); exp(-inf) = 0, exp(inf) = inf.
* ``expm1``: the same reduction; expm1(r) = r + r**2*q(r), result 2**n*expm1(r) + (2**n - 1)
  evaluated as 2*(h*expm1(r) + (h - 1/2)) with h = 2**(n-1), so n = 128 (f32) needs no
  special case; |x| below the rounding threshold returns x (keeps -0 and subnormals).
* ``log``: x = 2**k * m with m in [sqrt(1/2), sqrt(2)) read from the exponent bits
  (subnormals prescaled by 2**25 / 2**54), f = m - 1 (exact), s = f/(2 + f),
  log(m) = 2*atanh(s) = f - (f**2/2 - s*(f**2/2 + R(s**2))) (R: degree 3 / 7 in s**2): the
  leading term f is exact, so the result is accurate near 1. log(0) = -inf, log(x<0) = NaN.
* ``log1p``: log of u = 1 + x with the rounding error of that add, c = (x - (u - 1))/u (or
  (1 - (u - x))/u once u's k >= 2, where that form is the exact one), added back as a
  first-order correction.
* ``tanh``: |x| < 0.55: x + x**3*P(x**2) (degree 4 / 10); beyond, (1 - E)/(1 + E) with
  E = exp(-2|x|) <= 1/3, whose error is relative to E and shrinks in the quotient; sign
  copied from x (also tanh(-0) = -0). exp(-2|x|) cannot overflow, so tanh(+-inf) = +-1
  needs no case. (An expm1-only form, -e/(2 + e), carries expm1's absolute error near -1:
  2.5 ulp in f32 against 1.5 for this one.)
* ``sigmoid``: e = exp(-|x|); 1/(1 + e) for x >= 0 and e/(1 + e) otherwise: the same
  overflow-safe formula as the eager op.
* ``softplus``: max(x, 0) + log1p(exp(-|x|)), as numpy's logaddexp(0, x).
* ``erf``: |x| < 1: x + x*P(x**2) (degree 6 / 11; the exact leading x keeps P's rounding
  errors eight times smaller); otherwise 1 - exp(-x**2)*Q(t) with
  Q approximating erfcx on t = (|x| - k)/(|x| + k) (k = 2 / 3; degree 5 / 12): that Moebius
  variable makes erfcx, which behaves like 1/(sqrt(pi)*x) for large x, nearly polynomial.
  |x| is clamped to 4 / 6, beyond which erf rounds to +-1.
* ``sin``/``cos``/``sincos``: n = round(x*2/pi), r = x - n*pi/2 with pi/2 in three parts
  (33 + 33 + 53 bits: n*p1 and n*p2 exact for |n| < 2**20), carried as r + rl (the
  rounding error of the second subtraction and the third part); sin and cos of r by minimax
  polynomials (degrees 13 and 14) corrected to first order in rl; quadrant from n mod 4.
  f32 inputs are widened to f64 and use shorter polynomials (degrees 9 and 8) without rl:
  correctly rounded f32 results but in rare near-ties. For |x| > 2**20 the lanes fall back
  to libm ``sin``/``cos`` in a branch that is only entered when some lane needs it
  (``bounded=True`` omits that branch for callers that guarantee |x| <= 2**20, e.g.
  Box-Muller with |theta| < 2*pi).
* ``pow``: numpy's (C99) rules for every special case, by selects: x**0 = 1 and 1**y = 1
  (even NaN), negative x only with integer y (sign from y's parity, NaN otherwise), +-0 and
  +-inf bases, +-inf exponents, NaN. The magnitude is exp(y*log|x|): in f32 computed in f64
  (the error of y*log|x| then stays far below an f32 ulp); in f64 with log|x| as a
  double-double (about 2**-66 relative: the s**3 term and the sums carried with their
  rounding errors) and exp taking the low part into its reduced argument, so the error does
  not grow with |y*log x| as a plain exp(y*log(x))'s would (to ~700 ulp near overflow).

Measured accuracy
-----------------
Max error over the sweeps of tests/compiler/llvm/test_vecmath.py (about 1e6 points per
function and dtype: the whole domain, the edge regions, tiny arguments; pow: five sets of
(x, y) including results near overflow and |y| up to 2000 near x = 1), FMA on, x86-64
Zen 3. f32 against the function evaluated in float64 (math.erf for erf): the true error.
f64 against numpy / libm, whose own error is included, and against mpmath (40 digits) on a
6000-point subsample: the true error. Relative errors over normal-range results::

                f32 ulp   f32 rel    f64 ulp vs numpy   f64 rel    f64 ulp vs mpmath
    exp          1.01     8.5e-08         1.0          2.2e-16          0.94
    expm1        1.41     1.2e-07         2.0          2.7e-16          1.76
    log          0.80     7.7e-08         1.0          2.2e-16          0.73
    log1p        0.78     7.8e-08         1.0          2.2e-16          0.71
    tanh         1.50     1.5e-07         2.0          4.3e-16          1.48
    sigmoid      2.25     1.8e-07         2.0          3.3e-16          1.86
    softplus     1.50     1.2e-07         2.0          3.1e-16          1.34
    erf          0.99     7.0e-08         1.0          2.2e-16          0.96
    sin          0.50     6.0e-08         1.0          2.2e-16          1.35
    cos          0.50     6.0e-08         2.0          3.1e-16          0.90
    pow          0.50     5.9e-08         1.0          2.2e-16          0.91

With ``fma=False`` the figures are the same within 0.3 ulp (f32 erf 1.26, expm1 1.46). The
bounds the tests assert are :data:`ACCURACY_ULP`; ``PYTHONPATH=. python
tests/compiler/llvm/test_vecmath.py`` prints the first four columns again.

Speed (``python benchmarks/bench_vecmath.py --repeat 31``: n = 1e6, medians, Gelem/s,
numpy with ``out=`` buffers in the same run; Zen 3, AVX2 + FMA)::

    f32: exp 2.20 (numpy 0.67)  expm1 2.11 (0.07)  log 1.42 (0.53)  log1p 1.20 (0.08)
         tanh 1.06 (0.38)  sigmoid 1.53 (eager 0.13)  softplus 0.53 (0.05)
         erf 0.96 (eager 0.007)  sin 0.76 (0.60)  cos 0.73 (0.56)  pow 0.21 (0.17)
    f64: exp 0.69 (0.20)  expm1 0.66 (0.08)  log 0.41 (0.23)  log1p 0.39 (0.08)
         tanh 0.38 (0.08)  sigmoid 0.54 (eager 0.06)  softplus 0.17 (0.05)
         erf 0.29 (eager 0.007)  sin 0.54 (0.06)  cos 0.53 (0.06)  pow 0.11 (0.07)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import llvmlite.ir as ir

__all__ = ["VecMath", "define_map_kernel", "FUNCTIONS", "ACCURACY_ULP", "SINCOS_FAST_MAX"]

F32 = ir.FloatType()
F64 = ir.DoubleType()
I32 = ir.IntType(32)
I64 = ir.IntType(64)

#: Unary functions by name (``VecMath.call`` accepts these and ``"pow"``).
FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "softplus", "erf", "sin", "cos")

#: |x| up to which sin/cos use the vector path; beyond, lanes call libm (see module docstring).
SINCOS_FAST_MAX = float(2 ** 20)

#: Error bounds, in ulps of the result type, that tests/compiler/llvm/test_vecmath.py asserts
#: (the measured maxima are in the module docstring). f32: true error; f64: against numpy /
#: libm (whose own error, <= 1 ulp, is included) and against mpmath. The relative error is
#: bounded by the same number times 2**-23 (f32) or 2**-52 (f64) for normal results.
ACCURACY_ULP: dict[tuple[str, str], float] = {
    ("exp", "f32"): 1.5, ("exp", "f64"): 2,
    ("expm1", "f32"): 2, ("expm1", "f64"): 3,
    ("log", "f32"): 1, ("log", "f64"): 2,
    ("log1p", "f32"): 1, ("log1p", "f64"): 2,
    ("tanh", "f32"): 2, ("tanh", "f64"): 3,
    ("sigmoid", "f32"): 3, ("sigmoid", "f64"): 3,
    ("softplus", "f32"): 2, ("softplus", "f64"): 3,
    ("erf", "f32"): 1.5, ("erf", "f64"): 2,
    ("sin", "f32"): 1, ("sin", "f64"): 2,
    ("cos", "f32"): 1, ("cos", "f64"): 3,
    ("pow", "f32"): 1, ("pow", "f64"): 2,
}


# -------------------------------------------------------------------------------------------
# Per-precision constants
# -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Consts:
    bits: int                 # storage width
    mant: int                 # explicit mantissa bits
    bias: int
    shifter: float            # 1.5 * 2**mant: x + shifter rounds x to an integer
    ln2_hi: float             # few significant bits: n*ln2_hi exact for every exponent n
    ln2_lo: float
    log2e: float
    exp_lo: float             # exp(x) rounds to 0 below, to inf above (clamp bounds)
    exp_hi: float
    exp_q: tuple[float, ...]  # e**r = 1 + r + r**2 * q(r)
    expm1_lo: float           # expm1(x) rounds to -1 below
    expm1_tiny: float         # expm1(x) rounds to x for |x| below
    expm1_q: tuple[float, ...]  # expm1(r) = r + r**2 * q(r)
    min_normal: float
    sub_scale_bits: int       # subnormal inputs of log are multiplied by 2**this
    sqrt_half_bits: int       # bits of sqrt(1/2) (f64: high word), the log mantissa split
    log_r: tuple[float, ...]  # 2*atanh(s) = 2s + s*R(s**2), R(z) = z*(r0 + r1 z + ...)
    tanh_p: tuple[float, ...]     # tanh(x) = x + x**3 * P(x**2) for |x| < 0.55
    erf_small: tuple[float, ...]  # erf(x) = x + x * P(x**2) for |x| < 1
    erf_k: float              # t = (|x| - k) / (|x| + k)
    erf_q: tuple[float, ...]  # erfc(x) = exp(-x**2) * Q(t)
    erf_max: float            # erf(x) rounds to 1 beyond


_C32 = _Consts(
    bits=32, mant=23, bias=127, shifter=12582912.0,
    ln2_hi=0.693145751953125, ln2_lo=1.428606765330187e-06, log2e=1.4426950408889634,
    exp_lo=-104.0, exp_hi=89.0,
    exp_q=(0.4999999403953552, 0.1666652113199234, 0.04166838899254799, 0.00836874544620514,
           0.0013814540579915047),
    expm1_lo=-40.0, expm1_tiny=2.0 ** -25,
    expm1_q=(0.5, 0.1666666716337204, 0.04166632518172264, 0.008333220146596432,
             0.0013943254016339779, 0.00019962270744144917),
    min_normal=2.0 ** -126, sub_scale_bits=25, sqrt_half_bits=0x3F3504F3,
    log_r=(0.6666677594184875, 0.39977481961250305, 0.29873624444007874),
    tanh_p=(-0.33333316445350647, 0.13332583010196686, -0.05385199934244156,
            0.021070299670100212, -0.0062721665017306805),
    erf_small=(0.12837916612625122, -0.3761262595653534, 0.1128358468413353,
               -0.026853788644075394, 0.005188279785215855, -0.0008009731536731124,
               7.852199632907286e-05),
    erf_k=2.0,
    erf_q=(0.25539568066596985, -0.42718586325645447, 0.24165719747543335,
           -0.07898755371570587, 0.003727496834471822, 0.007209897506982088),
    erf_max=4.0,
)

_C64 = _Consts(
    bits=64, mant=52, bias=1023, shifter=6755399441055744.0,
    ln2_hi=0.6931471805601177, ln2_lo=-1.7239444525614835e-13, log2e=1.4426950408889634,
    exp_lo=-746.0, exp_hi=710.0,
    exp_q=(0.5000000000000011, 0.1666666666666641, 0.041666666666529725, 0.00833333333349498,
           0.0013888888943760097, 0.0001984126950576589, 2.4801492949488658e-05,
           2.75575868112425e-06, 2.763030630284204e-07, 2.5000016417943133e-08),
    expm1_lo=-40.0, expm1_tiny=2.0 ** -54,
    expm1_q=(0.5000000000000001, 0.1666666666666667, 0.041666666666652245,
             0.00833333333332613, 0.0013888888895613244, 0.00019841269874845612,
             2.4801574517663517e-05, 2.7557255359678293e-06, 2.756793565863911e-07,
             2.510523672755621e-08, 1.7687747666150558e-09),
    min_normal=2.0 ** -1022, sub_scale_bits=54, sqrt_half_bits=0x3FE6A09E,
    log_r=(0.6666666666666735, 0.399999999994092, 0.2857142874376476, 0.22222198416472458,
           0.18183573227524286, 0.15313804384979915, 0.1479858905341494),
    tanh_p=(-0.333333333333333, 0.13333333333326558, -0.05396825396372302,
            0.021869488384749027, -0.008863232582798744, 0.003592091836971707,
            -0.0014555415667946495, 0.0005884390875858375, -0.00023336748241179096,
            8.329576782782082e-05, -1.9481617492492474e-05),
    erf_small=(0.12837916709551256, -0.3761263890318352, 0.11283791670944132,
               -0.026866170643102726, 0.0052239776060446, -0.0008548325925682353,
               0.00012055293465845582, -1.4924710126326853e-05, 1.6447104248072046e-06,
               -1.620610110505142e-07, 1.3710046778347348e-08, -7.777701401729286e-10),
    erf_k=3.0,
    erf_q=(0.17900115118138993, -0.32623356004317244, 0.24560380170759621,
           -0.1501159365461014, 0.0716658374780245, -0.0243924893816945,
           0.00426923718533134, 0.000708326148773317, -0.0005949384021936263,
           5.033921776750575e-05, 7.177328537842387e-05, -6.334801606180086e-06,
           -6.546286388745247e-06),
    erf_max=6.0,
)

_TANH_SPLIT = 0.55  # |x| where tanh switches from its polynomial to the exp form

# f64-only constants (sin/cos and pow work in f64 for both precisions).
_TWO_OVER_PI = 0.6366197723675814
_PIO2 = (1.5707963267341256, 6.077100506303966e-11, 2.0222662487959506e-21)  # 33+33+53 bits
_SIN_Q = (-0.1666666666666663, 0.008333333333321891, -0.00019841269829400766,
          2.755731355367792e-06, -2.5050736835936275e-08, 1.58955789736196e-10)
_COS_Q = (0.04166666666666659, -0.0013888888888872733, 2.4801587288643903e-05,
          -2.7557314117786293e-07, 2.0875692289139587e-09, -1.1358084176676351e-11)
# f32 pow works in f64 but needs only ~2**-38 relative: shorter polynomials (log R degree 5,
# exp q degree 6), enough for results correctly rounded to f32 but in rare near-ties.
_POW32_LOG_R = (0.6666666667586162, 0.39999995597082266, 0.28572112183917114,
                0.22176046703462993, 0.19586404600641863)
_POW32_EXP_Q = (0.5000000000428515, 0.1666666678479382, 0.04166666439830396,
                0.00833328170535428, 0.0013889197745418137, 0.00019909006447715722,
                2.4708195910434568e-05)
# sin/cos for f32 results, evaluated in f64: 2**-37 / 2**-33 relative.
_SIN_Q32 = (-0.16666666640377897, 0.008333329256085143, -0.0001983929653812286,
            2.7179712423578847e-06)
_COS_Q32 = (0.04166664542531315, -0.001388730345967238, 2.4431668184819825e-05)
# log as a double-double (pow): 2atanh(s) = 2s + (2/3)s**3 + s**5 * T(s**2)
_TWO_THIRDS = (0.6666666666666666, 3.700743415417188e-17)
_LOGDD_T = (0.4000000000000228, 0.28571428570086843, 0.22222222522347299, 0.18181784142710167,
            0.15386768192293707, 0.13256553510034538, 0.13198879218624424)


def _signed(value: int, bits: int) -> int:
    """``value`` modulo 2**bits as a signed integer (how LLVM constants must be spelled)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# -------------------------------------------------------------------------------------------
# Emission helpers for one float type inside one function body
# -------------------------------------------------------------------------------------------
class _E:
    """IR building blocks for one float type (scalar or vector): constants of that shape,
    arithmetic, compares, selects, bit casts and intrinsics, so that the algorithms below
    read like the math and work unchanged for every shape."""

    def __init__(self, vm: "VecMath", b: ir.IRBuilder, ty: ir.Type):
        self.vm, self.b, self.ty = vm, b, ty
        self.lanes = ty.count if isinstance(ty, ir.VectorType) else None
        self.elem = ty.element if self.lanes else ty
        self.k = _C32 if isinstance(self.elem, ir.FloatType) else _C64
        self.ielem = ir.IntType(self.k.bits)
        self.ity = self.shaped(self.ielem)

    # types and constants
    def shaped(self, elem: ir.Type) -> ir.Type:
        return ir.VectorType(elem, self.lanes) if self.lanes else elem

    def like(self, elem: ir.Type) -> "_E":
        """Helpers for another element type with the same lane count (f32 <-> f64)."""
        return _E(self.vm, self.b, self.shaped(elem))

    def f(self, v: float) -> ir.Constant:
        c = ir.Constant(self.elem, float(v))
        return ir.Constant(self.ty, [c] * self.lanes) if self.lanes else c

    def i(self, v: int, elem: ir.IntType | None = None) -> ir.Constant:
        elem = elem or self.ielem
        c = ir.Constant(elem, _signed(v, elem.width))
        return ir.Constant(self.shaped(elem), [c] * self.lanes) if self.lanes else c

    # arithmetic (no fast-math flags: the algorithms rely on IEEE rounding)
    def add(self, a, c): return self.b.fadd(a, c)
    def sub(self, a, c): return self.b.fsub(a, c)
    def mul(self, a, c): return self.b.fmul(a, c)
    def div(self, a, c): return self.b.fdiv(a, c)
    def neg(self, a): return self.b.fneg(a)

    def fma(self, a, c, d):
        """a*c + d: one rounding with hardware FMA, two without (accuracy-neutral uses only)."""
        if self.vm.use_fma:
            return self.intrinsic("fma", a, c, d)
        return self.add(self.mul(a, c), d)

    def two_prod(self, a, c):
        """(p, e) with p = fl(a*c) and p + e = a*c exactly."""
        p = self.mul(a, c)
        if self.vm.use_fma:
            return p, self.intrinsic("fma", a, c, self.neg(p))
        # Dekker: split each factor into halves whose products are exact.
        split = self.f(2.0 ** ((self.k.mant + 2) // 2) + 1.0)

        def halves(v):
            t = self.mul(v, split)
            hi = self.sub(t, self.sub(t, v))
            return hi, self.sub(v, hi)
        ah, al = halves(a)
        ch, cl = halves(c)
        e = self.sub(self.mul(ah, ch), p)
        e = self.add(e, self.mul(ah, cl))
        e = self.add(e, self.mul(al, ch))
        return p, self.add(e, self.mul(al, cl))

    def two_sum(self, a, c):
        """(s, e) with s = fl(a + c) and s + e = a + c exactly (Knuth; no ordering needed)."""
        s = self.add(a, c)
        bb = self.sub(s, a)
        return s, self.add(self.sub(a, self.sub(s, bb)), self.sub(c, bb))

    def fast_two_sum(self, a, c):
        """(s, e) as two_sum, valid when |a| >= |c| (Dekker)."""
        s = self.add(a, c)
        return s, self.sub(c, self.sub(s, a))

    def horner(self, x, coeffs: Sequence[float]):
        """c0 + c1 x + ... + cn x**n."""
        acc = self.f(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.f(c))
        return acc

    # compares and selects
    def cmp(self, op: str, a, c):
        return self.b.fcmp_ordered(op, a, c)

    def cmpu(self, op: str, a, c):
        """Unordered compare: true if either operand is NaN."""
        return self.b.fcmp_unordered(op, a, c)

    def sel(self, cond, a, c):
        return self.b.select(cond, a, c)

    def clamp(self, x, lo: float, hi: float):
        """min(max(x, lo), hi) that lets NaN through (it compares false)."""
        x = self.sel(self.cmp("<", x, self.f(lo)), self.f(lo), x)
        return self.sel(self.cmp(">", x, self.f(hi)), self.f(hi), x)

    def isnan(self, x):
        return self.cmpu("uno", x, x)

    # bits
    def bits(self, x):
        return self.b.bitcast(x, self.ity)

    def from_bits(self, ix):
        return self.b.bitcast(ix, self.ty)

    def signbit(self, x):
        return self.b.icmp_signed("<", self.bits(x), self.i(0))

    def pow2(self, n):
        """2.0**n for an integer vector n (of the float's width) in the normal range."""
        e = self.b.add(n, self.i(self.k.bias))
        return self.from_bits(self.b.shl(e, self.i(self.k.mant)))

    # intrinsics
    def intrinsic(self, name: str, *args):
        return self.b.call(self.vm._intrinsic(name, self.ty, len(args)), list(args))

    def abs(self, x): return self.intrinsic("fabs", x)
    def copysign(self, mag, sign): return self.intrinsic("copysign", mag, sign)
    def trunc(self, x): return self.intrinsic("trunc", x)
    def sqrt(self, x): return self.intrinsic("sqrt", x)


def _type_suffix(ty: ir.Type) -> str:
    """LLVM's overloaded-intrinsic suffix: ``f32``, ``v8f32``, ``f64``, ``v4f64``."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{_type_suffix(ty.element)}"
    if isinstance(ty, ir.FloatType):
        return "f32"
    if isinstance(ty, ir.DoubleType):
        return "f64"
    if isinstance(ty, ir.IntType):
        return f"i{ty.width}"
    raise TypeError(f"no intrinsic suffix for {ty}")


def _check_float_type(ty: ir.Type, what: str) -> None:
    elem = ty.element if isinstance(ty, ir.VectorType) else ty
    if not isinstance(elem, (ir.FloatType, ir.DoubleType)):
        raise TypeError(f"vecmath.{what}: expected float, double or a vector of them, "
                        f"got {ty}")


# -------------------------------------------------------------------------------------------
# The emitter
# -------------------------------------------------------------------------------------------
class VecMath:
    """Emits kiln's vector math functions into ``module`` (see the module docstring).

    ``fma``: use ``llvm.fma`` in polynomials and exact products (default: if the host CPU has
    FMA; the choice is ``use_fma``). Functions are defined lazily, once per (function, type),
    as internal ``alwaysinline`` functions ``kiln.<name>.<type suffix>``; so use one VecMath
    per module, and call it with builders positioned in that module's functions.
    """

    def __init__(self, module: ir.Module, *, fma: bool | None = None):
        if fma is None:
            from compiler.llvm.target import host_target
            fma = host_target().has_feature("fma")
        self.module = module
        self.use_fma = bool(fma)
        self._functions: dict[str, ir.Function] = {}

    # -- public API --------------------------------------------------------------------
    def exp(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """e**x."""
        return self._call("exp", builder, x)

    def expm1(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """e**x - 1, accurate for small |x|."""
        return self._call("expm1", builder, x)

    def log(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """Natural logarithm; -inf at +-0, NaN below 0."""
        return self._call("log", builder, x)

    def log1p(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """log(1 + x), accurate for small |x|; -inf at -1, NaN below -1."""
        return self._call("log1p", builder, x)

    def tanh(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """Hyperbolic tangent."""
        return self._call("tanh", builder, x)

    def sigmoid(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """1 / (1 + e**-x) in the overflow-safe form of kiln's eager op."""
        return self._call("sigmoid", builder, x)

    def softplus(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """log(1 + e**x) = max(x, 0) + log1p(e**-|x|) (numpy's logaddexp(0, x))."""
        return self._call("softplus", builder, x)

    def erf(self, builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """The error function."""
        return self._call("erf", builder, x)

    def sin(self, builder: ir.IRBuilder, x: ir.Value, *, bounded: bool = False) -> ir.Value:
        """sin(x); see :meth:`sincos` for ``bounded``."""
        return self.sincos(builder, x, bounded=bounded)[0]

    def cos(self, builder: ir.IRBuilder, x: ir.Value, *, bounded: bool = False) -> ir.Value:
        """cos(x); see :meth:`sincos` for ``bounded``."""
        return self.sincos(builder, x, bounded=bounded)[1]

    def sincos(self, builder: ir.IRBuilder, x: ir.Value, *,
               bounded: bool = False) -> tuple[ir.Value, ir.Value]:
        """(sin(x), cos(x)) sharing one range reduction.

        ``bounded=True`` promises |x| <= ``SINCOS_FAST_MAX`` (or NaN/inf) and leaves out the
        libm fallback branch, so the code is straight-line (loop-vectorizable when scalar).
        """
        pair = self._call("sincos_bounded" if bounded else "sincos", builder, x)
        return builder.extract_value(pair, 0), builder.extract_value(pair, 1)

    def pow(self, builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
        """x**y with numpy's (C99) special cases; x and y have the same type."""
        if x.type != y.type:
            raise TypeError(f"vecmath.pow: operands must have the same type, got {x.type} "
                            f"and {y.type}")
        return self._call("pow", builder, x, y)

    def call(self, name: str, builder: ir.IRBuilder, *args: ir.Value) -> ir.Value:
        """Any of :data:`FUNCTIONS` or ``"pow"`` by name (for table-driven lowering)."""
        if name == "pow":
            return self.pow(builder, *args)
        if name not in FUNCTIONS:
            raise ValueError(f"vecmath has no function {name!r}; it has "
                             f"{', '.join(FUNCTIONS + ('pow',))}")
        if len(args) != 1:
            raise TypeError(f"vecmath.{name} takes one operand, got {len(args)}")
        return getattr(self, name)(builder, args[0])

    # -- function definitions ------------------------------------------------------------
    def _call(self, name: str, builder: ir.IRBuilder, *args: ir.Value) -> ir.Value:
        _check_float_type(args[0].type, name)
        return builder.call(self._function(name, args[0].type), list(args))

    def _function(self, name: str, ty: ir.Type) -> ir.Function:
        fname = f"kiln.{name}.{_type_suffix(ty)}"
        fn = self._functions.get(fname)
        if fn is not None:
            return fn
        if fname in self.module.globals:
            raise ValueError(f"module already defines {fname!r} (two VecMath on one module?)")
        emit: Callable = getattr(self, f"_emit_{name}")
        nargs = 2 if name == "pow" else 1
        ret = ir.LiteralStructType([ty, ty]) if name.startswith("sincos") else ty
        fn = ir.Function(self.module, ir.FunctionType(ret, [ty] * nargs), name=fname)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        self._functions[fname] = fn
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(emit(_E(self, b, ty), *fn.args))  # b may have moved to a later block
        return fn

    def _intrinsic(self, name: str, ty: ir.Type, nargs: int) -> ir.Function:
        # Declared as plain functions with mangled names: Module.declare_intrinsic gets
        # vector signatures wrong (LLVM-NOTES).
        fname = f"llvm.{name}.{_type_suffix(ty)}"
        fn = self.module.globals.get(fname)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * nargs), name=fname)
        return fn

    def _libm(self, name: str) -> ir.Function:
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(F64, [F64]), name=name)
        return fn

    def _sub(self, e: _E, name: str, *args: ir.Value) -> ir.Value:
        """Call another kiln function from inside a body (inlined like the rest)."""
        return e.b.call(self._function(name, args[0].type), list(args))

    # -- exp family ----------------------------------------------------------------------
    @staticmethod
    def _reduce_ln2(e: _E, x):
        """(n as float, n as int, r) with x = n*ln2 + r, |r| <= ln2/2 (x already clamped)."""
        k = e.k
        t = e.fma(x, e.f(k.log2e), e.f(k.shifter))        # x/ln2 rounded to an integer
        n = e.sub(t, e.f(k.shifter))
        ni = e.b.sub(e.bits(t), e.bits(e.f(k.shifter)))
        r = e.fma(e.neg(n), e.f(k.ln2_hi), x)              # exact: n*ln2_hi has spare bits
        return n, ni, r

    def _emit_exp(self, e: _E, x):
        return self._exp_core(e, x, None)

    def _exp_core(self, e: _E, x, lo_part, q: Sequence[float] | None = None):
        """exp(x + lo_part) (lo_part tiny relative to x, or None); q overrides the
        polynomial."""
        k = e.k
        xc = e.clamp(x, k.exp_lo, k.exp_hi)
        n, ni, r = self._reduce_ln2(e, xc)
        if lo_part is None:
            r = e.fma(e.neg(n), e.f(k.ln2_lo), r)
        else:
            # The low part is meaningless once x was clamped (the result over/underflows).
            clamped = e.cmpu("une", xc, x)
            lo_part = e.sel(clamped, e.f(0.0), lo_part)
            r = e.add(r, e.fma(e.neg(n), e.f(k.ln2_lo), lo_part))
        r2 = e.mul(r, r)
        p = e.add(e.f(1.0), e.fma(r2, e.horner(r, q or k.exp_q), r))
        # 2**n in two factors: n in [-1076, 1024] (f64) exceeds the normal exponent range.
        off = 1 << 12                                       # keeps the shift logical
        n1 = e.b.sub(e.b.lshr(e.b.add(ni, e.i(off)), e.i(1)), e.i(off >> 1))
        n2 = e.b.sub(ni, n1)
        return e.mul(e.mul(p, e.pow2(n1)), e.pow2(n2))

    def _emit_expm1(self, e: _E, x):
        k = e.k
        xc = e.clamp(x, k.expm1_lo, k.exp_hi)
        n, ni, r = self._reduce_ln2(e, xc)
        r = e.fma(e.neg(n), e.f(k.ln2_lo), r)
        em = e.fma(e.mul(r, r), e.horner(r, k.expm1_q), r)   # expm1(r)
        h = e.pow2(e.b.sub(ni, e.i(1)))                       # 2**(n-1), normal for every n
        res = e.mul(e.fma(h, em, e.sub(h, e.f(0.5))), e.f(2.0))
        return e.sel(e.cmp("<", e.abs(x), e.f(k.expm1_tiny)), x, res)

    # -- log family ----------------------------------------------------------------------
    def _split_sqrt2(self, e: _E, x, subnormals: bool):
        """(k as float, f) with x = 2**k * (1 + f), 1 + f in [sqrt(1/2), sqrt(2)); x > 0."""
        k = e.k
        adjust = None
        if subnormals:
            sub = e.cmp("<", x, e.f(k.min_normal))
            x = e.sel(sub, e.mul(x, e.f(2.0 ** k.sub_scale_bits)), x)
            adjust = e.sel(sub, e.f(float(k.sub_scale_bits)), e.f(0.0))
        b = e.b
        if k.bits == 32:
            u = b.sub(e.bits(x), e.i(k.sqrt_half_bits))
            ki = b.ashr(u, e.i(23))
            m = e.from_bits(b.add(b.and_(u, e.i(0x7FFFFF)), e.i(k.sqrt_half_bits)))
            kf = b.sitofp(ki, e.ty)
        else:
            # Work on the high word in i32: AVX2 has no 64-bit arithmetic shift or
            # i64 -> double conversion, but has both for i32.
            ix = e.bits(x)
            i32 = e.shaped(I32)
            hx = b.trunc(b.lshr(ix, e.i(32)), i32)
            u = b.sub(hx, e.i(k.sqrt_half_bits, I32))
            ki = b.ashr(u, e.i(20, I32))
            mhi = b.add(b.and_(u, e.i(0xFFFFF, I32)), e.i(k.sqrt_half_bits, I32))
            mbits = b.or_(b.shl(b.zext(mhi, e.ity), e.i(32)), b.and_(ix, e.i(0xFFFFFFFF)))
            m = e.from_bits(mbits)
            kf = b.sitofp(ki, e.ty)
        if adjust is not None:
            kf = e.sub(kf, adjust)
        return kf, e.sub(m, e.f(1.0))

    def _log_tail(self, e: _E, kf, f, c, rc: Sequence[float] | None = None):
        """k*ln2 + log1p(f) + c for |f| <= sqrt(2) - 1 and a small correction c (or None);
        rc overrides the polynomial R."""
        k = e.k
        s = e.div(f, e.add(e.f(2.0), f))
        z = e.mul(s, s)
        r = e.mul(z, e.horner(z, rc or k.log_r))
        hfsq = e.mul(e.mul(e.f(0.5), f), f)
        lo = e.fma(kf, e.f(k.ln2_lo), c) if c is not None else e.mul(kf, e.f(k.ln2_lo))
        t = e.fma(s, e.add(hfsq, r), lo)                  # s*(hfsq + R) + k*ln2_lo + c
        return e.fma(kf, e.f(k.ln2_hi), e.sub(f, e.sub(hfsq, t)))

    def _emit_log(self, e: _E, x):
        kf, f = self._split_sqrt2(e, x, subnormals=True)
        res = self._log_tail(e, kf, f, None)
        res = e.sel(e.cmp("==", x, e.f(math.inf)), x, res)
        res = e.sel(e.cmp("==", x, e.f(0.0)), e.f(-math.inf), res)
        return e.sel(e.cmpu("<", x, e.f(0.0)), e.f(math.nan), res)  # x < 0 or NaN

    def _emit_log1p(self, e: _E, x):
        one = e.f(1.0)
        u = e.add(one, x)
        kf, f = self._split_sqrt2(e, u, subnormals=False)  # u >= 2**-24 or u == 0
        # The rounding error of u = 1 + x, exactly (both forms are exact in their range).
        c = e.sel(e.cmp(">=", kf, e.f(2.0)), e.sub(one, e.sub(u, x)), e.sub(x, e.sub(u, one)))
        res = self._log_tail(e, kf, f, e.div(c, u))
        res = e.sel(e.cmp("==", x, e.f(math.inf)), x, res)
        res = e.sel(e.cmp("==", x, e.f(-1.0)), e.f(-math.inf), res)
        res = e.sel(e.cmpu("<", x, e.f(-1.0)), e.f(math.nan), res)  # x < -1 or NaN
        return e.sel(e.cmp("==", x, e.f(0.0)), x, res)                # keeps -0.0

    # -- activations ---------------------------------------------------------------------
    def _emit_tanh(self, e: _E, x):
        # |x| < 0.55: x + x**3 P(x**2), whose exact leading term keeps the rounding small.
        # Beyond: (1 - E)/(1 + E) with E = exp(-2|x|) <= 1/3; E's error is relative to E,
        # and shrinks in the quotient (an expm1 form would carry an absolute error of an ulp
        # of ~1 here). exp(-2|x|) cannot overflow, so tanh(+-inf) = +-1 needs no case.
        k = e.k
        z = e.mul(x, x)
        small = e.fma(e.mul(x, z), e.horner(z, k.tanh_p), x)
        ax = e.abs(x)
        ex = self._sub(e, "exp", e.mul(e.f(-2.0), ax))
        big = e.div(e.sub(e.f(1.0), ex), e.add(e.f(1.0), ex))
        # tanh is odd: the copysign also gives tanh(-0) = -0, which x + x**3 P misses.
        return e.copysign(e.sel(e.cmp("<", ax, e.f(_TANH_SPLIT)), small, big), x)

    def _emit_sigmoid(self, e: _E, x):
        ex = self._sub(e, "exp", e.neg(e.abs(x)))
        num = e.sel(e.cmp(">=", x, e.f(0.0)), e.f(1.0), ex)   # NaN -> ex = NaN
        return e.div(num, e.add(e.f(1.0), ex))

    def _emit_softplus(self, e: _E, x):
        ex = self._sub(e, "exp", e.neg(e.abs(x)))
        pos = e.sel(e.cmp(">", x, e.f(0.0)), x, e.f(0.0))
        return e.add(pos, self._sub(e, "log1p", ex))

    def _emit_erf(self, e: _E, x):
        k = e.k
        # x + x*P: the exact leading term keeps P's rounding errors 8x smaller
        small = e.fma(x, e.horner(e.mul(x, x), k.erf_small), x)
        ax = e.abs(x)
        axc = e.sel(e.cmp(">", ax, e.f(k.erf_max)), e.f(k.erf_max), ax)   # NaN stays
        t = e.div(e.sub(axc, e.f(k.erf_k)), e.add(axc, e.f(k.erf_k)))
        q = e.horner(t, k.erf_q)
        ex = self._sub(e, "exp", e.neg(e.mul(axc, axc)))
        big = e.copysign(e.sub(e.f(1.0), e.mul(ex, q)), x)
        return e.sel(e.cmp("<", ax, e.f(1.0)), small, big)

    # -- sin / cos -----------------------------------------------------------------------
    def _emit_sincos_bounded(self, e: _E, x):
        return self._sincos(e, x, fallback=False)

    def _emit_sincos(self, e: _E, x):
        return self._sincos(e, x, fallback=True)

    def _sincos(self, e: _E, x, fallback: bool):
        b = e.b
        if e.k.bits == 32:
            # In f64, with the light core: correctly rounded f32 but in rare near-ties.
            d = e.like(F64)
            xd = b.fpext(x, d.ty)
            s, c = self._sincos_core(d, xd, light=True)
            if fallback:
                s, c = self._libm_fallback(d, xd, s, c)
            return self._pair(e, b.fptrunc(s, e.ty), b.fptrunc(c, e.ty))
        s, c = self._sincos_core(e, x)
        if fallback:
            s, c = self._libm_fallback(e, x, s, c)
        return self._pair(e, s, c)

    def _libm_fallback(self, e: _E, x, s, c):
        """Lanes with |x| > SINCOS_FAST_MAX (n*p1 no longer exact) take libm's sin and cos,
        in a branch entered only when some lane needs it. e is the f64 helper."""
        b = e.b
        big = e.cmp(">", e.abs(x), e.f(SINCOS_FAST_MAX))
        any_big = b.icmp_unsigned("!=", b.bitcast(big, ir.IntType(e.lanes)),
                                  ir.Constant(ir.IntType(e.lanes), 0)) if e.lanes else big
        fn = b.function
        fast_bb = b.block
        slow_bb = fn.append_basic_block("libm")
        done_bb = fn.append_basic_block("done")
        b.cbranch(any_big, slow_bb, done_bb)
        b.position_at_end(slow_bb)
        s_lib, c_lib = s, c
        for lane in range(e.lanes or 1):
            xl = b.extract_element(x, I32(lane)) if e.lanes else x
            sl = b.call(self._libm("sin"), [xl])
            cl = b.call(self._libm("cos"), [xl])
            if e.lanes:
                s_lib = b.insert_element(s_lib, sl, I32(lane))
                c_lib = b.insert_element(c_lib, cl, I32(lane))
            else:
                s_lib, c_lib = sl, cl
        s_slow, c_slow = e.sel(big, s_lib, s), e.sel(big, c_lib, c)
        slow_end = b.block
        b.branch(done_bb)
        b.position_at_end(done_bb)
        s_phi, c_phi = b.phi(e.ty), b.phi(e.ty)
        s_phi.add_incoming(s, fast_bb)
        s_phi.add_incoming(s_slow, slow_end)
        c_phi.add_incoming(c, fast_bb)
        c_phi.add_incoming(c_slow, slow_end)
        return s_phi, c_phi

    @staticmethod
    def _pair(e: _E, s, c):
        pair_ty = ir.LiteralStructType([e.ty, e.ty])
        pair = e.b.insert_value(ir.Constant(pair_ty, ir.Undefined), s, 0)
        return e.b.insert_value(pair, c, 1)

    def _sincos_core(self, e: _E, x, light: bool = False):
        """f64 sin and cos for |x| <= 2**20 (NaN for +-inf and NaN). ``light``: about
        2**-33 relative, enough for results rounded to f32 (shorter polynomials, no rl)."""
        b = e.b
        shifter = e.f(_C64.shifter)
        t = e.fma(x, e.f(_TWO_OVER_PI), shifter)
        n = e.sub(t, shifter)
        q = b.sub(e.bits(t), e.bits(shifter))               # quadrant: n mod 4 in low bits
        nn = e.neg(n)
        r1 = e.fma(nn, e.f(_PIO2[0]), x)                     # exact (Sterbenz, n*p1 exact)
        r = e.fma(nn, e.f(_PIO2[1]), r1)
        if light:
            r = e.fma(nn, e.f(_PIO2[2]), r)
            z = e.mul(r, r)
            sin_r = e.copysign(e.fma(e.mul(r, z), e.horner(z, _SIN_Q32), r), r)
            cos_r = e.fma(e.mul(z, z), e.horner(z, _COS_Q32),
                          e.sub(e.f(1.0), e.mul(e.f(0.5), z)))
        else:
            # The reduced argument as r + rl: the rounding error of r (n*p2 is exact, r1 - r
            # is exact) and the third part of pi/2. Worth up to an ulp near multiples of pi/2.
            rl = e.fma(nn, e.f(_PIO2[2]), e.fma(nn, e.f(_PIO2[1]), e.sub(r1, r)))
            z = e.mul(r, r)
            hz = e.mul(e.f(0.5), z)
            w = e.sub(e.f(1.0), hz)
            # sin(r + rl) ~ sin r + rl*(1 - r**2/2); it has the sign of r on [-pi/4, pi/4],
            # and copysign keeps sin(-0) = -0.
            sin_r = e.add(r, e.fma(e.mul(r, z), e.horner(z, _SIN_Q),
                                   e.mul(rl, e.sub(e.f(1.0), hz))))
            sin_r = e.copysign(sin_r, r)
            # cos(r + rl) ~ w + ((1 - w) - hz) + z**2 C(z) - r*rl with w = 1 - hz: the
            # bracket recovers the rounding of w.
            tail = e.fma(e.mul(z, z), e.horner(z, _COS_Q), e.neg(e.mul(r, rl)))
            cos_r = e.add(w, e.add(e.sub(e.sub(e.f(1.0), w), hz), tail))
        odd = b.icmp_unsigned("!=", b.and_(q, e.i(1)), e.i(0))
        s = e.sel(odd, cos_r, sin_r)
        c = e.sel(odd, sin_r, cos_r)
        s_neg = b.icmp_unsigned("!=", b.and_(q, e.i(2)), e.i(0))
        c_neg = b.icmp_unsigned("!=", b.and_(b.add(q, e.i(1)), e.i(2)), e.i(0))
        return e.sel(s_neg, e.neg(s), s), e.sel(c_neg, e.neg(c), c)

    # -- pow -----------------------------------------------------------------------------
    def _emit_pow(self, e: _E, x, y):
        b = e.b
        if e.k.bits == 32:
            d = e.like(F64)
            xd, yd = b.fpext(x, d.ty), b.fpext(y, d.ty)
            # In f64 a plain exp(y*log|x|) is accurate far beyond f32's ulp. Widened f32
            # values are never subnormal; 0, inf and NaN give garbage that the rules replace.
            kf, f = self._split_sqrt2(d, d.abs(xd), subnormals=False)
            lg = self._log_tail(d, kf, f, None, _POW32_LOG_R)
            core = self._exp_core(d, d.mul(yd, lg), None, _POW32_EXP_Q)
            # The special-case selects stay in f32: their masks fill one register, not two.
            return self._pow_special(e, x, y, b.fptrunc(core, e.ty))
        lh, ll = self._log_dd(e, e.abs(x))
        ph, pl = e.two_prod(y, lh)
        pl = e.fma(y, ll, pl)
        return self._pow_special(e, x, y, self._exp_core(e, ph, pl))

    def _log_dd(self, e: _E, x):
        """log(x) for finite x > 0 as a double-double (hi, lo), about 2**-66 relative."""
        kf, f = self._split_sqrt2(e, x, subnormals=True)
        two = e.f(2.0)
        d, dl = e.fast_two_sum(two, f)                     # 2 + f = d + dl exactly
        sh = e.div(f, d)
        ph, pe = e.two_prod(sh, d)                         # s = f/(2+f) = sh + sl
        sl = e.div(e.sub(e.sub(e.sub(f, ph), pe), e.mul(sh, dl)), d)
        z, zl = e.two_prod(sh, sh)                         # s**2 = z + zl
        c3, c3l = e.two_prod(sh, z)                        # s**3 ~ c3 + c3l
        c3l = e.add(c3l, e.fma(sh, zl, e.mul(e.f(3.0), e.mul(z, sl))))
        t3, t3l = e.two_prod(c3, e.f(_TWO_THIRDS[0]))      # (2/3) s**3 = t3 + t3l
        t3l = e.add(t3l, e.fma(c3, e.f(_TWO_THIRDS[1]), e.mul(c3l, e.f(_TWO_THIRDS[0]))))
        tail = e.mul(e.mul(c3, z), e.horner(z, _LOGDD_T))  # s**5 T(s**2)
        h1, e1 = e.two_sum(e.mul(kf, e.f(_C64.ln2_hi)), e.mul(two, sh))
        h2, e2 = e.two_sum(h1, t3)
        lo = e.add(e.add(e1, e2), e.add(e.mul(two, sl), t3l))
        lo = e.add(lo, e.fma(kf, e.f(_C64.ln2_lo), tail))
        return e.fast_two_sum(h2, lo)

    def _pow_special(self, e: _E, x, y, core):
        """Apply numpy's pow rules around core = |x|**y (valid for finite |x| > 0)."""
        b = e.b
        zero, one, inf = e.f(0.0), e.f(1.0), e.f(math.inf)
        ax = e.abs(x)
        yt = e.trunc(y)
        y_int = e.cmp("==", yt, y)                           # true for +-inf, false for NaN
        yh = e.mul(y, e.f(0.5))
        y_odd = b.and_(y_int, e.cmp("!=", e.trunc(yh), yh))   # false for +-inf
        y_neg = e.cmp("<", y, zero)
        ax_inf = e.cmp("==", ax, inf)
        # |x| in {0, inf}: 0 or inf by the signs (0**-y = inf, inf**y = inf for y > 0).
        edge = b.or_(e.cmp("==", ax, zero), ax_inf)
        r = e.sel(edge, e.sel(b.xor(ax_inf, y_neg), inf, zero), core)
        # y = +-inf: 1 at |x| = 1, else inf when (|x| > 1) == (y > 0), else 0.
        y_inf = e.cmp("==", e.abs(y), inf)
        big = b.xor(e.cmp(">", ax, one), y_neg)
        r = e.sel(y_inf, e.sel(e.cmp("==", ax, one), one, e.sel(big, inf, zero)), r)
        # negative base (incl. -0, -inf): odd integer exponents keep the sign
        r = e.sel(b.and_(e.signbit(x), y_odd), e.neg(r), r)
        # finite negative base with a non-integer exponent: NaN
        neg_finite = b.and_(e.cmp("<", x, zero), e.cmp(">", x, e.f(-math.inf)))
        r = e.sel(b.and_(neg_finite, b.not_(y_int)), e.f(math.nan), r)
        r = e.sel(b.or_(e.isnan(x), e.isnan(y)), e.add(x, y), r)
        return e.sel(b.or_(e.cmp("==", y, zero), e.cmp("==", x, one)), one, r)


# -------------------------------------------------------------------------------------------
# A ready-made elementwise loop (tests, benchmarks, and a reference for code generators)
# -------------------------------------------------------------------------------------------
def define_map_kernel(vm: VecMath, name: str, function: str, dtype: str,
                      lanes: int) -> ir.Function:
    """Define ``void name(ptr x, [ptr y,] ptr out, i64 n)``: ``out[i] = function(x[i][, y[i]])``.

    ``function``: one of :data:`FUNCTIONS` or ``"pow"``; ``dtype``: ``"f32"`` or ``"f64"``.
    The main loop works on ``<lanes x T>`` vectors, the tail (n mod lanes elements) on
    scalars, as kiln's elementwise kernels do. ``lanes=1`` gives a plain scalar loop, which
    LLVM's loop vectorizer widens by itself, since every function is straight-line code
    except sin/cos without ``bounded`` (their libm branch keeps such a loop scalar: 0.05
    Gelem/s). Measured with ``benchmarks/bench_vecmath.py --scalar``: f32 exp 2.18 Gelem/s
    (explicit vectors 2.19), log 1.40 (1.42), tanh 1.04 (1.05), but f64 log 0.15 (0.41),
    erf 0.14 (0.28), softplus 0.10 (0.16): the cost model does not always pick the full
    width. Explicit vectors are the reliable choice.
    """
    if dtype not in ("f32", "f64"):
        raise ValueError(f"define_map_kernel: dtype must be f32 or f64, got {dtype!r}")
    if lanes < 1:
        raise ValueError(f"define_map_kernel: lanes must be >= 1, got {lanes}")
    elem = F32 if dtype == "f32" else F64
    size = 4 if dtype == "f32" else 8
    vec = ir.VectorType(elem, lanes) if lanes > 1 else elem  # lanes=1: a plain scalar loop
    nin = 2 if function == "pow" else 1
    ptr = ir.PointerType()
    fn = ir.Function(vm.module, ir.FunctionType(ir.VoidType(), [ptr] * (nin + 1) + [I64]),
                     name=name)
    for arg in fn.args[:-1]:
        arg.add_attribute("noalias")
    ins, out, n = list(fn.args[:nin]), fn.args[nin], fn.args[-1]
    entry = fn.append_basic_block("entry")
    vhead, vbody = fn.append_basic_block("vec.head"), fn.append_basic_block("vec.body")
    thead, tbody = fn.append_basic_block("tail.head"), fn.append_basic_block("tail.body")
    done = fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    nvec = b.sub(n, b.srem(n, I64(lanes)), name="nvec")
    b.branch(vhead)

    def body(i, ty):
        args = [b.load(b.gep(p, [i], inbounds=True, source_etype=elem), typ=ty, align=size)
                for p in ins]
        y = vm.call(function, b, *args)
        b.store(y, b.gep(out, [i], inbounds=True, source_etype=elem), align=size)

    b.position_at_end(vhead)
    i = b.phi(I64, name="i")
    i.add_incoming(I64(0), entry)
    b.cbranch(b.icmp_signed("<", i, nvec), vbody, thead)
    b.position_at_end(vbody)
    body(i, vec)
    i.add_incoming(b.add(i, I64(lanes)), vbody)
    b.branch(vhead)

    b.position_at_end(thead)
    j = b.phi(I64, name="j")
    j.add_incoming(i, vhead)
    b.cbranch(b.icmp_signed("<", j, n), tbody, done)
    b.position_at_end(tbody)
    body(j, elem)
    j.add_incoming(b.add(j, I64(1)), tbody)
    b.branch(thead)
    b.position_at_end(done)
    b.ret_void()
    return fn
