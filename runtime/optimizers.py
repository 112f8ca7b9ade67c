"""Optimizers whose update rules are graph ops, so they compile into the training step.

An :class:`Optimizer` does not run anything: :meth:`Optimizer.build` appends the update of
every parameter to a graph being built (after the gradients, before the outputs) and
returns an :class:`OptimizerUpdate`: the new value of each parameter and of each optimizer
slot, plus the initial arrays of the slots it created. A runtime
:class:`~runtime.program.Program` then writes the new values back into the state after
each step::

    b = GraphBuilder(name="train_step")
    ...                                   # forward pass and loss, params w1, b1, ...
    grads = gradients(b.graph, loss, params)
    upd = get_optimizer("adam").build(b, params, grads)
    names = list(upd.new_values)
    b.output(loss, *upd.new_values.values())
    program = Program(b.graph, state={**weights, **upd.initial_state},
                      updates={i + 1: n for i, n in enumerate(names)})

Update rules and defaults are Keras 3's (``keras.optimizers``), so a model trained here
follows the same trajectory as in Keras:

* SGD (lr 0.01): ``m = momentum*m - lr*g``; ``w += m`` (``w += momentum*m - lr*g`` with
  Nesterov); plain ``w -= lr*g`` without momentum.
* Adam (lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7): with ``t = iterations + 1``,
  ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
  ``w -= m * lr*sqrt(1 - beta_2^t)/(1 - beta_1^t) / (sqrt(v) + epsilon)``. Keras folds the
  bias correction into the step size and adds epsilon to the uncorrected ``sqrt(v)``
  (Kingma & Ba's "epsilon hat" form); PyTorch adds it to the corrected one, so the two
  differ only in epsilon's weight. ``amsgrad`` keeps the running maximum of ``v``.
* AdamW: Adam with ``weight_decay`` 0.004 (decoupled: ``w -= w*weight_decay*lr`` before the
  Adam step, as Keras and PyTorch do).
* RMSprop (lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered False):
  ``v = rho*v + (1 - rho)g^2``, ``w -= lr*g / sqrt(v + epsilon)`` (epsilon inside the root,
  as Keras; centered subtracts the squared running mean of g; momentum accumulates the
  increments).
* Adagrad (lr 0.001, initial_accumulator_value 0.1, epsilon 1e-7):
  ``a += g^2``, ``w -= lr*g / sqrt(a + epsilon)``.

Every optimizer also takes Keras's ``weight_decay``, ``clipnorm``, ``clipvalue`` and
``global_clipnorm`` (at most one clipping argument), applied in Keras's order: clip the
gradients, decay the weights, then the update rule.

State layout (the names of the slot params this build creates; all are graph params):

* ``<name>.iterations``: i64 scalar, the number of steps applied so far (Keras's
  ``optimizer.iterations``). An integer keeps the count exact at any length of training;
  the bias corrections cast ``iterations + 1`` to each parameter's float dtype. A random
  op can read it as its step counter.
* ``<name>.learning_rate``: f32 scalar (Keras keeps it as a float32 variable). It is a
  param rather than a constant so that the learning rate can change between steps
  without rebuilding or recompiling the program: setting :attr:`Optimizer.learning_rate`
  writes the new value into every learning-rate array this optimizer has handed out.
* ``<param>.<slot>``: one array of the parameter's shape and dtype per slot, e.g.
  ``w.m`` and ``w.v`` for Adam, ``w.momentum`` for SGD with momentum, ``w.velocity`` for
  RMSprop, ``w.accumulator`` for Adagrad.

``<name>`` is the optimizer's name (its lowercased class name unless given). A name that
is already taken in the graph gets a numeric suffix, so the keys of ``initial_state`` are
always the names actually created; they are the same for every build on graphs that
hold the same params, which lets programs specialized for several batch sizes share one
set of slot arrays.
"""
from __future__ import annotations

import math
import numbers
import weakref
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from compiler.builder import GraphBuilder
from compiler.ir import dtypes
from compiler.ir.graph import PARAM, Value
from compiler.ir.types import TensorType

__all__ = ["Optimizer", "OptimizerUpdate", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
           "OPTIMIZERS", "get_optimizer"]


@dataclass
class OptimizerUpdate:
    """What :meth:`Optimizer.build` appended to a graph.

    ``new_values`` maps a param name (model params and slot params) to the value that
    replaces it after the step; ``initial_state`` maps each slot param the build created
    (e.g. ``"w.m"``, ``"adam.iterations"``) to its initial array.
    """

    new_values: dict[str, Value] = field(default_factory=dict)
    initial_state: dict[str, np.ndarray] = field(default_factory=dict)


