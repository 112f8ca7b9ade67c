"""MNIST handwritten digits (LeCun, Cortes, Burges), complete, as Keras returns it.

    (x_train, y_train), (x_test, y_test) = mnist.load_data()

``x_*`` are uint8 arrays of shape ``(n, 28, 28)`` with pixel values 0..255, ``y_*`` uint8
labels 0..9; 60,000 training and 10,000 test images. The file ships with kiln (no
download) and is verified against its SHA-256 on every load.
"""
from __future__ import annotations

import os

import numpy as np

from frontend.datasets._files import DatasetError, verified_path
from frontend.npz import npz_problem, pickle_free

__all__ = ["load_data"]

_FILE = "mnist.npz"
#: Images in the training and in the test set.
TRAIN_SAMPLES, TEST_SAMPLES = 60000, 10000
_EXPECTED = {"x_train": (TRAIN_SAMPLES, 28, 28), "y_train": (TRAIN_SAMPLES,),
             "x_test": (TEST_SAMPLES, 28, 28), "y_test": (TEST_SAMPLES,)}


def load_data(path: str = _FILE):
    """``((x_train, y_train), (x_test, y_test))`` as uint8 numpy arrays.

    ``path`` is accepted for Keras compatibility: its default ``"mnist.npz"`` (Keras's cache
    name, also when given with a directory that does not hold it) means the shipped,
    checksum-verified file; another existing file is read as an ``.npz`` with the same four
    arrays, whose names, dtypes and shapes are checked.
    """
    if path == _FILE or (os.path.basename(path) == _FILE and not os.path.exists(path)):
        file = verified_path(_FILE)  # Keras's cache name: the shipped file
    else:
        file = path
    if not os.path.isfile(file):
        raise FileNotFoundError(f"mnist.load_data: no file {file}")
    problem = npz_problem(file)
    if problem is not None:
        raise DatasetError(f"{file} {problem}")
    try:
        with np.load(file, allow_pickle=False) as data:
            keys = set(data.files)
            if keys != set(_EXPECTED):
                raise DatasetError(f"{file}: expected arrays {sorted(_EXPECTED)}, got "
                                   f"{sorted(keys)}")
            arrays = {k: data[k] for k in _EXPECTED}
    except (OSError, ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{file}: not a readable .npz file ({pickle_free(str(e))})") from None
    for k, shape in _EXPECTED.items():
        a = arrays[k]
        if a.dtype != np.uint8 or a.shape != shape:
            raise DatasetError(f"{file}: {k} should be uint8 of shape {shape}, got {a.dtype} "
                               f"of shape {a.shape}")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
