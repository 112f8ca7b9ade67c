"""Weight regularizers (Keras's L1, L2, L1L2), added to the training loss.

A regularizer maps a weight to a scalar penalty: ``L1(l1)(w) = l1 * sum(|w|)``,
``L2(l2)(w) = l2 * sum(w**2)`` (no factor 1/2, as Keras), ``L1L2(l1, l2)`` both. Called on a
graph :class:`~frontend.layers.tracing.Tensor` it builds the penalty as graph ops (how the
training step adds ``kernel_regularizer`` penalties to the loss, so they are differentiated
with it); called on a numpy array it returns the float.

Defaults are Keras's: ``L1(0.01)``, ``L2(0.01)``, ``L1L2(0.0, 0.0)``; the strings 'l1',
'l2', 'l1_l2' give those defaults (Keras's 'l1_l2' means l1 = l2 = 0.01).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]


def _check(owner: str, name: str, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number, got {v!r}") from None
    if not math.isfinite(f) or f < 0:
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {v!r}")
    return f


class Regularizer:
    """Base class: ``reg(weight) -> scalar penalty`` (graph Tensor or float)."""

    def __call__(self, x):
        from frontend.layers.tracing import Tensor
        if isinstance(x, Tensor):
            return self._graph(x)
        return float(self._numpy(np.asarray(x, dtype=np.float64)))

    def _graph(self, x):
        raise NotImplementedError

    def _numpy(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check(type(self).__name__, "l1", l1)
        self.l2 = _check(type(self).__name__, "l2", l2)

    def _graph(self, x):
        total = None
        if self.l1:
            total = abs(x).sum() * self.l1
        if self.l2:
            term = (x * x).sum() * self.l2
            total = term if total is None else total + term
        if total is None:
            total = x.sum() * 0.0
        return total

    def _numpy(self, x):
        return self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum()

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1, l2=0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)``."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l1=0.0, l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": l1_l2}


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2'), an instance or a callable."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown regularizer {identifier!r}; expected one of "
                             f"{', '.join(_BY_NAME)}, a Regularizer or a callable")
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise ValueError(f"regularizer must be a name, a Regularizer or a callable, got "
                     f"{identifier!r}")
