"""Resolving ``MODEL`` on the command line, and getting a model's programs and their code.

``MODEL`` is one of:

* a **declared model file**, ``.toml`` or ``.json`` (:mod:`frontend.model_file`): layers,
  compile settings, training settings and dataset as data. It is parsed, never executed.
* a **Python model file**, ``.py``. It is *executed* (it is the user's own code, exactly as
  ``python file.py`` would run it, with its directory first on ``sys.path``; ``__name__`` is
  ``"__kiln_model__"``, so an ``if __name__ == "__main__":`` block does not run) and must
  define:

  - ``model``: a compiled kiln model (``model.compile(optimizer=..., loss=...)`` done);

  and may define:

  - ``data = ((x_train, y_train), (x_test, y_test))`` (the test pair may be ``None``): what
    ``kiln train`` trains and evaluates on;
  - ``training = dict(epochs=..., batch_size=..., validation_split=..., shuffle=...)``:
    defaults for ``kiln train`` (command-line options win). Seeds: ``--seed`` is set before
    the file runs, so it governs the initial weights; a file may also call
    ``keras.utils.set_random_seed`` itself;
  - ``smoke = dict(epochs=..., batch_size=..., n_train=..., n_test=...)``: what ``--smoke``
    changes (a declared file's ``[smoke]`` section), for a quick check that everything runs.

Step programs are the ones ``fit``/``predict`` use (:func:`frontend.models.steps.get_step`),
built on arrays of zeros shaped like one batch, so ``kiln compile``/``ir`` show exactly the
code training runs.
"""
from __future__ import annotations

import math
import os
import runpy
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from frontend.cli.errors import CliError, UsageError

if TYPE_CHECKING:   # imported when used: compiler.pipeline loads LLVM
    from compiler.pipeline import CompileOptions

__all__ = ["DEFAULT_BATCH", "DECLARATION_SUFFIXES", "PROGRAMS", "Settings", "LoadedModel", "load",
           "require_compiled", "set_backend", "limit", "sample_arrays", "build_step", "compiled_of",
           "count_samples", "fit_samples", "shrunk_batch_note"]

DECLARATION_SUFFIXES = (".toml", ".json")
#: Program names on the command line -> step kinds of frontend.models.steps.
PROGRAMS = {"train_step": "train", "predict": "predict"}
#: Keys a Python model file's ``training`` dict may set.
#: The batch size when neither the model file nor --batch-size gives one (Keras's default).
DEFAULT_BATCH = 32
_TRAINING_KEYS = ("epochs", "batch_size", "validation_split", "shuffle")
#: Keys of a Python model file's ``smoke`` dict (as a declared file's ``[smoke]``).
_SMOKE_KEYS = ("epochs", "batch_size", "n_train", "n_test")

Data = tuple  # ((x_train, y_train), (x_test, y_test) | None)


@dataclass
class Settings:
    """Training settings the model file declares (``None``: not declared)."""
    epochs: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    validation_split: float = 0.0
    shuffle: bool = True


@dataclass
class LoadedModel:
    """A model read from ``path``, with what its file declares about training."""
    path: str
    kind: str                                   # "declaration" or "python"
    model: Any                                  # frontend.models.Model, compiled
    settings: Settings = field(default_factory=Settings)
    _data_loader: Callable[[], Data | None] | None = None
    _data: Data | None = None
    _data_loaded: bool = False
    #: The number of training samples without loading them (None: load the data to count).
    _train_count: Callable[[], int | None] | None = None

    @property
    def name(self) -> str:
        """The file name without its suffix (used for output names)."""
        return os.path.splitext(os.path.basename(self.path))[0]

    def data(self) -> Data | None:
        """``((x_train, y_train), (x_test, y_test) or None)``, or None when not declared.
        A declared dataset is loaded on first call (compile and ir rarely need it)."""
        if not self._data_loaded:
            self._data = self._data_loader() if self._data_loader else None
            self._data_loaded = True
        return self._data

    def train_samples(self) -> int | None:
        """How many training samples the file declares (None: it declares no data).

        Counted without loading the data when the data set's size is known (MNIST), so that
        ``kiln compile`` and ``kiln ir`` stay quick."""
        if not self._data_loaded and self._train_count is not None:
            n = self._train_count()
            if n is not None:
                return n
        data = self.data()
        return None if data is None else count_samples(data[0][0])

    def fit_batch(self, batch: int) -> int:
        """The batch ``fit`` really runs for a batch size of ``batch`` on the file's data: the
        training samples (after the declared validation split) when there are fewer."""
        n = self.train_samples()
        return batch if n is None else min(batch, fit_samples(n, self.settings.validation_split))


