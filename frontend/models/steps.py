"""Step programs: one runtime Program per (model, kind, input signature), cached on the model.

* ``train``: forward pass in training mode, the loss of every output (times its
  ``loss_weights`` entry) plus weight-regularizer penalties and layer-added losses, the
  backward pass (autodiff as a graph transformation), the optimizer update, and the updates
  of non-trainable state (BatchNormalization statistics, Dropout counters). Outputs: the
  total loss, each output's loss (several outputs only), and the metrics' batch sums.
* ``evaluate``: the same forward (inference mode), losses and metric sums; no update.
* ``predict``: the forward pass in inference mode; outputs the predictions.

The signature is the shapes and dtypes of the batch arrays, so each batch size gets its own
specialization (an epoch of N samples in batches of B uses at most two: B and N mod B).
Every program of a model reads and updates the *same* state arrays in place: the layers'
weight arrays, and the optimizer's slot arrays, kept in ``model._opt_state`` so that a
program built later reuses the slots of the first. Building a program checks that the
runtime really uses those arrays in place (the contract of
:class:`runtime.program.Program`). The backend is ``compile(backend=...)`` or, when None,
:data:`runtime.program.DEFAULT_BACKEND` (:meth:`frontend.models.model.Model.set_backend`
changes it later); it is passed through, never inspected.

How the llvm backend compiles is, by default, what the environment says
(:meth:`compiler.pipeline.CompileOptions.from_env`: ``KILN_DUMP``, ``KILN_DEBUG`` ...);
``get_step(..., compile_options=CompileOptions(...))`` builds a program with explicit options
instead (the ``kiln compile``/``kiln ir`` commands use it to record stages).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.builder import GraphBuilder
from compiler.ir import dtypes
from compiler.passes.autodiff import backprop
from frontend.layers.base import graph_name
from frontend.layers.tracing import Tensor, TraceContext
from frontend.models.compile_config import resolve
from runtime.program import DEFAULT_BACKEND, Program

if TYPE_CHECKING:   # imported when used: compiler.pipeline loads LLVM
    from compiler.pipeline import CompileOptions

__all__ = ["KINDS", "Step", "get_step"]

#: The step kinds (see the module docstring).
KINDS = ("train", "evaluate", "predict")


class Step:
    """One compiled program and how to read its outputs."""

    def __init__(self, program: Program, kind: str, n_scalars: int, stat_layout):
        self.program = program
        self.kind = kind
        self.n_scalars = n_scalars          # loss entries (total, per output)
        self.stat_layout = stat_layout      # [(metric, number of sums)]

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.program(arrays)


def _signature(arrays) -> tuple:
    return tuple((a.shape, a.dtype.str) for a in arrays if a is not None)


def get_step(model, kind: str, xs: list[np.ndarray], ys: list | None = None, *,
             compile_options: CompileOptions | None = None) -> Step:
    """The step program of ``model`` for arrays shaped like ``xs`` (inputs) and ``ys``
    (targets; ``train`` and ``evaluate`` only), built on first use and cached on the model.

    ``kind`` is ``"train"``, ``"evaluate"`` or ``"predict"`` (see the module docstring).
    ``compile_options`` compiles the program with these
    :class:`~compiler.pipeline.CompileOptions` instead of the environment's, e.g.
    ``CompileOptions(dump=["fuse", "kernels"])`` keeps those stages' texts
    (``step.program.compiled.stage_text("fuse")``); such a program is cached apart from the
    one ``fit``/``predict`` use, and shares the same weights and optimizer slots. Options need
    the llvm backend (the eager one compiles nothing).
    """
    if kind not in KINDS:
        raise ValueError(f"get_step: unknown step kind {kind!r}; expected one of "
                         f"{', '.join(KINDS)}")
    if compile_options is not None:
        from compiler.pipeline import CompileOptions
        if not isinstance(compile_options, CompileOptions):
            raise TypeError(f"get_step: compile_options must be a compiler.pipeline."
                            f"CompileOptions, got {type(compile_options).__name__}")
        backend = model._backend or DEFAULT_BACKEND
        if backend != "llvm":
            raise ValueError(f"model '{model.name}': compile_options need the llvm backend; "
                             f"the model runs on {backend!r} (see Model.set_backend)")
    key = (kind, _signature(xs), _signature(ys or []),
           tuple(id(w) for w in model.trainable_weights) if kind == "train" else (),
           None if compile_options is None else repr(compile_options))
    step = model._programs.get(key)
    if step is None:
        step = _build_step(model, kind, xs, ys, compile_options)
        model._programs[key] = step
    return step


def _build_step(model, kind: str, xs: list[np.ndarray], ys: list | None,
                compile_options: CompileOptions | None = None) -> Step:
    b = GraphBuilder(name=graph_name(f"{model.name}_{kind}"))
    ctx = TraceContext(b, training=(kind == "train"))
    xv = [b.input("x" if len(xs) == 1 else f"x{i}", a.shape, dtypes.from_numpy(a.dtype))
          for i, a in enumerate(xs)]
    outs = model._forward(ctx, [Tensor(v, ctx) for v in xv])
    results: list = []
    n_scalars, stat_layout = 0, []
    if kind == "predict":
        results = [o.value for o in outs]
    else:
        ys = list(ys or [])
        res = resolve(model, [(None,) + a.shape[1:] if a is not None else None for a in ys],
                       [(None,) + tuple(o.shape[1:]) for o in outs])
        yv = [None if a is None else b.input("y" if len(ys) == 1 else f"y{i}", a.shape,
                                             dtypes.from_numpy(a.dtype))
              for i, a in enumerate(ys)]
        total, parts = None, []
        with b.location("loss"):
            for i, (o, y, loss, w) in enumerate(zip(outs, yv, res.losses, res.loss_weights)):
                if loss is None or y is None:
                    continue
                li = loss.reduce(loss.call(Tensor(y, ctx), o)).value
                if li.rank != 0:
                    li = b.mean(li)
                parts.append(li)
                term = li if w == 1.0 else b.mul(li, w)
                total = term if total is None else b.add(total, term)
            if total is None:
                raise ValueError(f"model '{model.name}': no loss to compute; compile() with a loss")
            for wt in model.weights:
                if wt.regularizer is not None:
                    total = b.add(total, _scalar(wt.regularizer(Tensor(ctx.param(wt), ctx)), b))
            for extra in ctx.losses:
                total = b.add(total, extra)
        results = [total] + (parts if len(res.output_names) > 1 else [])
        n_scalars = len(results)
        with b.location("metrics"):
            for o, y, ms in zip(outs, yv, res.metrics):
                for m in ms:
                    if y is None:
                        continue
                    stats = [_scalar(s, b) for s in m.statistics(Tensor(y, ctx), o)]
                    results += stats
                    stat_layout.append((m, len(stats)))
    updates: dict[int, str] = {}
    update_values: list = []
    source = None
    if kind == "train":
        # the forward graph and its loss, before gradients: the "graph" stage of dumps
        b.graph.outputs[:] = results
        source = str(b.graph)
        b.graph.outputs.clear()
        update_values = _train_updates(model, ctx, results[0])
    for w, v in ctx.state_updates:
        update_values.append((w.param_name, v))
    b.output(*results)
    for name, v in update_values:
        updates[len(b.graph.outputs)] = name
        b.output(v)
    state = {w.param_name: w.array for w in ctx.bound}
    if kind == "train":
        state.update(model._train_slot_state)
    options = {} if compile_options is None else {"compile_options": compile_options}
    program = Program(b.graph, state=state, updates=updates, backend=model._backend,
                      source=source, **options)
    for name, arr in state.items():
        # The contract that lets programs of several batch sizes share weights and slots.
        if program.state[name] is not arr:
            raise RuntimeError(f"the runtime copied state %{name} instead of updating it in "
                               f"place; programs would stop sharing weights")
    return Step(program, kind, n_scalars, stat_layout)


def _scalar(t, b) -> Any:
    v = t.value if isinstance(t, Tensor) else t
    if v.rank != 0:
        v = b.sum(v)
    return v if v.dtype == "f32" else b.cast(v, dtype="f32")


def _train_updates(model, ctx: TraceContext, loss) -> list[tuple[str, Any]]:
    """Gradients of the loss and the optimizer's update; returns (param name, new value)."""
    b = ctx.b
    trainable = model.trainable_weights
    params = [ctx.param(w) for w in trainable]
    with b.location("grad"):
        seed = b.constant(1.0, dtype=loss.dtype, name="grad.seed")
    grads = backprop(b, [loss], [seed], params)
    pairs = [(w, p, g) for w, p, g in zip(trainable, params, grads) if g is not None]
    unused = [w.path for w, g in zip(trainable, grads) if g is None]
    if unused:
        warnings.warn(f"model '{model.name}': no gradient reaches {', '.join(unused)}; they are "
                      f"not trained", stacklevel=4)
    if not pairs:
        raise ValueError(f"model '{model.name}': no trainable weight receives a gradient from "
                         f"the loss")
    upd = model.optimizer.build(b, [p for _, p, _ in pairs], [g for _, _, g in pairs])
    slots = {}
    for name, arr in upd.initial_state.items():
        old = model._opt_state.get(name)
        if old is not None and old.shape == arr.shape and old.dtype == arr.dtype:
            slots[name] = old            # shared with the programs built before
        else:
            model._opt_state[name] = slots[name] = arr
    model._train_slot_state = slots
    state_names = {w.param_name for w, _ in ctx.state_updates}
    out = []
    for name, v in upd.new_values.items():
        if name in state_names:
            raise ValueError(f"model '{model.name}': %{name} is both trained and updated as "
                             f"layer state")
        out.append((name, v))
    return out
