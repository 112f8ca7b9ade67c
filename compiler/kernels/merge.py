"""merge_elementwise: multi-output fusion of elementwise kernels over the same iteration space.

Lowering gives every materialized value its own kernel. Elementwise kernels that run over the
same iteration space and sit close together in the program (an optimizer's slot updates and
its parameter update; a forward activation and the mask its gradient keeps) are better run as
one loop with several outputs: each input is loaded once, a value the later kernel reads from
the earlier one's output is taken from the register it was computed in instead of memory, and
a temp written only for that later kernel is not stored at all.

A kernel K is merged into an earlier elementwise kernel P of the same shape when:

* K can move up to P: no kernel in between writes what K reads or touches what K writes (the
  search looks back over :data:`WINDOW` kernels);
* every read K makes of a buffer P writes is of the element P writes at the same point (then
  it becomes P's expression), and every buffer K writes that P reads is read by P only at the
  element K writes at that point (P's loads run before K's stores at each point, and points
  never see each other's elements, so threads and vector lanes stay independent);
* K and P do not write the same buffer.

After a merge, an output of P that went to a temp no other kernel reads is dropped.
"""
from __future__ import annotations

import re

from compiler.kernels import expr as ex
from compiler.kernels.ir import Elementwise, Kernel, KernelProgram

__all__ = ["WINDOW", "merge_elementwise"]

#: how many kernels back a kernel may move to find a partner
WINDOW = 8


def _loads(exprs) -> list[ex.Expr]:
    return [e for e in ex.iter_nodes(exprs) if e.op == "load"]


def _independent(k: Kernel, other: Kernel) -> bool:
    """Whether ``k`` may run before ``other`` (neither sees the other's writes)."""
    kr, kw = {id(b) for b in k.reads()}, {id(b) for b in k.writes()}
    orr, ow = {id(b) for b in other.reads()}, {id(b) for b in other.writes()}
    return not (kr & ow or kw & orr or kw & ow)


def _fuse_pair(p: Elementwise, k: Elementwise) -> Elementwise | None:
    """``p`` and then ``k`` as one kernel, or None when that would change a result."""
    if p.shape != k.shape:
        return None
    p_writes = {id(b): (view, e) for (b, view), e in zip(p.outs, p.exprs)}
    if len(p_writes) != len(p.outs):
        return None
    for b, view in k.outs:
        if id(b) in p_writes:
            return None
        if any(ld.buffer is b and not ld.view.same_elements(view) for ld in _loads(p.exprs)):
            return None

    def leaf(e: ex.Expr) -> ex.Expr | None:
        if e.op != "load" or id(e.buffer) not in p_writes:
            return e
        view, value = p_writes[id(e.buffer)]
        return value if e.view.same_elements(view) else None

    exprs = ex.rewrite_leaves(k.exprs, leaf)
    if exprs is None:
        return None
    return Elementwise(p.name, p.nodes + k.nodes, p.loc, p.shape, p.outs + k.outs,
                       p.exprs + exprs)


def _drop_dead_temps(program: KernelProgram) -> None:
    """Remove outputs to temps that no kernel reads, and temps no kernel touches."""
    read = {id(b) for k in program.kernels for b in k.reads()}
    for k in program.kernels:
        if isinstance(k, Elementwise):
            keep = [(o, e) for o, e in zip(k.outs, k.exprs)
                    if o[0].kind != "temp" or id(o[0]) in read]
            if keep and len(keep) != len(k.outs):
                k.outs, k.exprs = [o for o, _ in keep], [e for _, e in keep]
    used = {id(b) for k in program.kernels for b in k.reads() + k.writes()}
    program.temps = [b for b in program.temps if id(b) in used]


def merge_elementwise(program: KernelProgram) -> int:
    """Merge elementwise kernels of ``program`` in place (see the module doc); returns how many
    kernels were merged away."""
    out: list[Kernel] = []
    merged = 0
    for k in program.kernels:
        placed = False
        if isinstance(k, Elementwise):
            for j in range(len(out) - 1, max(-1, len(out) - 1 - WINDOW), -1):
                cand = out[j]
                if isinstance(cand, Elementwise):
                    fused = _fuse_pair(cand, k)
                    if fused is not None:
                        out[j] = fused
                        placed = True
                        break
                if not _independent(k, cand):
                    break
        if placed:
            merged += 1
        else:
            out.append(k)
    program.kernels = out
    if merged:
        _drop_dead_temps(program)
        for i, k in enumerate(out):   # keep kernel names numbered in program order
            k.name = re.sub(r"^k\d+_", f"k{i}_", k.name)
    return merged

