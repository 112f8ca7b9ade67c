"""Checking declared values: a reader for tables that rejects unknown keys, value checkers
that say expected vs got, and objects named by a ``type`` key (initializers, regularizers,
optimizers, losses).

A checker is a callable ``check(where, path, value) -> converted value`` raising a
:class:`ModelFileError` for ``path``. Objects declared as a table ``{type = "l2", l2 = 1e-4}``
are built by looking ``type`` up in a fixed registry (never by importing or evaluating a
name from the file); their other keys must be parameters of the class's constructor, and
each value must have the kind of that parameter's default (a boolean for a boolean
default, a number for a numeric one, a string for a string one), so ``from_logits = "no"``
is an error rather than a truthy string.
"""
from __future__ import annotations

import difflib
import inspect
import math
from typing import Any, Callable, Mapping, Sequence

from frontend.model_file.errors import KeyPath, Where

__all__ = ["Table", "Checker", "positive_int", "non_negative_int", "integer", "boolean",
           "number", "choice", "string", "int_or_pair", "int_list", "shape", "list_of",
           "typed_object", "constructor_params", "MISSING"]

Checker = Callable[[Where, KeyPath, Any], Any]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Table:
    """A table (object) of the file at ``path``: take keys, then :meth:`finish` rejects any
    key left over, naming it, its line and the keys the table accepts."""

    def __init__(self, where: Where, path: KeyPath, data: Any, what: str,
                 allowed: Sequence[str] | None = None):
        if not isinstance(data, dict):
            raise where.error(path, f"expected {where.a_table} ({what}), got "
                                    f"{where.describe(data)}")
        self.where = where
        self.path = tuple(path)
        self.data = data
        self.what = what
        self.allowed = list(allowed) if allowed is not None else None
        self._taken: list[str] = []

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str, check: Checker | None = None, default: Any = MISSING) -> Any:
        """The checked value of ``key``; ``default`` when absent (an error if MISSING)."""
        self._taken.append(key)
        if key not in self.data:
            if default is MISSING:
                got = ", ".join(map(repr, self.data)) or "none"
                raise self.where.error(self.path, f"missing required key {key!r} in {self.what} "
                                                  f"(expected it; the keys given are: {got})")
            return default
        value = self.data[key]
        return check(self.where, self.path + (key,), value) if check else value

    def child(self, key: str, what: str, allowed: Sequence[str] | None = None) -> "Table | None":
        """The sub-table ``key`` (None when absent)."""
        self._taken.append(key)
        if key not in self.data:
            return None
        return Table(self.where, self.path + (key,), self.data[key], what, allowed)

    def rest(self) -> dict[str, Any]:
        """Keys not taken yet (marks them taken)."""
        out = {k: v for k, v in self.data.items() if k not in self._taken}
        self._taken.extend(out)
        return out

    def finish(self) -> None:
        accepted = self.allowed if self.allowed is not None else list(dict.fromkeys(self._taken))
        for key in self.data:
            if key not in self._taken:
                raise self.where.error(
                    self.path + (key,),
                    f"unknown key {key!r} in {self.what}{suggest(key, accepted)}; expected one "
                    f"of: {', '.join(sorted(accepted))}")


# -- scalar checkers ------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def integer(lo: int | None = None, hi: int | None = None, what: str = "an integer") -> Checker:
    def check(where: Where, path: KeyPath, v):
        if not _is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise where.error(path, f"expected {what}, got {where.describe(v)}")
        return v
    return check


positive_int = integer(1, what="a positive integer (>= 1)")
non_negative_int = integer(0, what="a non-negative integer (>= 0)")


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> Checker:
    """A finite int or float in the given range, returned as float."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi}")
    what = "a finite number" + (f" {' and '.join(parts)}" if parts else "")

    def check(where: Where, path: KeyPath, v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if ok and lo is not None:
            ok = v > lo if lo_open else v >= lo
        if ok and hi is not None:
            ok = v < hi if hi_open else v <= hi
        if not ok:
            raise where.error(path, f"expected {what}, got {where.describe(v)}")
        return float(v)
    return check


def boolean(where: Where, path: KeyPath, v) -> bool:
    if not isinstance(v, bool):
        raise where.error(path, f"expected true or false, got {where.describe(v)}")
    return v


def string(where: Where, path: KeyPath, v) -> str:
    if not isinstance(v, str) or not v:
        raise where.error(path, f"expected a non-empty string, got {where.describe(v)}")
    return v


def choice(*options: str, lower: bool = False) -> Checker:
    def check(where: Where, path: KeyPath, v):
        key = v.lower() if lower and isinstance(v, str) else v
        if not isinstance(v, str) or key not in options:
            hint = suggest(v, options) if isinstance(v, str) else ""
            raise where.error(path, f"expected one of {', '.join(map(repr, options))}, got "
                                    f"{where.describe(v)}{hint}")
        return key
    return check


def list_of(item: Checker, what: str, min_len: int = 0, max_len: int | None = None) -> Checker:
    def check(where: Where, path: KeyPath, v):
        if not isinstance(v, list) or len(v) < min_len or (max_len is not None and
                                                            len(v) > max_len):
            raise where.error(path, f"expected {what}, got {where.describe(v)}")
        return [item(where, path + (i,), x) for i, x in enumerate(v)]
    return check


def int_or_pair(where: Where, path: KeyPath, v):
    """Keras's int-or-pair arguments (kernel_size, strides, pool_size): an int >= 1 or two."""
    if _is_int(v):
        return positive_int(where, path, v)
    return tuple(list_of(positive_int, "an integer >= 1 or an array of two", 2, 2)(
        where, path, v))


