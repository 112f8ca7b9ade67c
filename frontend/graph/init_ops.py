"""Initializers, ``get_variable`` and ``variable_scope`` (TensorFlow 1's variable sharing).

Initializers are callables ``init(shape, dtype=None, partition_info=None) -> Tensor`` that
build the initial value as graph ops (so random initializers draw when the variable's
initializer runs). Fans follow TensorFlow: for a kernel of shape ``[..., in, out]`` the
receptive field (the product of the leading dimensions) multiplies both fans.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import numpy as np

from frontend.graph import array_ops, random_ops
from frontend.graph import dtypes as _dt
from frontend.graph.core import GraphKeys, Tensor, constant, get_default_graph
from frontend.graph.shape import as_shape
from frontend.graph.variables import Variable

__all__ = ["Initializer", "zeros_initializer", "ones_initializer", "constant_initializer",
           "random_normal_initializer", "random_uniform_initializer",
           "truncated_normal_initializer", "variance_scaling_initializer",
           "glorot_uniform_initializer", "glorot_normal_initializer", "he_normal", "he_uniform",
           "lecun_normal", "lecun_uniform", "get_variable", "variable_scope",
           "get_variable_scope", "AUTO_REUSE"]


class Initializer:
    """Base class of initializers: ``init(shape, dtype)`` returns a tensor."""

    dtype = None

    def _dtype(self, dtype):
        return _dt.as_dtype(dtype if dtype is not None else (self.dtype or _dt.float32))

    def __call__(self, shape, dtype=None, partition_info=None) -> Tensor:
        raise NotImplementedError


class zeros_initializer(Initializer):
    def __init__(self, dtype=None):
        self.dtype = dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        return array_ops.zeros(shape, self._dtype(dtype))


class ones_initializer(Initializer):
    def __init__(self, dtype=None):
        self.dtype = dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        return array_ops.ones(shape, self._dtype(dtype))


class constant_initializer(Initializer):
    """A scalar (filled in) or an array of exactly the variable's number of elements."""

    def __init__(self, value=0, dtype=None, verify_shape: bool = False):
        self.value = value
        self.dtype = dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        return constant(self.value, dtype=self._dtype(dtype), shape=shape)


class random_normal_initializer(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=None):
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.random_normal(shape, self.mean, self.stddev, self._dtype(dtype),
                                        seed=self.seed)


class random_uniform_initializer(Initializer):
    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=None):
        self.minval, self.maxval, self.seed, self.dtype = minval, maxval, seed, dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.random_uniform(shape, self.minval, self.maxval, self._dtype(dtype),
                                         seed=self.seed)


class truncated_normal_initializer(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=None):
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.truncated_normal(shape, self.mean, self.stddev, self._dtype(dtype),
                                           seed=self.seed)


