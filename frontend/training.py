"""The training API behind ``Model.compile/fit/evaluate/predict``: step programs, data
conversion and checking, batching, and the loops.

Step programs
-------------
Each (model, kind, input signature) compiles to one :class:`runtime.program.Program`, cached
on the model (``model._programs``):

* ``train``: forward pass in training mode, the loss of every output (times its
  ``loss_weights`` entry), plus weight-regularizer penalties and layer-added losses, the
  backward pass (autodiff as a graph transformation), the optimizer update, and the updates
  of non-trainable state (BatchNormalization statistics, Dropout counters). Outputs: the
  total loss, each output's loss (several outputs only), and the metrics' batch sums.
* ``evaluate``: the same forward (inference mode), losses and metric sums; no update.
* ``predict``: the forward pass in inference mode; outputs the predictions.

The signature is the shapes and dtypes of the batch arrays, so a batch size gets its own
specialization: an epoch of N samples in batches of B uses at most two programs (B and
N mod B; the last partial batch is neither dropped nor padded). Every program of a model
reads and updates the *same* state arrays in place: the layers' weight arrays and the
optimizer's slot arrays (kept in ``model._opt_state`` so that the second program built
reuses the first one's). The backend is ``compile(backend=...)`` or, when None,
:data:`runtime.program.DEFAULT_BACKEND` (this module passes it through and never looks at
it).

Data conversion (explicit rules)
--------------------------------
* Features: converted to the dtype of the model input they feed. Float inputs (the
  default; ``Input(dtype=...)`` may say otherwise) take any numeric or boolean array and
  become float32 (float64 numpy data included). Integer inputs (a Sequential whose first
  layer is an Embedding, or ``Input(dtype="int32")``) become int32; float data is
  accepted only when every value is a whole number. Ids feeding an Embedding directly are
  checked against ``[0, input_dim)``. Subclassed models (no declared inputs) take floats
  as float32 and integers as int32 (int64 when out of int32 range); their layers cast as
  Keras layers do. Shapes are checked against the declared input shape (``None`` matches
  any size).
* Targets, per output, by its loss: sparse categorical crossentropy takes integer class
  ids (whole-number floats accepted) shaped like the predictions without the class axis
  (a trailing axis of 1 is dropped), converted to int32 and checked to lie in ``[0,
  classes)`` -- out-of-range labels would otherwise one-hot to all-zero rows and train on
  garbage silently. Every other loss takes targets shaped like the predictions (Keras's
  rule: a missing trailing axis of 1 is added, an extra one dropped), as float32.
* Every input and target must have the same number of samples. Errors name the model
  input or output, the expected and the given shape or value.

Metrics accumulate over an epoch as sums (see :mod:`frontend.metrics`), and the loss as
the batch-size-weighted mean of the batch losses (as Keras reports it).
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from compiler.builder import GraphBuilder
from compiler.errors import KilnError
from compiler.ir import dtypes
from compiler.passes.autodiff import backprop
from frontend import losses as losses_mod
from frontend import metrics as metrics_mod
from frontend.callbacks import Callback, CallbackList, History, ProgbarLogger
from frontend.initializers import next_seed
from frontend.layers.base import graph_name
from frontend.layers.tracing import Tensor, TraceContext, format_shape
from runtime.optimizers import get_optimizer
from runtime.program import Program

__all__ = ["DataError", "compile_model", "fit", "evaluate", "predict", "train_on_batch",
           "test_on_batch", "predict_on_batch", "metric_names", "convert_inputs",
           "convert_targets"]

DEFAULT_BATCH_SIZE = 32


class DataError(KilnError, ValueError):
    """Data given to fit/evaluate/predict does not fit the model; names input/output."""


# ==============================================================================================
# compile
# ==============================================================================================
def compile_model(model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                  weighted_metrics=None, backend: str | None = None, **kwargs) -> None:
    for k in ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"):
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"compile: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if weighted_metrics:
        raise NotImplementedError("compile: weighted_metrics are not supported (no sample "
                                  "weights)")
    if backend is not None:
        from runtime.program import check_backend
        check_backend(backend)
    model.optimizer = get_optimizer(optimizer)
    model.loss = loss
    model._compile_config = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                             "resolved": None}
    model._backend = backend
    model._programs.clear()
    model._opt_state = {}
    model.compiled = True
    # validate names now, so a typo fails at compile as in Keras
    for l in _flat_config(loss):
        if l is not None:
            losses_mod.get(l)
    for m in _flat_config(metrics):
        metrics_mod.get(m)


def _flat_config(cfg) -> list:
    if cfg is None:
        return []
    if isinstance(cfg, dict):
        return [x for v in cfg.values() for x in _flat_config(v)]
    if isinstance(cfg, (list, tuple)):
        return [x for v in cfg for x in _flat_config(v)]
    return [cfg]


@dataclass
class _Resolved:
    """compile()'s configuration made concrete for the model's outputs."""

    losses: list                 # Loss or None per output
    loss_weights: list[float]
    metrics: list[list]          # Metric objects per output
    output_names: list[str]


def _per_output(cfg, names: list[str], what: str) -> list:
    n = len(names)
    if isinstance(cfg, dict):
        unknown = set(cfg) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} given for unknown output(s) "
                             f"{', '.join(sorted(unknown))}; outputs are {', '.join(names)}")
        return [cfg.get(nm) for nm in names]
    if isinstance(cfg, (list, tuple)) and what in ("loss", "loss_weights"):
        if len(cfg) != n:
            raise ValueError(f"compile: {len(cfg)} losses given for {n} output(s)")
        return list(cfg)
    return [cfg] * n


def _resolve(model, y_shapes: list[tuple], pred_shapes: list[tuple]) -> _Resolved:
    cfg = model._compile_config
    if cfg.get("resolved") is not None:
        return cfg["resolved"]
    names = model.output_names
    if len(names) != len(pred_shapes):
        names = [f"output_{i}" for i in range(len(pred_shapes))] if len(pred_shapes) > 1 \
            else ["output"]
    losses = [None if l is None else losses_mod.get(l)
              for l in _per_output(cfg["loss"], names, "loss")]
    lw = cfg.get("loss_weights")
    weights = [1.0] * len(names) if lw is None else [
        1.0 if w is None else float(w) for w in _per_output(lw, names, "loss_weights")]
    if isinstance(lw, (list, tuple)) and len(lw) != len(names):
        raise ValueError(f"compile: {len(lw)} loss_weights given for {len(names)} output(s)")
    mcfg = cfg.get("metrics")
    if isinstance(mcfg, dict):
        per = _per_output(mcfg, names, "metrics")
    elif isinstance(mcfg, (list, tuple)) and len(names) > 1 and mcfg and all(
            isinstance(m, (list, tuple)) or m is None for m in mcfg):
        if len(mcfg) != len(names):
            raise ValueError(f"compile: {len(mcfg)} metric lists given for {len(names)} outputs")
        per = list(mcfg)
    else:
        per = [mcfg] * len(names)
    metrics = []
    for i, m in enumerate(per):
        items = [] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m])
        if y_shapes[i] is None:  # an output without targets has no metrics
            items = []
        resolved = [metrics_mod.resolve(x, losses[i], y_shapes[i], pred_shapes[i]) for x in items]
        if len(names) > 1:
            for r in resolved:
                r.name = f"{names[i]}_{r.name}"
        metrics.append(resolved)
    res = _Resolved(losses, weights, metrics, names)
    cfg["resolved"] = res
    model._resolved_metrics = lambda: [m for ms in res.metrics for m in ms]
    return res


def metric_names(model) -> list[str]:
    """``["loss", <metric names>...]`` as evaluate() returns them."""
    res = model._compile_config.get("resolved") if model.compiled else None
    if res is None:
        out = ["loss"]
        for m in _flat_config(model._compile_config.get("metrics") if model.compiled else None):
            g = metrics_mod.get(m)
            out.append(g if isinstance(g, str) else g.name)
        return out
    return _log_names(res)


def _log_names(res: _Resolved) -> list[str]:
    names = ["loss"]
    if len(res.output_names) > 1:
        names += [f"{n}_loss" for n, l in zip(res.output_names, res.losses) if l is not None]
    return names + [m.name for ms in res.metrics for m in ms]


# ==============================================================================================
# data conversion and checks
# ==============================================================================================
def _numeric(a, what: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise DataError(f"{what}: cannot be read as an array ({e})") from None
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{what}: expected numbers, got an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise DataError(f"{what}: expected an array with a batch dimension, got a scalar")
    return arr


def _integral(arr: np.ndarray, what: str) -> np.ndarray:
    """Whole-number floats as int64 (anything else is an error)."""
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        bad = ~finite | (arr != np.floor(np.where(finite, arr, 0)))
        if bad.any():
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            raise DataError(f"{what}: expected integer values, got {arr[i].item()!r} at index {i}")
        return arr.astype(np.int64)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    return arr


def _check_range(arr: np.ndarray, lo: int, hi: int, what: str, why: str) -> None:
    if arr.size == 0:
        return
    mn, mx = arr.min(), arr.max()
    if mn < lo or mx >= hi:
        bad = mn if mn < lo else mx
        i = tuple(int(j) for j in np.argwhere(arr == bad)[0])
        raise DataError(f"{what}: {why} must be in [{lo}, {hi}), got {int(bad)} at index {i}")


def _split_structure(data, names: list[str], what: str) -> list:
    """One raw item per model input/output from an array, list/tuple or dict."""
    n = len(names)
    if isinstance(data, dict):
        missing = [k for k in names if k not in data]
        if missing:
            raise DataError(f"{what}: no data for {', '.join(map(repr, missing))}; the dict has "
                            f"{', '.join(map(repr, data))}")
        extra = sorted(set(data) - set(names))
        if extra:
            raise DataError(f"{what}: unknown key(s) {', '.join(map(repr, extra))}; expected "
                            f"{', '.join(map(repr, names))}")
        return [data[k] for k in names]
    if n == 1:
        if isinstance(data, (list, tuple)) and len(data) == 1 and isinstance(data[0], np.ndarray):
            return [data[0]]
        return [data]
    if not isinstance(data, (list, tuple)) or len(data) != n:
        got = f"{len(data)} item(s)" if isinstance(data, (list, tuple)) else type(data).__name__
        raise DataError(f"{what}: the model has {n} ({', '.join(names)}); pass a list of {n} "
                        f"arrays or a dict, got {got}")
    return list(data)


def convert_inputs(model, x) -> list[np.ndarray]:
    """Model inputs as arrays of the dtypes and shapes the model takes (module docstring)."""
    if x is None:
        raise DataError(f"model '{model.name}': no input data (x is None)")
    specs = model.input_specs()
    if specs is None:
        names = ["input"] if not isinstance(x, (list, tuple, dict)) or _single_list(x) \
            else [f"input_{i}" for i in range(len(x))]
        raw = _split_structure(x, names, f"model '{model.name}' inputs")
        out = []
        for nm, r in zip(names, raw):
            a = _numeric(r, f"input '{nm}' of model '{model.name}'")
            if a.dtype.kind in "fb":
                out.append(np.ascontiguousarray(a, dtype=np.float32))
            else:
                fits = a.size == 0 or (a.min() >= np.iinfo(np.int32).min and
                                       a.max() <= np.iinfo(np.int32).max)
                out.append(np.ascontiguousarray(a, dtype=np.int32 if fits else np.int64))
        model._ensure_built([a.shape for a in out])
        return out
    raw = _split_structure(x, [s.name for s in specs], f"model '{model.name}' inputs")
    return [_convert_feature(model, s, r) for s, r in zip(specs, raw)]


def _single_list(x) -> bool:
    """A list that is one array's data (numbers or nested lists), not a list of inputs."""
    return isinstance(x, (list, tuple)) and not any(isinstance(e, np.ndarray) for e in x)


