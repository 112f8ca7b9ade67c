"""Recurrent layers SimpleRNN, LSTM and GRU, each one ``scan`` over time (not unrolled).

Inputs are batch-major ``(N, T, features)`` as in Keras. The input projection of every time
step is one matmul before the loop (``(T*N, F) @ kernel + bias``); the scan body (compiled
once) only adds the recurrent term and applies the gates, and its gradient is the reverse
scan that :mod:`compiler.ops.scan` derives. ``unroll`` is accepted and ignored.

Weights and gate orders are Keras's (see :mod:`frontend.layers.torch_layout` for PyTorch's):

* SimpleRNN: kernel ``(F, u)``, recurrent_kernel ``(u, u)``, bias ``(u,)``;
  ``h = activation(x W + h U + b)``.
* LSTM: kernel ``(F, 4u)``, recurrent_kernel ``(u, 4u)``, bias ``(4u,)``, gates in the order
  i, f, c, o: ``c = f*c + i*activation(z_c)``, ``h = o*activation(c)``, with i, f, o through
  ``recurrent_activation``. ``unit_forget_bias`` starts the forget bias at 1.
* GRU (``reset_after=True``, the Keras 3 default): kernel ``(F, 3u)``, recurrent_kernel
  ``(u, 3u)``, bias ``(2, 3u)`` (input bias row, recurrent bias row), gates z, r, h:
  ``z = σ(x W_z + b_z + h U_z + b'_z)``, ``r`` likewise, ``hh = tanh(x W_h + b_h + r * (h U_h
  + b'_h))``, ``h = z*h + (1 - z)*hh``. With ``reset_after=False`` the bias is ``(3u,)`` and
  ``hh = tanh(x W_h + b_h + (r*h) U_h)``.

``return_sequences`` gives all steps' outputs ``(N, T, u)`` instead of the last ``(N, u)``;
``return_state`` also returns the final state(s) (``[output, h]``, LSTM ``[output, h, c]``);
``go_backwards`` reads the sequence from the end and returns the outputs in that order;
``initial_state`` (a call argument) replaces the zero initial state.
"""
from __future__ import annotations

import numpy as np

from compiler.ops.scan import build_scan
from frontend import activations as activations_mod
from frontend import initializers as initializers_mod
from frontend import regularizers as regularizers_mod
from frontend.layers.base import Layer, LayerError
from frontend.layers.core import check_no_constraint, to_float
from frontend.layers.tracing import Tensor, TraceContext, format_shape

__all__ = ["SimpleRNN", "LSTM", "GRU"]


