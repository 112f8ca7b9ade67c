"""Loss functions as composites: each builds its numerically stable form from primitive ops,
so its gradient, fusion and lowering come from the primitives (no loss-specific kernels).

Every function takes ``(b, y_true, y_pred)`` and returns the per-sample loss (the last
axis reduced, as Keras does) or, with ``reduction="mean"`` (the default), its mean over
the batch as a scalar; ``reduction="sum"`` sums instead.

Probability-input forms follow Keras: predictions are clipped to [eps, 1 - eps] with
eps = 1e-7 before the log, and categorical predictions are renormalized to sum to 1.
Logit forms never exponentiate a large positive number:
``bce(z, y) = softplus(z) - z*y`` (softplus is computed stably) and ``ce = -sum(y * log_softmax(z))``.
"""
from __future__ import annotations

from compiler.errors import OpError
from compiler.ir import dtypes

EPSILON = 1e-7


def _check(name: str, y_true, y_pred, same_shape: bool = True) -> None:
    if not dtypes.is_float(y_pred.dtype):
        raise OpError(f"{name}: predictions must be f32 or f64, got {y_pred.type}")
    if same_shape and y_true.shape != y_pred.shape:
        raise OpError(f"{name}: targets {y_true.type} and predictions {y_pred.type} must have "
                      f"the same shape")
    if same_shape and y_true.dtype != y_pred.dtype:
        raise OpError(f"{name}: targets {y_true.type} must have the predictions' dtype "
                      f"{y_pred.dtype}")
    if y_pred.rank == 0:
        raise OpError(f"{name}: predictions must have rank >= 1, got {y_pred.type}")


def _reduce(b, per_sample, reduction: str):
    if reduction == "none":
        return per_sample
    if reduction == "mean":
        return b.mean(per_sample)
    if reduction == "sum":
        return b.sum(per_sample)
    raise OpError(f"loss reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mean_squared_error(b, y_true, y_pred, reduction: str = "mean"):
    _check("mean_squared_error", y_true, y_pred)
    return _reduce(b, b.mean(b.square(b.sub(y_pred, y_true)), axes=[-1]), reduction)


def mean_absolute_error(b, y_true, y_pred, reduction: str = "mean"):
    _check("mean_absolute_error", y_true, y_pred)
    return _reduce(b, b.mean(b.abs(b.sub(y_pred, y_true)), axes=[-1]), reduction)


def binary_crossentropy(b, y_true, y_pred, from_logits: bool = False, reduction: str = "mean"):
    _check("binary_crossentropy", y_true, y_pred)
    if from_logits:
        z = y_pred
        # softplus(z) - z*y: the same value as max(z,0) - z*y + log1p(exp(-|z|)), but one
        # smooth primitive, so the gradient at z == 0 is sigmoid(0) - y, not a kink's choice.
        per = b.sub(b.softplus(z), b.mul(z, y_true))
    else:
        p = b.clip(y_pred, min=EPSILON, max=1.0 - EPSILON)
        per = b.neg(b.add(b.mul(y_true, b.log(p)),
                          b.mul(b.sub(1.0, y_true), b.log(b.sub(1.0, p)))))
    return _reduce(b, b.mean(per, axes=[-1]), reduction)


def categorical_crossentropy(b, y_true, y_pred, from_logits: bool = False,
                             reduction: str = "mean"):
    _check("categorical_crossentropy", y_true, y_pred)
    if from_logits:
        logp = b.log_softmax(y_pred, axis=-1)
    else:
        p = b.div(y_pred, b.sum(y_pred, axes=[-1], keepdims=True))
        logp = b.log(b.clip(p, min=EPSILON, max=1.0 - EPSILON))
    return _reduce(b, b.neg(b.sum(b.mul(y_true, logp), axes=[-1])), reduction)


def sparse_categorical_crossentropy(b, y_true, y_pred, from_logits: bool = False,
                                    reduction: str = "mean"):
    """``y_true`` holds integer class ids with the shape of ``y_pred`` minus its last axis."""
    _check("sparse_categorical_crossentropy", y_true, y_pred, same_shape=False)
    if not dtypes.is_int(y_true.dtype):
        raise OpError(f"sparse_categorical_crossentropy: labels must be i32 or i64, got "
                      f"{y_true.type}")
    if y_true.shape != y_pred.shape[:-1]:
        raise OpError(f"sparse_categorical_crossentropy: labels {y_true.type} must have shape "
                      f"{list(y_pred.shape[:-1])} (predictions {y_pred.type} without the class axis)")
    onehot = b.one_hot(y_true, depth=y_pred.shape[-1], dtype=y_pred.dtype)
    return categorical_crossentropy(b, onehot, y_pred, from_logits=from_logits,
                                    reduction=reduction)


LOSSES = {
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