def _convert_feature(model, spec, raw) -> np.ndarray:
    what = f"input '{spec.name}' of model '{model.name}'"
    a = _numeric(raw, what)
    want = spec.shape
    if a.ndim != len(want) or any(w is not None and w != g for w, g in zip(want[1:], a.shape[1:])):
        raise DataError(f"{what}: expected shape {format_shape(want)}, got {format_shape(a.shape)}")
    if dtypes.is_float(spec.dtype) or spec.dtype == "bool":
        return np.ascontiguousarray(a, dtype=dtypes.to_numpy(spec.dtype))
    ids = _integral(a, what)
    if spec.value_range is not None:
        lo, hi = spec.value_range
        _check_range(ids, lo, hi, what, f"ids read by layer '{spec.range_layer}' "
                                        f"(input_dim={hi})")
    return np.ascontiguousarray(ids, dtype=dtypes.to_numpy(spec.dtype))


def _prediction_shapes(model, xs: list[np.ndarray]) -> list[tuple]:
    """Shapes (batch dimension None) of the model's outputs for inputs like ``xs``."""
    key = tuple((a.shape[1:], a.dtype.str) for a in xs)
    cached = model._output_shape_cache.get(key)
    if cached is not None:
        return cached
    b = GraphBuilder(name="output_shapes")
    ctx = TraceContext(b, training=False)
    ctx.probe = True
    ins = [Tensor(b.input(f"x{i}", (2,) + a.shape[1:], dtypes.from_numpy(a.dtype)), ctx)
           for i, a in enumerate(xs)]
    outs = model._forward(ctx, ins)
    shapes = [(None,) + tuple(o.shape[1:]) for o in outs]
    model._output_shape_cache[key] = shapes
    return shapes


