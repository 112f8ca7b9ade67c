"""Neural-network ops of the graph API (``tf.nn``): activations, cross-entropies, dropout,
convolution and pooling (NHWC), embedding lookup, moments, l2 loss.

Cross-entropies are built in their stable forms from kiln primitives (``softplus``,
``log_softmax``), so their gradients are exact and need no special kernels.
``softmax_cross_entropy_with_logits`` (TensorFlow 1's, deprecated there) does not
backpropagate into ``labels``; the ``_v2`` form does. Sparse labels outside
``[0, num_classes)`` give a one-hot row of zeros (kiln's ``one_hot`` rule) and so a loss
of 0 for that row; TensorFlow raises instead.
"""
from __future__ import annotations

from compiler.errors import OpError as KilnOpError
from frontend.graph import array_ops, math_ops
from frontend.graph import dtypes as _dt
from frontend.graph.core import Tensor, _graph_of, convert_to_tensor, make_tensor
from frontend.graph.errors import UnimplementedError
from frontend.graph.math_ops import _float, _numeric, _unary
from frontend.graph.random_ops import get_seed

__all__ = ["relu", "relu6", "elu", "selu", "leaky_relu", "softplus", "softsign", "sigmoid",
           "tanh", "softmax", "log_softmax", "bias_add", "l2_loss", "l2_normalize", "moments",
           "dropout", "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "softmax_cross_entropy_with_logits_v2", "sparse_softmax_cross_entropy_with_logits",
           "conv2d", "max_pool", "avg_pool", "embedding_lookup"]


# -- activations -------------------------------------------------------------------------------
def relu(features, name: str | None = None) -> Tensor:
    """``max(features, 0)``; the gradient at 0 is 0."""
    return _unary("Relu", "relu", features, name, _numeric)


def relu6(features, name: str | None = None) -> Tensor:
    """``min(max(features, 0), 6)``."""
    x = convert_to_tensor(features)
    return make_tensor("Relu6", [x], lambda ctx, v: ctx.b.minimum(ctx.b.relu(v), 6.0),
                       name=name or "Relu6")


def elu(features, name: str | None = None) -> Tensor:
    return _unary("Elu", "elu", features, name, _float)


def selu(features, name: str | None = None) -> Tensor:
    """Scaled ELU (Klambauer et al.): ``scale * elu(x, alpha)`` with their constants."""
    x = convert_to_tensor(features)
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return make_tensor("Selu", [x], lambda ctx, v: ctx.b.mul(ctx.b.elu(v, alpha=alpha), scale),
                       name=name or "Selu")


def leaky_relu(features, alpha: float = 0.2, name: str | None = None) -> Tensor:
    x = convert_to_tensor(features)
    a = float(alpha)
    return make_tensor("LeakyRelu", [x], lambda ctx, v: ctx.b.leaky_relu(v, alpha=a),
                       name=name or "LeakyRelu")


def softplus(features, name: str | None = None) -> Tensor:
    return _unary("Softplus", "softplus", features, name, _float)


def softsign(features, name: str | None = None) -> Tensor:
    x = convert_to_tensor(features)
    return make_tensor("Softsign", [x], lambda ctx, v: ctx.b.div(v, ctx.b.add(ctx.b.abs(v), 1.0)),
                       name=name or "Softsign")


def sigmoid(x, name: str | None = None) -> Tensor:
    return _unary("Sigmoid", "sigmoid", x, name, _float)


def tanh(x, name: str | None = None) -> Tensor:
    return _unary("Tanh", "tanh", x, name, _float)


def _axis_op(op_type, kiln_op, logits, axis, name, dim):
    x = convert_to_tensor(logits)
    if not x.dtype.is_floating:
        raise TypeError(f"{op_type}: expected float logits, got {x.dtype.name} ({x.name})")
    ax = -1 if axis is None and dim is None else int(axis if axis is not None else dim)
    return make_tensor(op_type, [x], lambda ctx, v: getattr(ctx.b, kiln_op)(v, axis=ax),
                       name=name or op_type)


