"""``kiln train MODEL``: train on the model file's data, report each epoch, save the weights.

Results go to stdout (one line per epoch, then the test metrics and where the files went);
the progress bar goes to stderr and only when stderr is a terminal, so piped or captured
output holds results only. Options win over the model file's training settings, which win
over the defaults (1 epoch, batch 32). The output directory receives ``weights.npz``
(:meth:`Model.save_weights`, loadable by ``kiln predict --weights``) and ``metrics.json``
(settings, per-epoch history, test metrics).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from frontend.callbacks import Callback
from frontend.cli.errors import CliError, UsageError
from frontend.cli.loading import (DEFAULT_BATCH, count_samples, fit_samples, limit, load,
                                  require_compiled, shrunk_batch_note)

__all__ = ["add_parser", "run", "EpochLines", "ProgressBar", "default_every", "format_logs"]

DEFAULT_EPOCHS = 1


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Register ``train`` on the subcommand set ``sub``."""
    p = sub.add_parser(
        "train", parents=[common], help="train a model on its declared data, save the weights",
        description="Compile MODEL, train it on the data its file declares (a progress bar on "
                    "a terminal, metrics per epoch), evaluate on the test data, and save "
                    "weights.npz and metrics.json in the output directory.")
    p.add_argument("model", metavar="MODEL", help="model file (.toml, .json, or .py)")
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help=f"epochs (default: the model file's, else {DEFAULT_EPOCHS})")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help=f"batch size (default: the model file's, else {DEFAULT_BATCH})")
    p.add_argument("--backend", choices=["llvm", "eager"], default=None,
                   help="run compiled (llvm, the default) or op by op on numpy (eager)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="random seed for the initial weights, shuffling and dropout "
                        "(default: the model file's [training] seed)")
    p.add_argument("-o", "--output-dir", default=None, metavar="DIR",
                   help="where weights.npz and metrics.json go (default: runs/<NAME>, NAME the "
                        "MODEL file's name without its extension: runs/my_model for "
                        "my_model.py)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N training and N test samples (quick checks)")
    p.add_argument("--smoke", action="store_true",
                   help="apply the model file's smoke settings (its [smoke] section, or a "
                        "Python file's `smoke` dict): a quick run that checks everything works")
    p.add_argument("--every", type=int, default=None, metavar="N",
                   help="print the metrics of every N-th epoch (default: every epoch up to 30 "
                        "epochs, else about 20 lines); the first and last are always printed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def format_logs(logs: dict) -> str:
    """``loss 0.1234 - accuracy 0.9000`` from a logs dict (tiny or huge values in
    scientific notation, so a converged loss does not print as 0.0000)."""
    return " - ".join(f"{k} {_number(v)}" for k, v in logs.items()
                      if isinstance(v, (int, float)))


def _number(v: float) -> str:
    return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e6 else f"{v:.3e}"


def default_every(epochs: int) -> int:
    """Report every epoch of short runs; about 20 lines for long ones (metrics.json keeps
    every epoch): 300 lines of a linear regression's loss help nobody."""
    return 1 if epochs <= 30 else math.ceil(epochs / 20)


class EpochLines(Callback):
    """Prints one line per reported epoch (every ``every``-th, and the last): its number,
    metrics and duration (of that epoch; the first includes compiling the programs)."""

    def __init__(self, every: int = 1, file=None):
        super().__init__()
        self.every = every
        self.file = file
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        epochs = self.params.get("epochs", 0)
        if (epoch + 1) % self.every and epoch + 1 != epochs and epoch != 0:
            return
        seconds = time.perf_counter() - self._start
        print(f"epoch {epoch + 1}/{epochs}: {format_logs(logs or {})} ({seconds:.2f} s)",
              file=self.file or sys.stdout, flush=True)


class ProgressBar(Callback):
    """A tqdm bar per epoch on stderr with the running metrics; it is erased when the epoch
    ends (``leave=False``), so the terminal keeps exactly the lines :class:`EpochLines`
    prints. Must come before EpochLines in the callback list: it closes first."""

    def __init__(self, file=None):
        super().__init__()
        self.file = file
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm import tqdm
        self._bar = tqdm(total=self.params.get("steps"), unit="step", leave=False,
                         desc=f"epoch {epoch + 1}/{self.params.get('epochs', '?')}",
                         file=self.file or sys.stderr, dynamic_ncols=True, mininterval=0.1)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _positive(value: int | None, option: str) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{option} must be at least 1, got {value}")


def run(args) -> int:
    _positive(args.epochs, "--epochs")
    _positive(args.batch_size, "--batch-size")
    _positive(args.limit, "--limit")
    _positive(args.every, "--every")
    loaded = load(args.model, seed=args.seed, backend=args.backend, smoke=args.smoke)
    require_compiled(loaded, "training")
    data = loaded.data()
    if data is None:
        raise CliError(f"{loaded.path}: declares no dataset to train on"
                       + (" (set data = ((x_train, y_train), (x_test, y_test)))"
                          if loaded.kind == "python" else ""))
    (x, y), test = limit(data, args.limit)
    settings = loaded.settings
    epochs = next(e for e in (args.epochs, settings.epochs, DEFAULT_EPOCHS) if e is not None)
    asked = args.batch_size or settings.batch_size or DEFAULT_BATCH
    # fit runs batches of at most the training samples: say (and record) what really runs
    n_fit = fit_samples(count_samples(x), settings.validation_split)
    batch = min(asked, n_fit)
    out_dir = args.output_dir or os.path.join("runs", loaded.name)
    _make_dir(out_dir)   # before training: a bad directory should not cost a training run

    model = loaded.model
    shrunk = f" ({shrunk_batch_note(batch, asked)})" if batch < asked else ""
    print(f"training {loaded.path}: model '{model.name}', {count_samples(x)} samples, {epochs} "
          f"epoch(s), batch {batch}{shrunk}, backend {model.backend}"
          + (f", seed {settings.seed}" if settings.seed is not None else ""), flush=True)
    callbacks: list[Callback] = []
    if not args.no_progress and sys.stderr.isatty():
        callbacks.append(ProgressBar(sys.stderr))
    callbacks.append(EpochLines(args.every or default_every(epochs)))
    t0 = time.perf_counter()
    history = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=callbacks,
                        validation_split=settings.validation_split, shuffle=settings.shuffle)
    train_seconds = time.perf_counter() - t0
    test_logs = None
    if test is not None:
        test_logs = model.evaluate(test[0], test[1], batch_size=batch, verbose=0,
                                   return_dict=True)
        print(f"test ({count_samples(test[0])} samples): {format_logs(test_logs)}")

    weights = os.path.join(out_dir, "weights.npz")
    model.save_weights(weights)
    record = {"model": loaded.path, "epochs": epochs, "batch_size": batch,
              "backend": model.backend, "seed": settings.seed, "limit": args.limit,
              "train_seconds": round(train_seconds, 3), "history": history.history,
              "test": test_logs}
    metrics = os.path.join(out_dir, "metrics.json")
    with open(metrics, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(f"saved {weights} and {metrics}")
    return 0


def _make_dir(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CliError(f"{path}: cannot create the output directory ({e.strerror})") from None
