"""Parser for the graph IR text form written by :mod:`compiler.ir.printer`.

``parse(text)`` returns the last graph of the module (earlier ones are scan bodies it
references). Syntax errors raise :class:`~compiler.errors.IRParseError` with the line and
column; the result is then verified (shape rules, dangling values, ...) unless
``verify=False``.
"""
from __future__ import annotations

import json
import re

import numpy as np

from compiler.errors import IRParseError, OpError
from compiler.ir import dtypes
from compiler.ir.graph import INPUT, PARAM, Graph, Value
from compiler.ir.types import TensorType
from compiler.ops.registry import get_op, has_op

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+|//[^\n]*)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<graph>@[A-Za-z0-9_.]+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:inf\b|nan\b|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(){}\[\],:=<>])
""", re.VERBOSE)


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col

    def __repr__(self):
        return "end of input" if self.kind == "eof" else repr(self.text)


def _tokenize(text: str) -> list[_Tok]:
    toks, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise IRParseError(f"unexpected character {text[pos]!r}", line, pos - line_start + 1)
        kind = m.lastgroup
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), line, pos - line_start + 1))
        nl = m.group().count("\n")
        if nl:
            line += nl
            line_start = m.start() + m.group().rindex("\n") + 1
        pos = m.end()
    toks.append(_Tok("eof", "", line, pos - line_start + 1))
    return toks


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0
        self.graphs: dict[str, Graph] = {}

    # -- token helpers -----------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, msg: str, tok: _Tok | None = None) -> IRParseError:
        t = tok or self.tok
        return IRParseError(msg, t.line, t.col)

    def next(self) -> _Tok:
        t = self.tok
        self.i += 1
        return t

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind in ("punct", "ident"):
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> _Tok:
        if self.tok.text != text or self.tok.kind not in ("punct", "ident"):
            raise self.error(f"expected '{text}' but found {self.tok!r}")
        return self.next()

    def expect_kind(self, kind: str, what: str) -> _Tok:
        if self.tok.kind != kind:
            raise self.error(f"expected {what} but found {self.tok!r}")
        return self.next()

    # -- grammar -------------------------------------------------------------------------------
    def module(self) -> Graph:
        last = None
        while self.tok.kind != "eof":
            last = self.graph_def()
        if last is None:
            raise self.error("expected 'graph' but the text is empty")
        return last

    def graph_def(self) -> Graph:
        self.expect("graph")
        name_tok = self.expect_kind("graph", "a graph name like @main")
        name = name_tok.text[1:]
        if name in self.graphs:
            raise self.error(f"graph @{name} is defined twice", name_tok)
        g = Graph(name)
        env: dict[str, Value] = {}
        self.expect("(")
        if not self.accept(")"):
            while True:
                vt = self.expect_kind("value", "an argument like %x")
                self.expect(":")
                kind = PARAM if self.accept("param") else INPUT
                t = self.type()
                self.define(env, vt, g.add_arg(vt.text[1:], t, kind) if vt.text[1:] not in env else None)
                if self.accept(")"):
                    break
                self.expect(",")
        self.expect("{")
        while not self.accept("return"):
            self.statement(g, env)
        if self.tok.kind == "value":
            g.outputs.append(self.use(env))
            while self.accept(","):
                g.outputs.append(self.use(env))
        self.expect("}")
        self.graphs[name] = g
        return g

    def define(self, env, tok, value):
        name = tok.text[1:]
        if value is None or (name in env and env[name] is not value):
            raise self.error(f"value %{name} is defined twice", tok)
        env[name] = value

    def use(self, env) -> Value:
        t = self.expect_kind("value", "a value like %x")
        try:
            return env[t.text[1:]]
        except KeyError:
            raise self.error(f"value {t.text} is used before it is defined", t) from None

    def type(self) -> TensorType:
        t = self.expect_kind("ident", "a type like f32[2,3]")
        if t.text not in dtypes.DTYPES:
            raise self.error(f"unknown dtype {t.text!r}; expected one of {', '.join(dtypes.DTYPES)}", t)
        self.expect("[")
        dims = []
        if not self.accept("]"):
            while True:
                d = self.expect_kind("number", "a dimension")
                if not re.fullmatch(r"[0-9]+", d.text):
                    raise self.error(f"dimension must be a non-negative integer, got {d.text}", d)
                dims.append(int(d.text))
                if self.accept("]"):
                    break
                self.expect(",")
        return TensorType(tuple(dims), t.text)

    def statement(self, g: Graph, env) -> None:
        out_toks = [self.expect_kind("value", "a result like %y or 'return'")]
        while self.accept(","):
            out_toks.append(self.expect_kind("value", "a result name"))
        self.expect("=")
        op_tok = self.expect_kind("ident", "an op name")
        if not has_op(op_tok.text):
            raise self.error(f"unknown op {op_tok.text!r}", op_tok)
        opdef = get_op(op_tok.text)
        self.expect("(")
        inputs = []
        if not self.accept(")"):
            while True:
                inputs.append(self.use(env))
                if self.accept(")"):
                    break
                self.expect(",")
        attrs, key_toks = {}, {}
        attr_tok = self.tok
        if self.accept("{"):
            while True:
                k = self.expect_kind("ident", "an attribute name")
                if k.text in attrs:
                    raise self.error(f"attribute '{k.text}' is given twice", k)
                if k.text not in opdef.attrs:
                    raise self.error(f"{opdef.name}: unknown attribute '{k.text}'; known: "
                                     f"{', '.join(opdef.attrs) or 'none'}", k)
                key_toks[k.text] = k
                self.expect("=")
                value_tok = self.tok
                attrs[k.text] = self.attr_value()
                try:  # a value of the wrong kind is reported at the value itself
                    opdef.check_attr(k.text, attrs[k.text])
                except OpError as e:
                    raise self.error(str(e), value_tok) from None
                if self.accept("}"):
                    break
                self.expect(",")
        self.expect(":")
        types = [self.type()]
        while self.accept(","):
            types.append(self.type())
        loc = None
        if self.accept("loc"):
            self.expect("(")
            loc = self.string(self.expect_kind("string", "a location string"))
            self.expect(")")
        if len(types) != len(out_toks):
            raise self.error(f"{len(out_toks)} result(s) but {len(types)} type(s)", out_toks[0])
        if opdef.type_attrs and len(types) == 1:
            for key in opdef.type_attrs:
                if key in attrs:
                    raise self.error(f"attribute '{key}' of {op_tok.text} is given by the "
                                     f"result type, not as an attribute", key_toks[key])
                attrs[key] = types[0].shape if key == "shape" else types[0].dtype
        try:
            attrs = opdef.check_attrs(attrs)
        except OpError as e:
            raise self.error(str(e), attr_tok) from None
        seen = set(env)
        for t in out_toks:
            if t.text[1:] in seen:
                raise self.error(f"value {t.text} is defined twice", t)
            seen.add(t.text[1:])
        node = g.add_node(op_tok.text, inputs, attrs, types, names=[t.text[1:] for t in out_toks],
                          loc=loc, exact_names=True)
        for t, v in zip(out_toks, node.outputs):
            env[t.text[1:]] = v

    def string(self, t: _Tok) -> str:
        try:
            return json.loads(t.text)
        except ValueError as e:
            raise self.error(f"bad string literal {t.text}: {e.msg}", t) from None

    def attr_value(self):
        t = self.tok
        if t.kind == "number":
            self.next()
            return _number(t.text)
        if t.kind == "string":
            self.next()
            return self.string(t)
        if t.kind == "graph":
            self.next()
            try:
                return self.graphs[t.text[1:]]
            except KeyError:
                raise self.error(f"graph {t.text} is not defined before its use", t) from None
        if t.kind == "ident" and t.text in ("true", "false"):
            self.next()
            return t.text == "true"
        if t.kind == "ident" and t.text == "dense":
            return self.dense()
        if self.accept("["):
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.attr_value())
                    if self.accept("]"):
                        break
                    self.expect(",")
            return tuple(items)
        raise self.error(f"expected an attribute value but found {t!r}")

    def check_element(self, t: TensorType, v, tok: _Tok) -> None:
        why = _element_error(t.dtype, v)
        if why is not None:
            raise self.error(f"dense<{t}> element {tok.text} is not valid: {t.dtype} {why}", tok)

    def dense(self) -> np.ndarray:
        start = self.expect("dense")
        self.expect("<")
        t = self.type()
        self.expect("[")
        items = []
        if not self.accept("]"):
            while True:
                vt = self.tok
                v = self.attr_value()
                if isinstance(v, (tuple, str)):
                    raise self.error("dense<...> holds numbers or true/false only", start)
                self.check_element(t, v, vt)
                items.append(v)
                if self.accept("]"):
                    break
                self.expect(",")
        self.expect(">")
        if len(items) != t.size:
            raise self.error(f"dense<{t}> needs {t.size} values, got {len(items)}", start)
        return np.array(items, dtype=dtypes.to_numpy(t.dtype)).reshape(t.shape)


def _element_error(dtype: str, v) -> str | None:
    """Why ``v`` is not an exact element of a dense<dtype> literal (None when it is)."""
    if dtype == "bool":
        return None if isinstance(v, bool) else "needs true or false"
    if isinstance(v, bool):
        return "needs a number, not true/false"
    if dtypes.is_int(dtype):
        if not isinstance(v, int):
            return "needs an integer"
        info = np.iinfo(dtypes.to_numpy(dtype))
        if not info.min <= v <= info.max:
            return f"needs an integer in [{info.min}, {info.max}]"
    return None


def _number(text: str):
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return float(text)


def parse(text: str, verify: bool = True) -> Graph:
    """Parse IR text into its main (last) graph, verifying it unless ``verify=False``."""
    g = _Parser(text).module()
    if verify:
        from compiler.ir.verify import verify as run_verifier
        run_verifier(g)
    return g
