"""``keras.models``: Sequential, Model, and weight loading helpers."""
from frontend.models import Functional, Model, Sequential  # noqa: F401

__all__ = ["Model", "Sequential", "Functional"]
