"""Losses (Keras's names, arguments and reductions), built from kiln's graph ops.

A :class:`Loss` computes per-sample values with :meth:`Loss.call` (the last axis reduced, as
Keras) and reduces them: ``"sum_over_batch_size"`` (the default; the mean over every
element left, which is what ``fit`` reports), ``"sum"``, or ``None``/``"none"``. Called on
graph :class:`~frontend.layers.tracing.Tensor` s it builds ops; called on numpy arrays it
evaluates once and returns a float (or an array with no reduction). The crossentropies use
the stable composites of :mod:`compiler.ops.losses`.

``from_logits``: with ``from_logits=False`` Keras clips probabilities to [1e-7, 1 - 1e-7]
before the log. When the predictions are the output of a softmax (for categorical losses)
or a sigmoid (binary) op in the same graph, the loss is computed from that op's input
instead, as tf.keras does (it inspects the producing op): the same value wherever clipping
does not bite, no vanishing gradient where it would. This is a property of the graph, so a
model ending in ``Dense(10, activation="softmax")`` trained with
``sparse_categorical_crossentropy`` gets the logit form automatically.

Targets: :attr:`Loss.sparse_labels` says whether the loss takes integer class ids
(``SparseCategoricalCrossentropy``: labels have the predictions' shape without the class
axis) or targets shaped like the predictions (all others); ``fit`` converts data
accordingly (see :mod:`frontend.training`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from compiler.ops import losses as graph_losses
from frontend.layers.tracing import Tensor

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Huber", "LogCosh",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "Hinge", "SquaredHinge", "KLDivergence", "Poisson", "CosineSimilarity",
           "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "huber", "log_cosh", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "hinge",
           "squared_hinge", "kl_divergence", "poisson", "cosine_similarity", "get", "mse",
           "mae", "mape", "msle"]

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)
EPSILON = graph_losses.EPSILON


def logits_of(y_pred: Tensor, op: str) -> Tensor | None:
    """The input of ``y_pred``'s producing op if that op is ``op`` (over the last axis)."""
    node = y_pred.value.producer
    if node is None or node.op != op:
        return None
    if op in ("softmax", "log_softmax") and node.attrs["axis"] % y_pred.ndim != y_pred.ndim - 1:
        return None
    return Tensor(node.inputs[0], y_pred.ctx)


def _like(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Targets as the predictions' dtype, checked to have their shape."""
    if y_true.shape != y_pred.shape:
        raise ValueError(f"targets of shape {y_true.shape} do not match predictions of shape "
                         f"{y_pred.shape}")
    return y_true.astype(y_pred.dtype)


class Loss:
    """Base class: subclasses implement ``call(y_true, y_pred) -> per-sample Tensor``."""

    sparse_labels = False

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{', '.join(repr(r) for r in REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def reduce(self, values: Tensor) -> Tensor:
        if self.reduction in ("sum_over_batch_size", "mean"):
            return values.mean()
        if self.reduction == "sum":
            return values.sum()
        return values

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError(f"{self.name}: sample_weight is not supported")
        if isinstance(y_pred, Tensor):
            if not isinstance(y_true, Tensor):
                y_true = Tensor(y_pred.b.constant(np.asarray(y_true, dtype=np.float32)
                                                  if not self.sparse_labels
                                                  else np.asarray(y_true, dtype=np.int32)),
                                y_pred.ctx)
            return self.reduce(self.call(y_true, y_pred))
        from frontend.layers.eager import eager_apply
        yt = np.asarray(y_true)
        yp = np.asarray(y_pred, dtype=np.float32)
        yt = yt.astype(np.int32) if self.sparse_labels else yt.astype(np.float32)
        out = eager_apply(lambda a, b: self.reduce(self.call(a, b)), yt, yp, name=self.name)
        return float(out) if np.ndim(out) == 0 else out

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _snake(name: str) -> str:
    from frontend.layers.base import snake_case
    return snake_case(name)


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred) -> per-sample Tensor`` (e.g. a user's)."""

    def __init__(self, fn: Callable, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.fn = fn
        self.kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.kwargs)


class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)**2, axis=-1)``."""

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    """``mean(|y_pred - y_true|, axis=-1)``."""

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|, axis=-1)``."""

    def call(self, y_true, y_pred):
        return mean_absolute_percentage_error(y_true, y_pred)


class MeanSquaredLogarithmicError(Loss):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2, axis=-1)``."""

    def call(self, y_true, y_pred):
        return mean_squared_logarithmic_error(y_true, y_pred)


class Huber(Loss):
    """Quadratic within ``delta`` of the target, linear beyond."""

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(reduction, name)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)


class LogCosh(Loss):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``."""

    def call(self, y_true, y_pred):
        return log_cosh(y_true, y_pred)