def convert_targets(model, y, xs: list[np.ndarray]) -> list[np.ndarray | None]:
    """Targets per output (None where an output has no loss), by the rules above."""
    if y is None:
        raise DataError(f"model '{model.name}': no targets (y is None); fit and evaluate need "
                        f"labels")
    preds = _prediction_shapes(model, xs)
    names = model.output_names if len(model.output_names) == len(preds) else \
        [f"output_{i}" for i in range(len(preds))]
    raw = _split_structure(y, names, f"model '{model.name}' targets")
    cfg_losses = _per_output(model._compile_config.get("loss"), names, "loss")
    losses = [None if l is None else losses_mod.get(l) for l in cfg_losses]
    out = []
    for name, r, loss, pred in zip(names, raw, losses, preds):
        out.append(None if loss is None or r is None else _convert_target(name, r, loss, pred))
    return out


def _convert_target(name: str, raw, loss, pred: tuple) -> np.ndarray:
    what = f"targets for output '{name}'"
    a = _numeric(raw, what)
    if loss.sparse_labels:
        want = pred[1:-1]
        classes = pred[-1]
        if a.shape[1:] == want:
            pass
        elif a.shape[1:] == want + (1,):
            a = a.reshape(a.shape[:-1])
        else:
            raise DataError(f"{what}: {loss.name} takes integer class ids of shape "
                            f"{format_shape((None,) + want)} (the predictions "
                            f"{format_shape(pred)} without the class axis), got "
                            f"{format_shape(a.shape)}")
        ids = _integral(a, what)
        _check_range(ids, 0, classes, what,
                     f"class ids ({classes} classes predicted; {loss.name} would turn other "
                     f"values into all-zero one-hot rows)")
        return np.ascontiguousarray(ids, dtype=np.int32)
    want = pred[1:]
    if a.shape[1:] == want:
        pass
    elif a.shape[1:] + (1,) == want:
        a = a.reshape(a.shape + (1,))
    elif a.shape[1:] == want + (1,):
        a = a.reshape(a.shape[:-1])
    else:
        hint = ""
        if isinstance(loss, losses_mod.CategoricalCrossentropy) and a.ndim == len(pred) - 1:
            hint = ("; for integer class ids use sparse_categorical_crossentropy (or one-hot "
                    "encode the labels)")
        raise DataError(f"{what}: {loss.name} takes targets shaped like the predictions "
                        f"{format_shape(pred)}, got {format_shape(a.shape)}{hint}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _check_lengths(model, xs: list[np.ndarray], ys: Sequence | None) -> int:
    n = xs[0].shape[0]
    for i, a in enumerate(xs[1:], 1):
        if a.shape[0] != n:
            raise DataError(f"model '{model.name}': input 0 has {n} samples but input {i} has "
                            f"{a.shape[0]}")
    for i, a in enumerate(ys or []):
        if a is not None and a.shape[0] != n:
            raise DataError(f"model '{model.name}': the inputs have {n} samples but the targets"
                            f"{'' if len(ys) == 1 else f' of output {i}'} have {a.shape[0]}")
    if n == 0:
        raise DataError(f"model '{model.name}': the data has no samples")
    return n


# ==============================================================================================
# step programs
# ==============================================================================================
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


def get_step(model, kind: str, xs: list[np.ndarray], ys: list | None = None) -> Step:
    """The cached step program for these arrays' shapes, built on first use."""
    key = (kind, _signature(xs), _signature(ys or []),
           tuple(id(w) for w in model.trainable_weights) if kind == "train" else ())
    step = model._programs.get(key)
    if step is None:
        step = _build_step(model, kind, xs, ys)
        model._programs[key] = step
    return step


def _build_step(model, kind: str, xs: list[np.ndarray], ys: list | None) -> Step:
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
        res = _resolve(model, [(None,) + a.shape[1:] if a is not None else None for a in ys],
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
    if kind == "train":
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
    program = Program(b.graph, state=state, updates=updates, backend=model._backend)
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


# ==============================================================================================
# batching
# ==============================================================================================
class _ArrayData:
    """Converted arrays, served in mini-batches."""

    def __init__(self, xs: list[np.ndarray], ys: list | None, n: int):
        self.xs, self.ys, self.n = xs, ys, n

    def steps(self, batch_size: int) -> int:
        return math.ceil(self.n / batch_size)

    def batches(self, batch_size: int, shuffle: bool = False, rng=None):
        if shuffle:
            order = rng.permutation(self.n)
            for start in range(0, self.n, batch_size):
                idx = order[start:start + batch_size]
                yield ([a[idx] for a in self.xs],
                       None if self.ys is None else [None if a is None else a[idx]
                                                     for a in self.ys])
        else:
            for start in range(0, self.n, batch_size):
                sl = slice(start, start + batch_size)
                yield ([a[sl] for a in self.xs],
                       None if self.ys is None else [None if a is None else a[sl]
                                                     for a in self.ys])

    def split(self, fraction: float):
        """(train, validation): the validation part is the last ``fraction`` of the samples
        (before any shuffling), as Keras takes it."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
        at = int(math.floor(self.n * (1.0 - fraction)))
        if at == 0 or at == self.n:
            raise ValueError(f"validation_split={fraction} leaves no samples for training or "
                             f"validation out of {self.n}")

        def part(lo, hi):
            return _ArrayData([a[lo:hi] for a in self.xs],
                              None if self.ys is None else [None if a is None else a[lo:hi]
                                                            for a in self.ys], hi - lo)
        return part(0, at), part(at, self.n)


class _IterableData:
    """A re-iterable source of ready-made batches: ``(x, y)`` tuples, or ``x`` alone."""

    def __init__(self, model, source, need_y: bool, steps: int | None):
        self.model, self.source, self.need_y, self.limit = model, source, need_y, steps

    def steps(self, batch_size: int) -> int | None:
        if self.limit is not None:
            return self.limit
        try:
            return len(self.source)
        except TypeError:
            return None

    def batches(self, batch_size: int, shuffle: bool = False, rng=None):
        for i, item in enumerate(self.source):
            if self.limit is not None and i >= self.limit:
                return
            if isinstance(item, tuple) and len(item) == 3:
                raise NotImplementedError("sample weights in datasets are not supported")
            if isinstance(item, tuple) and len(item) == 2:
                x, y = item
            else:
                x, y = (item[0] if isinstance(item, tuple) and len(item) == 1 else item), None
            xs = convert_inputs(self.model, x)
            ys = None
            if self.need_y:
                ys = convert_targets(self.model, y, xs)
                _check_lengths(self.model, xs, ys)
            yield xs, ys


def _is_dataset(x) -> bool:
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes, numbers.Number)):
        return False
    return hasattr(x, "__iter__")


def _make_data(model, x, y, need_y: bool, steps: int | None = None):
    if _is_dataset(x):
        if y is not None:
            raise DataError("when x is a dataset (an iterable of batches), y must be None: the "
                            "dataset yields (x, y) pairs")
        return _IterableData(model, x, need_y, steps)
    xs = convert_inputs(model, x)
    ys = convert_targets(model, y, xs) if need_y else None
    n = _check_lengths(model, xs, ys)
    return _ArrayData(xs, ys, n)


def _check_batch_size(batch_size) -> int:
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _verbosity(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


# ==============================================================================================
# accumulating results
# ==============================================================================================
class _Totals:
    """Epoch totals: batch-size-weighted losses and metric sums."""

    def __init__(self, step: Step, names: list[str]):
        self.names = names
        self.n = 0
        self.loss_sums = np.zeros(step.n_scalars)
        self.stats = [np.zeros(k) for _, k in step.stat_layout]
        self.layout = step.stat_layout

    def add(self, step: Step, outs: list[np.ndarray], batch: int) -> None:
        self.n += batch
        self.loss_sums += np.array([float(v) for v in outs[:step.n_scalars]]) * batch
        pos = step.n_scalars
        for i, (_, k) in enumerate(step.stat_layout):
            self.stats[i] += np.array([float(v) for v in outs[pos:pos + k]])
            pos += k

    def logs(self) -> dict[str, float]:
        out = {}
        for name, v in zip(self.names, self.loss_sums):
            out[name] = float(v / self.n) if self.n else 0.0
        for (m, _), s in zip(self.layout, self.stats):
            out[m.name] = float(m.result_from(s))
        return out


def _loss_names(model, step: Step) -> list[str]:
    res = model._compile_config["resolved"]
    return _log_names(res)[:step.n_scalars]


def _require_compiled(model, what: str) -> None:
    if not model.compiled or model.optimizer is None:
        raise RuntimeError(f"model '{model.name}' must be compiled before {what}(); call "
                           f"model.compile(optimizer, loss, metrics)")
    if model._compile_config.get("loss") is None:
        raise RuntimeError(f"model '{model.name}': {what}() needs a loss; compile() with one")


def _reject(sample_weight=None, class_weight=None, kwargs=None, what: str = "fit") -> None:
    if sample_weight is not None:
        raise NotImplementedError(f"{what}: sample_weight is not supported")
    if class_weight is not None:
        raise NotImplementedError(f"{what}: class_weight is not supported")
    if kwargs:
        raise TypeError(f"{what}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")


def _run_batches(model, data, kind: str, batch_size: int, cbs, hook: str) -> dict[str, float]:
    """One pass of ``kind`` steps over ``data``; returns the accumulated logs."""
    totals = None
    for i, (xs, ys) in enumerate(data.batches(batch_size)):
        getattr(cbs, f"on_{hook}_batch_begin")(i, {})
        step = get_step(model, kind, xs, ys)
        outs = step(xs + [a for a in ys if a is not None])
        if totals is None:
            totals = _Totals(step, _loss_names(model, step))
        totals.add(step, outs, xs[0].shape[0])
        getattr(cbs, f"on_{hook}_batch_end")(i, totals.logs())
    if totals is None:
        raise DataError(f"model '{model.name}': the data yielded no batches")
    return totals.logs()


# ==============================================================================================
# the loops
# ==============================================================================================
def fit(model, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
        validation_split: float = 0.0, validation_data=None, shuffle: bool = True,
        class_weight=None, sample_weight=None, initial_epoch: int = 0,
        steps_per_epoch: int | None = None, validation_steps: int | None = None,
        validation_batch_size: int | None = None, validation_freq: int = 1, **kwargs) -> History:
    _reject(sample_weight, class_weight, kwargs, "fit")
    _require_compiled(model, "fit")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    batch_size = _check_batch_size(batch_size)
    val_batch = _check_batch_size(validation_batch_size or batch_size)
    verbose = _verbosity(verbose)
    data = _make_data(model, x, y, need_y=True, steps=steps_per_epoch)
    val = None
    if validation_split:
        if not isinstance(data, _ArrayData):
            raise ValueError("validation_split needs array data, not a dataset")
        data, val = data.split(validation_split)
    if validation_data is not None:
        if _is_dataset(validation_data):
            val = _IterableData(model, validation_data, True, validation_steps)
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be (x_val, y_val) or a dataset of batches")
            val = _make_data(model, validation_data[0], validation_data[1], need_y=True)
    history = History()
    # user callbacks first: History and the progress bar see what they add to the logs
    cb_list = list(callbacks or []) + [history] + ([ProgbarLogger(verbose)] if verbose else [])
    params = {"epochs": epochs, "steps": data.steps(batch_size), "verbose": verbose,
              "batch_size": batch_size, "in_fit": True}
    cbs = CallbackList(cb_list, model=model, params=params)
    rng = np.random.default_rng(next_seed())
    model.stop_training = False
    cbs.on_train_begin({})
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch, {})
        totals = None
        for i, (xs, ys) in enumerate(data.batches(batch_size, shuffle=shuffle, rng=rng)):
            cbs.on_train_batch_begin(i, {})
            step = get_step(model, "train", xs, ys)
            outs = step(xs + [a for a in ys if a is not None])
            if totals is None:
                totals = _Totals(step, _loss_names(model, step))
            totals.add(step, outs, xs[0].shape[0])
            cbs.on_train_batch_end(i, totals.logs())
            if model.stop_training:
                break
        if totals is None:
            raise DataError(f"model '{model.name}': the training data yielded no batches")
        logs = totals.logs()
        if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
            vlogs = _run_batches(model, val, "evaluate", val_batch, CallbackList([]), "test")
            logs.update({f"val_{k}": v for k, v in vlogs.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    model.history = history
    return history


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
             steps: int | None = None, callbacks=None, return_dict: bool = False, **kwargs):
    _reject(sample_weight, None, kwargs, "evaluate")
    _require_compiled(model, "evaluate")
    batch_size = _check_batch_size(batch_size)
    verbose = _verbosity(verbose)
    data = _make_data(model, x, y, need_y=True, steps=steps)
    cb_list = ([ProgbarLogger(verbose)] if verbose else []) + list(callbacks or [])
    cbs = CallbackList(cb_list, model=model,
                       params={"steps": data.steps(batch_size), "verbose": verbose})
    cbs.on_test_begin({})
    logs = _run_batches(model, data, "evaluate", batch_size, cbs, "test")
    cbs.on_test_end(logs)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def predict(model, x, batch_size=None, verbose="auto", steps: int | None = None, callbacks=None,
            **kwargs):
    if kwargs:
        raise TypeError(f"predict: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    batch_size = _check_batch_size(batch_size)
    verbose = _verbosity(verbose)
    data = _make_data(model, x, None, need_y=False, steps=steps)
    cb_list = ([ProgbarLogger(verbose)] if verbose else []) + list(callbacks or [])
    cbs = CallbackList(cb_list, model=model,
                       params={"steps": data.steps(batch_size), "verbose": verbose})
    cbs.on_predict_begin({})
    chunks: list[list[np.ndarray]] = []
    for i, (xs, _) in enumerate(data.batches(batch_size)):
        cbs.on_predict_batch_begin(i, {})
        outs = get_step(model, "predict", xs)(xs)
        chunks.append(outs)
        cbs.on_predict_batch_end(i, {"outputs": outs})
    cbs.on_predict_end({})
    if not chunks:
        raise DataError(f"model '{model.name}': predict got no data")
    joined = [np.concatenate([c[j] for c in chunks], axis=0) for j in range(len(chunks[0]))]
    return joined[0] if len(joined) == 1 else joined


def _batch_values(model, step: Step, outs, n: int, return_dict: bool):
    totals = _Totals(step, _loss_names(model, step))
    totals.add(step, outs, n)
    logs = totals.logs()
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None,
                   return_dict: bool = False):
    _reject(sample_weight, class_weight, None, "train_on_batch")
    _require_compiled(model, "train_on_batch")
    xs = convert_inputs(model, x)
    ys = convert_targets(model, y, xs)
    n = _check_lengths(model, xs, ys)
    step = get_step(model, "train", xs, ys)
    outs = step(xs + [a for a in ys if a is not None])
    return _batch_values(model, step, outs, n, return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict: bool = False):
    _reject(sample_weight, None, None, "test_on_batch")
    _require_compiled(model, "test_on_batch")
    xs = convert_inputs(model, x)
    ys = convert_targets(model, y, xs)
    n = _check_lengths(model, xs, ys)
    step = get_step(model, "evaluate", xs, ys)
    outs = step(xs + [a for a in ys if a is not None])
    return _batch_values(model, step, outs, n, return_dict)


def predict_on_batch(model, x):
    xs = convert_inputs(model, x)
    _check_lengths(model, xs, None)
    outs = get_step(model, "predict", xs)(xs)
    return outs[0] if len(outs) == 1 else outs
