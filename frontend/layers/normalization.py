"""BatchNormalization (Ioffe & Szegedy) with Keras's defaults and update rule.

Training (``training=True`` and the layer trainable): normalize with the batch's mean and
biased variance over every axis but ``axis``, and move the statistics
``moving = moving * momentum + batch * (1 - momentum)`` (moving_variance takes the biased
batch variance, as Keras 3; PyTorch's running_var takes the unbiased one). Inference:
normalize with the moving statistics. ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``.
Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance
(non-trainable). A frozen layer (``trainable = False``) runs in inference mode, as in Keras.
Defaults: momentum 0.99, epsilon 1e-3 (PyTorch: momentum 0.1 = 1 - Keras's, eps 1e-5).
"""
from __future__ import annotations

from frontend import initializers as initializers_mod
from frontend import regularizers as regularizers_mod
from frontend.layers.base import Layer, LayerError
from frontend.layers.core import check_no_constraint, to_float
from frontend.layers.tracing import Tensor, format_shape

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalizes each feature (the ``axis`` dimension) over the batch."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 0.001,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        check_no_constraint(self, beta_constraint=beta_constraint,
                            gamma_constraint=gamma_constraint)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization '{self.name}': momentum must be in [0, 1], got "
                             f"{momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization '{self.name}': epsilon must be > 0, got "
                             f"{epsilon}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._inits = {k: initializers_mod.get(v) for k, v in (
            ("gamma", gamma_initializer), ("beta", beta_initializer),
            ("moving_mean", moving_mean_initializer),
            ("moving_variance", moving_variance_initializer))}
        self.beta_regularizer = regularizers_mod.get(beta_regularizer)
        self.gamma_regularizer = regularizers_mod.get(gamma_regularizer)

    def _axis(self, rank: int) -> int:
        if not -rank <= self.axis < rank:
            raise LayerError(f"BatchNormalization '{self.name}': axis {self.axis} is out of "
                             f"range for inputs of rank {rank}")
        return self.axis % rank

    def build(self, input_shape):
        ax = self._axis(len(input_shape))
        c = input_shape[ax]
        if c is None:
            raise LayerError(f"BatchNormalization '{self.name}': the normalized axis {self.axis} "
                             f"of {format_shape(input_shape)} must be known")
        shape = (c,)
        self.gamma = self.add_weight(shape=shape, name="gamma", initializer=self._inits["gamma"],
                                     regularizer=self.gamma_regularizer) if self.scale else None
        self.beta = self.add_weight(shape=shape, name="beta", initializer=self._inits["beta"],
                                    regularizer=self.beta_regularizer) if self.center else None
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean", trainable=False,
                                           initializer=self._inits["moving_mean"])
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               trainable=False,
                                               initializer=self._inits["moving_variance"])

    def check_input_shape(self, input_shape):
        ax = self._axis(len(input_shape))
        c = self.moving_mean.shape[0]
        if input_shape[ax] != c:
            raise LayerError(f"BatchNormalization '{self.name}': expected {c} features on axis "
                             f"{self.axis}, got input shape {format_shape(input_shape)}")

    def call(self, inputs, training=None):
        x = to_float(inputs)
        ctx, b, v = x.ctx, x.b, x.value
        ax = self._axis(v.rank)
        axes = tuple(i for i in range(v.rank) if i != ax)
        bshape = tuple(v.shape[ax] if i == ax else 1 for i in range(v.rank))

        def param(w):
            p = ctx.param(w)
            return p if ax == v.rank - 1 else b.reshape(p, shape=bshape)

        if training and self.trainable:
            mean = b.mean(v, axes=axes, keepdims=True)
            centered = b.sub(v, mean)
            var = b.mean(b.square(centered), axes=axes, keepdims=True)
            flat_mean = b.reshape(mean, shape=(v.shape[ax],))
            flat_var = b.reshape(var, shape=(v.shape[ax],))
            m = self.momentum
            for w, batch in ((self.moving_mean, flat_mean), (self.moving_variance, flat_var)):
                # The moving statistics are not part of the loss: stop_gradient keeps the
                # backward pass from reaching them through the update expressions.
                moving = ctx.param(w)
                ctx.update_state(w, b.add(b.mul(moving, m),
                                          b.mul(b.stop_gradient(batch), 1.0 - m)))
        else:
            mean = param(self.moving_mean)
            var = param(self.moving_variance)
            centered = b.sub(v, mean)
        inv = b.rsqrt(b.add(var, self.epsilon))
        if self.gamma is not None:
            inv = b.mul(inv, param(self.gamma))
        y = b.mul(centered, inv)
        if self.beta is not None:
            y = b.add(y, param(self.beta))
        return Tensor(y, ctx)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
