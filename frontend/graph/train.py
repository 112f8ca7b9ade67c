"""TensorFlow 1 optimizers (``tf.train.*Optimizer``) over kiln's graph-op optimizers.

``minimize(loss)`` returns a training op; running it applies one update in the session. The
update rules are :mod:`runtime.optimizers`' (built as graph ops into the same kiln program
as the forward and backward pass); this module maps TensorFlow 1's classes and defaults
onto them:

================================  =========================================================
TensorFlow 1                      kiln (``runtime.optimizers``)
================================  =========================================================
GradientDescentOptimizer(lr)      SGD(lr)
MomentumOptimizer(lr, momentum,   SGD's slots with TF1's own rule: ``a = m*a + g``, step
use_nesterov)                     ``-lr*a`` (Keras keeps ``v = m*v - lr*g``: the same
                                  trajectory only while the learning rate is constant).
AdamOptimizer(lr=0.001, beta1,    Adam(lr, beta_1, beta_2, epsilon) with TF1's
beta2, epsilon=1e-8)              ``epsilon=1e-8`` (Keras: 1e-7); same "epsilon hat" rule.
RMSPropOptimizer(lr, decay=0.9,   RMSprop(lr, rho=decay, momentum, epsilon, centered) with
momentum=0, epsilon=1e-10,        TF1's ``epsilon=1e-10`` (Keras: 1e-7) and TF1's mean-square
centered)                         slot initialized to **ones** (Keras: zeros); both put
                                  epsilon inside the square root.
AdagradOptimizer(lr,              Adagrad(lr, initial_accumulator_value, epsilon=0): TF1
initial_accumulator_value=0.1)    divides by ``sqrt(accumulator)`` with no epsilon.
================================  =========================================================

The learning rate may be a Python number or a float scalar tensor (a placeholder, or
:func:`exponential_decay` of the global step); a tensor is read on every run. Each training
op owns its optimizer slots (momentum, Adam's moments, step count), held by the session.
"""
from __future__ import annotations

import numbers
import re

import numpy as np

from compiler.ir.graph import PARAM
from frontend.graph import array_ops, math_ops
from frontend.graph import dtypes as _dt
from frontend.graph.core import GraphKeys, Operation, Tensor, convert_to_tensor, \
    get_default_graph, make_op
from frontend.graph.errors import InvalidArgumentError
from frontend.graph.gradients import gradients
from frontend.graph.variables import Variable
from runtime import optimizers as _rt

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "exponential_decay", "get_global_step",
           "get_or_create_global_step", "create_global_step"]


def _kiln_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name.replace("/", ".")) or "optimizer"