def shrunk_batch_note(batch: int, asked: int) -> str:
    """Why the batch is ``batch`` and not the batch size ``asked`` (fewer training samples)."""
    return f"all {batch} training samples: fewer than the batch size, {asked}"


def count_samples(x) -> int:
    """The number of samples in model inputs ``x`` (an array, a list or a dict of arrays)."""
    if isinstance(x, dict):
        x = next(iter(x.values()))
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        x = x[0]
    return len(x)


def fit_samples(n: int, validation_split: float) -> int:
    """How many of ``n`` samples ``fit`` trains on after ``validation_split`` (the last part
    is held out, as :meth:`frontend.models.data.ArrayData.split` takes it), at least 1."""
    if not validation_split:
        return n
    return max(1, int(math.floor(n * (1.0 - validation_split))))


def load(path: str, *, seed: int | None = None, backend: str | None = None,
         smoke: bool = False) -> LoadedModel:
    """Read the model file at ``path``; ``seed`` is set before the model is built, ``backend``
    (if given) replaces the backend the file compiled the model for, ``smoke`` applies the
    file's smoke settings (fewer epochs and samples)."""
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a directory, expected a model file (.toml, .json or .py)")
    if seed is not None:
        from frontend.initializers import set_random_seed
        set_random_seed(seed)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in DECLARATION_SUFFIXES:
        loaded = _load_declaration(path, seed, smoke)
    elif suffix == ".py":
        loaded = _load_python(path, smoke)
    else:
        # a problem with the model file (exit status 1), like a missing file or a directory
        raise CliError(f"{path}: unknown model file type {suffix or '(no suffix)'!r}; expected "
                       f".toml or .json (a declared model) or .py (a Python file defining "
                       f"'model')")
    if seed is not None:
        loaded.settings.seed = seed
    if backend is not None:
        set_backend(loaded.model, backend)
    return loaded


def _load_declaration(path: str, seed: int | None, smoke: bool) -> LoadedModel:
    try:
        from frontend.model_file import ModelFileError, load_dataset, load_model_file
    except ImportError as e:
        raise CliError(f"{path}: declared model files need frontend.model_file, which this kiln "
                       f"does not have ({e})") from None
    try:
        model = load_model_file(path, seed=seed)   # --seed replaces the declared seed
    except ModelFileError as e:
        raise CliError(str(e)) from e
    decl = model.declaration.smoke_version() if smoke else model.declaration
    t = decl.training
    settings = Settings(epochs=t.epochs, batch_size=t.batch_size, seed=t.seed,
                        validation_split=t.validation_split, shuffle=t.shuffle)
    spec = decl.dataset

    def data() -> Data | None:
        if spec is None:
            return None
        try:
            return load_dataset(spec)
        except ModelFileError as e:
            raise CliError(str(e)) from e

    def train_count() -> int | None:
        if spec is None or spec.name != "mnist":
            return None   # loading tells
        from frontend.datasets.mnist import TRAIN_SAMPLES
        return min(TRAIN_SAMPLES, spec.n_train or TRAIN_SAMPLES)

    return LoadedModel(path, "declaration", model, settings, data, _train_count=train_count)


