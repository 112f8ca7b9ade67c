"""Metrics (Keras's names and semantics), computed in the step graph, accumulated in Python.

A metric is split where the data flows: :meth:`Metric.statistics` builds, inside the
training or evaluation step, a few scalar *sums* over the batch (for a mean metric: the sum
of the per-sample values and their count); ``fit``/``evaluate`` add those sums over the
batches of an epoch (so every sample weighs the same, whatever the batch size, including
a last partial batch) and :meth:`Metric.result_from` turns the totals into the value
reported. Keras's stateful API works too, on numpy arrays: ``update_state(y_true,
y_pred)``, ``result()``, ``reset_state()``.

``"accuracy"``/``"acc"`` in ``compile`` are resolved to a concrete accuracy by
:func:`resolve`: by the loss when it is a crossentropy (binary -> BinaryAccuracy, sparse
categorical -> SparseCategoricalAccuracy, categorical -> CategoricalAccuracy), otherwise by
Keras 3's shape rule (predictions with one column -> binary; labels of lower rank than the
predictions, or one label column against several prediction columns -> sparse; else
categorical). The metric keeps the name it was asked by ("accuracy" or "acc").
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from frontend import losses as losses_mod
from frontend.layers.tracing import Tensor

__all__ = ["Metric", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
           "RootMeanSquaredError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "Precision", "Recall", "Mean", "get", "resolve",
           "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"]


class Metric:
    """Base class. Subclasses implement :meth:`statistics` and :meth:`result_from`."""

    #: "up" if larger is better (EarlyStopping's mode="auto" reads it), else "down"
    direction = "down"
    sparse_labels = False

    def __init__(self, name: str | None = None, dtype=None):
        from frontend.layers.base import snake_case
        self.name = name or snake_case(type(self).__name__)
        self._totals: np.ndarray | None = None

    def statistics(self, y_true: Tensor, y_pred: Tensor) -> list[Tensor]:
        """Scalar sums over the batch (graph ops); their totals over batches give the result."""
        raise NotImplementedError

    def result_from(self, totals: np.ndarray) -> float:
        raise NotImplementedError

    # -- Keras's stateful API on arrays --------------------------------------------------------
    def reset_state(self) -> None:
        self._totals = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if sample_weight is not None:
            raise NotImplementedError(f"{self.name}: sample_weight is not supported")
        from frontend.layers.eager import eager_apply
        yt = np.asarray(y_true)
        yp = np.asarray(y_pred, dtype=np.float32)
        yt = yt.astype(np.int32) if self.sparse_labels else yt.astype(np.float32)
        stats = eager_apply(lambda a, b: self.statistics(a, b), yt, yp, name=self.name)
        stats = np.array([float(s) for s in stats], dtype=np.float64)
        self._totals = stats if self._totals is None else self._totals + stats

    def result(self) -> float:
        if self._totals is None:
            return 0.0
        return self.result_from(self._totals)

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """Keras's metric call: update the state and return the result."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _count(values: Tensor) -> Tensor:
    n = 1
    for d in values.shape:
        n *= d
    return Tensor(values.b.constant(float(n), dtype="f32"), values.ctx)


class MeanMetricWrapper(Metric):
    """The mean over all samples of ``fn(y_true, y_pred)`` (per-sample values)."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn
        self.kwargs = kwargs

    def statistics(self, y_true, y_pred):
        v = self.fn(y_true, y_pred, **self.kwargs)
        v = v.astype("float32")
        return [v.sum(), _count(v)]

    def result_from(self, totals):
        return float(totals[0] / totals[1]) if totals[1] else 0.0


class Mean(Metric):
    """The running mean of the values given to ``update_state(values)`` (standalone use)."""

    def update_state(self, values, sample_weight=None):  # type: ignore[override]
        v = np.asarray(values, dtype=np.float64)
        stats = np.array([v.sum(), v.size], dtype=np.float64)
        self._totals = stats if self._totals is None else self._totals + stats

    def result_from(self, totals):
        return float(totals[0] / totals[1]) if totals[1] else 0.0


# -- accuracy functions (per-sample, on tensors) -----------------------------------------------
def _squeeze_labels(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Sparse labels ``(N, 1)`` against predictions ``(N, C)`` become ``(N,)``."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    return y_true


def accuracy(y_true, y_pred):
    """1 where ``y_true == y_pred`` exactly, else 0."""
    return Tensor(y_pred.b.cast(y_pred.b.equal(y_true.astype(y_pred.dtype).value, y_pred.value),
                                dtype="f32"), y_pred.ctx)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """Per-sample mean over the last axis of ``(y_pred > threshold) == y_true``."""
    b = y_pred.b
    pred = b.cast(b.greater(y_pred.value, float(threshold)), dtype="f32")
    truth = y_true.astype("float32").value
    if truth.shape != pred.shape and truth.shape + (1,) == pred.shape:
        truth = b.reshape(truth, shape=pred.shape)
    return Tensor(b.mean(b.cast(b.equal(truth, pred), dtype="f32"), axes=[-1]), y_pred.ctx)


def categorical_accuracy(y_true, y_pred):
    """1 where the argmax of the targets and of the predictions agree."""
    b = y_pred.b
    return Tensor(b.cast(b.equal(b.argmax(y_true.value, axis=-1), b.argmax(y_pred.value, axis=-1)),
                         dtype="f32"), y_pred.ctx)


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label equals the argmax of the predictions."""
    b = y_pred.b
    labels = _squeeze_labels(y_true, y_pred).astype("int64").value
    return Tensor(b.cast(b.equal(labels, b.argmax(y_pred.value, axis=-1)), dtype="f32"),
                  y_pred.ctx)


