"""Reading a model file: parse TOML or JSON as data only, and find the line of every key.

Neither parser reports where a key is, so after a successful parse a second, small
scanner walks the same text and records the line of each key path (table keys, array
elements, table headers). The scanners only *locate*; the values always come from the
standard parsers (``tomllib``, ``json``), so a scanner mistake could at worst point an
error at a wrong line, never change what is loaded. Syntax errors are the parsers' own,
reported with their line and column.

TOML paths follow the document model: ``[[model.layers]]`` opens element ``n`` of
``model.layers`` (one counter per array of tables, and per parent element for nested
arrays), ``[a.b]`` and dotted keys ``a.b = 1`` name the tables they create, an inline
table or array gives its items' paths under its key. JSON: duplicate keys, which
``json`` would silently resolve to the last one, are reported as errors.
"""
from __future__ import annotations

import bisect
import json
import os
import re
import tomllib
from typing import Any

from frontend.model_file.errors import KeyPath, ModelFileError, format_path

__all__ = ["read_model_source", "toml_key_lines", "json_key_lines", "FORMATS"]

#: file extension -> format name
FORMATS = {".toml": "toml", ".json": "json"}


def read_model_source(path: str) -> tuple[Any, dict[KeyPath, int], str]:
    """``(data, key path -> line, format)`` of the model file at ``path``."""
    fmt = FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ModelFileError(f"expected a .toml or .json model file, got extension "
                             f"{os.path.splitext(path)[1] or '(none)'!r}", path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ModelFileError("no such file (expected an existing model file)", path) from None
    except IsADirectoryError:
        raise ModelFileError("is a directory, expected a model file", path) from None
    except OSError as e:
        raise ModelFileError(f"cannot be read ({e.strerror or e})", path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ModelFileError(f"expected UTF-8 text, got byte 0x{raw[e.start]:02x}", path,
                             line) from None
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            msg = str(e)
            m = re.search(r"\(at line (\d+), column (\d+)\)\s*$", msg)
            line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
            msg = msg[:m.start()].rstrip() if m else msg
            raise ModelFileError(f"TOML syntax error: {msg}", path, line, col) from None
        return data, toml_key_lines(text), fmt
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFileError(f"JSON syntax error: {e.msg}", path, e.lineno, e.colno) from None
    lines, duplicate = json_key_lines(text)
    if duplicate is not None:
        key_path, line = duplicate
        raise ModelFileError("duplicate key (expected each key once per object)", path, line,
                             key=format_path(key_path))
    return data, lines, fmt


class _Text:
    """Text with a cursor and offset -> line lookup."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, i: int | None = None) -> int:
        return bisect.bisect_right(self._starts, self.i if i is None else i)

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def at_end(self) -> bool:
        return self.i >= len(self.s)


# ------------------------------------------------------------------------------------------
# TOML
# ------------------------------------------------------------------------------------------
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\",
            "e": "\x1b"}


class _TomlScanner(_Text):
    def __init__(self, text: str):
        super().__init__(text)
        self.lines: dict[KeyPath, int] = {}
        self.aot: dict[KeyPath, int] = {}   # array-of-tables path -> elements opened so far

    # -- low level ------------------------------------------------------------------------
    def skip_ws(self, newlines: bool = False) -> None:
        """Skip blanks and comments (and newlines when ``newlines``)."""
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            else:
                return

    def basic_string(self) -> str:
        """A "..." string starting at the cursor; returns its value."""
        s, i, out = self.s, self.i + 1, []
        while i < len(s) and s[i] != '"':
            if s[i] == "\\" and i + 1 < len(s):
                e = s[i + 1]
                if e in "uU":
                    n = 4 if e == "u" else 8
                    out.append(chr(int(s[i + 2:i + 2 + n], 16)))
                    i += 2 + n
                    continue
                out.append(_ESCAPES.get(e, e))
                i += 2
            else:
                out.append(s[i])
                i += 1
        self.i = i + 1
        return "".join(out)

    def literal_string(self) -> str:
        end = self.s.find("'", self.i + 1)
        value = self.s[self.i + 1:end]
        self.i = end + 1
        return value

    def skip_string(self) -> None:
        for q in ('"""', "'''"):
            if self.s.startswith(q, self.i):
                j = self.i + 3
                while True:
                    j = self.s.find(q, j)
                    if j < 0:
                        self.i = len(self.s)
                        return
                    if q == '"""' and _escaped(self.s, j):
                        j += 1
                        continue
                    break
                # up to two extra quotes may end a multi-line string ("""a"""" is 'a"')
                end = j + 3
                while end < len(self.s) and self.s[end] == q[0] and end - j < 5:
                    end += 1
                self.i = end
                return
        if self.peek() == '"':
            self.basic_string()
        else:
            self.literal_string()

    def key(self) -> list[str]:
        """A (dotted) key at the cursor."""
        parts = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c == '"':
                parts.append(self.basic_string())
            elif c == "'":
                parts.append(self.literal_string())
            else:
                m = _BARE.match(self.s, self.i)
                if not m:
                    break
                parts.append(m.group())
                self.i = m.end()
            self.skip_ws()
            if self.peek() != ".":
                break
            self.i += 1
        return parts

    # -- structure ------------------------------------------------------------------------
    def note(self, path: KeyPath, line: int, override: bool = False) -> None:
        if override or path not in self.lines:
            self.lines[path] = line

    def resolve_header(self, parts: list[str], is_aot: bool) -> KeyPath:
        """The key path a ``[a.b]`` / ``[[a.b]]`` header opens (array indices included)."""
        out: list = []
        for k, part in enumerate(parts):
            out.append(part)
            last = k == len(parts) - 1
            if tuple(out) in self.aot and not (is_aot and last):
                out.append(self.aot[tuple(out)] - 1)
        if is_aot:
            key = tuple(out)
            idx = self.aot.get(key, 0)
            self.aot[key] = idx + 1
            out.append(idx)
        return tuple(out)

    def scan(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while True:
            self.skip_ws(newlines=True)
            if self.at_end():
                return self.lines
            line = self.line()
            if self.peek() == "[":
                is_aot = self.peek(2) == "[["
                self.i += 2 if is_aot else 1
                parts = self.key()
                self.i += 2 if is_aot else 1  # the closing bracket(s)
                table = self.resolve_header(parts, is_aot)
                for n in range(1, len(table)):
                    self.note(table[:n], line)
                self.note(table, line, override=True)
            else:
                self.key_value(table)
            self.skip_ws()
            # anything left on the line cannot matter for locating (the parser accepted it)
            while not self.at_end() and self.s[self.i] != "\n":
                self.i += 1

    def key_value(self, prefix: KeyPath) -> None:
        line = self.line()
        parts = self.key()
        path = prefix + tuple(parts)
        for n in range(len(prefix) + 1, len(path)):
            self.note(path[:n], line)
        self.note(path, line, override=True)
        self.skip_ws()
        if self.peek() == "=":
            self.i += 1
        self.value(path)

    def value(self, path: KeyPath) -> None:
        self.skip_ws()
        c = self.peek()
        if c == "{":
            self.i += 1
            while True:
                self.skip_ws(newlines=True)
                if self.peek() in ("}", ""):
                    self.i += 1
                    return
                if self.peek() == ",":
                    self.i += 1
                    continue
                self.key_value(path)
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() in ("]", ""):
                    self.i += 1
                    return
                if self.peek() == ",":
                    self.i += 1
                    continue
                self.note(path + (n,), self.line(), override=True)
                self.value(path + (n,))
                n += 1
        elif c in ('"', "'"):
            self.skip_string()
        else:  # number, boolean, date: up to the next delimiter
            while not self.at_end() and self.s[self.i] not in ",]}\n#":
                self.i += 1


def _escaped(s: str, j: int) -> bool:
    """Whether the character at ``j`` is escaped by an odd run of backslashes."""
    n = 0
    while j - n - 1 >= 0 and s[j - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    """Line (1-based) of every key path in a TOML document that ``tomllib`` accepted."""
    return _TomlScanner(text).scan()


# ------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------
class _JsonScanner(_Text):
    _decoder = json.JSONDecoder()

    def __init__(self, text: str):
        super().__init__(text)
        self.lines: dict[KeyPath, int] = {}
        self.duplicate: tuple[KeyPath, int] | None = None

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def value(self, path: KeyPath) -> None:
        self.ws()
        c = self.peek()
        if c == "{":
            self.i += 1
            seen = set()
            while True:
                self.ws()
                c = self.peek()
                if c == "}":
                    self.i += 1
                    return
                if c == ",":
                    self.i += 1
                    continue
                line = self.line()
                key, self.i = json.decoder.scanstring(self.s, self.i + 1)
                if key in seen and self.duplicate is None:
                    self.duplicate = (path + (key,), line)
                seen.add(key)
                self.lines.setdefault(path + (key,), line)
                self.ws()
                self.i += 1  # ':'
                self.value(path + (key,))
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self.ws()
                c = self.peek()
                if c == "]":
                    self.i += 1
                    return
                if c == ",":
                    self.i += 1
                    continue
                self.lines[path + (n,)] = self.line()
                self.value(path + (n,))
                n += 1
        else:
            _, self.i = self._decoder.raw_decode(self.s, self.i)


def json_key_lines(text: str) -> tuple[dict[KeyPath, int], tuple[KeyPath, int] | None]:
    """``(key path -> line, first duplicate key or None)`` of a JSON text ``json`` accepted."""
    sc = _JsonScanner(text)
    sc.value(())
    return sc.lines, sc.duplicate
