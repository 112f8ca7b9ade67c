"""Conv2D over channels-last (NHWC) inputs with an HWIO kernel ``(kh, kw, in, out)`` (Keras's
layout; PyTorch's ``(out, in, kh, kw)`` converts with :mod:`frontend.layers.torch_layout`).

Padding 'valid' or 'same' follows TensorFlow exactly (the conv2d op's geometry, shared with
pooling), strides and dilation are ``(h, w)`` pairs or one int.
"""
from __future__ import annotations

from frontend import activations as activations_mod
from frontend import initializers as initializers_mod
from frontend import regularizers as regularizers_mod
from frontend.layers.base import Layer, LayerError
from frontend.layers.core import check_no_constraint, to_float
from frontend.layers.tracing import Tensor, format_shape

__all__ = ["Conv2D", "pair", "check_padding", "check_channels_last"]


def pair(owner: str, name: str, v) -> tuple[int, int]:
    """Keras's int-or-pair arguments (kernel_size, strides, pool_size) as a pair >= 1."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v, v)
    try:
        out = tuple(int(x) for x in v)
    except TypeError:
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints, got {v!r}") from None
    if len(out) != 2 or any(x < 1 for x in out):
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints >= 1, got {v!r}")
    return out


def check_padding(owner: str, padding: str) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return p


def check_channels_last(owner: str, data_format) -> None:
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"{owner}: only data_format='channels_last' (NHWC) is "
                                  f"supported, got {data_format!r}")


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as Keras) plus bias and activation."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 data_format=None, dilation_rate=(1, 1), groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = f"Conv2D '{self.name}'"
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{owner}: filters must be a positive int, got {filters!r}")
        if groups != 1:
            raise NotImplementedError(f"{owner}: grouped convolution (groups={groups}) is not "
                                      f"supported")
        check_channels_last(owner, data_format)
        check_no_constraint(self, kernel_constraint=kernel_constraint,
                            bias_constraint=bias_constraint)
        self.filters = filters
        self.kernel_size = pair(owner, "kernel_size", kernel_size)
        self.strides = pair(owner, "strides", strides)
        self.dilation_rate = pair(owner, "dilation_rate", dilation_rate)
        self.padding = check_padding(owner, padding)
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_mod.get(kernel_initializer)
        self.bias_initializer = initializers_mod.get(bias_initializer)
        self.kernel_regularizer = regularizers_mod.get(kernel_regularizer)
        self.bias_regularizer = regularizers_mod.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise LayerError(f"Conv2D '{self.name}': expected an NHWC input of rank 4 with known "
                             f"channels, got shape {format_shape(input_shape)}")
        self.kernel = self.add_weight(shape=self.kernel_size + (input_shape[-1], self.filters),
                                      name="kernel", initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(shape=(self.filters,), name="bias",
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def check_input_shape(self, input_shape):
        c = self.kernel.shape[2]
        if len(input_shape) != 4 or input_shape[-1] != c:
            raise LayerError(f"Conv2D '{self.name}': expected input shape (batch, height, width, "
                             f"{c}), got {format_shape(input_shape)}")

    def call(self, inputs):
        x = to_float(inputs)
        ctx, b = x.ctx, x.b
        y = b.conv2d(x.value, ctx.param(self.kernel), strides=self.strides, padding=self.padding,
                     dilation=self.dilation_rate)
        if self.bias is not None:
            y = b.add(y, ctx.param(self.bias))
        return self.activation(Tensor(y, ctx))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": activations_mod.serialize(self.activation),
                "use_bias": self.use_bias}
