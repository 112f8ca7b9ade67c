"""``keras.datasets`` names over :mod:`frontend.datasets` (the same modules' functions)."""
from frontend.keras.datasets import mnist, rotten_tomatoes  # noqa: F401

__all__ = ["mnist", "rotten_tomatoes"]