def softmax(logits, axis=None, name: str | None = None, dim=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (default: the last), computed stably."""
    return _axis_op("Softmax", "softmax", logits, axis, name, dim)


def log_softmax(logits, axis=None, name: str | None = None, dim=None) -> Tensor:
    return _axis_op("LogSoftmax", "log_softmax", logits, axis, name, dim)


def bias_add(value, bias, data_format=None, name: str | None = None) -> Tensor:
    """``value + bias`` with a rank-1 bias over the last axis (NHWC / NC)."""
    if data_format not in (None, "NHWC", "NC", "N...C"):
        raise UnimplementedError(f"bias_add: only channels-last data is supported, got "
                                 f"data_format={data_format!r}")
    x = convert_to_tensor(value)
    b = convert_to_tensor(bias, dtype=x.dtype)

    def lower(ctx, v, bv):
        if bv.rank != 1 or v.rank < 1 or bv.shape[0] != v.shape[-1]:
            raise KilnOpError(f"bias_add: bias must be rank 1 with the size of the last axis of "
                              f"{v.type}, got {bv.type}")
        return ctx.b.add(v, bv)

    return make_tensor("BiasAdd", [x, b], lower, name=name or "BiasAdd")


def l2_loss(t, name: str | None = None) -> Tensor:
    """``sum(t ** 2) / 2``."""
    x = convert_to_tensor(t)
    return make_tensor("L2Loss", [x], lambda ctx, v: ctx.b.mul(ctx.b.sum(ctx.b.square(v)), 0.5),
                       name=name or "L2Loss")


def l2_normalize(x, axis=None, epsilon: float = 1e-12, name: str | None = None, dim=None) -> Tensor:
    """``x / sqrt(max(sum(x ** 2, axis), epsilon))``."""
    x = convert_to_tensor(x)
    axis = axis if axis is not None else dim
    axes = None if axis is None else array_ops._ints(axis, "l2_normalize: axis")
    eps = float(epsilon)

    def lower(ctx, v):
        b = ctx.b
        ss = b.sum(b.square(v), axes=axes, keepdims=True)
        return b.mul(v, b.rsqrt(b.maximum(ss, eps)))

    return make_tensor("L2Normalize", [x], lower, name=name or "l2_normalize")


def moments(x, axes, shift=None, name: str | None = None, keep_dims=None, keepdims=None):
    """``(mean, variance)`` of ``x`` over ``axes``."""
    x = convert_to_tensor(x)
    keep = bool(keepdims if keepdims is not None else (keep_dims or False))
    mean = math_ops.reduce_mean(x, axes, keepdims=True, name=(name or "moments") + "_mean")
    var = math_ops.reduce_mean(math_ops.squared_difference(x, array_ops.stop_gradient(mean)),
                               axes, keepdims=True, name=(name or "moments") + "_variance")
    if not keep:
        mean, var = array_ops.squeeze(mean, axes), array_ops.squeeze(var, axes)
    return mean, var


# -- dropout -------------------------------------------------------------------------------------
def dropout(x, keep_prob=None, noise_shape=None, seed=None, name: str | None = None,
            rate=None) -> Tensor:
    """Inverted dropout: keep each element with probability ``keep_prob`` (or ``1 - rate``)
    and scale kept ones by ``1 / keep_prob``. A new mask is drawn on every run.
    ``keep_prob`` may be a tensor (a placeholder fed 1.0 at test time)."""
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: give exactly one of keep_prob and rate")
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"dropout: expected a float tensor, got {x.dtype.name}")
    kp = keep_prob
    if rate is not None:
        kp = (1.0 - float(rate)) if not isinstance(rate, Tensor) else \
            math_ops.subtract(1.0, convert_to_tensor(rate, dtype=x.dtype))
    if not isinstance(kp, Tensor):
        kp = float(kp)
        if not 0.0 < kp <= 1.0:
            raise ValueError(f"dropout: keep_prob must be in (0, 1], got {kp}")
        if kp == 1.0:
            return x
    else:
        kp = convert_to_tensor(kp, dtype=x.dtype)
    noise = None if noise_shape is None else array_ops._ints(noise_shape, "dropout: noise_shape")
    ins = [x] + ([kp] if isinstance(kp, Tensor) else [])
    kseed = get_seed(_graph_of(ins), seed)

    def lower(ctx, v, *kv):
        b = ctx.b
        k = kv[0] if kv else kp
        shape = tuple(noise) if noise is not None else v.shape
        u = b.random_uniform(ctx.rng_step(), seed=kseed, shape=shape, dtype=v.dtype)
        keep = b.less(u, k)
        return b.where(keep, b.div(v, k), 0.0)

    return make_tensor("Dropout", ins, lower, name=name or "dropout", specs=[(x.shape, x.dtype)],
                       attrs={"seed": kseed})


# -- cross-entropies ---------------------------------------------------------------------------
def _labels_logits(op_type, labels, logits):
    if labels is None or logits is None:
        raise ValueError(f"{op_type}: call with named arguments labels=..., logits=...")
    z = convert_to_tensor(logits)
    if not z.dtype.is_floating:
        raise TypeError(f"{op_type}: logits must be float, got {z.dtype.name}")
    return convert_to_tensor(labels, dtype=z.dtype), z


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                      name: str | None = None) -> Tensor:
    """Elementwise ``softplus(z) - z * y``: logistic loss on logits, stable for any z."""
    if _sentinel is not None:
        raise ValueError("sigmoid_cross_entropy_with_logits: use named arguments labels=, logits=")
    y, z = _labels_logits("sigmoid_cross_entropy_with_logits", labels, logits)

    def lower(ctx, yv, zv):
        if yv.shape != zv.shape:
            raise KilnOpError(f"sigmoid_cross_entropy_with_logits: labels {yv.type} and logits "
                              f"{zv.type} must have the same shape")
        return ctx.b.sub(ctx.b.softplus(zv), ctx.b.mul(zv, yv))

    return make_tensor("SigmoidCrossEntropy", [y, z], lower, name=name or "logistic_loss")


def _softmax_ce(op_type, labels, logits, axis, name, stop_labels):
    y, z = _labels_logits(op_type, labels, logits)
    ax = -1 if axis is None else int(axis)

    def lower(ctx, yv, zv):
        b = ctx.b
        if yv.shape != zv.shape:
            raise KilnOpError(f"{op_type}: labels {yv.type} and logits {zv.type} must have the "
                              f"same shape")
        if stop_labels:
            yv = b.stop_gradient(yv)
        return b.neg(b.sum(b.mul(yv, b.log_softmax(zv, axis=ax)), axes=[ax]))

    return make_tensor(op_type, [y, z], lower, name=name or op_type)


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1,
                                      name: str | None = None, axis=None) -> Tensor:
    """Per-row ``-sum(labels * log_softmax(logits))``; no gradient into labels (TF1's v1)."""
    if _sentinel is not None:
        raise ValueError("softmax_cross_entropy_with_logits: use named arguments")
    return _softmax_ce("SoftmaxCrossEntropyWithLogits", labels, logits,
                       axis if axis is not None else dim, name, stop_labels=True)


def softmax_cross_entropy_with_logits_v2(_sentinel=None, labels=None, logits=None, axis=None,
                                         name: str | None = None, dim=None) -> Tensor:
    """As :func:`softmax_cross_entropy_with_logits`, with gradients into labels too."""
    if _sentinel is not None:
        raise ValueError("softmax_cross_entropy_with_logits_v2: use named arguments")
    return _softmax_ce("SoftmaxCrossEntropyWithLogitsV2", labels, logits,
                       axis if axis is not None else dim, name, stop_labels=False)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name: str | None = None) -> Tensor:
    """Per-row ``-log_softmax(logits)[label]`` for integer class ids ``labels``."""
    if _sentinel is not None:
        raise ValueError("sparse_softmax_cross_entropy_with_logits: use named arguments")
    if labels is None or logits is None:
        raise ValueError("sparse_softmax_cross_entropy_with_logits: call with named arguments "
                         "labels=..., logits=...")
    z = convert_to_tensor(logits)
    y = convert_to_tensor(labels, dtype=_dt.int64 if not isinstance(labels, Tensor) else None)
    if not y.dtype.is_integer or not z.dtype.is_floating:
        raise TypeError(f"sparse_softmax_cross_entropy_with_logits: labels must be int32/int64 "
                        f"and logits float, got {y.dtype.name} and {z.dtype.name}")

    def lower(ctx, yv, zv):
        b = ctx.b
        if yv.shape != zv.shape[:-1]:
            raise KilnOpError(f"sparse_softmax_cross_entropy_with_logits: labels {yv.type} must "
                              f"have the shape of logits {zv.type} without its last axis")
        onehot = b.one_hot(yv, depth=zv.shape[-1], dtype=zv.dtype)
        return b.neg(b.sum(b.mul(onehot, b.log_softmax(zv, axis=-1)), axes=[-1]))

    return make_tensor("SparseSoftmaxCrossEntropyWithLogits", [y, z], lower,
                       name=name or "SparseSoftmaxCrossEntropyWithLogits", dtypes=[z.dtype])


# -- convolution and pooling ------------------------------------------------------------------
def _hw(value, what: str, default=(1, 1)) -> tuple[int, int]:
    """TensorFlow's 1-, 2- or 4-entry (NHWC) spatial argument as (h, w)."""
    if value is None:
        return default
    v = array_ops._ints(value, what)
    if len(v) == 1:
        return v[0], v[0]
    if len(v) == 2:
        return v[0], v[1]
    if len(v) == 4:
        if v[0] != 1 or v[3] != 1:
            raise UnimplementedError(f"{what}: batch and channel entries must be 1, got {v}")
        return v[1], v[2]
    raise ValueError(f"{what}: expected 1, 2 or 4 entries, got {v}")


def _padding(padding, what: str) -> str:
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"{what}: padding must be 'SAME' or 'VALID', got {padding!r}")
    return padding.lower()


