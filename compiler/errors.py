"""Exception types shared by every layer of kiln.

Each error names what it is about (op, node, input, file position) and says what was
expected versus what was found, so a user can act on the message alone.
"""
from __future__ import annotations


class KilnError(Exception):
    """Base class of every error kiln raises on purpose."""


class OpError(KilnError, ValueError):
    """An op was used with operands or attributes that break its rule."""


class IRParseError(KilnError, ValueError):
    """Graph IR text that does not parse; carries the 1-based line and column."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


class VerificationError(KilnError):
    """A graph breaks one or more IR invariants; ``errors`` lists every one found."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        body = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"graph verification failed ({len(self.errors)} error(s)):\n{body}")


class InputError(KilnError, ValueError):
    """An array handed to a graph or executable does not match what it declared."""


class DifferentiationError(KilnError):
    """The gradient of a graph cannot be built (non-scalar loss, op without gradient, ...)."""
