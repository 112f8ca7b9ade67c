"""kiln frontend: what users write and call.

* Keras-style models and layers: :mod:`frontend.layers`, :mod:`frontend.models` (Sequential,
  functional ``Model(inputs, outputs)``, subclassed ``Model``), with losses, metrics,
  initializers, regularizers, activations, callbacks, and the training loops in
  :mod:`frontend.training`; the compat namespace :mod:`frontend.keras` mirrors Keras's
  import paths (``from frontend.keras import layers, models``).
* The TensorFlow-1-style graph API: :mod:`frontend.graph`, and :mod:`frontend.tf` as its
  ``tensorflow`` compat namespace (``tf.keras`` is :mod:`frontend.keras`).
* Datasets shipped with kiln: :mod:`frontend.datasets`.
* Declared model files (TOML/JSON): :mod:`frontend.model_file`;
  ``frontend.load_model_file(path)`` returns the built, compiled model.

Submodules are imported on first attribute access, so ``import frontend`` stays cheap and
``frontend.keras`` works without an explicit import.
"""
from __future__ import annotations

import importlib

_SUBMODULES = ("keras", "layers", "models", "losses", "metrics", "initializers", "regularizers",
               "activations", "callbacks", "training", "graph", "tf", "datasets", "model_file")
#: functions re-exported from a submodule, imported on first access: name -> module
_FUNCTIONS = {"load_model_file": "model_file"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"frontend.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"frontend.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'frontend' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + list(_FUNCTIONS))
