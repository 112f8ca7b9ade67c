"""Lowering: a graph (plus its fusion plan) becomes a kernel program.

Every graph value gets a *source*:

* ``Buf(buffer, view)``: it lives in memory (an argument, a constant, a kernel's output), and
  is read through an affine view;
* ``Lazy(expr)``: it is not materialized; ``expr`` computes it at any index of its shape. The
  fusion plan (compiler/passes/fuse.py) decides which elementwise results stay lazy: they are
  computed inside the loop of the kernel that consumes them.

Shape ops (transpose, broadcast_to, slice, expand_dims, squeeze, most reshapes) never emit a
kernel: they transform the source (a view, or a re-indexed expression). Elementwise ops build
expressions from their operands' sources; reductions, softmax and matmul consume them. Each
op's lowering lives with its definition (``OpDef.lowering``) for elementwise ops, and in the
family emitters below for the others.

Contractions (matmul, conv2d) whose readers the fusion plan made their *epilogue* are held
back: their result becomes the ``acc`` leaf of the reading expression, and when the kernel's
root is lowered the contraction kernel is emitted there with that expression as its epilogue,
writing the root's buffer (:meth:`_Lowering.emit_contraction`).

Results that are graph outputs are written straight into output buffers. Outputs that update
a param (``updates``) are written into the param's own buffer when that is safe (nothing after
the writing kernel still needs the old value, and the kernel reads the old value only at the
element it writes); otherwise a copy at the end of the program updates it.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable, Mapping

import numpy as np

from compiler.errors import KilnError
from compiler.ir import dtypes
from compiler.ir.graph import Graph, Node, Value
from compiler.kernels import expr as ex
from compiler.kernels.indexmap import IndexMap
from compiler.kernels.ir import (Buffer, Elementwise, Kernel, KernelProgram, Matmul, Reduce,
                                 Scan, Softmax)
from compiler.kernels.view import View
from compiler.ops._util import norm_axes, norm_axis
from compiler.ops.registry import get_op

__all__ = ["LoweringError", "lower", "Buf", "Lazy", "LowerContext", "FAMILY_EMITTERS", "replace_reads"]


class LoweringError(KilnError):
    """An op (or an op configuration) the code generator cannot lower; names the node."""


@dataclass
class Buf:
    buffer: Buffer
    view: View


@dataclass
class Lazy:
    expr: ex.Expr
    shape: tuple[int, ...]


def _nid(node: Node) -> str:
    """A node's identity in kernel names and fusion plans: its first result's name."""
    return node.outputs[0].name


def _as_expr(src: Buf | Lazy, dtype: str) -> ex.Expr:
    if isinstance(src, Buf):
        return ex.load(src.buffer, src.view, dtype)
    return src.expr


class LowerContext:
    """What an op's lowering sees: its node and its operands, read in the result's index space."""

    def __init__(self, lowering: "_Lowering", node: Node):
        self._l = lowering
        self.node = node

    def operand(self, i: int, shape: tuple[int, ...] | None = None) -> ex.Expr:
        """Operand ``i`` as an expression over ``shape`` (default: the result's shape),
        numpy-broadcast into it."""
        v = self.node.inputs[i]
        shape = self.node.outputs[0].shape if shape is None else shape
        return self._l.read_expr(v, IndexMap.broadcast(v.shape, shape))

    def operand_mapped(self, i: int, imap: IndexMap) -> ex.Expr:
        """Operand ``i`` read through an explicit index map from the result's index space."""
        return self._l.read_expr(self.node.inputs[i], imap)

    def operands(self) -> list[ex.Expr]:
        return [self.operand(i) for i in range(len(self.node.inputs))]

    def linear_index(self) -> ex.Expr:
        """The row-major linear index of the current element of the result."""
        shape = self.node.outputs[0].shape
        e = ex.const(0, "i64")
        stride = 1
        for d in reversed(range(len(shape))):
            if shape[d] != 1:
                term = ex.index(d)
                if stride != 1:
                    term = ex.binary("mul", term, ex.const(stride, "i64"))
                e = term if (e.op == "const" and e.value == 0) else ex.binary("add", e, term)
            stride *= shape[d]
        return e


#: family name -> emitter(lowering, node) for ops that are not elementwise expressions
FAMILY_EMITTERS: dict[str, Callable] = {}


class _Lowering:
    def __init__(self, graph: Graph, lazy: set[str], updates: Mapping[int, str],
                 epilogue: Mapping[str, str]):
        self.graph = graph
        self.lazy = lazy
        self.epilogue_root = dict(epilogue)   # contraction node -> root of its epilogue
        self.pending: dict[str, tuple[Matmul, Value]] = {}   # root -> held contraction
        self.src: dict[int, Buf | Lazy] = {}
        self.kernels: list[Kernel] = []
        self.temps: list[Buffer] = []
        self.consts: list[Buffer] = []
        self._names: set[str] = set()
        inputs = [self._arg(v, "input") for v in graph.inputs]
        params = [self._arg(v, "param") for v in graph.params]
        self.program = KernelProgram(graph.name, inputs, params, [])
        self.param_bufs = {v.name: self.src[id(v)].buffer for v in graph.params}
        self.updates = dict(updates)
        # The graph value each output buffer receives; decided before lowering nodes so that a
        # kernel can write its result straight into it.
        self.out_for: dict[int, list[int]] = {}
        for i, v in enumerate(graph.outputs):
            self.out_for.setdefault(id(v), []).append(i)
        self.outputs: list[Buffer | None] = [None] * len(graph.outputs)

    # -- buffers ---------------------------------------------------------------------------
    def _name(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._names:
            name = f"{hint}.{k}"
            k += 1
        self._names.add(name)
        return name

    def _arg(self, v: Value, kind: str) -> Buffer:
        b = Buffer(self._name(v.name), v.dtype, prod(v.shape), kind)
        self.src[id(v)] = Buf(b, View.dense(v.shape))
        return b

    def temp(self, hint: str, dtype: str, shape) -> Buffer:
        b = Buffer(self._name(hint), dtype, prod(shape), "temp")
        self.temps.append(b)
        return b

    def result_buffer(self, v: Value) -> Buffer:
        """Where the kernel computing ``v`` writes: its output buffer if ``v`` is a graph output
        (the first index it appears at), else a fresh temp."""
        idxs = self.out_for.get(id(v))
        if idxs and self.outputs[idxs[0]] is None:
            b = Buffer(self._name(f"out{idxs[0]}"), v.dtype, prod(v.shape), "output",
                       holds=v.name)
            self.outputs[idxs[0]] = b
            return b
        b = self.temp(v.name, v.dtype, v.shape)
        b.holds = v.name
        return b

    # -- reading values ----------------------------------------------------------------------
    def read_expr(self, v: Value, imap: IndexMap) -> ex.Expr:
        src = self.src[id(v)]
        if isinstance(src, Buf):
            return ex.load(src.buffer, imap.compose_view(src.view), v.dtype)
        return imap.reindex(src.expr)

    def read_buf(self, v: Value) -> Buf:
        """``v`` in memory (materializing a lazy value into a temp first)."""
        src = self.src[id(v)]
        if isinstance(src, Buf):
            return src
        if any(e.op == "acc" for e in ex.iter_nodes([src.expr])):
            raise LoweringError(f"%{v.name} is a contraction held for its epilogue, but "
                                f"something other than the epilogue reads it")
        buf = self.temp(v.name, v.dtype, v.shape)
        self.emit(Elementwise(f"k{len(self.kernels)}_{v.name}", (v.name,), None, v.shape,
                              [(buf, View.dense(v.shape))], [src.expr]))
        out = Buf(buf, View.dense(v.shape))
        self.src[id(v)] = out
        return out

    def emit(self, k: Kernel) -> None:
        if not k.name.startswith("k"):
            k.name = f"k{len(self.kernels)}_{k.name}"
        self.kernels.append(k)

    def kernel_name(self, node: Node) -> str:
        return f"k{len(self.kernels)}_{_nid(node)}"

    def define(self, v: Value, src: Buf | Lazy) -> None:
        self.src[id(v)] = src

    # -- the walk ------------------------------------------------------------------------------
    def run(self) -> KernelProgram:
        for node in self.graph.nodes:
            opdef = get_op(node.op)
            if opdef.family in ("elementwise", "random") and opdef.lowering is not None:
                self._elementwise(node, opdef)
            elif node.op in FAMILY_EMITTERS:
                FAMILY_EMITTERS[node.op](self, node)
            else:
                raise LoweringError(f"no lowering for op '{node.op}' ({node.describe()})")
        if self.pending:
            raise LoweringError(f"contraction(s) held for epilogue roots that were never "
                                f"lowered: {', '.join(sorted(self.pending))}")
        self._finish_outputs()
        p = self.program
        p.kernels, p.temps, p.consts = self.kernels, self.temps, self.consts
        return p

    def _elementwise(self, node: Node, opdef) -> None:
        v = node.outputs[0]
        e = opdef.lowering(LowerContext(self, node))
        if e.dtype != v.dtype:
            raise LoweringError(f"lowering of {node.describe()} produced {e.dtype}, "
                                f"declared {v.dtype}")
        if _nid(node) in self.lazy and id(v) not in self.out_for:
            self.define(v, Lazy(e, v.shape))
            return
        self.materialize(node, v, e)

    def emit_contraction(self, node: Node, k: Matmul, v: Value) -> None:
        """Emit contraction ``k`` (``k.c`` unset; C covers ``v`` in row-major order) computing
        ``v``, or hold it for the epilogue the fusion plan gave it (see the module doc)."""
        root = self.epilogue_root.get(_nid(node))
        if root is not None:
            self.pending[root] = (k, v)
            self.define(v, Lazy(ex.acc(v.dtype), v.shape))
            return
        out = self.result_buffer(v)
        k.c = (out, View.dense(k.batch + (k.m, k.n)))
        k.name = self.kernel_name(node)   # operand copies may have been emitted since
        self.emit(k)
        self.define(v, Buf(out, View.dense(v.shape)))

    def _emit_with_epilogue(self, node: Node, v: Value, e: ex.Expr, k: Matmul,
                            product: Value) -> Buf:
        """Emit held contraction ``k`` with root ``node``'s expression ``e`` as its epilogue,
        writing ``v``. The epilogue is re-indexed from ``v``'s shape to C's (a conv's
        [N, OH, OW, O] result is its GEMM's [N*OH*OW, O]); when that is impossible (an index-
        dependent leaf such as a random op) the product goes to a temp and ``e`` reads it."""
        c_shape = k.batch + (k.m, k.n)
        buf = self.result_buffer(v)
        epi = e if c_shape == v.shape else _reshape_expr(e, v.shape, c_shape)
        k.name = self.kernel_name(node)
        k.nodes = k.nodes + (_nid(node),)
        if epi is not None:
            k.c, k.epilogue = (buf, View.dense(c_shape)), epi
            self.emit(k)
        else:
            tmp = self.temp(product.name, product.dtype, product.shape)
            k.c = (tmp, View.dense(c_shape))
            self.emit(k)
            # the product in row-major order, read in the root's index space (the plan allows
            # only reshapes between them)
            acc_value = ex.load(tmp, View.dense(v.shape), product.dtype)
            (e,) = ex.rewrite_leaves([e], lambda x: acc_value if x.op == "acc" else x)
            self.emit(Elementwise(self.kernel_name(node), (_nid(node),), node.loc, v.shape,
                                  [(buf, View.dense(v.shape))], [e]))
        src = Buf(buf, View.dense(v.shape))
        self.define(v, src)
        return src

    def materialize(self, node: Node, v: Value, e: ex.Expr) -> Buf:
        held = self.pending.pop(_nid(node), None)
        if held is not None:
            return self._emit_with_epilogue(node, v, e, *held)
        buf = self.result_buffer(v)
        self.emit(Elementwise(self.kernel_name(node), (_nid(node),), node.loc, v.shape,
                              [(buf, View.dense(v.shape))], [e]))
        src = Buf(buf, View.dense(v.shape))
        self.define(v, src)
        return src

    def _finish_outputs(self) -> None:
        g = self.graph
        for i, v in enumerate(g.outputs):
            if self.outputs[i] is not None:
                continue
            src = self.src[id(v)]
            buf = Buffer(self._name(f"out{i}"), v.dtype, prod(v.shape), "output")
            self.outputs[i] = buf
            e = _as_expr(src, v.dtype)
            self.emit(Elementwise(f"k{len(self.kernels)}_out{i}", (), None, v.shape,
                                  [(buf, View.dense(v.shape))], [e]))
        self._place_updates()
        self.program.outputs = list(self.outputs)

    def _place_updates(self) -> None:
        """Write each updated param in place when safe, else copy the new value at the end."""
        for i, pname in sorted(self.updates.items()):
            out, param = self.outputs[i], self.param_bufs[pname]
            writer = next((j for j, k in enumerate(self.kernels) if out in k.writes()), None)
            if writer is not None and self._in_place_ok(writer, out, param):
                k = self.kernels[writer]
                k.outs = [(param if b is out else b, vw) for b, vw in k.outs]
                for kk in self.kernels[writer + 1:]:
                    replace_reads(kk, out, param)
                self.outputs[i] = param
            else:
                v = self.graph.outputs[i]
                self.emit(Elementwise(f"k{len(self.kernels)}_update_{pname}", (), None, v.shape,
                                      [(param, View.dense(v.shape))],
                                      [ex.load(out, View.dense(v.shape), v.dtype)]))
        self.program.updates = {i: self.param_bufs[p] for i, p in self.updates.items()}

    def _in_place_ok(self, writer: int, out: Buffer, param: Buffer) -> bool:
        k = self.kernels[writer]
        if not isinstance(k, Elementwise) or sum(b is out for b, _ in k.outs) != 1:
            return False
        if any(b is param for b, _ in k.outs):
            return False
        view = next(vw for b, vw in k.outs if b is out)
        for e in ex.iter_nodes(k.exprs):
            if e.op == "load" and e.buffer is param and not e.view.same_elements(view):
                return False
        return not any(param in kk.reads() or param in kk.writes()
                       for kk in self.kernels[writer + 1:])


def _reshape_expr(e: ex.Expr, shape: tuple[int, ...], new_shape: tuple[int, ...]
                  ) -> ex.Expr | None:
    """``e`` (over ``shape``) as an expression over ``new_shape`` visiting the same points in
    row-major order, or None when a leaf is not an affine load that reshapes that way."""
    def leaf(x: ex.Expr) -> ex.Expr | None:
        if x.op == "load":
            view = x.view.reshape(new_shape)
            return None if view is None else ex.load(x.buffer, view, x.dtype)
        return x if x.op in ("const", "acc") else None

    out = ex.rewrite_leaves([e], leaf)
    return None if out is None else out[0]


def replace_reads(k: Kernel, old: Buffer, new: Buffer) -> None:
    """Make kernel ``k`` read ``new`` wherever it read ``old``."""
    for attr in ("exprs", "body", "post", "epilogue"):
        val = getattr(k, attr, None)
        if val is None:
            continue
        roots = val if isinstance(val, list) else [val]
        for e in ex.iter_nodes(roots):
            if e.op == "load" and e.buffer is old:
                e.buffer = new
    for attr in ("a", "b"):
        pair = getattr(k, attr, None)
        if pair is not None and pair[0] is old:
            setattr(k, attr, (new, pair[1]))
    for attr in ("inputs_bufs",):
        lst = getattr(k, attr, None)
        if lst:
            setattr(k, attr, [(new if b is old else b, vw) for b, vw in lst])


def lower(graph: Graph, lazy: set[str] | None = None,
          updates: Mapping[int, str] | None = None,
          epilogue: Mapping[str, str] | None = None, merge: bool = True) -> KernelProgram:
    """Lower ``graph`` to a kernel program. From the fusion plan: ``lazy``, names of nodes whose
    results are fused into their consumer, and ``epilogue``, contraction -> root of the kernel
    it is fused into. ``updates``: ``{output index: param name}``. ``merge``: run
    :func:`compiler.kernels.merge.merge_elementwise` (multi-output fusion) on the result."""
    from compiler.kernels.merge import merge_elementwise

    program = _Lowering(graph, set(lazy or ()), updates or {}, epilogue or {}).run()
    if merge:
        merge_elementwise(program)
    return program


# ==============================================================================================
# Family emitters
# ==============================================================================================
def _family(*ops: str):
    def deco(fn):
        for op in ops:
            FAMILY_EMITTERS[op] = fn
        return fn
    return deco


@_family("constant")
def _constant(lw: _Lowering, node: Node) -> None:
    v = node.outputs[0]
    value = node.attrs["value"]
    arr = np.asarray(value, dtype=dtypes.to_numpy(v.dtype))
    flat = arr.reshape(-1)
    # A scalar or a splat (every element equal; NaN never is) needs no memory: it is a constant
    # in the consumer's expression.
    if arr.ndim == 0 or (flat.size and bool((flat == flat[0]).all())):
        e = ex.const(flat[0].item(), v.dtype)
        lw.define(v, Lazy(e, v.shape))
        if id(v) in lw.out_for:
            lw.materialize(node, v, e)
        return
    buf = Buffer(lw._name(_nid(node)), v.dtype, arr.size, "const",
                 value=np.ascontiguousarray(np.broadcast_to(arr, v.shape)).reshape(-1))
    lw.consts.append(buf)
    lw.define(v, Buf(buf, View.dense(v.shape)))


def _view_op(lw: _Lowering, node: Node, imap: IndexMap | None, reshape: tuple | None = None):
    x, v = node.inputs[0], node.outputs[0]
    src = lw.src[id(x)]
    if isinstance(src, Lazy) and src.expr.op == "acc":
        # a contraction held for its epilogue, reshaped on the way (the plan allows nothing
        # else): the epilogue is re-indexed to the contraction's shape when it is emitted
        lw.define(v, Lazy(src.expr, v.shape))
        return
    if imap is None:  # a general reshape: works on memory only
        buf = lw.read_buf(x)
        view = buf.view.reshape(reshape)
        if view is None:  # not expressible as a view of that memory: copy it dense first
            tmp = lw.temp(x.name + ".dense", x.dtype, x.shape)
            lw.emit(Elementwise(lw.kernel_name(node), (_nid(node),), node.loc, x.shape,
                                [(tmp, View.dense(x.shape))],
                                [ex.load(buf.buffer, buf.view, x.dtype)]))
            buf = Buf(tmp, View.dense(x.shape))
            view = buf.view.reshape(reshape)
        new = Buf(buf.buffer, view)
    elif isinstance(src, Buf):
        new = Buf(src.buffer, imap.compose_view(src.view))
    else:
        new = Lazy(imap.reindex(src.expr), v.shape)
    lw.define(v, new)
    if id(v) in lw.out_for:
        lw.materialize(node, v, _as_expr(new, v.dtype))


@_family("transpose")
def _transpose(lw, node):
    x = node.inputs[0]
    perm = node.attrs["perm"] or tuple(reversed(range(x.rank)))
    _view_op(lw, node, IndexMap.transpose(x.shape, perm))


@_family("broadcast_to")
def _broadcast_to(lw, node):
    _view_op(lw, node, IndexMap.broadcast(node.inputs[0].shape, node.outputs[0].shape))


@_family("reshape", "expand_dims", "squeeze")
def _reshape(lw, node):
    x, v = node.inputs[0], node.outputs[0]
    imap = IndexMap.unit_reshape(x.shape, v.shape)
    _view_op(lw, node, imap, reshape=v.shape)


@_family("slice")
def _slice(lw, node):
    x, v = node.inputs[0], node.outputs[0]
    steps = node.attrs["strides"] or (1,) * x.rank
    _view_op(lw, node, IndexMap.slice(x.shape, node.attrs["starts"], steps, v.shape))


@_family("concat")
def _concat(lw, node):
    v = node.outputs[0]
    axis = norm_axis("concat", node.attrs["axis"], v.rank)
    out = lw.result_buffer(v)
    dense = View.dense(v.shape)
    start = 0
    for x in node.inputs:
        n = x.shape[axis]
        if n:
            starts = [0] * v.rank
            starts[axis] = start
            stops = list(v.shape)
            stops[axis] = start + n
            region = dense.slice(starts, stops, [1] * v.rank)
            e = lw.read_expr(x, IndexMap.identity(x.shape))
            lw.emit(Elementwise(lw.kernel_name(node), (_nid(node),), node.loc, x.shape,
                                [(out, region)], [e]))
        start += n
    lw.define(v, Buf(out, dense))


@_family("pad")
def _pad(lw, node):
    x, v = node.inputs[0], node.outputs[0]
    pads = node.attrs["pads"]
    interior = node.attrs["interior"] or (0,) * x.rank
    out = lw.result_buffer(v)
    dense = View.dense(v.shape)
    fill = ex.const(node.attrs["value"], v.dtype)
    lw.emit(Elementwise(lw.kernel_name(node), (_nid(node),), node.loc, v.shape,
                        [(out, dense)], [fill]))
    if prod(x.shape):
        # The operand lands on a strided grid: start at the low pad (may be negative: cropping),
        # step interior + 1. Cropped positions are dropped by restricting the source range.
        starts_src, stops_src, starts_dst, steps = [], [], [], []
        for d in range(x.rank):
            lo = pads[d][0]
            step = interior[d] + 1
            # first source index whose destination lo + i*step >= 0
            i0 = (-lo + step - 1) // step if lo < 0 else 0
            # last source index whose destination < out size
            i1 = min(x.shape[d], (v.shape[d] - 1 - lo) // step + 1) if v.shape[d] else 0
            i1 = max(i1, i0)
            starts_src.append(i0)
            stops_src.append(i1)
            starts_dst.append(lo + i0 * step)
            steps.append(step)
        sub = tuple(b - a for a, b in zip(starts_src, stops_src))
        if prod(sub):
            region = dense.slice(starts_dst,
                                 [s + (n - 1) * st + 1 for s, n, st in zip(starts_dst, sub, steps)],
                                 steps)
            imap = IndexMap.slice(x.shape, starts_src, [1] * x.rank, sub)
            e = lw.read_expr(x, imap)
            lw.emit(Elementwise(lw.kernel_name(node), (_nid(node),), node.loc, sub,
                                [(out, region)], [e]))
    lw.define(v, Buf(out, dense))


# -- reductions ------------------------------------------------------------------------------------
@_family("sum", "mean", "max", "min")
def _reduce(lw, node):
    x, v = node.inputs[0], node.outputs[0]
    axes = norm_axes(node.op, node.attrs["axes"], x.rank)
    body = lw.read_expr(x, IndexMap.identity(x.shape))
    post = None
    if node.op == "mean":
        count = prod(x.shape[a] for a in axes)
        # 0/0 is NaN for an empty mean, as numpy says.
        post = ex.binary("div", ex.acc(v.dtype), ex.const(count, v.dtype)) if count else \
            ex.binary("div", ex.acc(v.dtype), ex.const(0.0, v.dtype))
    kind = "sum" if node.op == "mean" else node.op
    _emit_reduce(lw, node, x.shape, axes, kind, body, post)


@_family("argmax", "argmin")
def _argreduce(lw, node):
    x = node.inputs[0]
    axis = norm_axis(node.op, node.attrs["axis"], x.rank)
    body = lw.read_expr(x, IndexMap.identity(x.shape))
    _emit_reduce(lw, node, x.shape, (axis,), node.op, body, None)


def _emit_reduce(lw, node, shape, axes, kind, body, post):
    v = node.outputs[0]
    out = lw.result_buffer(v)
    kept = tuple(n for d, n in enumerate(shape) if d not in axes)
    lw.emit(Reduce(lw.kernel_name(node), (_nid(node),), node.loc, tuple(shape), tuple(axes), kind,
                   body, (out, View.dense(kept)), post))
    lw.define(v, Buf(out, View.dense(v.shape)))


@_family("softmax", "log_softmax")
def _softmax(lw, node):
    x, v = node.inputs[0], node.outputs[0]
    axis = norm_axis(node.op, node.attrs["axis"], x.rank)
    body = lw.read_expr(x, IndexMap.identity(x.shape))
    out = lw.result_buffer(v)
    lw.emit(Softmax(lw.kernel_name(node), (_nid(node),), node.loc, x.shape, axis,
                    node.op == "log_softmax", body, (out, View.dense(v.shape))))
    lw.define(v, Buf(out, View.dense(v.shape)))


# -- contraction -----------------------------------------------------------------------------------
@_family("matmul")
def _matmul(lw, node):
    a, b = node.inputs
    v = node.outputs[0]
    batch = v.shape[:-2]
    m, k = a.shape[-2:]
    n = b.shape[-1]
    abuf, bbuf = lw.read_buf(a), lw.read_buf(b)
    aview = IndexMap.broadcast(a.shape, batch + (m, k)).compose_view(abuf.view)
    bview = IndexMap.broadcast(b.shape, batch + (k, n)).compose_view(bbuf.view)
    lw.emit_contraction(node, Matmul(lw.kernel_name(node), (_nid(node),), node.loc, batch, m, n,
                                     k, v.dtype, (abuf.buffer, aview), (bbuf.buffer, bview),
                                     None, None), v)


# -- recurrence ------------------------------------------------------------------------------------
def _dense_buf(lw: _Lowering, v: Value) -> Buffer:
    """``v`` in a dense buffer of its own shape (copying a strided view first)."""
    src = lw.read_buf(v)
    if src.view.is_dense() and src.view.numel == src.buffer.numel:
        return src.buffer
    tmp = lw.temp(v.name + ".dense", v.dtype, v.shape)
    lw.emit(Elementwise(f"k{len(lw.kernels)}_{v.name}_dense", (v.name,), None, v.shape,
                        [(tmp, View.dense(v.shape))], [ex.load(src.buffer, src.view, v.dtype)]))
    return tmp


@_family("scan")
def _scan(lw: _Lowering, node: Node) -> None:
    from compiler.passes.fuse import plan_fusion
    from compiler.passes.memory import plan_memory

    a = node.attrs
    body_graph: Graph = a["body"]
    k, m = a["num_carry"], a["num_xs"]
    carries, xs = node.inputs[:k], node.inputs[k:k + m]
    consts = node.inputs[k + m:]
    body_plan = plan_fusion(body_graph)
    body = lower(body_graph, lazy=body_plan.lazy, epilogue=body_plan.epilogue)
    plan_memory(body)
    init = [_dense_buf(lw, v) for v in carries]
    xbufs = [_dense_buf(lw, v) for v in xs]
    cbufs = [_dense_buf(lw, v) for v in consts]
    outs = [lw.result_buffer(v) for v in node.outputs]
    ping = [lw.temp(f"{v.name}.ping", v.dtype, v.shape) for v in carries]
    pong = [lw.temp(f"{v.name}.pong", v.dtype, v.shape) for v in carries]
    scratch = lw.temp(f"{_nid(node)}.scratch", "f64", (-(-body.arena_bytes // 8),))
    lw.emit(Scan(lw.kernel_name(node), (_nid(node),), node.loc, body, a["length"], a["reverse"],
                 init, xbufs, cbufs, outs[:k], outs[k:], ping, pong, scratch))
    for v, b in zip(node.outputs, outs):
        lw.define(v, Buf(b, View.dense(v.shape)))

from compiler.kernels import lower_families  # noqa: E402,F401  (registers conv/pool/gather)