def _check_number(owner: str, name: str, value, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False, hi_open: bool = False, allow_none: bool = False):
    """A float hyper-parameter, or a ValueError naming it with expected vs got."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    v = float(value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{owner}: {name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{owner}: {name} must be {'<' if hi_open else '<='} {hi}, got {v}")
    return v


class _BuildContext:
    """Per-build bookkeeping: the builder, the values created, per-dtype scalar caches."""

    def __init__(self, b: GraphBuilder, opt: "Optimizer"):
        self.b = b
        self.opt = opt
        self.update = OptimizerUpdate()
        self._lr: dict[str, Value] = {}
        self._t: dict[str, Value] = {}
        self.iterations: Value | None = None
        self.lr_param: Value | None = None

    def new_slot(self, hint: str, shape, dtype: str, init: np.ndarray) -> Value:
        # exact=False: a name already taken in the graph gets a unique suffix instead of
        # failing; the caller reads the real name back from initial_state.
        v = self.b.graph.add_arg(hint, TensorType(tuple(shape), dtype), PARAM, exact=False)
        # np.array, not ascontiguousarray (which would turn a scalar into shape (1,))
        self.update.initial_state[v.name] = np.array(
            np.asarray(init, dtype=dtypes.to_numpy(dtype)).reshape(tuple(shape)), order="C")
        return v

    def slot(self, p: Value, slot: str, fill: float = 0.0) -> Value:
        """A slot param of ``p``'s shape and dtype, initialized to ``fill``."""
        return self.new_slot(f"{p.name}.{slot}", p.shape, p.dtype,
                             np.full(p.shape, fill, dtype=dtypes.to_numpy(p.dtype)))

    def set(self, v: Value, new: Value) -> None:
        self.update.new_values[v.name] = new

    def lr(self, dtype: str) -> Value:
        """The learning rate as a scalar of ``dtype`` (one cast per dtype)."""
        if dtype not in self._lr:
            lr = self.lr_param
            self._lr[dtype] = lr if lr.dtype == dtype else self.b.cast(lr, dtype=dtype)
        return self._lr[dtype]

    def local_step(self, dtype: str) -> Value:
        """``iterations + 1`` as a float scalar of ``dtype`` (Keras's ``local_step``)."""
        if dtype not in self._t:
            self._t[dtype] = self.b.cast(self.b.add(self.iterations, 1), dtype=dtype)
        return self._t[dtype]

    def power(self, base: float, dtype: str) -> Value:
        """``base ** local_step`` in ``dtype`` (bias corrections)."""
        return self.b.pow(self.b.constant(base, dtype=dtype), self.local_step(dtype))


