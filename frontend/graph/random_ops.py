"""Random ops of the graph API: ``random_normal``, ``random_uniform``, ``truncated_normal``.

kiln's random numbers are counter based (Philox, see ``compiler/ops/random.py``): each op
has a fixed 64-bit seed and reads a step counter. The session owns that counter and
advances it once per ``run``, so a random op used inside the graph (noise, dropout) draws
new numbers on every run, while one run sees one value per op wherever it is used.

Seeds follow TensorFlow 1's rules: with a graph-level seed (``set_random_seed``) every op
gets a reproducible seed (from the graph seed and the op's own ``seed`` or its position
among the graph's random ops); with neither seed set the op's seed is drawn from the
operating system once, when the op is built. (TensorFlow would draw new numbers in each
new session; here two sessions over one graph reproduce each other, which helps comparing
backends.)
"""
from __future__ import annotations

import numbers
import secrets

import numpy as np

from frontend.graph import dtypes as _dt
from frontend.graph.array_ops import _dims_at_build, _shape_input
from frontend.graph.core import Graph, Tensor, _graph_of, convert_to_tensor, make_tensor

__all__ = ["random_normal", "random_uniform", "truncated_normal", "get_seed"]

DEFAULT_GRAPH_SEED = 87654321  # used when only an op seed is given (TensorFlow's constant)


def get_seed(graph: Graph, op_seed: int | None) -> int:
    """The 64-bit kiln seed of a new random op of ``graph`` (see the module docstring)."""
    if graph.seed is None and op_seed is None:
        return secrets.randbits(64)
    if op_seed is None:
        op_seed = graph.next_seed_id()
    g = DEFAULT_GRAPH_SEED if graph.seed is None else graph.seed
    return derive_seed(g, int(op_seed))


def derive_seed(*parts: int) -> int:
    """A well-mixed 64-bit seed from integers (SeedSequence hashing)."""
    ss = np.random.SeedSequence([p % (1 << 64) for p in parts])
    return int(ss.generate_state(1, np.uint64)[0])


def _param(value, dt, what: str):
    """A distribution parameter: a Python number (an op attribute) or a tensor input."""
    if isinstance(value, Tensor):
        return None, convert_to_tensor(value, dtype=dt)
    if isinstance(value, (numbers.Real, np.generic, np.ndarray)) and np.ndim(value) == 0:
        return float(value), None
    return None, convert_to_tensor(value, dtype=dt, name=what)


def _random_op(op_type, shape, dt, seed, name, params, draw):
    """Common skeleton: shape (static or tensor), float params (numbers or tensors)."""
    static, shape_t = _shape_input(shape, op_type)
    consts, tensors = [], []
    for value, what in params:
        c, t = _param(value, dt, what)
        consts.append(c)
        tensors.append(t)
    ins = ([shape_t] if shape_t is not None else []) + [t for t in tensors if t is not None]
    kseed = get_seed(_graph_of(ins), seed)

    def lower(ctx, *vals):
        vals = list(vals)
        sv = vals.pop(0) if shape_t is not None else None
        dims = _dims_at_build(ctx, static, sv, op_type)
        args = [c if t is None else vals.pop(0) for c, t in zip(consts, tensors)]
        return draw(ctx, dims, kseed, args)

    if shape_t is None and not any(t is not None for t in tensors):
        return make_tensor(op_type, [], lower, name=name or op_type, specs=[(static, dt)],
                           attrs={"seed": kseed})
    return make_tensor(op_type, ins, lower, name=name or op_type, dtypes=[dt],
                       attrs={"seed": kseed})


def _scale_shift(b, z, scale, shift):
    """``z * scale + shift`` where scale/shift are numbers (folded) or values."""
    if not (isinstance(scale, float) and scale == 1.0):
        z = b.mul(z, scale)
    if not (isinstance(shift, float) and shift == 0.0):
        z = b.add(z, shift)
    return z