def _in_top_k(scores: Tensor, target_score, k: int):
    """1 where fewer than k classes score strictly above the target class."""
    b = scores.b
    above = b.sum(b.cast(b.greater(scores.value, target_score), dtype="f32"), axes=[-1])
    return Tensor(b.cast(b.less(above, float(k)), dtype="f32"), scores.ctx)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    b = y_pred.b
    idx = b.argmax(y_true.value, axis=-1)
    onehot = b.one_hot(idx, depth=y_pred.shape[-1], dtype=y_pred.value.dtype)
    target = b.sum(b.mul(onehot, y_pred.value), axes=[-1], keepdims=True)
    return _in_top_k(y_pred, target, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    b = y_pred.b
    labels = _squeeze_labels(y_true, y_pred).astype("int64").value
    onehot = b.one_hot(labels, depth=y_pred.shape[-1], dtype=y_pred.value.dtype)
    target = b.sum(b.mul(onehot, y_pred.value), axes=[-1], keepdims=True)
    return _in_top_k(y_pred, target, k)


class Accuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"
    sparse_labels = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, k: int = 5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"
    sparse_labels = True

    def __init__(self, k: int = 5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses_mod.mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses_mod.mean_absolute_error, name)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses_mod.binary_crossentropy, name, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses_mod.categorical_crossentropy, name, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    sparse_labels = True

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(losses_mod.sparse_categorical_crossentropy, name,
                         from_logits=from_logits)


class RootMeanSquaredError(Metric):
    """``sqrt(mean((y_pred - y_true)**2))`` over every element seen."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name)

    def statistics(self, y_true, y_pred):
        e = y_pred - y_true.astype(y_pred.dtype)
        sq = e * e
        return [sq.sum(), _count(sq)]

    def result_from(self, totals):
        return math.sqrt(totals[0] / totals[1]) if totals[1] else 0.0


class _Thresholded(Metric):
    direction = "up"

    def __init__(self, thresholds: float | None = None, name=None, dtype=None):
        super().__init__(name)
        self.threshold = 0.5 if thresholds is None else float(thresholds)

    def _tp_and(self, y_true, y_pred):
        b = y_pred.b
        pred = b.cast(b.greater(y_pred.value, self.threshold), dtype="f32")
        truth = b.cast(b.greater(y_true.astype("float32").value, 0.5), dtype="f32")
        if truth.shape != pred.shape and truth.shape + (1,) == pred.shape:
            truth = b.reshape(truth, shape=pred.shape)
        tp = Tensor(b.sum(b.mul(pred, truth)), y_pred.ctx)
        return tp, Tensor(b.sum(pred), y_pred.ctx), Tensor(b.sum(truth), y_pred.ctx)

    def result_from(self, totals):
        return float(totals[0] / totals[1]) if totals[1] else 0.0


class Precision(_Thresholded):
    """True positives / predicted positives (predictions above 0.5)."""

    def __init__(self, thresholds=None, name="precision", dtype=None):
        super().__init__(thresholds, name)

    def statistics(self, y_true, y_pred):
        tp, pp, _ = self._tp_and(y_true, y_pred)
        return [tp, pp]


class Recall(_Thresholded):
    """True positives / actual positives."""

    def __init__(self, thresholds=None, name="recall", dtype=None):
        super().__init__(thresholds, name)

    def statistics(self, y_true, y_pred):
        tp, _, ap = self._tp_and(y_true, y_pred)
        return [tp, ap]


_BY_NAME: dict[str, Callable[[], Metric]] = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "root_mean_squared_error": RootMeanSquaredError, "rmse": RootMeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "precision": Precision, "recall": Recall,
}
_FUNCTIONS = {accuracy: Accuracy, binary_accuracy: BinaryAccuracy,
              categorical_accuracy: CategoricalAccuracy,
              sparse_categorical_accuracy: SparseCategoricalAccuracy}


def get(identifier) -> Metric | str:
    """A Metric from a name, an instance, a class or a function ``fn(y_true, y_pred)``.

    'accuracy'/'acc' are returned as the string: they need the loss and shapes, see
    :func:`resolve`.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return identifier
        from frontend.layers.base import snake_case
        key = identifier if identifier in _BY_NAME else snake_case(identifier)
        if key not in _BY_NAME:
            raise ValueError(f"unknown metric {identifier!r}; expected 'accuracy', one of "
                             f"{', '.join(sorted(_BY_NAME))}, a Metric or a callable")
        m = _BY_NAME[key]()
        m.name = identifier  # Keras logs a string metric under the string given
        return m
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if isinstance(identifier, losses_mod.Loss):
        loss = identifier
        return MeanMetricWrapper(lambda t, p: loss.call(t, p), name=loss.name)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"metric must be a name, a Metric or a callable, got {identifier!r}")


def resolve(identifier, loss, y_true_shape: tuple, y_pred_shape: tuple) -> Metric:
    """A concrete metric: 'accuracy'/'acc' picked by the loss or shapes (module docstring)."""
    m = get(identifier)
    if isinstance(m, Metric):
        return m
    name = m
    if isinstance(loss, losses_mod.BinaryCrossentropy):
        return BinaryAccuracy(name=name)
    if isinstance(loss, losses_mod.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=name)
    if isinstance(loss, losses_mod.CategoricalCrossentropy):
        return CategoricalAccuracy(name=name)
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1
                                                          and y_pred_shape[-1] > 1)
    if is_binary:
        return BinaryAccuracy(name=name)
    if is_sparse:
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)