class _RNN(Layer):
    """Shared parts: arguments, weights, the scan, output selection."""

    _gates = 1
    _n_states = 1

    def __init__(self, units: int, activation="tanh", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"{owner}: units must be a positive int, got {units!r}")
        check_no_constraint(self, kernel_constraint=kernel_constraint,
                            recurrent_constraint=recurrent_constraint,
                            bias_constraint=bias_constraint)
        if dropout or recurrent_dropout:
            raise NotImplementedError(f"{owner}: dropout / recurrent_dropout are not supported; "
                                      f"put a Dropout layer before or after the RNN")
        if stateful:
            raise NotImplementedError(f"{owner}: stateful RNNs are not supported")
        self.units = units
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_mod.get(kernel_initializer)
        self.recurrent_initializer = initializers_mod.get(recurrent_initializer)
        self.bias_initializer = initializers_mod.get(bias_initializer)
        self.kernel_regularizer = regularizers_mod.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers_mod.get(recurrent_regularizer)
        self.bias_regularizer = regularizers_mod.get(bias_regularizer)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)

    # -- weights ---------------------------------------------------------------------------
    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _bias_initial(self, shape):
        return self.bias_initializer

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise LayerError(f"{type(self).__name__} '{self.name}': expected input of shape "
                             f"(batch, timesteps, features), got {format_shape(input_shape)}")
        g = self._gates * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], g), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight(shape=(self.units, g), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        if self.use_bias:
            shape = self._bias_shape()
            self.bias = self.add_weight(shape=shape, name="bias",
                                        initializer=self._bias_initial(shape),
                                        regularizer=self.bias_regularizer)
        else:
            self.bias = None

    def check_input_shape(self, input_shape):
        f = self.kernel.shape[0]
        if len(input_shape) != 3 or input_shape[-1] != f:
            raise LayerError(f"{type(self).__name__} '{self.name}': expected input shape "
                             f"(batch, timesteps, {f}), got {format_shape(input_shape)}")

    # -- the step ------------------------------------------------------------------------------
    def _input_bias(self, ctx):
        """The bias added to the input projection (outside the loop), or None."""
        return ctx.param(self.bias) if self.bias is not None else None

    def _step_consts(self, ctx) -> list:
        """Values the scan body reads besides the carries and the projected input."""
        return [ctx.param(self.recurrent_kernel)]

    def _step(self, bb, states: list, xw, consts: list) -> list:
        """New states from the old states and this step's projected input ``xw``."""
        raise NotImplementedError

    def call(self, inputs, initial_state=None):
        x = to_float(inputs)
        ctx, b, v = x.ctx, x.b, x.value
        n, t, f = v.shape
        gu = self._gates * self.units
        # time-major, then the input projection of all steps in one matmul
        xt = b.transpose(v, perm=(1, 0, 2))
        if self.go_backwards:
            xt = b.gather(xt, b.constant(np.arange(t - 1, -1, -1, dtype=np.int32)), axis=0)
        xw = b.matmul(b.reshape(xt, shape=(t * n, f)), ctx.param(self.kernel))
        bias = self._input_bias(ctx)
        if bias is not None:
            xw = b.add(xw, bias)
        xw = b.reshape(xw, shape=(t, n, gu))
        states = self._initial_states(ctx, n, initial_state)
        consts = self._step_consts(ctx)

        def body(bb, carries, xs_t, cs):
            new = self._step(bb, list(carries), xs_t[0], list(cs))
            return new, [new[0]]

        finals, ys = build_scan(b, body, states, [xw], consts, name=f"{_safe(self.name)}_step")
        if self.return_sequences:
            out = b.transpose(ys[0], perm=(1, 0, 2))
        else:
            out = finals[0]
        result = Tensor(out, ctx)
        if self.return_state:
            return [result] + [Tensor(s, ctx) for s in finals]
        return result

    def _initial_states(self, ctx: TraceContext, n: int, initial_state) -> list:
        b = ctx.b
        if initial_state is None:
            return [b.constant(0.0, dtype="f32", shape=(n, self.units))
                    for _ in range(self._n_states)]
        given = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(given) != self._n_states:
            raise LayerError(f"{type(self).__name__} '{self.name}': initial_state needs "
                             f"{self._n_states} tensor(s), got {len(given)}")
        out = []
        for s in given:
            if not isinstance(s, Tensor) or s.shape != (n, self.units):
                got = format_shape(s.shape) if hasattr(s, "shape") else type(s).__name__
                raise LayerError(f"{type(self).__name__} '{self.name}': each initial state must "
                                 f"have shape ({n}, {self.units}), got {got}")
            out.append(to_float(s).value)
        return out

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_mod.serialize(self.activation),
                "use_bias": self.use_bias, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards}


def _safe(name: str) -> str:
    from frontend.layers.base import graph_name
    return graph_name(name)


def _cols(bb, v, k: int, u: int):
    """Columns ``[k*u, (k+1)*u)`` of a ``(N, G*u)`` value (one gate)."""
    return bb.slice(v, starts=(0, k * u), limits=(v.shape[0], (k + 1) * u))


def _act(fn, bb, v):
    """Apply a Tensor-level activation inside a scan body."""
    return fn(Tensor(v, TraceContext(bb))).value


