"""Telling an ``.npz`` archive from other files by their first bytes, before numpy reads them.

``np.load`` decides what a file is by its content: an ``.npy`` comes back as a bare array
(which has no ``.files`` and is no context manager), and a file that is neither ``.npy`` nor
zip is taken for a pickle, which ``allow_pickle=False`` refuses with a message suggesting to
allow it. kiln never unpickles, so every reader of an ``.npz`` (weights, declared data sets)
asks :func:`npz_problem` first and reports a one-line error naming the file instead.
"""
from __future__ import annotations

import os

__all__ = ["NPY_MAGIC", "ZIP_MAGICS", "npz_problem", "pickle_free"]

#: The first bytes of every .npy file.
NPY_MAGIC = b"\x93NUMPY"
#: The first bytes of a zip archive (an .npz), and of an empty one.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def npz_problem(path: str | os.PathLike, what: str = "an .npz") -> str | None:
    """Why ``path`` cannot be read as an ``.npz`` archive, or None when it looks like one.

    The reason completes a sentence after the path: ``"is an .npy array, not a weights .npz
    archive"`` (``what="a weights .npz"``), ``"is not an .npz (zip) archive"``, ``"does not
    exist"``, ``"is a directory, not a file"`` or ``"cannot be read (...)"``. Only the first
    bytes are read.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
    except FileNotFoundError:
        return "does not exist"
    except IsADirectoryError:
        return "is a directory, not a file"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if magic == NPY_MAGIC:
        return f"is an .npy array, not {what} archive"
    if not magic.startswith(ZIP_MAGICS):
        return "is not an .npz (zip) archive"
    return None


def pickle_free(message: str) -> str:
    """numpy's load error ``message`` without its advice to allow pickles (kiln never does)."""
    if "pickle" in message:
        return "it holds Python objects, which kiln never unpickles; save numeric arrays"
    return message
