"""Keras-compatible names: ``from frontend.keras import layers, models`` (or, through
:mod:`frontend.tf`, ``tf.keras``), so Keras programs run with only their imports changed.

Every name is kiln's own object (``frontend.keras.layers.Dense is frontend.layers.Dense``).
``datasets`` and ``preprocessing`` are imported on first use and may be absent in a
partial checkout; the rest is always here.
"""
from __future__ import annotations

import importlib

from frontend.keras import (activations, callbacks, initializers, layers, losses, metrics,  # noqa
                            models, optimizers, regularizers, utils)
from frontend.keras.layers import Input
from frontend.keras.models import Model, Sequential

__all__ = ["activations", "callbacks", "initializers", "layers", "losses", "metrics", "models",
           "optimizers", "regularizers", "utils", "datasets", "preprocessing", "Input", "Model",
           "Sequential"]

_LAZY = ("datasets", "preprocessing")


def __getattr__(name: str):
    if name in _LAZY:
        try:
            return importlib.import_module(f"frontend.keras.{name}")
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(f"frontend.keras.{name}"):
                raise AttributeError(f"frontend.keras.{name} is not available in this "
                                     f"installation") from None
            raise
    raise AttributeError(f"module 'frontend.keras' has no attribute {name!r}")