class Optimizer:
    """Base class: clipping, weight decay, the step counter and the learning rate.

    Subclasses implement :meth:`_update`, which receives one parameter (after weight
    decay), its (clipped) gradient and the build context, creates its slots with
    ``ctx.slot`` and records their new values with ``ctx.set``, and returns the new
    parameter value.
    """

    default_name = "optimizer"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None):
        owner = type(self).__name__
        self._learning_rate = _check_number(owner, "learning_rate", learning_rate, lo=0.0)
        self.weight_decay = _check_number(owner, "weight_decay", weight_decay, lo=0.0,
                                          allow_none=True)
        self.clipnorm = _check_number(owner, "clipnorm", clipnorm, lo=0.0, lo_open=True,
                                      allow_none=True)
        self.clipvalue = _check_number(owner, "clipvalue", clipvalue, lo=0.0, lo_open=True,
                                       allow_none=True)
        self.global_clipnorm = _check_number(owner, "global_clipnorm", global_clipnorm, lo=0.0,
                                             lo_open=True, allow_none=True)
        given = [k for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set, got {', '.join(given)}")
        name = self.default_name if name is None else name
        if not isinstance(name, str) or not name:
            raise ValueError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.name = name
        # Learning-rate arrays handed out by build(): the setter writes into the live ones.
        self._lr_arrays: list[weakref.ref] = []

    # -- learning rate --------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = _check_number(type(self).__name__, "learning_rate", value, lo=0.0)
        alive = []
        for ref in self._lr_arrays:
            arr = ref()
            if arr is not None:
                arr[...] = self._learning_rate
                alive.append(ref)
        self._lr_arrays = alive

    # -- building -------------------------------------------------------------------------
    def build(self, b: GraphBuilder, params: Sequence[Value], grads: Sequence[Value]
              ) -> OptimizerUpdate:
        """Append the update of ``params`` given ``grads`` to ``b``'s graph.

        ``params`` are float graph params; ``grads[i]`` has the type of ``params[i]``.
        Returns the new value of every param and slot, and the slots' initial arrays.
        """
        owner = type(self).__name__
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{owner}.build: got {len(params)} params but {len(grads)} "
                             f"gradients; they must correspond one to one")
        seen = set()
        for p, g in zip(params, grads):
            if not isinstance(p, Value) or not isinstance(g, Value):
                raise TypeError(f"{owner}.build: params and gradients must be graph values, got "
                                f"{type(p).__name__} and {type(g).__name__}")
            if p.kind != PARAM:
                raise ValueError(f"{owner}.build: %{p.name} is a graph {p.kind}, not a param; "
                                 f"only params (persistent state) can be updated")
            if not dtypes.is_float(p.dtype):
                raise ValueError(f"{owner}.build: param %{p.name} is {p.type}; only f32/f64 "
                                 f"params can be trained")
            if g.type != p.type:
                raise ValueError(f"{owner}.build: gradient %{g.name} of param %{p.name} must be "
                                 f"{p.type}, got {g.type}")
            if p.name in seen:
                raise ValueError(f"{owner}.build: param %{p.name} is listed twice")
            seen.add(p.name)

        ctx = _BuildContext(b, self)
        with b.location(f"optimizer.{self.name}"):
            ctx.iterations = ctx.new_slot(f"{self.name}.iterations", (), "i64",
                                          np.zeros((), np.int64))
            ctx.lr_param = ctx.new_slot(f"{self.name}.learning_rate", (), "f32",
                                        np.array(self._learning_rate, np.float32))
            self._lr_arrays = [r for r in self._lr_arrays if r() is not None]
            self._lr_arrays.append(weakref.ref(ctx.update.initial_state[ctx.lr_param.name]))
            grads = self._clip(b, grads)
            for p, g in zip(params, grads):
                with b.location(f"optimizer.{self.name}/{p.name}"):
                    w = p
                    if self.weight_decay:
                        # decoupled weight decay, before the update rule (Keras, PyTorch)
                        w = b.sub(w, b.mul(b.mul(w, self.weight_decay), ctx.lr(p.dtype)))
                    ctx.set(p, self._update(ctx, w, g, p))
            ctx.set(ctx.iterations, b.add(ctx.iterations, 1))
        return ctx.update

    def _clip(self, b: GraphBuilder, grads: list[Value]) -> list[Value]:
        if self.clipvalue:
            v = self.clipvalue
            return [b.clip(g, min=-v, max=v) for g in grads]
        if self.clipnorm:
            return [_clip_by_norm(b, g, self.clipnorm) for g in grads]
        if self.global_clipnorm and grads:
            # One norm over all gradients, summed in f32/f64 per dtype then combined in f64
            # only if dtypes differ (rare); the common all-f32 case stays f32.
            dt = grads[0].dtype
            if any(g.dtype != dt for g in grads):
                dt = "f64"
            total = None
            for g in grads:
                s = b.sum(b.square(g))
                s = s if s.dtype == dt else b.cast(s, dtype=dt)
                total = s if total is None else b.add(total, s)
            norm = b.sqrt(total)
            # scale = clip / max(norm, clip): 1 when the norm is within the bound
            scale = b.div(b.constant(self.global_clipnorm, dtype=dt),
                          b.maximum(norm, self.global_clipnorm))
            return [b.mul(g, scale if g.dtype == dt else b.cast(scale, dtype=g.dtype))
                    for g in grads]
        return grads

    def _update(self, ctx: _BuildContext, w: Value, g: Value, p: Value) -> Value:
        """New value of parameter ``p`` (``w`` is ``p`` after weight decay; ``g`` its
        gradient). Creates the slots of ``p`` through ``ctx``."""
        raise NotImplementedError

    # -- introspection --------------------------------------------------------------------
    def get_config(self) -> dict:
        """Hyper-parameters, as Keras's ``get_config`` (constructor keyword arguments)."""
        return {"name": self.name, "learning_rate": self._learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if v is not None and k != "name")
        return f"{type(self).__name__}({args})"