class Optimizer:
    """Base class: ``compute_gradients``, ``apply_gradients`` and ``minimize``."""

    GATE_NONE, GATE_OP, GATE_GRAPH = 0, 1, 2

    def __init__(self, learning_rate, use_locking: bool = False, name: str = "Optimizer"):
        if isinstance(learning_rate, Tensor):
            if not learning_rate.dtype.is_floating or learning_rate.shape.ndims not in (0, None):
                raise ValueError(f"{name}: a tensor learning rate must be a float scalar, got "
                                 f"{learning_rate!r}")
        elif isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(f"{name}: learning_rate must be a number or a scalar tensor, got "
                            f"{learning_rate!r}")
        elif not learning_rate >= 0:
            raise ValueError(f"{name}: learning_rate must be >= 0, got {learning_rate}")
        self._lr = learning_rate
        self._name = name

    def get_name(self) -> str:
        return self._name

    # -- the kiln rule ---------------------------------------------------------------------------
    def _runtime(self, name: str, lr: float) -> _rt.Optimizer:
        raise NotImplementedError

    def _adjust_initial_state(self, update: _rt.OptimizerUpdate, params) -> None:
        """Hook for TF1 slot initializations that differ from Keras's."""

    # -- TensorFlow 1's API ---------------------------------------------------------------------
    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None) -> list[tuple[Tensor | None, Variable]]:
        """``[(gradient or None, variable), ...]`` of ``loss`` for ``var_list`` (default: the
        graph's trainable variables)."""
        loss = convert_to_tensor(loss)
        if not loss.dtype.is_floating:
            raise TypeError(f"{self._name}: the loss must be a float tensor, got "
                            f"{loss.dtype.name} ({loss.name})")
        if var_list is None:
            var_list = loss.graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        var_list = list(var_list)
        if not var_list:
            raise ValueError(f"{self._name}: no variables to optimize")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"{self._name}: var_list must hold tf.Variables, got {v!r}")
            if not v.dtype.is_floating:
                raise TypeError(f"{self._name}: cannot train {v.op.name} of dtype {v.dtype.name}")
        grads = gradients(loss, var_list, grad_ys=None if grad_loss is None else [grad_loss],
                          name=f"{self._name}_gradients")
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name: str | None = None
                        ) -> Operation:
        """An op applying one update of ``(gradient, variable)`` pairs (None gradients are
        skipped); increments ``global_step`` if given."""
        pairs = [(g, v) for g, v in grads_and_vars]
        live = [(g, v) for g, v in pairs if g is not None]
        if not live:
            raise ValueError(f"{self._name}: no gradients provided for any variable: "
                             f"{[v.op.name for _, v in pairs]}")
        grads, variables = [], []
        for g, v in live:
            if not isinstance(v, Variable):
                raise TypeError(f"{self._name}: expected tf.Variables, got {v!r}")
            if any(v is w for w in variables):
                raise ValueError(f"{self._name}: variable {v.op.name} is listed twice")
            g = convert_to_tensor(g, dtype=v.dtype)
            if not g.shape.is_compatible_with(v.shape):
                raise ValueError(f"{self._name}: gradient {g.name} of shape {g.shape} does not "
                                 f"match variable {v.op.name} of shape {v.shape}")
            grads.append(g)
            variables.append(v)
        extra = []
        if isinstance(self._lr, Tensor):
            extra.append(array_ops.cast(self._lr, _dt.float32) if self._lr.dtype != _dt.float32
                         else self._lr)
        if global_step is not None:
            if not isinstance(global_step, Variable) or not global_step.dtype.is_integer:
                raise TypeError(f"{self._name}: global_step must be an integer tf.Variable, got "
                                f"{global_step!r}")
            extra.append(global_step)
        op = make_op("ApplyGradients", grads + variables + extra, None, name=name or self._name,
                     specs=[], differentiable=False)
        rt = self._runtime(_kiln_name(op.name),
                           0.0 if isinstance(self._lr, Tensor) else float(self._lr))
        n, has_lr = len(grads), isinstance(self._lr, Tensor)

        def lower(ctx, *vals):
            b = ctx.b
            gvals, params = list(vals[:n]), list(vals[n:2 * n])
            rest = list(vals[2 * n:])
            for v, p in zip(variables, params):
                if p.kind != PARAM:
                    raise InvalidArgumentError(f"{op.describe()}: cannot train variable "
                                               f"{v.op.name} while its value is fed")
            lr_val = rest.pop(0) if has_lr else None
            if lr_val is not None and lr_val.shape != ():
                raise InvalidArgumentError(f"{op.describe()}: the learning rate must be a "
                                           f"scalar, got {lr_val.type}")
            update = rt.build(b, params, gvals)
            self._adjust_initial_state(update, params)
            if lr_val is not None:
                # the learning rate is a param of the kiln rule: read the tensor instead
                lr_name = next(k for k in update.initial_state
                               if k.startswith(f"{rt.name}.learning_rate"))
                b.graph.replace_all_uses(b.graph.value(lr_name), lr_val)
            ctx.register_slots(op, update.initial_state)
            by_name = {p.name: p for p in b.graph.params}
            for pname, new in update.new_values.items():
                ctx.write_param(by_name[pname], new, op)
            if global_step is not None:
                gs = rest.pop(0)
                ctx.write_variable(global_step, b.add(gs, 1), op)
            return None

        op.lower = lower
        op.writes = tuple(variables) + ((global_step,) if global_step is not None else ())
        op.graph.add_to_collection(GraphKeys.TRAIN_OP, op)
        return op

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP,
                 aggregation_method=None, colocate_gradients_with_ops=False,
                 name: str | None = None, grad_loss=None) -> Operation:
        """``apply_gradients(compute_gradients(loss, var_list))``: one training step."""
        pairs = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        if all(g is None for g, _ in pairs):
            raise ValueError(f"{self._name}: no gradients provided for any variable; check that "
                             f"the loss {convert_to_tensor(loss).name} depends on "
                             f"{[v.op.name for _, v in pairs]} through float, differentiable "
                             f"ops")
        return self.apply_gradients(pairs, global_step=global_step, name=name)


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * gradient``."""

    def __init__(self, learning_rate, use_locking: bool = False, name: str = "GradientDescent"):
        super().__init__(learning_rate, use_locking, name)

    def _runtime(self, name, lr):
        return _rt.SGD(lr, name=name)


class _TF1Momentum(_rt.SGD):
    """TF1's ApplyMomentum: ``a = momentum*a + g``; ``var -= lr*a`` (Nesterov: ``var -=
    lr*(g + momentum*a)``). Unlike Keras's ``v = momentum*v - lr*g`` it scales the whole
    accumulator by the *current* learning rate, which matters when that rate is a tensor
    that changes between steps (a placeholder, ``exponential_decay``)."""

    def _update(self, ctx, w, g, p):
        b, lr = ctx.b, ctx.lr(p.dtype)
        a = ctx.slot(p, "momentum")
        new_a = b.add(b.mul(a, self.momentum), g)
        ctx.set(a, new_a)
        step = b.add(g, b.mul(new_a, self.momentum)) if self.nesterov else new_a
        return b.sub(w, b.mul(step, lr))


class MomentumOptimizer(Optimizer):
    """Momentum (optionally Nesterov): ``a = momentum * a + g; var -= lr * a``."""

    def __init__(self, learning_rate, momentum, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False):
        super().__init__(learning_rate, use_locking, name)
        self._momentum = float(momentum)
        self._nesterov = bool(use_nesterov)

    def _runtime(self, name, lr):
        return _TF1Momentum(lr, momentum=self._momentum, nesterov=self._nesterov, name=name)


class AdamOptimizer(Optimizer):
    """Adam with TensorFlow 1's defaults (``epsilon=1e-8``)."""

    def __init__(self, learning_rate=0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, use_locking: bool = False, name: str = "Adam"):
        super().__init__(learning_rate, use_locking, name)
        self._args = dict(beta_1=float(beta1), beta_2=float(beta2), epsilon=float(epsilon))

    def _runtime(self, name, lr):
        return _rt.Adam(lr, name=name, **self._args)


