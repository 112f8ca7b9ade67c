"""Merging layers of the functional API: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate. Each takes a list of tensors; elementwise ones need equal shapes (Keras also
broadcasts, so do these: shapes must broadcast)."""
from __future__ import annotations

from frontend.layers.base import Layer, LayerError
from frontend.layers.core import to_float
from frontend.layers.tracing import Tensor, format_shape

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


class _Merge(Layer):
    _op = ""
    _min_inputs = 2

    def _check(self, inputs) -> list[Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self._min_inputs:
            raise LayerError(f"{type(self).__name__} '{self.name}': expected a list of at least "
                             f"{self._min_inputs} tensors, got {inputs!r}")
        return [to_float(t) for t in inputs]

    def call(self, inputs):
        xs = self._check(inputs)
        out = xs[0]
        for x in xs[1:]:
            out = Tensor(out.b.op(self._op, out.value, x.value), out.ctx)
        return out


class Add(_Merge):
    """Elementwise sum."""
    _op = "add"


class Multiply(_Merge):
    """Elementwise product."""
    _op = "mul"


class Maximum(_Merge):
    """Elementwise maximum."""
    _op = "maximum"


class Minimum(_Merge):
    """Elementwise minimum."""
    _op = "minimum"


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""
    _op = "sub"

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise LayerError(f"Subtract '{self.name}': expected exactly 2 inputs")
        return super().call(inputs)


class Average(_Merge):
    """Elementwise mean."""

    def call(self, inputs):
        xs = self._check(inputs)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out * (1.0 / len(xs))


class Concatenate(_Merge):
    """Join along ``axis`` (default the last)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        xs = self._check(inputs)
        ranks = {x.ndim for x in xs}
        if len(ranks) != 1:
            raise LayerError(f"Concatenate '{self.name}': inputs must have one rank, got shapes "
                             f"{', '.join(format_shape(x.shape) for x in xs)}")
        return Tensor(xs[0].b.concat(*[x.value for x in xs], axis=self.axis), xs[0].ctx)
