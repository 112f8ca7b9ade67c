"""Graph IR text printer. The format (parsed back exactly by :mod:`compiler.ir.parser`)::

    graph @mlp(%x: f32[64,784], %w1: param f32[784,128]) {
      %h = matmul(%x, %w1) : f32[64,128] loc("dense_1")
      %s = sum(%h) {axes=[0]} : f32[128]
      return %s
    }

Attributes equal to their default, and attributes the result type already states
(``type_attrs``), are not printed. Graphs referenced by attributes (scan bodies) are
printed first, as separate ``graph @name`` definitions; the last graph is the main one.
"""
from __future__ import annotations

import json

import numpy as np

from compiler.ir.graph import PARAM, Graph, Node
from compiler.ops.registry import get_op, has_op


def format_float(v: float) -> str:
    """Shortest text that parses back to the same float64 (always with '.', 'e', inf or nan)."""
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def format_attr(v, names: dict[int, str]) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_attr(x, names) for x in v) + "]"
    if isinstance(v, Graph):
        return "@" + names[id(v)]
    if isinstance(v, np.ndarray):
        from compiler.ir import dtypes
        dt = dtypes.from_numpy(v.dtype)
        if dtypes.is_float(dt):
            # float32 values print as their exact float64 expansion: exact on the way back.
            items = [format_float(x) for x in v.astype(np.float64).reshape(-1).tolist()]
        else:
            items = [format_attr(x, names) for x in v.reshape(-1).tolist()]
        dims = ",".join(str(d) for d in v.shape)
        return f"dense<{dt}[{dims}] [" + ", ".join(items) + "]>"
    raise TypeError(f"cannot print attribute value {v!r}")


def _print_attrs(node: Node, names: dict[int, str]) -> str:
    if not has_op(node.op):
        items = node.attrs.items()
    else:
        opdef = get_op(node.op)
        items = [(k, v) for k, v in node.attrs.items()
                 if k not in opdef.type_attrs
                 and not (k in opdef.attrs and not opdef.attrs[k].required
                          and _same(v, opdef.attrs[k].default))]
    if not items:
        return ""
    return " {" + ", ".join(f"{k}={format_attr(v, names)}" for k, v in items) + "}"


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return format_float(a) == format_float(b)  # -0.0 is not the default 0.0
    return type(a) is type(b) and a == b


def _print_one(g: Graph, names: dict[int, str]) -> list[str]:
    args = ", ".join(f"%{v.name}: {'param ' if v.kind == PARAM else ''}{v.type}" for v in g.args)
    lines = [f"graph @{names[id(g)]}({args}) {{"]
    for n in g.nodes:
        outs = ", ".join("%" + v.name for v in n.outputs)
        ins = ", ".join("%" + v.name for v in n.inputs)
        types = ", ".join(str(v.type) for v in n.outputs)
        loc = f" loc({json.dumps(n.loc)})" if n.loc else ""
        lines.append(f"  {outs} = {n.op}({ins}){_print_attrs(n, names)} : {types}{loc}")
    lines.append("  return " + ", ".join("%" + v.name for v in g.outputs) if g.outputs
                 else "  return")
    lines.append("}")
    return lines


def print_graph(graph: Graph) -> str:
    """The module text of ``graph``: its subgraphs first, then the graph itself."""
    order = graph.subgraphs() + [graph]
    names: dict[int, str] = {}
    taken: set[str] = set()
    for g in order:
        name, k = g.name, 1
        while name in taken:
            k += 1
            name = f"{g.name}.{k}"
        taken.add(name)
        names[id(g)] = name
    out: list[str] = []
    for g in order:
        out.extend(_print_one(g, names))
        out.append("")
    return "\n".join(out)