def _load_python(path: str, smoke: bool) -> LoadedModel:
    from frontend.models.model import Model

    directory = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, directory)   # as `python file.py` does: sibling imports work
    try:
        ns = runpy.run_path(path, run_name="__kiln_model__")
    finally:
        try:
            sys.path.remove(directory)
        except ValueError:
            pass
    model = ns.get("model")
    if model is None:
        raise CliError(f"{path}: defines no 'model' (a Python model file must set "
                       f"model = <a compiled kiln model>)")
    if not isinstance(model, Model):
        raise CliError(f"{path}: 'model' is a {type(model).__name__}, expected a kiln Model "
                       f"(Sequential, Model(inputs, outputs) or a Model subclass)")
    settings = _python_settings(path, ns.get("training"))
    data = _python_data(path, ns.get("data"))
    if smoke:
        settings, data = _python_smoke(path, ns.get("smoke"), settings, data)
    return LoadedModel(path, "python", model, settings, lambda: data)


def _check_section(path: str, key: str, value, allowed) -> None:
    """A Python model file's ``key`` dict (``training``, ``smoke``): a dict of known keys."""
    if not isinstance(value, dict):
        raise CliError(f"{path}: '{key}' is a {type(value).__name__}, expected a dict "
                       f"with keys {', '.join(allowed)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise CliError(f"{path}: {key}: unknown key(s) {', '.join(map(repr, unknown))}; "
                       f"expected {', '.join(allowed)}")


def _python_settings(path: str, training) -> Settings:
    if training is None:
        return Settings()
    _check_section(path, "training", training, _TRAINING_KEYS)
    return Settings(epochs=training.get("epochs"), batch_size=training.get("batch_size"),
                    validation_split=float(training.get("validation_split", 0.0)),
                    shuffle=bool(training.get("shuffle", True)))


def _python_smoke(path: str, smoke, settings: Settings, data: Data | None
                  ) -> tuple[Settings, Data | None]:
    if smoke is None:
        return settings, data
    _check_section(path, "smoke", smoke, _SMOKE_KEYS)
    settings = replace(settings, **{k: smoke[k] for k in ("epochs", "batch_size") if k in smoke})
    if data is not None:
        (x, y), test = data
        train = limit(((x, y), None), smoke.get("n_train"))[0]
        if test is not None:
            test = limit((test, None), smoke.get("n_test"))[0]
        data = (train, test)
    return settings, data


def _python_data(path: str, data) -> Data | None:
    if data is None:
        return None
    shape_msg = f"{path}: 'data' must be ((x_train, y_train), (x_test, y_test) or None)"
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise CliError(shape_msg)
    train, test = data
    for part in (train, test):
        if part is not None and (not isinstance(part, (tuple, list)) or len(part) != 2):
            raise CliError(shape_msg)
    if train is None:
        raise CliError(f"{path}: 'data' has no training pair; {shape_msg.split(': ', 1)[1]}")
    return (tuple(train), None if test is None else tuple(test))


def require_compiled(loaded: LoadedModel, what: str) -> None:
    """Fail unless the model has an optimizer and a loss (training programs need both)."""
    model = loaded.model
    if not model.compiled or model.loss is None:
        how = ("declares no [compile] section with a loss" if loaded.kind == "declaration"
               else "does not compile its model with a loss (model.compile(optimizer=..., "
                    "loss=...))")
        raise CliError(f"{loaded.path}: {what} needs an optimizer and a loss; the file {how}")


def set_backend(model, backend: str) -> None:
    """Make ``model``'s programs run on ``backend`` (:meth:`Model.set_backend`); an unknown
    backend is a usage error."""
    try:
        model.set_backend(backend)
    except ValueError as e:
        raise UsageError(str(e)) from None


def limit(data: Data, n: int | None) -> Data:
    """The first ``n`` samples of the training and of the test data (smoke runs)."""
    if n is None:
        return data
    if n < 1:
        raise UsageError(f"--limit must be at least 1, got {n}")

    def head(a):
        if isinstance(a, dict):
            return {k: head(v) for k, v in a.items()}
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):
            return type(a)(head(v) for v in a)
        return a[:n]

    (x, y), test = data
    return ((head(x), head(y)), None if test is None else (head(test[0]), head(test[1])))


