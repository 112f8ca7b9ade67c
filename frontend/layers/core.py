"""Core layers: Input/InputLayer, Dense, Activation, Flatten, Reshape, Lambda.

Argument names, defaults and weight layouts are Keras's. Dense's kernel is ``(in, out)``
(``y = x @ kernel + bias``), applied to the last axis of inputs of any rank >= 2 (an input
``(N, T, in)`` is computed as one ``(N*T, in) @ (in, out)`` matmul). Integer inputs are cast
to float32 first, as Keras layers do.
"""
from __future__ import annotations

from typing import Callable, Sequence

from frontend import activations as activations_mod
from frontend import initializers as initializers_mod
from frontend import regularizers as regularizers_mod
from frontend.layers.base import Layer, LayerError
from frontend.layers.tracing import KerasTensor, Tensor, _resolve_reshape, format_shape, ir_dtype

__all__ = ["Input", "InputLayer", "Dense", "Activation", "Flatten", "Reshape", "Lambda",
           "to_float", "check_no_constraint"]


def to_float(x: Tensor) -> Tensor:
    """``x`` as float32 unless it is already a float tensor."""
    return x if x.value.dtype in ("f32", "f64") else x.astype("float32")


def check_no_constraint(layer: Layer, **constraints) -> None:
    for k, v in constraints.items():
        if v is not None:
            raise NotImplementedError(f"layer '{layer.name}': {k} is not supported (weight "
                                      f"constraints are not implemented)")


class InputLayer(Layer):
    """The source of a functional model's input (shows in summaries as ``InputLayer``)."""

    def __init__(self, shape=None, batch_size: int | None = None, dtype=None, name=None,
                 batch_shape=None, input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input: give shape (without the batch dimension) or "
                                 "batch_shape")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        super().__init__(name=name or None, **kwargs)
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.input_dtype = ir_dtype(dtype if dtype is not None else "float32")
        self.built = True
        self.output = KerasTensor(self.batch_shape, self.input_dtype, name=self.name)
        self.output._input_layer = self  # functional models list their InputLayers
        self._output_shapes = self.batch_shape

    def call(self, inputs):
        return inputs


def Input(shape=None, batch_size: int | None = None, dtype=None, name: str | None = None,
          batch_shape=None, **kwargs) -> KerasTensor:
    """A functional-API input placeholder: ``Input((32,))`` has shape ``(None, 32)``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype,
                       name=name or _input_name(), batch_shape=batch_shape, **kwargs)
    return layer.output


def _input_name() -> str:
    from frontend.layers.base import unique_name
    return unique_name("input_layer")


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis."""

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense '{self.name}': units must be a positive int, got {units!r}")
        check_no_constraint(self, kernel_constraint=kernel_constraint,
                            bias_constraint=bias_constraint)
        self.units = units
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_mod.get(kernel_initializer)
        self.bias_initializer = initializers_mod.get(bias_initializer)
        self.kernel_regularizer = regularizers_mod.get(kernel_regularizer)
        self.bias_regularizer = regularizers_mod.get(bias_regularizer)

    def build(self, input_shape):
        in_dim = input_shape[-1] if len(input_shape) else None
        if len(input_shape) < 2 or in_dim is None:
            raise LayerError(f"Dense '{self.name}': expected an input of rank >= 2 with a known "
                             f"last dimension, got shape {format_shape(input_shape)}")
        self.kernel = self.add_weight(shape=(in_dim, self.units), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(shape=(self.units,), name="bias",
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def check_input_shape(self, input_shape):
        want = self.kernel.shape[0]
        if len(input_shape) < 2 or input_shape[-1] != want:
            raise LayerError(f"Dense '{self.name}': expected input shape (..., {want}) (its "
                             f"kernel is {format_shape(self.kernel.shape)}), got "
                             f"{format_shape(input_shape)}")

    def call(self, inputs):
        x = to_float(inputs)
        ctx, b = x.ctx, x.b
        k = ctx.param(self.kernel)
        v = x.value
        if v.rank == 2:
            y = b.matmul(v, k)
        else:
            lead = v.shape[:-1]
            flat = b.reshape(v, shape=(int(_prod(lead)), v.shape[-1]))
            y = b.reshape(b.matmul(flat, k), shape=lead + (self.units,))
        if self.bias is not None:
            y = b.add(y, ctx.param(self.bias))
        return self.activation(Tensor(y, ctx))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_mod.serialize(self.activation),
                "use_bias": self.use_bias}


def _prod(xs: Sequence[int]) -> int:
    out = 1
    for d in xs:
        out *= int(d)
    return out


class Activation(Layer):
    """Applies an activation function (a name or a callable)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_mod.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(),
                "activation": activations_mod.serialize(self.activation)}


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)`` (channels-last order, as Keras)."""

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"Flatten '{self.name}': only channels_last is supported, "
                                      f"got data_format={data_format!r}")

    def call(self, inputs):
        n = inputs.shape[0]
        return inputs.op("reshape", shape=(n, _prod(inputs.shape[1:])))


class Reshape(Layer):
    """Reshape the non-batch dimensions to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs):
        n = inputs.shape[0]
        try:
            shape = _resolve_reshape(inputs.shape[1:], self.target_shape)
        except ValueError as e:
            raise LayerError(f"Reshape '{self.name}': {e}") from None
        return inputs.op("reshape", shape=(n,) + shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Lambda(Layer):
    """Wraps ``function(inputs) -> outputs`` written with tensor operators as a layer."""

    def __init__(self, function: Callable, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda '{self.name}': function must be callable, got "
                             f"{function!r}")
        self.function = function

    def call(self, inputs):
        return self.function(inputs)