def _clip_by_norm(b: GraphBuilder, g: Value, clipnorm: float) -> Value:
    """``g * clipnorm / max(||g||, clipnorm)``: unchanged when its L2 norm is <= clipnorm."""
    norm = b.sqrt(b.sum(b.square(g)))
    return b.div(b.mul(g, clipnorm), b.maximum(norm, clipnorm))


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum (Keras's rule)."""

    default_name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _check_number("SGD", "momentum", momentum, lo=0.0, hi=1.0)
        self.nesterov = bool(nesterov)

    def _update(self, ctx, w, g, p):
        b, lr = ctx.b, ctx.lr(p.dtype)
        if not self.momentum:
            return b.sub(w, b.mul(g, lr))
        m = ctx.slot(p, "momentum")
        new_m = b.sub(b.mul(m, self.momentum), b.mul(g, lr))
        ctx.set(m, new_m)
        if self.nesterov:
            return b.add(w, b.sub(b.mul(new_m, self.momentum), b.mul(g, lr)))
        return b.add(w, new_m)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras's bias-corrected step size and epsilon placement."""

    default_name = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = _check_number(owner, "beta_1", beta_1, lo=0.0, hi=1.0, hi_open=True)
        self.beta_2 = _check_number(owner, "beta_2", beta_2, lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _check_number(owner, "epsilon", epsilon, lo=0.0)
        self.amsgrad = bool(amsgrad)

    def _update(self, ctx, w, g, p):
        b, dt = ctx.b, p.dtype
        m, v = ctx.slot(p, "m"), ctx.slot(p, "v")
        one = b.constant(1.0, dtype=dt)
        alpha = b.div(b.mul(ctx.lr(dt), b.sqrt(b.sub(one, ctx.power(self.beta_2, dt)))),
                      b.sub(one, ctx.power(self.beta_1, dt)))
        new_m = b.add(m, b.mul(b.sub(g, m), 1.0 - self.beta_1))
        new_v = b.add(v, b.mul(b.sub(b.square(g), v), 1.0 - self.beta_2))
        ctx.set(m, new_m)
        ctx.set(v, new_v)
        if self.amsgrad:
            v_hat = ctx.slot(p, "vhat")
            new_v = b.maximum(v_hat, new_v)
            ctx.set(v_hat, new_v)
        return b.sub(w, b.div(b.mul(new_m, alpha), b.add(b.sqrt(new_v), self.epsilon)))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); Keras's default 0.004."""

    default_name = "adamw"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number (use Adam for no decay)")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Hinton) with Keras's epsilon inside the square root; centered and momentum
    variants."""

    default_name = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _check_number("RMSprop", "rho", rho, lo=0.0, hi=1.0)
        self.momentum = _check_number("RMSprop", "momentum", momentum, lo=0.0, hi=1.0)
        self.epsilon = _check_number("RMSprop", "epsilon", epsilon, lo=0.0)
        self.centered = bool(centered)

    def _update(self, ctx, w, g, p):
        b, lr = ctx.b, ctx.lr(p.dtype)
        v = ctx.slot(p, "velocity")
        new_v = b.add(b.mul(v, self.rho), b.mul(b.square(g), 1.0 - self.rho))
        ctx.set(v, new_v)
        if self.centered:
            a = ctx.slot(p, "average_gradient")
            new_a = b.add(b.mul(a, self.rho), b.mul(g, 1.0 - self.rho))
            ctx.set(a, new_a)
            denom = b.add(b.sub(new_v, b.square(new_a)), self.epsilon)
        else:
            denom = b.add(new_v, self.epsilon)
        increment = b.div(b.mul(g, lr), b.sqrt(denom))
        if self.momentum:
            m = ctx.slot(p, "momentum")
            new_m = b.add(b.mul(m, self.momentum), increment)
            ctx.set(m, new_m)
            return b.sub(w, new_m)
        return b.sub(w, increment)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) with Keras's initial accumulator 0.1 and epsilon in the root."""

    default_name = "adagrad"

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, lo=0.0)
        self.epsilon = _check_number("Adagrad", "epsilon", epsilon, lo=0.0)

    def _update(self, ctx, w, g, p):
        b, lr = ctx.b, ctx.lr(p.dtype)
        acc = ctx.slot(p, "accumulator", self.initial_accumulator_value)
        new_acc = b.add(acc, b.square(g))
        ctx.set(acc, new_acc)
        return b.sub(w, b.div(b.mul(g, lr), b.sqrt(b.add(new_acc, self.epsilon))))

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


#: Names accepted by :func:`get_optimizer` (lowercase; Keras's spellings).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


def get_optimizer(name_or_obj: "str | Optimizer") -> Optimizer:
    """An optimizer from its name (with default hyper-parameters) or an instance (as is).

    Names are case-insensitive: 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'.
    """
    if isinstance(name_or_obj, Optimizer):
        return name_or_obj
    if isinstance(name_or_obj, str):
        cls = OPTIMIZERS.get(name_or_obj.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {name_or_obj!r}; expected one of "
                             f"{', '.join(repr(k) for k in OPTIMIZERS)} or an Optimizer instance")
        return cls()
    raise ValueError(f"optimizer must be a name ({', '.join(repr(k) for k in OPTIMIZERS)}) or an "
                     f"Optimizer instance, got {type(name_or_obj).__name__}")
