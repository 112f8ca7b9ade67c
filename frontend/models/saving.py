"""Weight files: ``save_weights``/``load_weights`` as numpy ``.npz`` archives.

Each weight is stored under a *structural* key, ``<layer>/<weight>`` (nested layers add
path segments, e.g. ``encoder/dense/kernel``), where ``<layer>`` is the name the user gave
the layer or, for automatically named layers, the snake-cased class name made unique among
its siblings by position (``dense``, ``dense_1``, ...). Keys therefore do not depend on the
per-process counters behind automatic names: a file saved by one process loads into the
same architecture built in another. All weights are stored (trainable and not, e.g.
BatchNormalization's moving statistics); optimizer state is not (as Keras's
``save_weights``).

Files are read with ``allow_pickle=False`` (an ``.npz`` cannot run code when loaded), the
path is used exactly as given (no ``.npz`` is appended), and loading checks everything
before writing anything: a missing key, an unexpected key, or a shape mismatch raises an
error naming the key and the expected versus found shape, and leaves the model unchanged.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from frontend.layers.base import Layer, Weight, snake_case
from frontend.layers.tracing import format_shape
from frontend.npz import npz_problem, pickle_free

__all__ = ["weight_keys", "save_weights", "load_weights", "read_weights_file"]


def weight_keys(model: Layer) -> dict[str, Weight]:
    """Structural key -> weight, for every weight of ``model`` (see the module docstring)."""
    out: dict[str, Weight] = {}
    seen: set[int] = set()

    def walk(layer: Layer, prefix: str) -> None:
        for w in layer._own_weights:
            if id(w) not in seen:
                seen.add(id(w))
                out[f"{prefix}{w.name}"] = w
        counts: dict[str, int] = {}
        for sub in layer._layers:
            if sub._explicit_name:
                name = sub.name
            else:
                base = snake_case(type(sub).__name__)
                k = counts.get(base, 0)
                counts[base] = k + 1
                name = base if k == 0 else f"{base}_{k}"
            walk(sub, f"{prefix}{name}/")

    walk(model, "")
    return out


def save_weights(model: Layer, filepath: str, overwrite: bool = True) -> None:
    """Write all weights of ``model`` to ``filepath`` (an .npz archive)."""
    if not model.built:
        raise ValueError(f"save_weights: model '{model.name}' is not built, it has no weights yet")
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
    arrays = {k: w.numpy() for k, w in weight_keys(model).items()}
    tmp = f"{filepath}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, filepath)  # atomic: a crash never leaves a half-written file


def read_weights_file(filepath: str) -> dict[str, np.ndarray]:
    """The arrays of the weights archive ``filepath`` (an ``.npz``), by key, read as data only.

    The file's kind is decided by its first bytes before numpy reads it
    (:func:`frontend.npz.npz_problem`): an ``.npy`` array or any other non-zip file raises a
    one-line ``ValueError`` naming the file (numpy would return the bare array, or try to
    unpickle the file and suggest allowing it), and so does an archive holding Python
    objects, which is never unpickled.
    """
    filepath = os.fspath(filepath)
    problem = npz_problem(filepath, "a weights .npz")
    if problem is not None:
        hint = " (weights are written by model.save_weights and kiln train)" \
            if problem.startswith(("is an", "is not")) else ""
        raise ValueError(f"load_weights: {filepath} {problem}{hint}")
    try:
        with np.load(filepath, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:
        raise ValueError(f"load_weights: {filepath} is not a readable weights file (.npz): "
                         f"{pickle_free(str(e))}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"load_weights: {filepath} is a damaged .npz archive ({e})") from None


def load_weights(model: Layer, filepath: str, skip_mismatch: bool = False) -> None:
    """Read weights saved by :func:`save_weights` into the built ``model``."""
    filepath = os.fspath(filepath)
    if not model.built:
        raise ValueError(f"load_weights: model '{model.name}' is not built; build it first (give "
                         f"the first layer an input_shape, call build(input_shape), or call the "
                         f"model on data) so that its weights exist")
    keys = weight_keys(model)
    stored = read_weights_file(filepath)
    missing = [k for k in keys if k not in stored]
    if missing:
        k = missing[0]
        raise ValueError(f"load_weights: {filepath} has no weight {k!r} (model '{model.name}' "
                         f"expects shape {format_shape(keys[k].shape)})"
                         + (f" and {len(missing) - 1} more missing" if len(missing) > 1 else ""))
    extra = sorted(set(stored) - set(keys))
    if extra:
        raise ValueError(f"load_weights: {filepath} has weight(s) {', '.join(map(repr, extra))} "
                         f"that model '{model.name}' does not have; its weights are "
                         f"{', '.join(keys)}")
    todo = []
    for k, w in keys.items():
        v = stored[k]
        if v.shape != w.shape:
            if skip_mismatch:
                continue
            raise ValueError(f"load_weights: weight {k!r}: model '{model.name}' expects shape "
                             f"{format_shape(w.shape)}, the file has {format_shape(v.shape)}")
        if v.dtype.kind not in "fiub":
            raise ValueError(f"load_weights: weight {k!r} in {filepath} has dtype {v.dtype}, "
                             f"expected numbers")
        todo.append((w, v))
    for w, v in todo:
        w.assign(v)