class BinaryCrossentropy(Loss):
    """Crossentropy of independent binary labels (probabilities, or logits)."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction="sum_over_batch_size", name="binary_crossentropy"):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """Crossentropy against one-hot (or soft) targets."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        super().__init__(reduction, name)
        if axis != -1:
            raise NotImplementedError("CategoricalCrossentropy: only axis=-1 is supported")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    """Crossentropy against integer class ids (labels lack the class axis)."""

    sparse_labels = True

    def __init__(self, from_logits: bool = False, ignore_class=None,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy"):
        super().__init__(reduction, name)
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy: ignore_class is not "
                                      "supported")
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class Hinge(Loss):
    """``mean(max(1 - y_true*y_pred, 0), axis=-1)``; 0/1 labels are mapped to -1/1."""

    def call(self, y_true, y_pred):
        return hinge(y_true, y_pred)


class SquaredHinge(Loss):
    """``mean(max(1 - y_true*y_pred, 0)**2, axis=-1)``."""

    def call(self, y_true, y_pred):
        return squared_hinge(y_true, y_pred)


class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to [eps, 1]."""

    def call(self, y_true, y_pred):
        return kl_divergence(y_true, y_pred)


class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``."""

    def call(self, y_true, y_pred):
        return poisson(y_true, y_pred)


class CosineSimilarity(Loss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=-1)``."""

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(reduction, name)
        if axis != -1:
            raise NotImplementedError("CosineSimilarity: only axis=-1 is supported")

    def call(self, y_true, y_pred):
        return cosine_similarity(y_true, y_pred)


# -- per-sample functions (Tensor in, Tensor out; arrays in, arrays out) ------------------------
def _fn(fn):
    """Let a Tensor-level loss function also take numpy arrays (evaluated once)."""
    def wrapper(y_true, y_pred, *args, **kwargs):
        if isinstance(y_pred, Tensor):
            if not isinstance(y_true, Tensor):
                y_true = Tensor(y_pred.b.constant(np.asarray(y_true, dtype=np.float32)),
                                y_pred.ctx)
            return fn(y_true, y_pred, *args, **kwargs)
        from frontend.layers.eager import eager_apply
        sparse = fn.__name__.startswith("sparse")
        yt = np.asarray(y_true).astype(np.int32 if sparse else np.float32)
        return eager_apply(lambda a, b: fn(a, b, *args, **kwargs), yt,
                           np.asarray(y_pred, dtype=np.float32), name=fn.__name__)
    wrapper.__name__ = fn.__name__
    wrapper.__qualname__ = fn.__qualname__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _graph(fn_values, y_true: Tensor, y_pred: Tensor, **kw) -> Tensor:
    return Tensor(fn_values(y_pred.b, y_true.value, y_pred.value, reduction="none", **kw),
                  y_pred.ctx)


@_fn
def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error."""
    return _graph(graph_losses.mean_squared_error, _like(y_true, y_pred), y_pred)


@_fn
def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error."""
    return _graph(graph_losses.mean_absolute_error, _like(y_true, y_pred), y_pred)


@_fn
def mean_absolute_percentage_error(y_true, y_pred):
    """Per-sample mean absolute percentage error."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b
    denom = b.maximum(b.abs(y_true.value), EPSILON)
    diff = b.abs(b.div(b.sub(y_true.value, y_pred.value), denom))
    return Tensor(b.mul(b.mean(diff, axes=[-1]), 100.0), y_pred.ctx)


@_fn
def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-sample mean squared logarithmic error."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b
    lp = b.log(b.add(b.maximum(y_pred.value, EPSILON), 1.0))
    lt = b.log(b.add(b.maximum(y_true.value, EPSILON), 1.0))
    return Tensor(b.mean(b.square(b.sub(lp, lt)), axes=[-1]), y_pred.ctx)


@_fn
def huber(y_true, y_pred, delta: float = 1.0):
    """Per-sample Huber loss: ``0.5 e^2`` for ``|e| <= delta``, else ``delta (|e| - delta/2)``."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b
    err = b.abs(b.sub(y_pred.value, y_true.value))
    quad = b.mul(b.square(err), 0.5)
    lin = b.mul(b.sub(err, 0.5 * delta), float(delta))
    return Tensor(b.mean(b.where(b.less_equal(err, float(delta)), quad, lin), axes=[-1]),
                  y_pred.ctx)


@_fn
def log_cosh(y_true, y_pred):
    """Per-sample ``mean(log(cosh(e)))``, computed as ``e + softplus(-2e) - log 2``."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b
    e = b.sub(y_pred.value, y_true.value)
    v = b.sub(b.add(e, b.softplus(b.mul(e, -2.0))), float(np.log(2.0)))
    return Tensor(b.mean(v, axes=[-1]), y_pred.ctx)