def int_list(where: Where, path: KeyPath, v) -> list[int]:
    return list_of(integer(), "an array of integers")(where, path, v)


def shape(where: Where, path: KeyPath, v) -> tuple[int, ...]:
    """A shape without the batch dimension: an array of positive integers."""
    return tuple(list_of(positive_int, "a shape: an array of positive integers", 1)(
        where, path, v))


# -- objects named by ``type`` --------------------------------------------------------------
def constructor_params(cls) -> dict[str, inspect.Parameter]:
    """Named parameters of ``cls``'s constructor, following ``**kwargs`` up the MRO."""
    out: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:  # object's is a builtin without parameters
            continue
        params = inspect.signature(init).parameters
        for name, p in params.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                out.setdefault(name, p)
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return out


def _default_kind_check(where: Where, path: KeyPath, p: inspect.Parameter, v) -> Any:
    d = p.default
    if isinstance(d, bool):
        return boolean(where, path, v)
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return number()(where, path, v) if isinstance(d, float) or isinstance(v, float) \
            else integer()(where, path, v)
    if isinstance(d, str):
        if not isinstance(v, str):
            raise where.error(path, f"expected a string, got {where.describe(v)}")
        return v
    if isinstance(v, (dict, list)) or v is None:
        raise where.error(path, f"expected a number, string or boolean, got "
                                f"{where.describe(v)}")
    return v


def typed_object(kind: str, registry: Mapping[str, Callable], *,
                 normalize: Callable[[str], str] = str.lower,
                 from_string: Callable[[str], Any] | None = None) -> Checker:
    """A checker for ``"name"`` or ``{type = "name", <constructor arguments>...}``.

    ``registry`` maps (normalized) names to classes; a table's keys other than ``type`` are
    checked against the class's constructor parameters. A plain name is built by
    ``from_string(name)`` when given (the library's own lookup, with its aliases and
    defaults, e.g. Keras's ``'l1_l2'`` meaning l1 = l2 = 0.01), else by the class with
    its defaults.
    """
    names = sorted(registry)

    def lookup(where: Where, path: KeyPath, name) -> Callable:
        key = normalize(name) if isinstance(name, str) else name
        if not isinstance(name, str) or key not in registry:
            hint = suggest(name, names) if isinstance(name, str) else ""
            raise where.error(path, f"unknown {kind} {where.describe(name)}{hint}; expected one "
                                    f"of: {', '.join(names)}")
        return registry[key]

    def build(where: Where, path: KeyPath, factory: Callable, *args, **kwargs) -> Any:
        try:
            return factory(*args, **kwargs)
        except (ValueError, TypeError, NotImplementedError) as e:
            raise where.error(path, f"invalid {kind}: {e}") from None

    def check(where: Where, path: KeyPath, v):
        if isinstance(v, str):
            cls = lookup(where, path, v)
            return build(where, path, from_string, v) if from_string else \
                build(where, path, cls)
        if not isinstance(v, dict):
            raise where.error(path, f"expected a {kind} name or {where.a_table} "
                                    f"{{type = \"...\", ...}}, got {where.describe(v)}")
        t = Table(where, path, v, f"the {kind} {where.table_word}")
        cls = lookup(where, path + ("type",), t.take("type", string))
        params = constructor_params(cls)
        kwargs = {}
        for key, value in t.rest().items():
            if key not in params:
                accepted = ["type"] + sorted(params)
                raise where.error(path + (key,),
                                  f"unknown argument {key!r} for {kind} {t.data['type']!r}"
                                  f"{suggest(key, accepted)}; expected one of: "
                                  f"{', '.join(accepted)}")
            kwargs[key] = _default_kind_check(where, path + (key,), params[key], value)
        return build(where, path, cls, **kwargs)
    return check
