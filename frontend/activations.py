"""Activation functions (Keras's names, arguments and defaults).

Each function takes a graph :class:`~frontend.layers.tracing.Tensor` and builds the
activation from kiln's ops; given a numpy array it evaluates the same ops once (through
:func:`frontend.layers.eager.eager_apply`) and returns an array. Layers accept these
functions, their names, or any callable ``f(tensor) -> tensor``.

Defaults that differ between Keras versions follow Keras 3: ``leaky_relu`` negative slope
0.2, ``gelu`` exact (erf) unless ``approximate=True``, ``hard_sigmoid`` is
``relu6(x + 3) / 6``.
"""
from __future__ import annotations

from typing import Callable

from frontend.layers.tracing import Tensor

__all__ = ["relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
           "softmax", "log_softmax", "softplus", "softsign", "swish", "silu", "exponential",
           "relu6", "mish", "linear", "get", "serialize"]


def _graph(fn: Callable[[Tensor], Tensor]):
    """Run ``fn`` on a Tensor directly, or on an array through a one-off graph."""
    def wrapper(x, *args, **kwargs):
        if isinstance(x, Tensor):
            return fn(x, *args, **kwargs)
        from frontend.layers.eager import eager_apply
        return eager_apply(lambda t: fn(t, *args, **kwargs), x, name=fn.__name__)
    wrapper.__name__ = fn.__name__
    wrapper.__qualname__ = fn.__qualname__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


def _float(x: Tensor) -> Tensor:
    return x if x.value.dtype in ("f32", "f64") else x.astype("float32")


@_graph
def linear(x):
    """The identity."""
    return x


@_graph
def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """``max(x, 0)``; with Keras's options: slope below ``threshold``, cap at ``max_value``."""
    x = _float(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return x.op("relu")
    b = x.b
    if threshold:
        y = b.where(b.greater_equal(x.value, float(threshold)), x.value, b.mul(b.sub(x.value, threshold), negative_slope)
                    if negative_slope else 0.0)
    elif negative_slope:
        y = b.leaky_relu(x.value, alpha=float(negative_slope))
    else:
        y = b.relu(x.value)
    if max_value is not None:
        y = b.minimum(y, float(max_value))
    return Tensor(y, x.ctx)


@_graph
def relu6(x):
    """``min(max(x, 0), 6)``."""
    return Tensor(x.b.minimum(_float(x).op("relu").value, 6.0), x.ctx)


@_graph
def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` if ``x > 0`` else ``negative_slope * x``."""
    return _float(x).op("leaky_relu", alpha=float(negative_slope))


@_graph
def elu(x, alpha: float = 1.0):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return _float(x).op("elu", alpha=float(alpha))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@_graph
def selu(x):
    """``scale * elu(x, alpha)`` with the self-normalizing constants (Klambauer et al.)."""
    return _float(x).op("elu", alpha=_SELU_ALPHA) * _SELU_SCALE


@_graph
def gelu(x, approximate: bool = False):
    """``x * Phi(x)`` (Hendrycks & Gimpel); the tanh form when ``approximate``."""
    return _float(x).op("gelu", approximate=bool(approximate))


@_graph
def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return _float(x).op("sigmoid")


@_graph
def hard_sigmoid(x):
    """``relu6(x + 3) / 6`` (Keras 3)."""
    y = _float(x) + 3.0
    return Tensor(x.b.minimum(y.op("relu").value, 6.0), x.ctx) * (1.0 / 6.0)


@_graph
def tanh(x):
    """Hyperbolic tangent."""
    return _float(x).op("tanh")


@_graph
def softmax(x, axis: int = -1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (stable)."""
    return _float(x).op("softmax", axis=int(axis))


@_graph
def log_softmax(x, axis: int = -1):
    """``x - logsumexp(x)`` along ``axis``."""
    return _float(x).op("log_softmax", axis=int(axis))


@_graph
def softplus(x):
    """``log(1 + exp(x))`` (stable)."""
    return _float(x).op("softplus")


@_graph
def softsign(x):
    """``x / (|x| + 1)``."""
    x = _float(x)
    return x / (abs(x) + 1.0)


@_graph
def swish(x):
    """``x * sigmoid(x)`` (a.k.a. SiLU)."""
    x = _float(x)
    return x * x.op("sigmoid")


silu = swish


@_graph
def mish(x):
    """``x * tanh(softplus(x))``."""
    x = _float(x)
    return x * x.op("softplus").op("tanh")


@_graph
def exponential(x):
    """``exp(x)``."""
    return _float(x).op("exp")


_BY_NAME: dict[str, Callable] = {
    "linear": linear, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu,
    "selu": selu, "gelu": gelu, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "tanh": tanh,
    "softmax": softmax, "log_softmax": log_softmax, "softplus": softplus, "softsign": softsign,
    "swish": swish, "silu": silu, "mish": mish, "exponential": exponential,
}


def get(identifier) -> Callable:
    """An activation from None (linear), a name, or a callable ``f(tensor) -> tensor``."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; expected one of "
                             f"{', '.join(_BY_NAME)} or a callable")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"activation must be a name or a callable, got {identifier!r}")


def serialize(fn: Callable) -> str:
    """The activation's name (for summaries and configs)."""
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", repr(fn))
