"""``[dataset]``: checking the declaration, and :func:`load_dataset`.

* ``mnist`` (shipped): ``scale`` (pixels / 255 as float32, default true), ``reshape`` (the
  per-sample shape, e.g. ``[28, 28, 1]`` for a Conv2D or ``[784]`` for a Dense; default the
  raw ``(28, 28)``).
* ``rotten_tomatoes`` (shipped): the review snippets tokenized (a Tokenizer fit on the
  training texts, ``num_words``, ``oov_token``) and padded to ``maxlen`` ids
  (``padding``/``truncating`` ``"pre"`` or ``"post"``); ``test_split`` and ``split_seed``
  choose the by-movie split.
* ``npz``: arrays from a ``.npz`` file at ``path`` (relative to the model file), under the
  keys ``x_train``, ``y_train``, ``x_test``, ``y_test`` (each renameable); ``standardize``
  scales features to zero mean and unit variance with the training set's statistics.

Every kind takes ``n_train`` and ``n_test`` (keep the first samples only: smoke runs).
Files are read as data only (``np.load(allow_pickle=False)``).
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from frontend.model_file.checks import (Table, boolean, choice, number, non_negative_int,
                                        positive_int, string)
from frontend.model_file.declaration import DatasetSpec
from frontend.model_file.errors import KeyPath, ModelFileError, Where
from frontend.npz import npz_problem, pickle_free

__all__ = ["check_dataset", "load_dataset", "DATASET_KEYS", "feature_shape"]

_COMMON = ("name", "n_train", "n_test")
#: keys each dataset kind accepts
DATASET_KEYS = {
    "mnist": _COMMON + ("scale", "reshape"),
    "rotten_tomatoes": _COMMON + ("num_words", "maxlen", "padding", "truncating", "oov_token",
                                  "test_split", "split_seed"),
    "npz": _COMMON + ("path", "x_train", "y_train", "x_test", "y_test", "standardize"),
}
_MNIST_PIXELS = 28 * 28


def _reshape(where: Where, path: KeyPath, v):
    if not isinstance(v, list) or not v or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in v) \
            or v.count(-1) > 1:
        raise where.error(path, f"expected a per-sample shape (an array of positive integers, "
                                f"one may be -1), got {where.describe(v)}")
    known = int(np.prod([d for d in v if d != -1]))
    if (-1 in v and _MNIST_PIXELS % known) or (-1 not in v and known != _MNIST_PIXELS):
        raise where.error(path, f"expected a shape holding the {_MNIST_PIXELS} pixels of an "
                                f"image (28*28), got {v} ({known} values)")
    if -1 in v:
        v = [(_MNIST_PIXELS // known) if d == -1 else d for d in v]
    return tuple(v)


def check_dataset(where: Where, t: Table) -> DatasetSpec:
    """The checked ``[dataset]`` table as a DatasetSpec (npz: the file and keys exist)."""
    name = t.take("name", choice(*DATASET_KEYS))
    t.allowed = list(DATASET_KEYS[name])
    kw: dict = {"name": name, "n_train": t.take("n_train", positive_int, None),
                "n_test": t.take("n_test", positive_int, None)}
    if name == "mnist":
        kw["scale"] = t.take("scale", boolean, True)
        kw["reshape"] = t.take("reshape", _reshape, None)
    elif name == "rotten_tomatoes":
        pp = choice("pre", "post")
        kw.update(num_words=t.take("num_words", positive_int, 10000),
                  maxlen=t.take("maxlen", positive_int, 40),
                  padding=t.take("padding", pp, "post"),
                  truncating=t.take("truncating", pp, "post"),
                  oov_token=t.take("oov_token", string, "<unk>"),
                  test_split=t.take("test_split", number(0.0, 1.0, hi_open=True), 0.2),
                  split_seed=t.take("split_seed", non_negative_int, 113))
        if kw["num_words"] < 2:
            raise where.error(t.path + ("num_words",), f"expected at least 2 (id 0 is padding, "
                                                        f"1 the unknown word), got "
                                                        f"{kw['num_words']}")
    else:
        declared = t.take("path", string)
        kw["path"] = os.path.normpath(os.path.join(where.directory, declared))
        for key in ("x_train", "y_train", "x_test", "y_test"):
            kw[key] = t.take(key, string, key)
        kw["standardize"] = t.take("standardize", boolean, False)
    t.finish()
    lines = tuple((k, where.lines[t.path + (k,)]) for k in t.data if t.path + (k,) in where.lines)
    spec = DatasetSpec(**kw, source=where.file, lines=((("", where.line_of(t.path) or 0),) + lines))
    if name == "npz":
        _npz_arrays(spec, load=False)
    return spec


def feature_shape(spec: DatasetSpec) -> tuple[int, ...] | None:
    """The per-sample feature shape the dataset yields (None: known only from the file)."""
    if spec.name == "mnist":
        return spec.reshape or (28, 28)
    if spec.name == "rotten_tomatoes":
        return (spec.maxlen,)
    return None


def _error(spec: DatasetSpec, key: str, message: str) -> ModelFileError:
    return ModelFileError(message, spec.source or "<dataset>", spec.line_of(key),
                          key=f"dataset.{key}" if key else "dataset")


def _npz_arrays(spec: DatasetSpec, load: bool) -> dict[str, np.ndarray]:
    keys = ("x_train", "y_train", "x_test", "y_test")
    path = spec.path
    if not os.path.isfile(path):
        raise _error(spec, "path", f"expected an existing .npz file, got {path} (no such file)")
    problem = npz_problem(path)
    if problem is not None:
        raise _error(spec, "path", f"expected an .npz file, got {path}, which {problem}")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            for k in keys:
                name = getattr(spec, k)
                if name not in files:
                    raise _error(spec, k, f"the file {os.path.basename(path)} has no array "
                                          f"{name!r}; expected one of: {', '.join(files)}")
            return {k: data[getattr(spec, k)] for k in keys} if load else {}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, ModelFileError):
            raise
        raise _error(spec, "path", f"expected a readable .npz file, got {path} "
                                   f"({pickle_free(str(e))})") from None


def load_dataset(spec: DatasetSpec) -> tuple[tuple[np.ndarray, np.ndarray],
                                             tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` as numpy arrays, preprocessed as declared
    (see the module docstring), limited to ``n_train`` / ``n_test`` samples."""
    if spec.name == "mnist":
        from frontend.datasets import mnist
        (xt, yt), (xs, ys) = mnist.load_data()
        xt, yt, xs, ys = _limit(spec, xt, yt, xs, ys)

        def prep(x):
            if spec.reshape is not None:
                x = x.reshape((x.shape[0],) + tuple(spec.reshape))
            # pixels / 255.0 in float64, then float32: what fit() makes of Keras's
            # x / 255.0, so a declared model trains on exactly the same values
            return (x / 255.0).astype(np.float32) if spec.scale else x
        return (prep(xt), yt), (prep(xs), ys)
    if spec.name == "rotten_tomatoes":
        from frontend.datasets import rotten_tomatoes
        from frontend.keras.preprocessing.sequence import pad_sequences
        from frontend.keras.preprocessing.text import Tokenizer
        (xt, yt), (xs, ys) = rotten_tomatoes.load_data(test_split=spec.test_split,
                                                       seed=spec.split_seed)
        xt, yt, xs, ys = _limit(spec, xt, yt, xs, ys)
        tok = Tokenizer(num_words=spec.num_words, oov_token=spec.oov_token)
        tok.fit_on_texts(xt)

        def ids(texts):
            return pad_sequences(tok.texts_to_sequences(texts), maxlen=spec.maxlen,
                                 padding=spec.padding, truncating=spec.truncating)
        return (ids(xt), np.asarray(yt)), (ids(xs), np.asarray(ys))
    if spec.name == "npz":
        a = _npz_arrays(spec, load=True)
        xt, yt, xs, ys = _limit(spec, a["x_train"], a["y_train"], a["x_test"], a["y_test"])
        if spec.standardize:
            xt64 = np.asarray(xt, dtype=np.float64)
            mean, std = xt64.mean(axis=0), xt64.std(axis=0)
            std = np.where(std > 0, std, 1.0)  # a constant feature stays 0, not NaN
            xt, xs = (xt64 - mean) / std, (np.asarray(xs, dtype=np.float64) - mean) / std
        return (xt, yt), (xs, ys)
    raise ValueError(f"load_dataset: unknown dataset {spec.name!r}; expected one of: "
                     f"{', '.join(DATASET_KEYS)}")


def _limit(spec: DatasetSpec, xt, yt, xs, ys):
    nt = spec.n_train
    ns = spec.n_test
    return (xt[:nt] if nt else xt, yt[:nt] if nt else yt,
            xs[:ns] if ns else xs, ys[:ns] if ns else ys)
