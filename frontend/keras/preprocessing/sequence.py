"""Keras's ``pad_sequences``: a list of variable-length sequences as one padded array.

Semantics are Keras's: the result has shape ``(len(sequences), maxlen) + item_shape``
(``maxlen`` defaults to the longest sequence); sequences longer than ``maxlen`` lose values
at the start (``truncating='pre'``) or end (``'post'``); shorter ones are filled with
``value`` before (``padding='pre'``, the default) or after (``'post'``). Values are
converted to ``dtype`` as numpy converts them (floats into an int dtype truncate).
Two edge cases where Keras fails are defined here: no sequences gives an empty
``(0, maxlen or 0)`` array, and ``maxlen=0`` gives ``(n, 0)``.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pad (and truncate) ``sequences`` to one array; see the module docstring."""
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, got "
                         f"{type(sequences).__name__}")
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got "
                         f"{truncating!r}")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral)
                               or maxlen < 0):
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int or None, got "
                         f"{maxlen!r}")
    is_str = np.issubdtype(np.dtype(dtype), np.str_)
    if isinstance(value, str) and dtype != object and not is_str:
        raise ValueError(f"pad_sequences: dtype {dtype!r} cannot hold the string padding value "
                         f"{value!r}; use dtype=object or a str dtype")
    lengths, item_shape, found = [], (), False
    for i, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(f"pad_sequences: sequences must be a list of sequences; item {i} "
                             f"is {s!r}") from None
        if not found and len(s):
            item_shape = np.asarray(s).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    x = np.full((len(sequences), int(maxlen)) + item_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != item_shape:
            raise ValueError(f"pad_sequences: sequence {i} has items of shape "
                             f"{trunc.shape[1:]}, expected {item_shape} (the shape of the "
                             f"first non-empty sequence's items)")
        if padding == "post":
            x[i, :len(trunc)] = trunc
        else:
            x[i, -len(trunc):] = trunc
    return x