class RMSPropOptimizer(Optimizer):
    """RMSProp with TensorFlow 1's defaults and its mean-square slot starting at ones."""

    def __init__(self, learning_rate, decay: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-10, use_locking: bool = False, centered: bool = False,
                 name: str = "RMSProp"):
        super().__init__(learning_rate, use_locking, name)
        self._args = dict(rho=float(decay), momentum=float(momentum), epsilon=float(epsilon),
                          centered=bool(centered))

    def _runtime(self, name, lr):
        return _rt.RMSprop(lr, name=name, **self._args)

    def _adjust_initial_state(self, update, params) -> None:
        for p in params:
            key = f"{p.name}.velocity"
            if key in update.initial_state:
                update.initial_state[key][...] = 1


class AdagradOptimizer(Optimizer):
    """Adagrad: ``a += g**2; var -= lr * g / sqrt(a)`` (no epsilon, as TensorFlow 1)."""

    def __init__(self, learning_rate, initial_accumulator_value: float = 0.1,
                 use_locking: bool = False, name: str = "Adagrad"):
        super().__init__(learning_rate, use_locking, name)
        if not initial_accumulator_value > 0:
            raise ValueError(f"{name}: initial_accumulator_value must be > 0 (there is no "
                             f"epsilon), got {initial_accumulator_value}")
        self._init = float(initial_accumulator_value)

    def _runtime(self, name, lr):
        return _rt.Adagrad(lr, initial_accumulator_value=self._init, epsilon=0.0, name=name)


# -- learning-rate schedules and the global step ------------------------------------------------
def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name: str | None = None) -> Tensor:
    """``learning_rate * decay_rate ** (global_step / decay_steps)`` (floored exponent with
    ``staircase``), as a float32 scalar tensor."""
    if not decay_steps > 0:
        raise ValueError(f"exponential_decay: decay_steps must be > 0, got {decay_steps}")
    step = math_ops.truediv(array_ops.cast(global_step, _dt.float32), float(decay_steps))
    if staircase:
        # the step count is >= 0, so truncation toward zero is the floor
        step = array_ops.cast(array_ops.cast(step, _dt.int64), _dt.float32)
    lr = convert_to_tensor(learning_rate, dtype=_dt.float32)
    return math_ops.multiply(lr, math_ops.pow(convert_to_tensor(float(decay_rate)), step),
                             name=name or "ExponentialDecay")


def get_global_step(graph=None) -> Variable | None:
    graph = graph or get_default_graph()
    steps = graph.get_collection(GraphKeys.GLOBAL_STEP)
    return steps[0] if steps else None


def create_global_step(graph=None) -> Variable:
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError("a global step already exists")
    with graph.as_default():
        return Variable(np.int64(0), trainable=False, name="global_step",
                        collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None) -> Variable:
    return get_global_step(graph) or create_global_step(graph)
