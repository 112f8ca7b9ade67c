"""``keras.datasets.mnist``: :func:`frontend.datasets.mnist.load_data` (the same function)."""
from frontend.datasets.mnist import load_data  # noqa: F401

__all__ = ["load_data"]
