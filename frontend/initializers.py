"""Weight initializers (Keras's), computed with numpy: initial values are state, not graph ops.

An initializer is called as ``init(shape, dtype="float32") -> np.ndarray``. Fans follow
Keras: for a kernel of shape ``(..., fan_in_axis, fan_out_axis)`` the receptive field is the
product of the leading dimensions, so a Dense kernel ``(in, out)`` has ``fan_in = in`` and a
Conv2D kernel ``(kh, kw, in, out)`` has ``fan_in = kh*kw*in``, ``fan_out = kh*kw*out``.

Distributions and defaults are Keras 3's:

* ``glorot_uniform`` (Xavier): U(-l, l), ``l = sqrt(6 / (fan_in + fan_out))``.
* ``glorot_normal``: truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...``.
* ``he_uniform``: ``l = sqrt(6 / fan_in)``; ``he_normal``: truncated, ``sqrt(2 / fan_in)/0.8796``.
* ``lecun_uniform`` / ``lecun_normal``: scale 1, fan_in.
* Keras's "normal" variance-scaling draws are truncated at two standard deviations (values
  beyond are redrawn, as ``tf.random.truncated_normal`` does); 0.87962566103423978 is the
  standard deviation of a unit normal truncated to [-2, 2], so dividing by it keeps the
  intended variance.
* ``random_normal`` N(0, 0.05), ``random_uniform`` U(-0.05, 0.05), ``truncated_normal``
  (0, 0.05), ``zeros``, ``ones``, ``constant``, ``orthogonal`` (the recurrent kernels'
  default), ``identity``.

Seeding: an initializer built with ``seed=s`` returns the same values on every call. With
``seed=None`` (the default) each call draws a fresh seed from the global seed stream, which
:func:`set_random_seed` resets, so a whole model is reproducible from one seed (Keras's
``keras.utils.set_random_seed``).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "Identity", "get",
           "serialize", "set_random_seed", "next_seed", "compute_fans"]

# -- the global seed stream -----------------------------------------------------------------
_SEED_STREAM = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Make every unseeded initializer, dropout seed and fit() shuffle reproducible."""
    global _SEED_STREAM
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    _SEED_STREAM = np.random.default_rng(int(seed))
    np.random.seed(int(seed) % (2 ** 32))  # numpy's legacy global RNG too, as Keras does


def next_seed() -> int:
    """A fresh 63-bit seed from the global stream."""
    return int(_SEED_STREAM.integers(0, 2 ** 63 - 1))


def compute_fans(shape) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape, Keras's rule (see the module docstring)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _np_dtype(dtype) -> np.dtype:
    from frontend.layers.tracing import numpy_dtype
    return numpy_dtype(dtype)


def truncated_normal(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal(mean, stddev) samples with everything beyond 2 stddev redrawn."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev + mean


class Initializer:
    """Base class: ``init(shape, dtype) -> np.ndarray``; subclasses implement ``_sample``."""

    seed: int | None = None

    def __call__(self, shape, dtype: Any = "float32") -> np.ndarray:
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"{type(self).__name__}: negative dimension in shape {shape}")
        rng = np.random.default_rng(self.seed if self.seed is not None else next_seed())
        dt = _np_dtype(dtype)
        return np.asarray(self._sample(rng, shape, dt), dtype=dt).reshape(shape)

    def _sample(self, rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def _sample(self, rng, shape, dtype):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def _sample(self, rng, shape, dtype):
        return np.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def _sample(self, rng, shape, dtype):
        return np.broadcast_to(np.asarray(self.value, dtype=dtype), shape).copy()

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def _sample(self, rng, shape, dtype):
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        if not minval < maxval:
            raise ValueError(f"RandomUniform: minval must be < maxval, got {minval} and {maxval}")
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def _sample(self, rng, shape, dtype):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def _sample(self, rng, shape, dtype):
        return truncated_normal(rng, shape, self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


_TRUNCATED_STDDEV = 0.87962566103423978  # stddev of N(0, 1) truncated to [-2, 2]


class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, n = fan_in, fan_out or their mean."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None):
        if not scale > 0:
            raise ValueError(f"VarianceScaling: scale must be > 0, got {scale}")
        if mode not in self.MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {', '.join(self.MODES)}, "
                             f"got {mode!r}")
        if distribution == "normal":  # Keras's alias
            distribution = "truncated_normal"
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of "
                             f"{', '.join(self.DISTRIBUTIONS)}, got {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def _sample(self, rng, shape, dtype):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        var = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return truncated_normal(rng, shape, 0.0, math.sqrt(var) / _TRUNCATED_STDDEV)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), size=shape)
        limit = math.sqrt(3.0 * var)
        return rng.uniform(-limit, limit, size=shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    def __init__(self, seed: int | None = None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    def __init__(self, seed: int | None = None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunUniform(VarianceScaling):
    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix over the last axis (Saxe et al.), times ``gain``."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain, self.seed = float(gain), seed

    def _sample(self, rng, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: shape must have rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def _sample(self, rng, shape, dtype):
        if len(shape) != 2:
            raise ValueError(f"Identity: shape must be 2-D, got {shape}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


_BY_NAME: dict[str, Callable[[], Initializer]] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "xavier_uniform": GlorotUniform, "xavier_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity,
    # Keras's short aliases
    "uniform": RandomUniform, "normal": RandomNormal,
}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def get(identifier) -> Initializer | Callable:
    """An initializer from a name ('glorot_uniform', 'GlorotUniform', ...), an instance, or a
    callable ``f(shape, dtype) -> array`` (returned as is)."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else _snake(identifier)
        if key not in _BY_NAME:
            raise ValueError(f"unknown initializer {identifier!r}; expected one of "
                             f"{', '.join(sorted(_BY_NAME))}, an Initializer or a callable")
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise ValueError(f"initializer must be a name, an Initializer or a callable, got "
                     f"{identifier!r}")


def serialize(init) -> str:
    """A short description for messages and summaries."""
    return type(init).__name__ if isinstance(init, Initializer) else repr(init)
