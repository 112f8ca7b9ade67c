"""Random ops: ``random_uniform`` and ``random_normal`` (primitives) and ``dropout`` (a composite).

Counter-based, stateless generation
-----------------------------------
Random numbers come from the Philox4x32-10 block cipher (Salmon, Moraes, Dror, Shaw,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011; the Random123 library). Every
element is a pure function of (seed, step, element index) computed with 32-bit integer
multiplies, xors and adds, so compiled code produces exactly the same bits per element,
in any order, on any number of threads, with no generator state to carry between steps.
The op's one operand is the per-step counter (e.g. the training step): feeding a new
step draws fresh numbers; feeding the same step reproduces them. (Two random ops with the
same seed and the same step produce the same stream, so frontends give every random op
its own seed.)

Philox4x32-10 block function (all arithmetic modulo 2**32)::

    M0, M1 = 0xD2511F53, 0xCD9E8D57          # multipliers
    W0, W1 = 0x9E3779B9, 0xBB67AE85          # Weyl key increments
    input: counter words (c0, c1, c2, c3), key words (k0, k1)
    repeat 10 times (round r = 0..9):
        if r > 0: k0 += W0; k1 += W1         # key bump before rounds 1..9
        p0 = M0 * c0   (exact 64-bit product; hi0 = p0 >> 32, lo0 = p0 & 0xFFFFFFFF)
        p1 = M1 * c2   (hi1, lo1 likewise)
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    output: words w[0..3] = (c0, c1, c2, c3)

(In LLVM IR: ``zext`` to i64, ``mul``, ``lshr 32`` and ``trunc`` give mulhi/mullo.)
:func:`philox4x32` exposes this block function; it reproduces Random123's known-answer
vectors.

Key and counter of an op
------------------------
* ``seed`` is an attribute, a 64-bit integer (signed or unsigned spelling; negative seeds
  are taken modulo 2**64, i.e. two's complement). Key: ``k0 = lo32(seed)``,
  ``k1 = hi32(seed)``.
* ``step`` is the operand's value (i32 or i64 scalar, sign-extended to 64 bits and taken
  modulo 2**64).
* Elements are numbered by their row-major linear index ``e`` in the result. Element
  ``e`` reads block ``block = e // P`` (``P`` elements per block, below) at
  ``lane = e % P``, and that block's Philox counter is
  ``(lo32(block), hi32(block), lo32(step), hi32(step))``.

random_uniform (``P = 4`` for f32, ``P = 2`` for f64)
-----------------------------------------------------
* f32: one word per element: ``u = (w[lane] >> 8) * 2**-24``, exactly representable in
  f32, in ``[0, 1)``.
* f64: two words per element, the pair read little-endian as a 64-bit integer:
  ``x = w[2*lane] | (w[2*lane + 1] << 32)``, ``u = (x >> 11) * 2**-53`` in ``[0, 1)``
  (53 bits: the top 21 bits of ``w[2*lane]`` and all 32 bits of ``w[2*lane + 1]``).
* Result, in the result dtype ``T`` with ``lo = T(minval)``, ``hi = T(maxval)``::

      span = hi - lo          (one T subtraction; a compile-time constant)
      r = lo + u * span       (one T multiply, then one T add: no FMA contraction)
      r = min(r, pred(hi))    (pred = the largest T value below hi)

  The clamp matters only when rounding of the add would reach ``hi`` (e.g. [1, 2) in
  f32); it keeps the documented range ``[minval, maxval)`` exact. It is the identity for
  the default [0, 1).

random_normal (``P = 4`` for f32, ``P = 2`` for f64), Box-Muller in float64
-------------------------------------------------------------------------------
Each block holds two (f32) or one (f64) pair of uniforms; a pair gives two normals, the
cosine one to the even lane and the sine one to the odd lane:

* f32: pair ``p = lane // 2`` uses words ``a = w[2p]``, ``b = w[2p + 1]`` at full 32 bits:
  ``u1 = 1 - a * 2**-32``, ``u2 = b * 2**-32``.
* f64: ``x1 = w[0] | (w[1] << 32)``, ``x2 = w[2] | (w[3] << 32)``:
  ``u1 = 1 - (x1 >> 11) * 2**-53``, ``u2 = (x2 >> 11) * 2**-53``.
* All in f64: ``u1`` lies in ``(0, 1]`` (never 0, so ``log(0)`` cannot happen; ``u1 = 1``
  gives ``radius = 0``), ``u2`` in ``[0, 1)``::

      radius = sqrt(-2 * log(u1))
      theta  = 6.283185307179586 * u2          (2*pi rounded to f64)
      n      = radius * cos(theta) if lane is even else radius * sin(theta)
      result = T(mean + stddev * n)            (f64 multiply, add, then round to T)

  ``log``, ``cos`` and ``sin`` come from the platform's libm, so compiled code agrees with
  this reference to within an ulp or so of f64 (exactly, after rounding to f32, in all but
  rare ties); the integer part (which bits, which element) is exact.

Neither op has a float operand, so neither is differentiable.

dropout
-------
:func:`dropout` is a composite built from primitives: ``keep = greater_equal(U, rate)``
with ``U = random_uniform(step)`` of ``x``'s shape and dtype, and
``y = where(keep, x * (1 / (1 - rate)), 0)`` (inverted dropout, as Keras and PyTorch).
Its gradient is the gradient of ``where`` and ``mul`` with the same mask, because the mask
is recomputed bit-exactly from (seed, step).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.types import TensorType
from compiler.ops._util import FLOATS
from compiler.kernels import expr as ex
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, register

__all__ = ["philox4x32", "PHILOX_M0", "PHILOX_M1", "PHILOX_W0", "PHILOX_W1", "dropout"]

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85

_MASK32 = np.uint64(0xFFFFFFFF)
_SH32 = np.uint64(32)
_U64_MOD = 1 << 64
_TWO_PI = 6.283185307179586


# -- the block function -----------------------------------------------------------------------
def _rounds(c0, c1, c2, c3, k0: int, k1: int, rounds: int):
    """Philox4x32 rounds, in place, on uint64 arrays holding 32-bit words; keys are ints."""
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    p0, p1 = np.empty_like(c0), np.empty_like(c0)
    for r in range(rounds):
        if r:
            k0 = (k0 + PHILOX_W0) & 0xFFFFFFFF
            k1 = (k1 + PHILOX_W1) & 0xFFFFFFFF
        np.multiply(c0, m0, out=p0)
        np.multiply(c2, m1, out=p1)
        np.right_shift(p1, _SH32, out=c0)          # c0' = hi1 ^ c1 ^ k0
        c0 ^= c1
        c0 ^= np.uint64(k0)
        np.right_shift(p0, _SH32, out=c2)          # c2' = hi0 ^ c3 ^ k1
        c2 ^= c3
        c2 ^= np.uint64(k1)
        np.bitwise_and(p1, _MASK32, out=c1)        # c1' = lo1
        np.bitwise_and(p0, _MASK32, out=c3)        # c3' = lo0
    return c0, c1, c2, c3


def philox4x32(counter, key, rounds: int = 10) -> np.ndarray:
    """The Philox4x32 block function (10 rounds by default, as Philox4x32-10).

    ``counter``: four 32-bit words, shape ``(4, ...)`` (any trailing batch shape, e.g.
    ``[0, 0, 0, 0]``); ``key``: two 32-bit words ``(k0, k1)``. Returns the four output
    words as a ``uint32`` array of ``counter``'s shape.
    """
    c = np.asarray(counter)
    if c.shape[:1] != (4,):
        raise ValueError(f"philox4x32: expected 4 counter words, got shape {c.shape}")
    if c.dtype.kind not in "ui" or (c.size and (c.min() < 0 or c.max() > 0xFFFFFFFF)):
        raise ValueError("philox4x32: counter words must be integers in [0, 2**32)")
    k = [int(x) for x in key]
    if len(k) != 2 or not all(0 <= x <= 0xFFFFFFFF for x in k):
        raise ValueError(f"philox4x32: expected 2 key words in [0, 2**32), got {list(key)}")
    words = [np.array(c[i], dtype=np.uint64, ndmin=1) for i in range(4)]
    out = _rounds(*words, k[0], k[1], rounds)
    return np.stack(out).astype(np.uint32).reshape(c.shape)


# Blocks are generated in chunks so that the round temporaries stay in cache.
_CHUNK = 1 << 14


def _generate(n: int, per_block: int, step: int, seed: int, out_dtype, convert) -> np.ndarray:
    """``n`` elements; ``convert(w0, w1, w2, w3)`` maps a chunk of blocks' words (uint64
    arrays) to an array of shape ``(blocks, per_block)`` whose rows are lanes in order."""
    out = np.empty(n, dtype=out_dtype)
    n_blocks = -(-n // per_block)
    s_lo, s_hi = step & 0xFFFFFFFF, step >> 32
    for start in range(0, n_blocks, _CHUNK):
        stop = min(n_blocks, start + _CHUNK)
        block = np.arange(start, stop, dtype=np.uint64)
        c1 = block >> _SH32
        block &= _MASK32
        c2 = np.full(stop - start, s_lo, dtype=np.uint64)
        c3 = np.full(stop - start, s_hi, dtype=np.uint64)
        words = _rounds(block, c1, c2, c3, seed & 0xFFFFFFFF, seed >> 32, 10)
        e0, e1 = start * per_block, min(n, stop * per_block)
        out[e0:e1] = convert(*words).reshape(-1)[:e1 - e0]
    return out


def _u64(lo, hi):
    """Two 32-bit words read little-endian as one 64-bit integer."""
    return lo | (hi << _SH32)


# -- shared attribute/type rules ----------------------------------------------------------------
def _check_common(name: str, ts, a) -> TensorType:
    c = ts[0]
    if c.rank != 0 or not dtypes.is_int(c.dtype):
        raise OpError(f"{name}: expected the step counter to be an integer scalar "
                      f"(i64[] or i32[]), got {c}")
    if a["dtype"] not in FLOATS:
        raise OpError(f"{name}: expected dtype f32 or f64, got {a['dtype']}")
    if not -(1 << 63) <= a["seed"] < _U64_MOD:
        raise OpError(f"{name}: expected a 64-bit seed in [-2**63, 2**64), got {a['seed']}")
    return TensorType(a["shape"], a["dtype"])


def _step_seed(xs, a) -> tuple[int, int]:
    return int(np.asarray(xs[0]).item()) % _U64_MOD, a["seed"] % _U64_MOD


# -- random_uniform -----------------------------------------------------------------------------
def _uniform_infer(ts, a):
    t = _check_common("random_uniform", ts, a)
    lo_f, hi_f = a["minval"], a["maxval"]
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        raise OpError(f"random_uniform: expected finite minval and maxval, got {lo_f}, {hi_f}")
    npt = dtypes.to_numpy(t.dtype).type
    lo, hi = npt(lo_f), npt(hi_f)
    if not lo < hi:
        extra = "" if lo_f >= hi_f else f" (they are equal once rounded to {t.dtype})"
        raise OpError(f"random_uniform: expected minval < maxval, got minval={lo_f}, "
                      f"maxval={hi_f}{extra}")
    with np.errstate(over="ignore"):
        if not np.isfinite(hi - lo):
            raise OpError(f"random_uniform: maxval - minval overflows {t.dtype} "
                          f"(minval={lo_f}, maxval={hi_f})")
    return [t]


def _uniform_f32(w0, w1, w2, w3):
    bits = np.stack((w0, w1, w2, w3), axis=1) >> np.uint64(8)
    return bits.astype(np.float32) * np.float32(2.0 ** -24)


def _uniform_f64(w0, w1, w2, w3):
    bits = np.stack((_u64(w0, w1), _u64(w2, w3)), axis=1) >> np.uint64(11)
    return bits.astype(np.float64) * 2.0 ** -53


def _uniform_impl(xs, a, ctx):
    step, seed = _step_seed(xs, a)
    shape, dt = a["shape"], a["dtype"]
    npt = dtypes.to_numpy(dt).type
    if dt == "f32":
        u = _generate(math.prod(shape), 4, step, seed, npt, _uniform_f32)
    else:
        u = _generate(math.prod(shape), 2, step, seed, npt, _uniform_f64)
    lo, hi = npt(a["minval"]), npt(a["maxval"])
    if not (lo == 0 and hi == 1):  # the identity for [0, 1)
        u *= hi - lo
        u += lo
        np.minimum(u, np.nextafter(hi, npt(-np.inf)), out=u)
    return u.reshape(shape)


_NO_GRAD = NotDifferentiable("it has no float operand (its one operand is the integer step "
                             "counter); random draws have no gradient")

def _random_lower(kind: str, keys: tuple[str, str]):
    def lowering(ctx):
        a, out = ctx.node.attrs, ctx.node.outputs[0]
        counter = ex.cast(ctx.operand(0), "i64")
        return ex.random_bits(kind, (a["seed"], a[keys[0]], a[keys[1]]), counter,
                              ctx.linear_index(), out.dtype)
    return lowering


register(OpDef(
    "random_uniform", "random", _uniform_infer, _uniform_impl, _NO_GRAD,
    attrs={"seed": Attr("int"), "shape": Attr("shape"), "dtype": Attr("dtype"),
           "minval": Attr("float", 0.0), "maxval": Attr("float", 1.0)},
    num_inputs=1, type_attrs=("shape", "dtype"),
    doc="uniform in [minval, maxval) from Philox4x32-10 keyed by seed, counter = step",
    lowering=_random_lower("uniform", ("minval", "maxval"))))


# -- random_normal ------------------------------------------------------------------------------
def _normal_infer(ts, a):
    t = _check_common("random_normal", ts, a)
    if not (math.isfinite(a["mean"]) and math.isfinite(a["stddev"])):
        raise OpError(f"random_normal: expected finite mean and stddev, got "
                      f"{a['mean']}, {a['stddev']}")
    if a["stddev"] < 0:
        raise OpError(f"random_normal: expected stddev >= 0, got {a['stddev']}")
    return [t]


def _box_muller(u1, u2):
    """Rows of (u1, u2) pairs -> rows of (cos, sin) normals, lanes in order."""
    radius = np.sqrt(-2.0 * np.log(u1))
    theta = _TWO_PI * u2
    return np.stack((radius * np.cos(theta), radius * np.sin(theta)), axis=-1)


def _normal_f32(w0, w1, w2, w3):
    # pair (w0, w1) -> lanes 0, 1; pair (w2, w3) -> lanes 2, 3
    u1 = 1.0 - np.stack((w0, w2), axis=1).astype(np.float64) * 2.0 ** -32
    u2 = np.stack((w1, w3), axis=1).astype(np.float64) * 2.0 ** -32
    return _box_muller(u1, u2)


def _normal_f64(w0, w1, w2, w3):
    sh = np.uint64(11)
    u1 = 1.0 - (_u64(w0, w1) >> sh).astype(np.float64) * 2.0 ** -53
    u2 = (_u64(w2, w3) >> sh).astype(np.float64) * 2.0 ** -53
    return _box_muller(u1, u2)


def _normal_impl(xs, a, ctx):
    step, seed = _step_seed(xs, a)
    shape, dt = a["shape"], a["dtype"]
    n = math.prod(shape)
    if dt == "f32":
        z = _generate(n, 4, step, seed, np.float64, _normal_f32)
    else:
        z = _generate(n, 2, step, seed, np.float64, _normal_f64)
    if not (a["mean"] == 0.0 and a["stddev"] == 1.0):
        z *= a["stddev"]
        z += a["mean"]
    return z.astype(dtypes.to_numpy(dt), copy=False).reshape(shape)


register(OpDef(
    "random_normal", "random", _normal_infer, _normal_impl, _NO_GRAD,
    attrs={"seed": Attr("int"), "shape": Attr("shape"), "dtype": Attr("dtype"),
           "mean": Attr("float", 0.0), "stddev": Attr("float", 1.0)},
    num_inputs=1, type_attrs=("shape", "dtype"),
    doc="normal(mean, stddev) by Box-Muller on Philox4x32-10 words, in f64 then cast",
    lowering=_random_lower("normal", ("mean", "stddev"))))


# -- composites ---------------------------------------------------------------------------------
def dropout(b, x, counter, rate, seed: int):
    """Inverted dropout of ``x`` built from primitives through the builder ``b``.

    Keeps each element with probability ``1 - rate`` (``random_uniform(counter) >= rate``)
    and scales kept elements by ``1 / (1 - rate)``; ``rate == 0`` returns ``x`` itself.
    ``counter`` is the integer step scalar; ``seed`` should differ between dropout layers.
    """
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise OpError(f"dropout: expected rate to be a number in [0, 1), got {rate!r}")
    rate = float(rate)
    if not 0.0 <= rate < 1.0:  # also rejects NaN
        raise OpError(f"dropout: expected rate in [0, 1), got {rate}")
    if not dtypes.is_float(x.dtype):
        raise OpError(f"dropout: expected a float operand (f32 or f64), got {x.type}")
    if rate == 0.0:
        return x
    u = b.random_uniform(counter, seed=seed, shape=x.shape, dtype=x.dtype)
    keep = b.greater_equal(u, rate)
    return b.where(keep, b.mul(x, 1.0 / (1.0 - rate)), 0.0)
