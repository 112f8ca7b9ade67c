"""``keras.datasets.rotten_tomatoes``: :func:`frontend.datasets.rotten_tomatoes.load_data`."""
from frontend.datasets.rotten_tomatoes import load_data  # noqa: F401

__all__ = ["load_data"]
