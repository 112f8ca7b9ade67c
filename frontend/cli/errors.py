"""How the command line reports failure: one line on stderr and an exit status.

Exit statuses: 0 success, 1 a model, data, weights or file problem (:class:`CliError`, or any
error kiln or the user's model file raised), 2 a usage error (:class:`UsageError`, and every
argparse error), 130 interrupted. A traceback is shown only with ``--debug``: users act on the
message, which names the file, key, layer, input or shape concerned.
"""
from __future__ import annotations

import os
import re
import traceback

__all__ = ["CliError", "UsageError", "EXIT_ERROR", "EXIT_USAGE", "one_line", "describe"]

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A problem with the model, its data, a weights or input file: exit status 1."""

    status = EXIT_ERROR


class UsageError(CliError):
    """The command line itself is wrong (unknown stage, bad option value): exit status 2."""

    status = EXIT_USAGE


def one_line(text: str) -> str:
    """``text`` on one line: multi-line messages (e.g. verifier reports) joined with '; '."""
    # verifier reports list their errors as "  - ..." bullets: drop the bullet, keep the text
    parts = [re.sub(r"^-\s+", "", p.strip()) for p in str(text).splitlines()]
    out = ""
    for p in (p for p in parts if p):
        out += ("" if not out else " " if out.endswith(":") else "; ") + p
    return out or "(no message)"


def describe(exc: BaseException, user_file: str | None = None) -> str:
    """The one-line message for ``exc``.

    Errors kiln raises on purpose carry their own context (``CliError``, ``KilnError`` and the
    frontends' ValueErrors name the layer, input or key). Anything raised while running a
    Python model file is located at the innermost line of that file, since that is the line
    the user can fix; other unexpected errors say their type, which a bare message would hide.
    """
    msg = one_line(str(exc))
    if isinstance(exc, CliError):
        return msg
    where = _user_frame(exc, user_file) if user_file else None
    if where is not None:
        return f"{where}: {type(exc).__name__}: {msg}"
    if isinstance(exc, (ValueError, OSError)) or _is_kiln_error(exc):
        return msg
    return f"{type(exc).__name__}: {msg}"


def _is_kiln_error(exc: BaseException) -> bool:
    from compiler.errors import KilnError
    return isinstance(exc, KilnError)


def _user_frame(exc: BaseException, user_file: str) -> str | None:
    """``file:line`` of the innermost traceback frame in ``user_file``, if any."""
    target = os.path.realpath(user_file)
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            found = f"{user_file}:{frame.lineno}"
    return found