class SimpleRNN(_RNN):
    """Fully-connected RNN: ``h_t = activation(x_t W + h_{t-1} U + b)``."""

    def _step(self, bb, states, xw, consts):
        (h,), (rk,) = states, consts
        return [_act(self.activation, bb, bb.add(xw, bb.matmul(h, rk)))]


class LSTM(_RNN):
    """Long short-term memory (Hochreiter & Schmidhuber), Keras's gate order i, f, c, o."""

    _gates = 4
    _n_states = 2

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_mod.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initial(self, shape):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def init(shape, dtype="float32"):
            # [init(u), ones(u), init(2u)]: the forget gate starts open (Jozefowicz et al.)
            return np.concatenate([np.asarray(base((u,), dtype)), np.ones(u, dtype=dtype),
                                   np.asarray(base((2 * u,), dtype))])
        return init

    def _step(self, bb, states, xw, consts):
        (h, c), (rk,) = states, consts
        u = self.units
        z = bb.add(xw, bb.matmul(h, rk))
        i = _act(self.recurrent_activation, bb, _cols(bb, z, 0, u))
        f = _act(self.recurrent_activation, bb, _cols(bb, z, 1, u))
        g = _act(self.activation, bb, _cols(bb, z, 2, u))
        o = _act(self.recurrent_activation, bb, _cols(bb, z, 3, u))
        c_new = bb.add(bb.mul(f, c), bb.mul(i, g))
        h_new = bb.mul(o, _act(self.activation, bb, c_new))
        return [h_new, c_new]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations_mod.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit (Cho et al.), Keras's gate order z, r, h."""

    _gates = 3

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 reset_after: bool = True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_mod.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self, ctx):
        if self.bias is None:
            return None
        bias = ctx.param(self.bias)
        if not self.reset_after:
            return bias
        return ctx.b.reshape(ctx.b.slice(bias, starts=(0, 0), limits=(1, 3 * self.units)),
                             shape=(3 * self.units,))

    def _step_consts(self, ctx):
        consts = [ctx.param(self.recurrent_kernel)]
        if self.reset_after and self.bias is not None:
            bias = ctx.param(self.bias)
            consts.append(ctx.b.reshape(ctx.b.slice(bias, starts=(1, 0),
                                                    limits=(2, 3 * self.units)),
                                        shape=(3 * self.units,)))
        return consts

    def _step(self, bb, states, xw, consts):
        (h,), rk = states, consts[0]
        u = self.units
        x_z, x_r, x_h = (_cols(bb, xw, k, u) for k in range(3))
        if self.reset_after:
            inner = bb.matmul(h, rk)
            if len(consts) > 1:
                inner = bb.add(inner, consts[1])
            r_z, r_r, r_h = (_cols(bb, inner, k, u) for k in range(3))
            z = _act(self.recurrent_activation, bb, bb.add(x_z, r_z))
            r = _act(self.recurrent_activation, bb, bb.add(x_r, r_r))
            hh = _act(self.activation, bb, bb.add(x_h, bb.mul(r, r_h)))
        else:
            rk_zr = bb.slice(rk, starts=(0, 0), limits=(u, 2 * u))
            rk_h = bb.slice(rk, starts=(0, 2 * u), limits=(u, 3 * u))
            inner = bb.matmul(h, rk_zr)
            z = _act(self.recurrent_activation, bb, bb.add(x_z, _cols(bb, inner, 0, u)))
            r = _act(self.recurrent_activation, bb, bb.add(x_r, _cols(bb, inner, 1, u)))
            hh = _act(self.activation, bb, bb.add(x_h, bb.matmul(bb.mul(r, h), rk_h)))
        # h = z*h + (1 - z)*hh
        return [bb.add(bb.mul(z, h), bb.mul(bb.sub(1.0, z), hh))]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations_mod.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}
