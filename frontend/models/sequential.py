"""Sequential: a plain stack of layers, each reading the previous one's output.

The input shape comes from an ``Input`` (or ``InputLayer``) given first, from the first
layer's ``input_shape``/``input_dim``/``input_length`` argument, or, failing both, from
the first data the model sees (``fit``/``predict``/a call), as in Keras. Once it is known
the model is built: every layer is called on a functional placeholder, which creates the
weights and records the output shapes that ``summary()`` prints. The input dtype is int32
when the first layer is an Embedding (it reads ids), float32 otherwise.
"""
from __future__ import annotations

from frontend.layers.base import Layer, LayerError
from frontend.layers.core import InputLayer
from frontend.layers.tracing import KerasTensor, format_shape
from frontend.models.functional import InputSpec, _check_unique_layer_names
from frontend.models.model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """``Sequential([Dense(64, activation="relu", input_shape=(32,)), Dense(10)])``."""

    def __init__(self, layers=None, name: str | None = None, **kwargs):
        Layer.__init__(self, name=name, **kwargs)
        self._init_training_state()
        self._input_kt: KerasTensor | None = None
        self._last_kt: KerasTensor | None = None
        for layer in layers or []:
            self.add(layer)

    # -- building the stack ------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer (or set the input with an ``Input``/``InputLayer`` given first)."""
        if isinstance(layer, KerasTensor) and layer.node is None:
            layer = getattr(layer, "_input_layer", None) or InputLayer(batch_shape=layer.shape)
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(f"Sequential '{self.name}': an Input must come before every "
                                 f"layer")
            self._set_input(layer.batch_shape, layer.input_dtype)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential '{self.name}': can only add layers, got "
                            f"{type(layer).__name__}")
        if any(layer is l for l in self._layers):
            raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' was already added")
        self._layers.append(layer)
        _check_unique_layer_names(self)
        if self._input_kt is None and len(self._layers) == 1 and layer._batch_input_shape:
            self._set_input(layer._batch_input_shape, getattr(layer, "input_dtype", "f32"))
        elif self._last_kt is not None:
            self._last_kt = layer(self._last_kt)
            self._output_shapes = self._last_kt.shape

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._layers.pop()
        self._programs.clear()
        if self._input_kt is not None:
            self._rebuild()
        return layer

    def _set_input(self, batch_shape, dtype) -> None:
        self._input_kt = KerasTensor(batch_shape, dtype, name="input_layer")
        self._rebuild()

    def _rebuild(self) -> None:
        x = self._input_kt
        for layer in self._layers:
            x = layer(x)
            if not isinstance(x, KerasTensor):
                raise LayerError(f"Sequential '{self.name}': layer '{layer.name}' returned "
                                 f"several outputs; a Sequential layer must return one tensor")
        self._last_kt = x
        self._output_shapes = x.shape
        self.built = True
        self._build_input_shape = self._input_kt.shape

    def build(self, input_shape=None) -> None:
        if input_shape is None:
            if self._input_kt is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape (the "
                                 f"first layer has no input_shape)")
            return
        if self._input_kt is not None:
            if tuple(input_shape[1:]) != tuple(self._input_kt.shape[1:]):
                raise LayerError(f"Sequential '{self.name}' expects inputs of shape "
                                 f"{format_shape(self._input_kt.shape)}, got "
                                 f"{format_shape(input_shape)}")
            return
        dtype = getattr(self._layers[0], "input_dtype", "f32") if self._layers else "f32"
        self._set_input(tuple(input_shape), dtype)

    def _ensure_built(self, shapes) -> None:
        """Deferred build from the first data's shape (batch dimension dropped)."""
        if self._input_kt is None:
            if not self._layers:
                raise ValueError(f"Sequential '{self.name}' has no layers")
            self.build((None,) + tuple(shapes[0][1:]))

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._layers:
            x = layer(x)
        return x

    def input_specs(self):
        if self._input_kt is None:
            return None
        first = self._layers[0] if self._layers else None
        rng = first.input_value_range() if hasattr(first, "input_value_range") else None
        return [InputSpec(first.name if first is not None else "input", self._input_kt.shape,
                          self._input_kt._ir_dtype, rng, first.name if rng else None)]

    @property
    def output_names(self) -> list[str]:
        return [self._layers[-1].name] if self._layers else ["output"]

    @property
    def inputs(self):
        return [self._input_kt] if self._input_kt is not None else None

    @property
    def outputs(self):
        return [self._last_kt] if self._last_kt is not None else None
