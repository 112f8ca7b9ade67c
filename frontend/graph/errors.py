"""Errors of the graph API, with TensorFlow's class names (``tf.errors.*``).

They subclass kiln's :class:`~compiler.errors.KilnError` and the Python built-in that fits,
so ``except ValueError`` keeps working for bad feeds.
"""
from __future__ import annotations

from compiler.errors import KilnError

__all__ = ["OpError", "InvalidArgumentError", "FailedPreconditionError", "NotFoundError",
           "UnimplementedError"]


class OpError(KilnError):
    """Base class of the errors raised while running a graph (TensorFlow's ``tf.errors.OpError``)."""


class InvalidArgumentError(OpError, ValueError):
    """A feed or an op's operands do not fit: missing feed, wrong shape or dtype, bad value."""


class FailedPreconditionError(OpError, RuntimeError):
    """The session is not ready for the request: most often a variable read before it was
    initialized (run ``global_variables_initializer()`` first)."""


class NotFoundError(OpError, KeyError):
    """A tensor or operation name that the graph does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnimplementedError(OpError, NotImplementedError):
    """A TensorFlow feature kiln's graph API does not provide."""
