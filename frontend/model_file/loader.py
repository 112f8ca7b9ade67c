""":func:`load_model_file`: read, check every section, build and compile the model.

Order of work: parse (syntax errors first), check every section (so a mistake anywhere is
reported before anything is built), then seed, build the layers, compile, and attach the
declaration. Nothing from the file is evaluated or imported: names are looked up in fixed
registries.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from frontend import losses as losses_mod
from frontend import metrics as metrics_mod
from frontend.layers.base import snake_case
from frontend.model_file.checks import (Table, boolean, choice, integer, list_of,
                                        non_negative_int, number, positive_int, suggest,
                                        typed_object)
from frontend.model_file.datasets import check_dataset, feature_shape
from frontend.model_file.declaration import (CompileSettings, ModelDeclaration, SmokeSettings,
                                             TrainingSettings)
from frontend.model_file.errors import KeyPath, ModelFileError, Where
from frontend.model_file.layers import MODEL_KEYS, build_model
from frontend.model_file.source import read_model_source
from runtime.optimizers import OPTIMIZERS
from runtime.program import BACKENDS

__all__ = ["load_model_file", "TOP_LEVEL_KEYS", "FORMAT_VERSION"]

#: the version of the schema this module reads (``format_version`` at the top, optional)
FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("format_version", "model", "compile", "training", "dataset", "smoke")


def _loss_key(name: str) -> str:
    return name if name in losses_mod._BY_NAME else snake_case(name)


# the libraries' own registries: plain names -> classes, nothing from the file is imported
_optimizer = typed_object("optimizer", OPTIMIZERS)
_loss = typed_object("loss", losses_mod._BY_NAME, normalize=_loss_key,
                     from_string=losses_mod.get)


def _metric(where: Where, path: KeyPath, v):
    names = ["accuracy", "acc"] + sorted(metrics_mod._BY_NAME)
    if isinstance(v, str):
        try:
            metrics_mod.get(v)  # a registry lookup (also CamelCase class names)
            return v
        except ValueError:
            pass
    hint = suggest(v, names) if isinstance(v, str) else ""
    raise where.error(path, f"unknown metric {where.describe(v)}{hint}; expected one of: "
                            f"{', '.join(names)}")


def _check_compile(where: Where, t: Table) -> tuple[dict[str, Any], CompileSettings]:
    optimizer = t.take("optimizer", _optimizer, None)
    loss = t.take("loss", _loss)
    metrics = t.take("metrics", list_of(_metric, "an array of metric names"), [])
    backend = t.take("backend", choice(*BACKENDS), None)
    t.finish()
    # rmsprop: compile()'s default optimizer, as in Keras
    kwargs = {"optimizer": optimizer if optimizer is not None else "rmsprop",
              "loss": loss, "metrics": metrics or None, "backend": backend}
    settings = CompileSettings(optimizer=t.data.get("optimizer", "rmsprop"),
                               loss=t.data["loss"], metrics=tuple(metrics), backend=backend)
    return kwargs, settings


def _check_training(t: Table | None) -> TrainingSettings:
    if t is None:
        return TrainingSettings()
    s = TrainingSettings(epochs=t.take("epochs", non_negative_int, 1),
                         batch_size=t.take("batch_size", positive_int, 32),
                         validation_split=t.take("validation_split",
                                                 number(0.0, 1.0, hi_open=True), 0.0),
                         shuffle=t.take("shuffle", boolean, True),
                         seed=t.take("seed", non_negative_int, None))
    t.finish()
    return s


def _check_smoke(t: Table | None) -> SmokeSettings | None:
    if t is None:
        return None
    s = SmokeSettings(epochs=t.take("epochs", non_negative_int, 1),
                      batch_size=t.take("batch_size", positive_int, None),
                      n_train=t.take("n_train", positive_int, None),
                      n_test=t.take("n_test", positive_int, None))
    t.finish()
    return s


def _check_against_dataset(where: Where, model, spec) -> None:
    """A dataset whose samples cannot feed the model is reported now, not at fit time."""
    want = feature_shape(spec)
    specs = model.input_specs()
    if want is None or not specs or len(specs) != 1:
        return
    got = tuple(specs[0].shape[1:])
    key = {"mnist": "reshape", "rotten_tomatoes": "maxlen"}[spec.name]
    if got != tuple(want):
        raise where.error(("dataset", key) if ("dataset", key) in where.lines else ("dataset",),
                          f"the dataset's samples have shape {tuple(want)} but the model's "
                          f"input is {got} (model.input_shape)")
    first = model.layers[0] if model.layers else None
    if spec.name == "rotten_tomatoes" and hasattr(first, "input_dim") and \
            first.input_dim < spec.num_words:
        raise where.error(("model", "layers", 0, "input_dim"),
                          f"expected at least dataset.num_words = {spec.num_words} (the "
                          f"tokenizer's ids go up to {spec.num_words - 1}), got "
                          f"{first.input_dim}")


def load_model_file(path: str | os.PathLike, *, seed: int | None = None):
    """Load a declared model (``.toml`` or ``.json``): built, compiled when the file has a
    ``[compile]`` section, and carrying ``model.declaration`` (a
    :class:`~frontend.model_file.declaration.ModelDeclaration`).

    Raises :class:`ModelFileError` naming the file, the key path and its line for every
    problem (unknown key, layer type or argument, wrong value type or range, syntax error,
    missing file or data). With ``[training] seed`` the global seed is set (see
    :func:`frontend.initializers.set_random_seed`) just before the layers are built;
    ``seed`` overrides it (``kiln train --seed``) and is recorded in the declaration.
    """
    file = os.fspath(path)
    data, lines, fmt = read_model_source(file)
    where = Where(file, fmt, lines)
    top = Table(where, (), data, "the model file", allowed=TOP_LEVEL_KEYS)
    version = top.take("format_version", integer(), FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise where.error(("format_version",), f"expected {FORMAT_VERSION} (the version this "
                                               f"kiln reads), got {version}")
    model_t = top.child("model", "[model]", allowed=MODEL_KEYS)
    if model_t is None:
        raise where.error((), "missing required section [model] (the layers)")
    training = _check_training(top.child("training", "[training]"))
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ModelFileError(f"expected a non-negative integer, got {seed!r}", file,
                                 key="seed")
        training = dataclasses.replace(training, seed=seed)
    build = build_model(where, model_t, seed_fn=_seeder(training.seed))
    compile_t = top.child("compile", "[compile]")
    compile_kwargs, compile_settings = _check_compile(where, compile_t) if compile_t \
        else (None, None)
    dataset_t = top.child("dataset", "[dataset]")
    dataset = check_dataset(where, dataset_t) if dataset_t is not None else None
    smoke = _check_smoke(top.child("smoke", "[smoke]"))
    top.finish()

    model = build()
    if dataset is not None:
        _check_against_dataset(where, model, dataset)
    if compile_kwargs is not None:
        try:
            model.compile(**compile_kwargs)
        except (ValueError, TypeError, NotImplementedError) as e:
            raise where.error(("compile",), f"cannot compile the model: {e}") from None
    model.declaration = ModelDeclaration(
        path=os.path.abspath(file), name=model_t.data.get("name"), training=training,
        dataset=dataset, compile=compile_settings, smoke=smoke)
    return model


def _seeder(seed: int | None):
    if seed is None:
        return None

    def apply() -> None:
        from frontend.initializers import set_random_seed
        set_random_seed(seed)
    return apply

