"""Callbacks for ``fit``/``evaluate``/``predict`` (Keras's hooks and semantics).

``fit`` always adds a :class:`History` (returned by ``fit``) and, when ``verbose`` is not 0,
a :class:`ProgbarLogger`: a tqdm progress bar per epoch showing the running loss and
metrics (``verbose=1``), or one line per epoch (``verbose=2``). Logs passed to the hooks
are dicts of floats: ``loss`` and the metric names, with ``val_`` versions at epoch end
when there is validation data.

:class:`EarlyStopping` follows Keras 3: ``monitor`` (default ``"val_loss"``), ``min_delta``,
``patience``, ``mode`` ("auto" maximizes accuracy/AUC-like metrics and minimizes the rest),
``baseline``, ``restore_best_weights`` (restored when training ends, from the best epoch
seen) and ``start_from_epoch``.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable, Iterable

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "LambdaCallback", "TerminateOnNaN", "LearningRateScheduler", "ModelCheckpoint"]


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params`` are set
    by the training loop."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs)
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_HOOKS = [name for name in dir(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls a hook on every callback in order."""

    def __init__(self, callbacks: Iterable[Callback] = (), model=None, params: dict | None = None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)

    def __getattr__(self, name: str):
        if not name.startswith("on_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, name)(*args, **kwargs)
        return call


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the per-epoch loss."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


def _fmt_logs(logs: dict, sep: str = " - ") -> str:
    return sep.join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float)))


class ProgbarLogger(Callback):
    """Progress: a tqdm bar per epoch (verbose=1) or one line per epoch (verbose=2)."""

    def __init__(self, verbose: int = 1, file=None):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._bar = None
        self._start = 0.0

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def _new_bar(self, total, desc: str):
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit="step", file=self._out(), leave=True,
                    dynamic_ncols=True, mininterval=0.1)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        epochs = self.params.get("epochs", 1)
        if self.verbose == 1:
            self._bar = self._new_bar(self.params.get("steps"), f"Epoch {epoch + 1}/{epochs}")

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(_fmt_logs(logs or {}, ", "), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt_logs(logs or {}, ", "), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            epochs = self.params.get("epochs", 1)
            print(f"Epoch {epoch + 1}/{epochs} - {elapsed:.1f}s - {_fmt_logs(logs or {})}",
                  file=self._out())

    def on_test_begin(self, logs=None):
        if self.verbose == 1 and not self.params.get("in_fit"):
            self._bar = self._new_bar(self.params.get("steps"), "Evaluate")

    def on_test_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch, logs)

    def on_test_end(self, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt_logs(logs or {}, ", "), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2 and not self.params.get("in_fit"):
            print(_fmt_logs(logs or {}), file=self._out())

    def on_predict_begin(self, logs=None):
        if self.verbose == 1:
            self._bar = self._new_bar(self.params.get("steps"), "Predict")

    def on_predict_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)

    def on_predict_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _direction(model, metric_name: str) -> str | None:
    """'up'/'down' for a monitored quantity, from the model's metrics when known."""
    base = metric_name[4:] if metric_name.startswith("val_") else metric_name
    if base == "loss" or base.endswith("_loss"):
        return "down"
    for m in getattr(model, "_resolved_metrics", lambda: [])():
        if m.name == base or base.endswith("_" + m.name):
            return getattr(m, "direction", None)
    if any(k in base for k in ("acc", "auc", "precision", "recall")):
        return "up"
    return None


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode!r} is unknown, using 'auto'", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._better: Callable[[float, float], bool] | None = None
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        self.best = None

    def _setup(self):
        mode = self.mode
        if mode == "auto":
            d = _direction(self.model, self.monitor)
            if d is None:
                raise ValueError(f"EarlyStopping: cannot tell whether {self.monitor!r} should go "
                                 f"up or down; pass mode='max' or mode='min'")
            mode = "max" if d == "up" else "min"
        if mode == "min":
            self._better = lambda cur, ref: cur + self.min_delta < ref
            self.best = math.inf
        else:
            self._better = lambda cur, ref: cur - self.min_delta > ref
            self.best = -math.inf

    def on_train_begin(self, logs=None):
        self._reset()
        self._better = None

    def on_epoch_end(self, epoch, logs=None):
        if self._better is None:
            self._setup()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping conditioned on {self.monitor!r}, which is not "
                          f"available; available: {', '.join(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # before any improvement the current weights are the best known
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._better(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if name not in _HOOKS:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; hooks are "
                                 f"{', '.join(_HOOKS)}")
            setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Set the learning rate from ``schedule(epoch, lr)`` at the start of each epoch (the
    learning rate is a program param, so no recompilation is needed)."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, opt.learning_rate)
        except TypeError:  # Keras also accepts the old one-argument schedule(epoch)
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, got "
                             f"{lr!r} for epoch {epoch}")
        lr = float(lr)
        opt.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ModelCheckpoint(Callback):
    """Save the weights after each epoch (or only when ``monitor`` improves); the file name
    may use ``{epoch}`` and log keys, e.g. ``"w.{epoch:02d}.npz"``. Only weights are saved."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = True,
                 mode: str = "auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath = filepath
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.mode = mode
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            cur = logs.get(self.monitor)
            if cur is None:
                warnings.warn(f"ModelCheckpoint: {self.monitor!r} is not available", stacklevel=2)
                return
            mode = self.mode
            if mode == "auto":
                mode = "max" if _direction(self.model, self.monitor) == "up" else "min"
            better = self.best is None or (cur < self.best if mode == "min" else cur > self.best)
            if not better:
                return
            self.best = cur
        if self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        self.model.save_weights(path)