def _fans(shape) -> tuple[float, float]:
    shape = list(shape)
    if not shape:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class variance_scaling_initializer(Initializer):
    """Samples with variance ``scale / n`` where n is fan_in, fan_out or their average
    (He, Glorot/Xavier and LeCun initializations are special cases)."""

    # stddev of a unit normal truncated to [-2, 2]: the truncated draw is rescaled by it
    _TRUNC_STD = 0.87962566103423978

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=None):
        if scale <= 0:
            raise ValueError(f"variance_scaling_initializer: scale must be > 0, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"variance_scaling_initializer: mode must be fan_in, fan_out or "
                             f"fan_avg, got {mode!r}")
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"variance_scaling_initializer: distribution must be "
                             f"truncated_normal, untruncated_normal or uniform, got "
                             f"{distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.seed, self.dtype = seed, dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        dims = as_shape(shape).as_list()
        fan_in, fan_out = _fans(dims)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, n)
        dt = self._dtype(dtype)
        if self.distribution == "truncated_normal":
            return random_ops.truncated_normal(dims, 0.0, math.sqrt(scale) / self._TRUNC_STD,
                                               dt, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(dims, 0.0, math.sqrt(scale), dt, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_ops.random_uniform(dims, -limit, limit, dt, seed=self.seed)


def glorot_uniform_initializer(seed=None, dtype=None):
    """Xavier/Glorot uniform: ``U(-sqrt(6 / (fan_in + fan_out)), +...)``."""
    return variance_scaling_initializer(1.0, "fan_avg", "uniform", seed, dtype)


def glorot_normal_initializer(seed=None, dtype=None):
    return variance_scaling_initializer(1.0, "fan_avg", "truncated_normal", seed, dtype)


def he_normal(seed=None):
    """He initialization for ReLU layers: variance ``2 / fan_in`` (truncated normal)."""
    return variance_scaling_initializer(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    return variance_scaling_initializer(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    return variance_scaling_initializer(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None):
    return variance_scaling_initializer(1.0, "fan_in", "uniform", seed)


# -- variable scopes ---------------------------------------------------------------------------
class _AutoReuse:
    def __repr__(self) -> str:
        return "tf.AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


class VariableScope:
    """The current variable scope: name prefix, reuse flag and defaults."""

    def __init__(self, name: str, reuse=None, initializer=None, regularizer=None, dtype=None):
        self.name = name
        self.reuse = reuse
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = dtype

    def reuse_variables(self) -> None:
        self.reuse = True

    @property
    def original_name_scope(self) -> str:
        return self.name + "/" if self.name else ""


def get_variable_scope() -> VariableScope:
    g = get_default_graph()
    if not g._var_scopes:
        g._var_scopes.append(VariableScope(""))
    return g._var_scopes[-1]


@contextlib.contextmanager
def variable_scope(name_or_scope, default_name: str | None = None, values=None,
                   initializer=None, regularizer=None, reuse=None, dtype=None,
                   **kwargs) -> Iterator[VariableScope]:
    """Prefix ``get_variable`` names (and op names) with a scope; ``reuse=True`` (or
    ``AUTO_REUSE``) shares existing variables instead of creating them."""
    g = get_default_graph()
    outer = get_variable_scope()
    if isinstance(name_or_scope, VariableScope):
        name = name_or_scope.name
        op_scope = name_or_scope.original_name_scope or None  # re-enter it as is
    else:
        base = name_or_scope if name_or_scope is not None else default_name
        if not base:
            raise ValueError("variable_scope: give a name or a default_name")
        name = f"{outer.name}/{base}" if outer.name else base
        op_scope = base
    inherited = True if outer.reuse is True else outer.reuse
    scope = VariableScope(name, reuse if reuse is not None else inherited,
                          initializer if initializer is not None else outer.initializer,
                          regularizer if regularizer is not None else outer.regularizer,
                          dtype if dtype is not None else outer.dtype)
    g._var_scopes.append(scope)
    try:
        with g.name_scope(op_scope):
            yield scope
    finally:
        g._var_scopes.pop()


def get_variable(name: str, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 **kwargs) -> Variable:
    """The variable ``scope/name``: created on first use, shared when the scope reuses."""
    g = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    have = g._variables_by_name.get(full)
    if have is not None:
        if scope.reuse is None or scope.reuse is False:
            raise ValueError(f"variable {full} already exists, disallowed; did you mean to set "
                             f"reuse=True or reuse=tf.AUTO_REUSE in the variable scope?")
        if shape is not None and not as_shape(shape).is_compatible_with(have.shape):
            raise ValueError(f"trying to share variable {full} of shape {have.shape} with "
                             f"shape {as_shape(shape)}")
        return have
    if scope.reuse is True:
        raise ValueError(f"variable {full} does not exist, or was not created with "
                         f"get_variable(); did you mean to set reuse=tf.AUTO_REUSE?")
    dt = _dt.as_dtype(dtype if dtype is not None else (scope.dtype or _dt.float32))
    init = initializer if initializer is not None else scope.initializer
    if isinstance(init, (Tensor, np.ndarray, list, tuple, int, float)):
        value = init
    else:
        if shape is None:
            raise ValueError(f"get_variable {full}: shape is required with an initializer "
                             f"function")
        if init is None:
            init = glorot_uniform_initializer() if dt.is_floating else zeros_initializer()
        value = (lambda i=init: i(as_shape(shape).as_list(), dt))
    if full.lower() in g._used:
        raise ValueError(f"get_variable {full}: the name is already taken by an op")
    v = Variable(value, trainable=True if trainable is None else trainable,
                 collections=collections, name=full + "/", dtype=dt, shape=shape)
    g._used.add(full.lower())
    g._variables_by_name[full] = v
    reg = regularizer if regularizer is not None else scope.regularizer
    if reg is not None:
        loss = reg(v)
        if loss is not None:
            g.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return v
