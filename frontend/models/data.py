"""Turning user data into the arrays a model's programs take, and serving it in batches.

Explicit conversion rules (errors name the model input or output and say expected vs got):

* Features are converted to the dtype of the model input they feed. Float inputs (the
  default; ``Input(dtype=...)`` may say otherwise) take any numeric or boolean array and
  become float32 (float64 numpy data included). Integer inputs (a Sequential whose first
  layer is an Embedding, or ``Input(dtype="int32")``) become int32; float data is accepted
  only when every value is a whole number. Ids feeding an Embedding directly are checked
  against ``[0, input_dim)``. Subclassed models (no declared inputs) take floats as
  float32 and integers as int32 (int64 when out of int32 range); their layers cast as
  Keras layers do. Shapes are checked against the declared input shape (``None`` matches
  any size).
* Targets, per output, by its loss: sparse categorical crossentropy takes integer class
  ids (whole-number floats accepted) shaped like the predictions without the class axis (a
  trailing axis of 1 is dropped), converted to int32 and checked to lie in ``[0,
  classes)``: out-of-range labels would otherwise one-hot to all-zero rows and train on
  garbage silently. Every other loss takes targets shaped like the predictions (Keras's
  rule: a missing trailing axis of 1 is added, an extra one dropped), as float32.
* Every input and target must have the same number of samples.

Data are numpy arrays (or lists), lists/dicts of them for several inputs or outputs, or a
*dataset*: any re-iterable of ready-made ``(x, y)`` batches (or ``x`` alone to predict).
Arrays are converted once, then sliced into batches (shuffled per epoch when asked);
the last partial batch is kept as it is.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from compiler.builder import GraphBuilder
from compiler.errors import KilnError
from compiler.ir import dtypes
from frontend import losses as losses_mod
from frontend.layers.tracing import Tensor, TraceContext, format_shape
from frontend.models.compile_config import per_output

__all__ = ["DataError", "convert_inputs", "convert_targets", "check_lengths", "ArrayData",
           "IterableData", "make_data", "is_dataset"]

DEFAULT_BATCH_SIZE = 32


class DataError(KilnError, ValueError):
    """Data given to fit/evaluate/predict does not fit the model; names input/output."""


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
    cfg_losses = per_output(model._compile_config.get("loss"), names, "loss")
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


def check_lengths(model, xs: list[np.ndarray], ys: Sequence | None) -> int:
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


class ArrayData:
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
            return ArrayData([a[lo:hi] for a in self.xs],
                              None if self.ys is None else [None if a is None else a[lo:hi]
                                                            for a in self.ys], hi - lo)
        return part(0, at), part(at, self.n)


class IterableData:
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
                check_lengths(self.model, xs, ys)
            yield xs, ys


def is_dataset(x) -> bool:
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes, numbers.Number)):
        return False
    return hasattr(x, "__iter__")


def make_data(model, x, y, need_y: bool, steps: int | None = None):
    if is_dataset(x):
        if y is not None:
            raise DataError("when x is a dataset (an iterable of batches), y must be None: the "
                            "dataset yields (x, y) pairs")
        return IterableData(model, x, need_y, steps)
    xs = convert_inputs(model, x)
    ys = convert_targets(model, y, xs) if need_y else None
    n = check_lengths(model, xs, ys)
    return ArrayData(xs, ys, n)
