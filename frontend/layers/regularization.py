"""Dropout: inverted dropout in training, the identity in inference.

Each Dropout layer has its own seed (the ``seed`` argument, or one drawn from the global
seed stream when the layer is created, see :func:`frontend.initializers.set_random_seed`)
and its own step counter, an int64 scalar of state that the training step advances by one.
The mask of a step is a pure function of (seed, counter) through kiln's counter-based
random ops (:func:`compiler.ops.random.dropout`), so the eager and compiled backends draw
the same masks, and a backward pass recomputes exactly the mask of its forward pass. The
counter is state, not a weight: it is not in ``weights`` and not counted in summaries (as
Keras's seed generator state).
"""
from __future__ import annotations

import numpy as np

from compiler.ops.random import dropout as dropout_op
from frontend.initializers import next_seed
from frontend.layers.base import Layer, Weight
from frontend.layers.tracing import Tensor

__all__ = ["Dropout"]

_GOLDEN = 0x9E3779B97F4A7C15


class Dropout(Layer):
    """Sets inputs to 0 with probability ``rate`` in training and scales the rest by
    ``1 / (1 - rate)``."""

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': rate must be a number in [0, 1), got "
                             f"{rate!r}")
        if noise_shape is not None:
            raise NotImplementedError(f"Dropout '{self.name}': noise_shape is not supported")
        self.rate = float(rate)
        self.seed = int(seed) if seed is not None else next_seed()
        self.seed_state = Weight(self.name, "seed_state", np.zeros((), np.int64), trainable=False)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        ctx = inputs.ctx
        k = ctx.next_call_index(self)
        counter = ctx.param(self.seed_state)
        # A layer called twice in one step must not draw the same mask twice.
        seed = (self.seed + k * _GOLDEN) % (1 << 63)
        y = dropout_op(ctx.b, inputs.value, counter, self.rate, seed)
        if k == 0:
            ctx.update_state(self.seed_state, ctx.b.add(counter, 1))
        return Tensor(y, ctx)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