def _float_dtype(dtype, what) -> _dt.DType:
    dt = _dt.as_dtype(dtype)
    if not dt.is_floating:
        raise TypeError(f"{what}: dtype must be float32 or float64, got {dt.name}")
    return dt


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None,
                  name: str | None = None) -> Tensor:
    """Normal samples of ``shape`` with the given mean and standard deviation."""
    dt = _float_dtype(dtype, "random_normal")

    def draw(ctx, dims, kseed, args):
        m, s = args
        if isinstance(m, float) and isinstance(s, float):
            return ctx.b.random_normal(ctx.rng_step(), seed=kseed, shape=dims, dtype=dt.kiln,
                                       mean=m, stddev=s)
        z = ctx.b.random_normal(ctx.rng_step(), seed=kseed, shape=dims, dtype=dt.kiln)
        return _scale_shift(ctx.b, z, s, m)

    return _random_op("RandomStandardNormal", shape, dt, seed, name or "random_normal",
                      [(mean, "mean"), (stddev, "stddev")], draw)


def random_uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None,
                   name: str | None = None) -> Tensor:
    """Uniform samples in ``[minval, maxval)`` (floats: maxval defaults to 1; integers need
    maxval)."""
    dt = _dt.as_dtype(dtype)
    if dt.is_bool:
        raise TypeError("random_uniform: dtype must be a float or int type, got bool")
    if dt.is_integer:
        if maxval is None:
            raise ValueError("random_uniform: maxval must be given for integer dtypes")
        lo, hi = int(minval), int(maxval)
        if lo >= hi:
            raise ValueError(f"random_uniform: need minval < maxval, got {lo} and {hi}")

        def draw_int(ctx, dims, kseed, args):
            u = ctx.b.random_uniform(ctx.rng_step(), seed=kseed, shape=dims, dtype="f64",
                                     minval=0.0, maxval=float(hi - lo))
            # u >= 0, so truncation toward zero is floor; u < hi - lo keeps the range exact
            return ctx.b.add(ctx.b.cast(u, dtype=dt.kiln), lo)

        return _random_op("RandomUniformInt", shape, dt, seed, name or "random_uniform", [],
                          draw_int)

    def draw(ctx, dims, kseed, args):
        lo_, hi_ = args
        if isinstance(lo_, float) and isinstance(hi_, float):
            return ctx.b.random_uniform(ctx.rng_step(), seed=kseed, shape=dims, dtype=dt.kiln,
                                        minval=lo_, maxval=hi_)
        u = ctx.b.random_uniform(ctx.rng_step(), seed=kseed, shape=dims, dtype=dt.kiln)
        span = hi_ - lo_ if isinstance(lo_, float) and isinstance(hi_, float) else \
            ctx.b.sub(hi_, lo_)
        return _scale_shift(ctx.b, u, span, lo_)

    return _random_op("RandomUniform", shape, dt, seed, name or "random_uniform",
                      [(minval, "minval"), (1.0 if maxval is None else maxval, "maxval")], draw)


_TRUNC_CANDIDATES = 4


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None,
                     name: str | None = None) -> Tensor:
    """Normal samples with values beyond two standard deviations re-drawn.

    Built from primitives: four independent normal draws, each element taking the first one
    within [-2, 2]. All four miss with probability 0.0455**4 ~ 4e-6; such an element is
    clipped to +-2 standard deviations (a negligible distortion, documented rather than
    hidden).
    """
    dt = _float_dtype(dtype, "truncated_normal")

    def draw(ctx, dims, kseed, args):
        b = ctx.b
        m, s = args
        step = ctx.rng_step()
        cands = [b.random_normal(step, seed=derive_seed(kseed, k), shape=dims, dtype=dt.kiln)
                 for k in range(_TRUNC_CANDIDATES)]
        z = b.clip(cands[-1], min=-2.0, max=2.0)
        for c in reversed(cands[:-1]):
            z = b.where(b.less_equal(b.abs(c), 2.0), c, z)
        return _scale_shift(b, z, s, m)

    return _random_op("TruncatedNormal", shape, dt, seed, name or "truncated_normal",
                      [(mean, "mean"), (stddev, "stddev")], draw)
