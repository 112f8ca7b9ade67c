"""The data files shipped in ``frontend/data``: where they are and their checksums.

Every load verifies the file's SHA-256 (about 25 ms for MNIST's 11.5 MB) so a truncated or
altered file is reported by name with the expected and actual digests instead of yielding
wrong data. Files are only ever read as data (``np.load(allow_pickle=False)``, csv): loading
never executes code.
"""
from __future__ import annotations

import hashlib
import os

from compiler.errors import KilnError

__all__ = ["DATA_DIR", "SHIPPED", "DatasetError", "data_path", "verified_path", "sha256_of"]

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")

#: file name -> SHA-256 of the shipped file (also listed in frontend/data/README.md)
SHIPPED = {
    "mnist.npz": "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",
    "rotten_tomatoes_snippets.csv.bz2":
        "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
}


class DatasetError(KilnError, ValueError):
    """A data file is damaged or does not hold what its loader expects."""


def data_path(name: str) -> str:
    """Absolute path of a shipped data file (which may still be missing or damaged)."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped data file {name!r}; kiln ships {', '.join(sorted(SHIPPED))}")
    return os.path.join(DATA_DIR, name)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_path(name: str, path: str | None = None, expected: str | None = None) -> str:
    """``path`` (default: the shipped file ``name``) after checking its SHA-256."""
    path = path or data_path(name)
    expected = expected or SHIPPED[name]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file {path} is missing; it ships with kiln in "
                                f"frontend/data (reinstall kiln, or check that the package data "
                                f"was installed)")
    got = sha256_of(path)
    if got != expected:
        raise DatasetError(f"data file {path} is damaged: SHA-256 expected {expected}, got "
                           f"{got} (restore the file from the kiln distribution)")
    return path