def sample_arrays(loaded: LoadedModel, batch: int, targets: bool
                  ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Zeros shaped and typed like one batch of the model's inputs (and targets).

    Shapes come from the model's declared inputs and outputs when it has them (Sequential
    with an input shape, functional); otherwise from the first sample of its data."""
    from frontend.models.data import DataError, convert_inputs, convert_targets

    model = loaded.model
    try:
        one_x, one_y = _declared_sample(model, targets)
        if one_x is None:
            data = loaded.data()
            if data is None:
                raise CliError(f"{loaded.path}: model '{model.name}' declares no input shape and "
                               f"the file no data; cannot tell the shapes of a batch")
            (x, y), _ = limit(data, 1)
            one_x, one_y = x, y
        xs = convert_inputs(model, one_x)
        ys = convert_targets(model, one_y, xs) if targets else []
    except DataError as e:
        raise CliError(f"{loaded.path}: {e}") from e
    zeros = lambda a: None if a is None else np.zeros((batch,) + a.shape[1:], a.dtype)  # noqa: E731
    return [zeros(a) for a in xs], [zeros(a) for a in ys]


def _declared_sample(model, targets: bool):
    """One zero sample per input and target from the model's declared shapes, or (None, None)
    when the model does not declare them (subclassed, or no input shape)."""
    specs = model.input_specs()
    outputs = getattr(model, "outputs", None)
    if specs is None or (targets and not outputs):
        return None, None
    if any(d is None for s in specs for d in s.shape[1:]) or \
            any(d is None for o in outputs or [] for d in o.shape[1:]):
        return None, None   # e.g. variable-length sequences: the data must say
    from compiler.ir import dtypes
    from frontend import losses as losses_mod
    from frontend.models.compile_config import per_output

    xs = [np.zeros((1,) + tuple(s.shape[1:]), dtypes.to_numpy(s.dtype)) for s in specs]
    if not targets:
        return _unlist(xs), None
    names = model.output_names if len(model.output_names) == len(outputs) else \
        [f"output_{i}" for i in range(len(outputs))]
    ys = []
    for loss, out in zip(per_output(model.loss, names, "loss"), outputs):
        shape = tuple(out.shape[1:])
        if loss is not None and losses_mod.get(loss).sparse_labels:
            ys.append(np.zeros((1,) + shape[:-1], np.int32))   # class ids: no class axis
        else:
            ys.append(np.zeros((1,) + shape, np.float32))
    return _unlist(xs), _unlist(ys)


def _unlist(arrays: list):
    return arrays[0] if len(arrays) == 1 else arrays


def build_step(loaded: LoadedModel, program: str, batch: int,
               compile_options: CompileOptions | None = None):
    """The runtime Program of ``program`` (``train_step`` or ``predict``) for batches of
    ``batch``, as ``fit``/``predict`` build it (on the model's backend), compiled with
    ``compile_options`` (a :class:`compiler.pipeline.CompileOptions`; None: the
    environment's)."""
    from frontend.models.steps import get_step

    if program not in PROGRAMS:
        raise UsageError(f"unknown program {program!r}; expected one of {', '.join(PROGRAMS)}")
    kind = PROGRAMS[program]
    if kind == "train":
        require_compiled(loaded, f"the {program} program")
    xs, ys = sample_arrays(loaded, batch, targets=(kind != "predict"))
    return get_step(loaded.model, kind, xs, ys, compile_options=compile_options).program


def compiled_of(program):
    """The compiler's record (stages, kernels, memory plan) of a Program on the llvm backend."""
    compiled = program.compiled
    if compiled is None:
        raise CliError(f"program @{program.graph.name} runs on the {program.backend} backend, "
                       f"which compiles nothing; use the llvm backend")
    return compiled
