"""The training loops behind ``Model.fit/evaluate/predict`` and ``*_on_batch``.

Programs come from :mod:`frontend.models.steps` (one per kind and batch shape, sharing the
model's state arrays), data from :mod:`frontend.models.data` (explicit conversion rules,
checks that name the input or output, batches with the last partial batch kept). Losses are
reported as the batch-size-weighted mean of the batch losses and metrics accumulate as
sums over the epoch (see :mod:`frontend.metrics`), so every sample counts the same.
``compile`` is :func:`frontend.models.compile_config.compile_model`.
"""
from __future__ import annotations

import numpy as np

from frontend.callbacks import CallbackList, History, ProgbarLogger
from frontend.initializers import next_seed
from frontend.models.compile_config import compile_model, log_names, metric_names  # noqa: F401
from frontend.models.data import (DEFAULT_BATCH_SIZE, ArrayData, DataError, IterableData,
                                  check_lengths, convert_inputs, convert_targets, is_dataset,
                                  make_data)
from frontend.models.steps import Step, get_step

__all__ = ["DataError", "compile_model", "fit", "evaluate", "predict", "train_on_batch",
           "test_on_batch", "predict_on_batch", "metric_names", "convert_inputs",
           "convert_targets"]


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
    return log_names(res)[:step.n_scalars]


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


def _should_eval(epoch: int, validation_freq) -> bool:
    """Keras's rule: validate after (0-based) ``epoch`` when ``epoch + 1`` is a multiple of an
    int ``validation_freq`` (counted from epoch 0, whatever ``initial_epoch``), or is in a
    container of epochs (1-based)."""
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)):
        try:
            return epoch + 1 in validation_freq
        except TypeError:
            raise ValueError(f"fit: validation_freq must be a positive int or a list of epochs, "
                             f"got {validation_freq!r}") from None
    if validation_freq < 1:
        raise ValueError(f"fit: validation_freq must be a positive int, got {validation_freq!r}")
    return (epoch + 1) % validation_freq == 0


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
    data = make_data(model, x, y, need_y=True, steps=steps_per_epoch)
    val = None
    # Keras: validation_data, when given, overrides validation_split (all data trains)
    if validation_split and validation_data is None:
        if not isinstance(data, ArrayData):
            raise ValueError("validation_split needs array data, not a dataset")
        data, val = data.split(validation_split)
    if validation_data is not None:
        if is_dataset(validation_data):
            val = IterableData(model, validation_data, True, validation_steps)
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be (x_val, y_val) or a dataset of batches")
            val = make_data(model, validation_data[0], validation_data[1], need_y=True)
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
        if val is not None and _should_eval(epoch, validation_freq):
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
    data = make_data(model, x, y, need_y=True, steps=steps)
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
    data = make_data(model, x, None, need_y=False, steps=steps)
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
    n = check_lengths(model, xs, ys)
    step = get_step(model, "train", xs, ys)
    outs = step(xs + [a for a in ys if a is not None])
    return _batch_values(model, step, outs, n, return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict: bool = False):
    _reject(sample_weight, None, None, "test_on_batch")
    _require_compiled(model, "test_on_batch")
    xs = convert_inputs(model, x)
    ys = convert_targets(model, y, xs)
    n = check_lengths(model, xs, ys)
    step = get_step(model, "evaluate", xs, ys)
    outs = step(xs + [a for a in ys if a is not None])
    return _batch_values(model, step, outs, n, return_dict)


def predict_on_batch(model, x):
    xs = convert_inputs(model, x)
    check_lengths(model, xs, None)
    outs = get_step(model, "predict", xs)(xs)
    return outs[0] if len(outs) == 1 else outs
