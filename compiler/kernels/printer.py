"""Text form of the kernel IR, for dumps and tests.

Example::

    program @mlp_step (inputs %x f32[50176], params %w f32[100352], outputs %loss f32[1])
      temp %t0 f32[8192] @0
    kernel @k0_matmul contraction (%matmul) loc("dense_1")
      matmul [64,128] x [128,...] -> %t0[64,128]
    kernel @k1_relu elementwise (%add, %relu) loc("dense_1")
      for [64,128]:
        v0 = load %t0[64,128]
        v1 = load %b[64,128]{0,1}
        v2 = add v0, v1
        ...
        %t1[64,128] = v4

Expression DAGs print as one numbered line per node, operands first; a value used twice is
printed once.
"""
from __future__ import annotations

from compiler.kernels import expr as ex
from compiler.kernels.ir import Elementwise, Kernel, KernelProgram, Matmul, Reduce, Softmax

__all__ = ["print_program", "print_kernel"]


def _buf(buf, view) -> str:
    return f"%{buf.name}{view}"


def _exprs(roots, lines: list[str], indent: str, names: dict[int, str] | None = None
           ) -> dict[int, str]:
    names = {} if names is None else names
    for e in ex.iter_nodes(roots):
        if e.op == "const":
            names[id(e)] = repr(e.value) if e.dtype != "bool" else str(e.value).lower()
            continue
        if e.op == "index":
            names[id(e)] = f"i{e.value}"
            continue
        if e.op == "acc":
            names[id(e)] = "acc"
            continue
        name = f"v{len([n for n in names.values() if n.startswith('v')])}"
        if e.op == "load":
            rhs = f"load {_buf(e.buffer, e.view)}"
        elif e.op == "cast":
            rhs = f"cast {names[id(e.args[0])]} to {e.dtype}"
        elif e.op == "random":
            kind, seed, p1, p2 = e.value
            rhs = (f"random_{kind} step={names[id(e.args[0])]} index={names[id(e.args[1])]} "
                   f"seed={seed} ({p1}, {p2})")
        else:
            rhs = f"{e.op} " + ", ".join(names[id(a)] for a in e.args)
        lines.append(f"{indent}{name}: {e.dtype} = {rhs}")
        names[id(e)] = name
    return names


def print_kernel(k: Kernel) -> str:
    lines = [k.header()]
    dims = lambda s: "[" + ",".join(map(str, s)) + "]"  # noqa: E731
    if isinstance(k, Elementwise):
        lines.append(f"  for {dims(k.shape)}:")
        names = _exprs(k.exprs, lines, "    ")
        for (buf, view), e in zip(k.outs, k.exprs):
            lines.append(f"    {_buf(buf, view)} = {names[id(e)]}")
    elif isinstance(k, Reduce):
        lines.append(f"  {k.kind} over axes {list(k.axes)} of {dims(k.shape)}:")
        names = _exprs([k.body], lines, "    ")
        res = names[id(k.body)]
        if k.post is not None:
            lines.append("  then:")
            res = _exprs([k.post], lines, "    ", names)[id(k.post)]
        lines.append(f"    {_buf(*k.out)} = {k.kind}({names[id(k.body)]})"
                     + (f" -> {res}" if k.post is not None else ""))
    elif isinstance(k, Softmax):
        what = "log_softmax" if k.log else "softmax"
        lines.append(f"  {what} along axis {k.axis} of {dims(k.shape)}:")
        names = _exprs([k.body], lines, "    ")
        lines.append(f"    {_buf(*k.out)} = {what}({names[id(k.body)]})")
    elif isinstance(k, Matmul):
        batch = f"batch {dims(k.batch)} " if k.batch else ""
        lines.append(f"  {batch}[{k.m},{k.k}] @ [{k.k},{k.n}] {k.dtype}: "
                     f"{_buf(*k.a)} @ {_buf(*k.b)}")
        if k.epilogue is not None:
            lines.append("  epilogue:")
            names = _exprs([k.epilogue], lines, "    ")
            lines.append(f"    {_buf(*k.c)} = {names[id(k.epilogue)]}")
        else:
            lines.append(f"    {_buf(*k.c)} = acc")
    else:
        describe = getattr(k, "describe", None)
        lines.extend("  " + line for line in (describe() if describe else []))
    return "\n".join(lines)


def print_program(p: KernelProgram) -> str:
    def bufs(group):
        return ", ".join(f"%{b.name} {b.dtype}[{b.numel}]" for b in group)

    lines = [f"program @{p.name} (inputs {bufs(p.inputs) or '-'}; params {bufs(p.params) or '-'};"
             f" outputs {bufs(p.outputs) or '-'}) arena {p.arena_bytes} bytes"]
    for b in p.consts:
        lines.append(f"  const %{b.name} {b.dtype}[{b.numel}]")
    for b in p.temps:
        where = f" @{b.offset}" if b.offset is not None else ""
        lines.append(f"  temp %{b.name} {b.dtype}[{b.numel}]{where}")
    for k in p.kernels:
        lines.append(print_kernel(k))
    return "\n".join(lines) + "\n"
