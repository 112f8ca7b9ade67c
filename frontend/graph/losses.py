"""``tf.losses`` (TensorFlow 1): weighted losses reduced to a scalar and collected.

Each loss computes per-element values, multiplies them by ``weights`` (a number or a tensor
broadcastable to them) and reduces by ``reduction``; the default
``SUM_BY_NONZERO_WEIGHTS`` divides the weighted sum by the number of non-zero weights
(after broadcasting), which with the default ``weights=1.0`` is the plain mean. The result
is added to the ``LOSSES`` collection, so ``get_total_loss()`` sums every loss built plus
the regularization losses of ``get_variable(regularizer=...)``.
"""
from __future__ import annotations

from frontend.graph import array_ops, math_ops, nn
from frontend.graph import dtypes as _dt
from frontend.graph.core import GraphKeys, Tensor, convert_to_tensor, get_default_graph

__all__ = ["Reduction", "compute_weighted_loss", "mean_squared_error", "absolute_difference",
           "log_loss", "huber_loss", "sigmoid_cross_entropy", "softmax_cross_entropy",
           "sparse_softmax_cross_entropy", "add_loss", "get_losses", "get_regularization_losses",
           "get_regularization_loss", "get_total_loss"]


class Reduction:
    """How a weighted loss is reduced (TensorFlow 1's names)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE, cls.MEAN, cls.SUM_BY_NONZERO_WEIGHTS)


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """``num / den``, or 0 where ``den == 0``."""
    nonzero = math_ops.greater(den, 0)
    return array_ops.where(nonzero, math_ops.truediv(num, array_ops.where(nonzero, den, 1.0)),
                           array_ops.zeros_like(num))


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``losses * weights`` reduced by ``reduction``, added to ``loss_collection``."""
    if reduction not in Reduction.all():
        raise ValueError(f"compute_weighted_loss: unknown reduction {reduction!r}; expected one "
                         f"of {', '.join(Reduction.all())}")
    losses = convert_to_tensor(losses)
    if not losses.dtype.is_floating:
        raise TypeError(f"compute_weighted_loss: losses must be float, got {losses.dtype.name}")
    w = convert_to_tensor(weights, dtype=losses.dtype)
    weighted = math_ops.multiply(losses, w)
    if reduction == Reduction.NONE:
        loss = weighted
    else:
        total = math_ops.reduce_sum(weighted)
        if reduction == Reduction.SUM:
            loss = total
        elif reduction == Reduction.MEAN:
            loss = _safe_div(total, math_ops.reduce_sum(
                math_ops.multiply(w, array_ops.ones_like(losses))))
        elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
            loss = math_ops.truediv(total, array_ops.cast(array_ops.size(losses), losses.dtype))
        else:
            present = math_ops.not_equal(math_ops.multiply(w, array_ops.ones_like(losses)), 0.0)
            loss = _safe_div(total, math_ops.reduce_sum(array_ops.cast(present, losses.dtype)))
    if loss_collection:
        add_loss(loss, loss_collection)
    return loss


def _pair(labels, predictions, what):
    p = convert_to_tensor(predictions)
    if not p.dtype.is_floating:
        raise TypeError(f"{what}: predictions must be float, got {p.dtype.name}")
    y = array_ops.cast(convert_to_tensor(labels), p.dtype) if isinstance(labels, Tensor) \
        else convert_to_tensor(labels, dtype=p.dtype)
    if not p.shape.is_compatible_with(y.shape):
        raise ValueError(f"{what}: labels of shape {y.shape} and predictions of shape "
                         f"{p.shape} must match")
    return y, p


def mean_squared_error(labels, predictions, weights=1.0, scope=None,
                       loss_collection=GraphKeys.LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    y, p = _pair(labels, predictions, "mean_squared_error")
    return compute_weighted_loss(math_ops.squared_difference(p, y), weights, scope,
                                 loss_collection, reduction)


def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=GraphKeys.LOSSES,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    y, p = _pair(labels, predictions, "absolute_difference")
    return compute_weighted_loss(math_ops.abs(math_ops.subtract(p, y)), weights, scope,
                                 loss_collection, reduction)


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=GraphKeys.LOSSES,
             reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``-y log(p + eps) - (1 - y) log(1 - p + eps)`` on probabilities."""
    y, p = _pair(labels, predictions, "log_loss")
    per = math_ops.negative(math_ops.add(
        math_ops.multiply(y, math_ops.log(math_ops.add(p, epsilon))),
        math_ops.multiply(math_ops.subtract(1.0, y),
                          math_ops.log(math_ops.add(math_ops.subtract(1.0, p), epsilon)))))
    return compute_weighted_loss(per, weights, scope, loss_collection, reduction)


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=GraphKeys.LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Quadratic within ``delta`` of the label, linear beyond."""
    y, p = _pair(labels, predictions, "huber_loss")
    err = math_ops.abs(math_ops.subtract(p, y))
    quad = math_ops.minimum(err, float(delta))
    lin = math_ops.subtract(err, quad)
    per = math_ops.add(math_ops.multiply(0.5, math_ops.square(quad)),
                       math_ops.multiply(float(delta), lin))
    return compute_weighted_loss(per, weights, scope, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0,
                          scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    y, z = _pair(multi_class_labels, logits, "sigmoid_cross_entropy")
    if label_smoothing:
        y = math_ops.add(math_ops.multiply(y, 1.0 - label_smoothing), 0.5 * label_smoothing)
    per = nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)
    return compute_weighted_loss(per, weights, scope, loss_collection, reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Per-example softmax cross-entropy (weights apply per example)."""
    y, z = _pair(onehot_labels, logits, "softmax_cross_entropy")
    if label_smoothing:
        n = z.shape.dims[-1] if z.shape.dims and z.shape.dims[-1] is not None else None
        if n is None:
            raise ValueError("softmax_cross_entropy: label_smoothing needs a known number of "
                             "classes")
        y = math_ops.add(math_ops.multiply(y, 1.0 - label_smoothing), label_smoothing / n)
    per = nn.softmax_cross_entropy_with_logits_v2(labels=array_ops.stop_gradient(y), logits=z)
    return compute_weighted_loss(per, weights, scope, loss_collection, reduction)


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=GraphKeys.LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    per = nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return compute_weighted_loss(per, weights, scope, loss_collection, reduction)


# -- collections ------------------------------------------------------------------------------
def add_loss(loss, loss_collection=GraphKeys.LOSSES) -> None:
    if loss_collection:
        get_default_graph().add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=GraphKeys.LOSSES) -> list:
    return get_default_graph().get_collection(loss_collection, scope)


def get_regularization_losses(scope=None) -> list:
    return get_default_graph().get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name: str = "total_regularization_loss") -> Tensor:
    losses = get_regularization_losses(scope)
    if not losses:
        return convert_to_tensor(0.0, dtype=_dt.float32, name=name)
    return math_ops.add_n(losses, name=name)


def get_total_loss(add_regularization_losses: bool = True, name: str = "total_loss",
                   scope=None) -> Tensor:
    losses = get_losses(scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope)
    if not losses:
        raise ValueError("get_total_loss: no losses have been built")
    return math_ops.add_n(losses, name=name)