def _nhwc(data_format, what):
    if data_format not in (None, "NHWC"):
        raise UnimplementedError(f"{what}: only data_format='NHWC' is supported, got "
                                 f"{data_format!r}")


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,
           data_format="NHWC", dilations=None, name: str | None = None, filters=None) -> Tensor:
    """2-D cross-correlation of NHWC ``input`` with an HWIO ``filter``."""
    _nhwc(data_format, "conv2d")
    x = convert_to_tensor(input)
    w = convert_to_tensor(filter if filter is not None else filters, dtype=x.dtype)
    st, dil = _hw(strides, "conv2d: strides"), _hw(dilations, "conv2d: dilations")
    pad = _padding(padding, "conv2d")
    return make_tensor("Conv2D", [x, w], lambda ctx, a, k: ctx.b.conv2d(
        a, k, strides=st, padding=pad, dilation=dil), name=name or "Conv2D")


def _pool(op_type, kiln_op, value, ksize, strides, padding, data_format, name):
    _nhwc(data_format, op_type)
    x = convert_to_tensor(value)
    k = _hw(ksize, f"{op_type}: ksize")
    st = _hw(strides, f"{op_type}: strides", default=k)
    pad = _padding(padding, op_type)
    return make_tensor(op_type, [x], lambda ctx, v: getattr(ctx.b, kiln_op)(
        v, pool_size=k, strides=st, padding=pad), name=name or op_type)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name: str | None = None,
             input=None) -> Tensor:
    return _pool("MaxPool", "max_pool2d", value if value is not None else input, ksize, strides,
                 padding, data_format, name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name: str | None = None,
             input=None) -> Tensor:
    return _pool("AvgPool", "avg_pool2d", value if value is not None else input, ksize, strides,
                 padding, data_format, name)


def embedding_lookup(params, ids, partition_strategy="mod", name: str | None = None,
                     validate_indices=True, max_norm=None) -> Tensor:
    """Rows of ``params`` at integer ``ids`` (a gather along axis 0)."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise UnimplementedError("embedding_lookup: sharded params (a list of several "
                                     "tensors) are not supported")
        params = params[0]
    if max_norm is not None:
        raise UnimplementedError("embedding_lookup: max_norm is not supported")
    return array_ops.gather(params, ids, name=name or "embedding_lookup")


# ``tf.nn.xw_plus_b`` (used by TF1 tutorials)
def xw_plus_b(x, weights, biases, name: str | None = None) -> Tensor:
    return bias_add(math_ops.matmul(x, weights), biases, name=name or "xw_plus_b")
