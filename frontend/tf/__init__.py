"""TensorFlow-compatible names over kiln's graph API: ``import frontend.tf as tf``.

Every name here *is* the object of :mod:`frontend.graph` (not a copy), so ``tf.placeholder
is frontend.graph.placeholder``. Namespaces: ``tf.nn``, ``tf.train``, ``tf.losses``,
``tf.math``, ``tf.random``, ``tf.initializers``, ``tf.errors``, ``tf.dtypes``, ``tf.compat.v1`` (the same
objects again, for code written against TensorFlow 2's v1 compatibility module) and
``tf.keras``, which is :mod:`frontend.keras`, imported lazily on first use. ``import
frontend.tf.keras.layers`` (and any submodule path) resolves to the same module objects as
``frontend.keras.layers``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from frontend.graph import *  # noqa: F401,F403
from frontend.graph import __all__ as _graph_all
from frontend.graph import dtypes, errors, losses, nn, train  # noqa: F401
from frontend.graph.array_ops import newaxis  # noqa: F401
from frontend.graph.dtypes import bool_ as bool  # noqa: A001  (tf.bool)
from frontend.graph.init_ops import AUTO_REUSE  # noqa: F401
from frontend.graph.shape import Dimension as _Dimension
from frontend.tf import initializers, math, random  # noqa: F401

__all__ = list(_graph_all) + ["bool", "newaxis", "AUTO_REUSE", "initializers", "math",
                              "random", "compat", "executing_eagerly", "Dimension"]


def executing_eagerly() -> bool:
    """Always False: this API builds graphs and runs them in sessions."""
    return False


def Dimension(value):  # noqa: N802  (TensorFlow 1's name)
    """TensorFlow 1's ``Dimension``: an int with ``.value`` (None stays None)."""
    return None if value is None else _Dimension(value)


# TensorFlow names kiln's graph API deliberately leaves out, with the reason and what to use.
_UNSUPPORTED = {
    "cond": "data-dependent control flow is not supported; compute both branches and select "
            "with tf.where",
    "while_loop": "data-dependent loops are not supported; unroll in Python, or use kiln's "
                  "scan op through the Keras recurrent layers",
    "py_func": "Python callbacks inside the graph are not supported (the graph is compiled)",
    "numpy_function": "Python callbacks inside the graph are not supported",
    "Print": "printing from inside the graph is not supported; fetch the tensor instead",
    "print": "printing from inside the graph is not supported; fetch the tensor instead",
    "string": "kiln has no string tensors",
    "uint8": "kiln has no uint8 tensors; numpy uint8 data is widened to int32, or cast it to "
             "float32 (e.g. x / 255.0)",
    "float16": "kiln has no float16 tensors; use tf.float32",
    "contrib": "tf.contrib does not exist here; its common pieces are under tf.initializers "
               "(xavier = glorot_uniform_initializer) and tf.nn",
}


def __getattr__(name: str):
    if name in _UNSUPPORTED:
        raise AttributeError(f"frontend.tf has no {name!r}: {_UNSUPPORTED[name]}")
    if name == "keras":
        return importlib.import_module("frontend.keras")
    if name == "compat":
        return importlib.import_module("frontend.tf.compat")
    raise AttributeError(f"module 'frontend.tf' has no attribute {name!r}")


class _KerasAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``frontend.tf.keras[.x.y]`` import as the module ``frontend.keras[.x.y]`` itself,
    so the mechanical rewrite ``tensorflow`` -> ``frontend.tf`` of import lines works without
    loading any Keras module twice."""

    PREFIX = "frontend.tf.keras"

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.PREFIX or fullname.startswith(self.PREFIX + "."):
            real = "frontend.keras" + fullname[len(self.PREFIX):]
            if importlib.util.find_spec(real) is None:
                return None
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("frontend.keras" + spec.name[len(self.PREFIX):])

    def exec_module(self, module) -> None:
        pass  # already executed under its real name


if not any(isinstance(f, _KerasAlias) for f in sys.meta_path):
    sys.meta_path.insert(0, _KerasAlias())
