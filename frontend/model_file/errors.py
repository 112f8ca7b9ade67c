"""ModelFileError and the context that turns a key path into ``file:line: key: message``.

Every problem found in a model file is reported against a *key path*, a tuple of table
keys and array indices such as ``("model", "layers", 2, "units")``, printed
``model.layers[2].units``. :class:`Where` knows the file, its format and the line of every
key path (see :mod:`frontend.model_file.source`), so an error for a key that is not in
the file (a missing required key) falls back to the line of the nearest enclosing table.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

from compiler.errors import KilnError

__all__ = ["ModelFileError", "Where", "KeyPath", "format_path", "describe"]

KeyPath = tuple  # of str (table keys) and int (array indices)


class ModelFileError(KilnError, ValueError):
    """A model file cannot be read or does not declare a valid model.

    Attributes: ``file`` (the path as given), ``line`` and ``column`` (1-based, ``None``
    when not known), ``key`` (the key path as text, e.g. ``model.layers[2].units``, or
    ``None`` for file-level problems such as a syntax error).
    """

    def __init__(self, message: str, file: str, line: int | None = None,
                 column: int | None = None, key: str | None = None):
        where = file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.detail = message


def format_path(path: KeyPath) -> str:
    """``("model", "layers", 2, "units")`` -> ``model.layers[2].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # keys that are not bare words are quoted, so the path stays unambiguous
            text = part if part and all(c.isalnum() or c in "_-" for c in part) else repr(part)
            out += ("." if out else "") + text
    return out


_TABLE_WORD = {"toml": "table", "json": "object"}


def describe(value: Any, fmt: str = "toml") -> str:
    """A value as the user wrote it plus its kind: ``"64" (a string)``, ``3.5 (a float)``."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value!r} (a float)"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"{json.dumps(shown, ensure_ascii=False)} (a string)"
    if isinstance(value, dict):
        word = _TABLE_WORD.get(fmt, "table")
        return ("an " if word[0] in "aeiou" else "a ") + word
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"  # dates and times (TOML)


class Where:
    """The file being loaded: its path as given, format and the line of each key path."""

    def __init__(self, file: str, fmt: str, lines: Mapping[KeyPath, int]):
        self.file = file
        self.fmt = fmt
        self.lines = dict(lines)
        self.directory = os.path.dirname(os.path.abspath(file))

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest ancestor that is in the file."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, path: KeyPath, message: str) -> ModelFileError:
        """A ModelFileError for ``path`` (to raise)."""
        return ModelFileError(message, self.file, self.line_of(path),
                              key=format_path(path) or None)

    def describe(self, value: Any) -> str:
        return describe(value, self.fmt)

    @property
    def table_word(self) -> str:
        """What the format calls a key/value mapping: "table" (TOML) or "object" (JSON)."""
        return _TABLE_WORD.get(self.fmt, "table")

    @property
    def a_table(self) -> str:
        return ("an " if self.table_word[0] in "aeiou" else "a ") + self.table_word