@_fn
def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0):
    """Per-sample binary crossentropy (mean over the last axis)."""
    y_true = _like(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if not from_logits:
        z = logits_of(y_pred, "sigmoid")
        if z is not None:
            y_pred, from_logits = z, True
    return _graph(graph_losses.binary_crossentropy, y_true, y_pred, from_logits=from_logits)


@_fn
def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0):
    """Per-sample categorical crossentropy over the last axis."""
    y_true = _like(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    if not from_logits:
        z = logits_of(y_pred, "softmax")
        if z is not None:
            y_pred, from_logits = z, True
    return _graph(graph_losses.categorical_crossentropy, y_true, y_pred, from_logits=from_logits)


@_fn
def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample crossentropy against integer class ids."""
    if y_true.value.dtype not in ("i32", "i64"):
        y_true = y_true.astype("int32")
    if not from_logits:
        z = logits_of(y_pred, "softmax")
        if z is not None:
            y_pred, from_logits = z, True
    return _graph(graph_losses.sparse_categorical_crossentropy, y_true, y_pred,
                  from_logits=from_logits)


def _signed_labels(y_true: Tensor) -> Tensor:
    """Keras's hinge convention: 0/1 labels become -1/1 (labels already in {-1, 1} stay)."""
    b = y_true.b
    is01 = b.logical_or(b.equal(y_true.value, 0.0), b.equal(y_true.value, 1.0))
    all01 = b.equal(b.min(b.cast(is01, dtype=y_true.value.dtype)), 1.0)
    return Tensor(b.where(all01, b.sub(b.mul(y_true.value, 2.0), 1.0), y_true.value), y_true.ctx)


@_fn
def hinge(y_true, y_pred):
    """Per-sample hinge loss."""
    y_true = _signed_labels(_like(y_true, y_pred))
    b = y_pred.b
    return Tensor(b.mean(b.relu(b.sub(1.0, b.mul(y_true.value, y_pred.value))), axes=[-1]),
                  y_pred.ctx)


@_fn
def squared_hinge(y_true, y_pred):
    """Per-sample squared hinge loss."""
    y_true = _signed_labels(_like(y_true, y_pred))
    b = y_pred.b
    m = b.relu(b.sub(1.0, b.mul(y_true.value, y_pred.value)))
    return Tensor(b.mean(b.square(m), axes=[-1]), y_pred.ctx)


@_fn
def kl_divergence(y_true, y_pred):
    """Per-sample Kullback-Leibler divergence."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b
    t = b.clip(y_true.value, min=EPSILON, max=1.0)
    p = b.clip(y_pred.value, min=EPSILON, max=1.0)
    return Tensor(b.sum(b.mul(t, b.log(b.div(t, p))), axes=[-1]), y_pred.ctx)


@_fn
def poisson(y_true, y_pred):
    """Per-sample Poisson loss."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b
    v = b.sub(y_pred.value, b.mul(y_true.value, b.log(b.add(y_pred.value, EPSILON))))
    return Tensor(b.mean(v, axes=[-1]), y_pred.ctx)


@_fn
def cosine_similarity(y_true, y_pred):
    """Per-sample negative cosine similarity over the last axis."""
    y_true = _like(y_true, y_pred)
    b = y_pred.b

    def unit(v):
        return b.mul(v, b.rsqrt(b.maximum(b.sum(b.square(v), axes=[-1], keepdims=True), 1e-12)))
    return Tensor(b.neg(b.sum(b.mul(unit(y_true.value), unit(y_pred.value)), axes=[-1])),
                  y_pred.ctx)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence

_BY_NAME: dict[str, Callable[[], Loss]] = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "huber": Huber, "huber_loss": Huber, "log_cosh": LogCosh, "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "hinge": Hinge, "squared_hinge": SquaredHinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity,
}
_FUNCTIONS = {mean_squared_error: "mse", mean_absolute_error: "mae",
              mean_absolute_percentage_error: "mape", mean_squared_logarithmic_error: "msle",
              huber: "huber", log_cosh: "log_cosh", binary_crossentropy: "binary_crossentropy",
              categorical_crossentropy: "categorical_crossentropy",
              sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
              hinge: "hinge", squared_hinge: "squared_hinge", kl_divergence: "kl_divergence",
              poisson: "poisson", cosine_similarity: "cosine_similarity"}


def get(identifier) -> Loss:
    """A Loss from a name ('mse', 'sparse_categorical_crossentropy', a class name), a Loss,
    one of this module's functions, or any callable ``fn(y_true, y_pred)`` on tensors."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else _snake(identifier)
        if key not in _BY_NAME:
            raise ValueError(f"unknown loss {identifier!r}; expected one of "
                             f"{', '.join(sorted(_BY_NAME))}, a Loss or a callable")
        loss = _BY_NAME[key]()
        return loss
    if callable(identifier) and identifier in _FUNCTIONS:
        return _BY_NAME[_FUNCTIONS[identifier]]()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"loss must be a name, a Loss or a callable, got {identifier!r}")
