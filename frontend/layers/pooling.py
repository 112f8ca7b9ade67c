"""2-D pooling over NHWC inputs: MaxPooling2D, AveragePooling2D and their global forms.

``strides=None`` means ``pool_size`` (Keras). 'same' padding follows TensorFlow: max pooling
never picks padding, average pooling divides by the number of real elements in a window.
"""
from __future__ import annotations

from frontend.layers.base import Layer, LayerError
from frontend.layers.convolutional import check_channels_last, check_padding, pair
from frontend.layers.core import to_float
from frontend.layers.tracing import format_shape

__all__ = ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
           "MaxPool2D", "AvgPool2D"]


class _Pooling2D(Layer):
    _op = ""

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        check_channels_last(owner, data_format)
        self.pool_size = pair(owner, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else pair(owner, "strides", strides)
        self.padding = check_padding(owner, padding)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 4:
            raise LayerError(f"{type(self).__name__} '{self.name}': expected an NHWC input of "
                             f"rank 4, got shape {format_shape(input_shape)}")

    def call(self, inputs):
        return to_float(inputs).op(self._op, pool_size=self.pool_size, strides=self.strides,
                                   padding=self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """The maximum over each ``pool_size`` window."""
    _op = "max_pool2d"


class AveragePooling2D(_Pooling2D):
    """The mean over each ``pool_size`` window."""
    _op = "avg_pool2d"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class _GlobalPooling2D(Layer):
    _op = ""

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(f"{type(self).__name__} '{self.name}'", data_format)
        self.keepdims = bool(keepdims)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 4:
            raise LayerError(f"{type(self).__name__} '{self.name}': expected an NHWC input of "
                             f"rank 4, got shape {format_shape(input_shape)}")

    def call(self, inputs):
        return to_float(inputs).op(self._op, axes=(1, 2), keepdims=self.keepdims)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over height and width: ``(N, H, W, C) -> (N, C)``."""
    _op = "mean"


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum over height and width: ``(N, H, W, C) -> (N, C)``."""
    _op = "max"
