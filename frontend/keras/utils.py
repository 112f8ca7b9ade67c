"""``keras.utils``: ``set_random_seed``, ``to_categorical`` and ``clear_session``."""
from __future__ import annotations

import numpy as np

from frontend.initializers import set_random_seed
from frontend.layers.base import clear_session

__all__ = ["set_random_seed", "to_categorical", "clear_session"]


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot float32 rows for integer class ids (``num_classes`` defaults to max + 1)."""
    ids = np.asarray(x)
    if ids.dtype.kind == "f":
        if not np.all(ids == np.floor(ids)):
            raise ValueError("to_categorical: class ids must be whole numbers")
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"to_categorical: expected integer class ids, got dtype {ids.dtype}")
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids.reshape(ids.shape[:-1])
    n = int(ids.max()) + 1 if num_classes is None else int(num_classes)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"to_categorical: class ids must be in [0, {n}), got "
                         f"{int(ids.min() if ids.min() < 0 else ids.max())}")
    return np.eye(n, dtype=np.float32)[ids]
