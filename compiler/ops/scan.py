"""scan: a loop over the leading (time) axis whose body is a graph, compiled once.

``scan(carries..., xs..., consts...) {body=@f, num_carry=k, num_xs=m, length=T, reverse}``
runs ``carries', ys_t = f(carries, xs[t], consts)`` for t = 0..T-1 (T-1..0 if reverse)
and returns the final carries followed by the per-step ``ys`` stacked on a new leading
axis of length T (``ys[t]`` is the output of step t in either direction), as
``jax.lax.scan`` does. SimpleRNN, LSTM and GRU are scans over time; they are not unrolled.

The gradient is a reverse scan. The VJP first widens the forward scan in place to also
emit the carry entering each step (the residuals), then builds a backward body that
recomputes the forward step from those carries and applies reverse-mode differentiation to
it: cotangents of the carries flow backwards through the loop, cotangents of ``xs`` come
out per step, and cotangents of ``consts`` (the weights) are accumulated in extra carries.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from compiler.errors import OpError
from compiler.ir import dtypes
from compiler.ir.graph import INPUT, Graph, Value, clone_into
from compiler.ir.types import TensorType
from compiler.ops.registry import Attr, OpDef, register


def _split(node_inputs: Sequence, a: dict):
    k, m = a["num_carry"], a["num_xs"]
    return list(node_inputs[:k]), list(node_inputs[k:k + m]), list(node_inputs[k + m:])


def _infer(ts, a):
    body: Graph = a["body"]
    k, m, T = a["num_carry"], a["num_xs"], a["length"]
    if k < 0 or m < 0 or k + m > len(ts):
        raise OpError(f"scan: num_carry={k} and num_xs={m} do not fit {len(ts)} operands")
    if T < 0:
        raise OpError(f"scan: length must be >= 0, got {T}")
    carries, xs, consts = _split(ts, a)
    for i, x in enumerate(xs):
        if x.rank == 0 or x.shape[0] != T:
            raise OpError(f"scan: xs operand {i} must have leading dimension length={T}, got {x}")
    expected = carries + [TensorType(x.shape[1:], x.dtype) for x in xs] + consts
    got = [v.type for v in body.args]
    if got != expected:
        raise OpError(f"scan: body @{body.name} takes ({', '.join(str(t) for t in got)}) but "
                      f"the operands give ({', '.join(str(t) for t in expected)})")
    outs = [v.type for v in body.outputs]
    if len(outs) < k or outs[:k] != carries:
        raise OpError(f"scan: body @{body.name} must return the {k} carries "
                      f"({', '.join(str(t) for t in carries)}) first, got "
                      f"({', '.join(str(t) for t in outs)})")
    return carries + [TensorType((T,) + t.shape, t.dtype) for t in outs[k:]]


def _impl(xs_in, a, ctx):
    body: Graph = a["body"]
    k, T = a["num_carry"], a["length"]
    carries, xs, consts = _split(xs_in, a)
    y_types = [v.type for v in body.outputs[k:]]
    ys = [np.empty((T,) + t.shape, dtype=dtypes.to_numpy(t.dtype)) for t in y_types]
    steps = range(T - 1, -1, -1) if a["reverse"] else range(T)
    for t in steps:
        out = ctx.run_body(body, carries + [x[t] for x in xs] + consts)
        carries = out[:k]
        for y, v in zip(ys, out[k:]):
            y[t] = v
    return [np.array(c) for c in carries] + ys


def _residual_body(body: Graph, k: int) -> Graph:
    """The body widened to also output its incoming carries (stacked by the scan)."""
    g = Graph(f"{body.name}.fwd")
    args = [g.add_arg(v.name, v.type, INPUT) for v in body.args]
    outs = clone_into(g, body, args)
    g.outputs = outs + args[:k]
    return g


def _vjp(b, node, cts):
    from compiler.builder import GraphBuilder
    from compiler.passes.autodiff import backprop

    a = node.attrs
    body: Graph = a["body"]
    k, m, T = a["num_carry"], a["num_xs"], a["length"]
    carries, xs, consts = _split(node.inputs, a)
    n_ys = len(node.outputs) - k

    # 1. Widen the forward scan in place so it also stacks each step's incoming carries.
    fwd = _residual_body(body, k)
    node.attrs = dict(a, body=fwd)
    stacked = []
    for c in carries:
        v = Value(b.graph.claim_name(f"{node.outputs[0].name}.carries"),
                  TensorType((T,) + c.shape, c.dtype), producer=node, index=len(node.outputs))
        node.outputs.append(v)
        stacked.append(v)

    float_carry = [dtypes.is_float(c.dtype) for c in carries]
    float_const = [dtypes.is_float(p.dtype) for p in consts]
    ct_final = [cts[i] if cts[i] is not None else None for i in range(k)]
    ct_ys = [cts[k + j] for j in range(n_ys)]
    has_ct_y = [c is not None for c in ct_ys]

    # 2. Backward body: (ct carries, const-grad accumulators | carries_t, xs_t, ct_ys_t | consts)
    g = Graph(f"{body.name}.bwd")
    bb = GraphBuilder(g, location=f"{node.loc}/grad" if node.loc else "grad")

    def arg(hint: str, t: TensorType) -> Value:
        # Hints can repeat (a ys output that is a carry argument, the same value returned
        # twice, a body argument called ct_...): a taken name gets a unique suffix.
        return g.add_arg(hint, t, exact=False)

    ct_c = [arg(f"ct_{c.name}", c.type) for c, f in zip(body.args[:k], float_carry) if f]
    acc = [arg(f"acc_{p.name}", p.type) for p, f in zip(body.args[k + m:], float_const) if f]
    c_t = [arg(f"{c.name}", c.type) for c in body.args[:k]]
    x_t = [arg(f"{x.name}", x.type) for x in body.args[k:k + m]]
    ct_y_t = [arg(f"ct_{v.name}", v.type)
              for v, h in zip(body.outputs[k:], has_ct_y) if h]
    p = [arg(f"{v.name}", v.type) for v in body.args[k + m:]]

    outs = clone_into(g, body, c_t + x_t + p)
    it_c, it_y = iter(ct_c), iter(ct_y_t)
    out_cts = [next(it_c) if f else None for f in float_carry] + \
              [next(it_y) if h else None for h in has_ct_y]
    wrt = c_t + x_t + p
    grads = backprop(bb, outs, out_cts, wrt)
    d_c, d_x, d_p = grads[:k], grads[k:k + m], grads[k + m:]

    def zeros_like(v):
        return bb.constant(0, dtype=v.dtype, shape=v.shape) if dtypes.is_float(v.dtype) else None

    new_ct_c = [d if d is not None else zeros_like(c) for d, c, f in zip(d_c, c_t, float_carry) if f]
    it_acc = iter(acc)
    new_acc = []
    for d, f in zip(d_p, float_const):
        if f:
            s = next(it_acc)
            new_acc.append(bb.add(s, d) if d is not None else s)
    xs_out = [d if d is not None else bb.constant(0, dtype=x.dtype, shape=x.shape)
              for d, x in zip(d_x, x_t) if dtypes.is_float(x.dtype)]
    g.outputs = new_ct_c + new_acc + xs_out

    # 3. The reverse scan over the residuals.
    init_ct = [ct if ct is not None else b.constant(0, dtype=c.dtype, shape=c.shape)
               for ct, c, f in zip(ct_final, carries, float_carry) if f]
    init_acc = [b.constant(0, dtype=q.dtype, shape=q.shape) for q, f in zip(consts, float_const) if f]
    seq = stacked + xs + [c for c, h in zip(ct_ys, has_ct_y) if h]
    res = b.scan(*init_ct, *init_acc, *seq, *consts, body=g,
                 num_carry=len(init_ct) + len(init_acc), num_xs=len(seq), length=T,
                 reverse=not a["reverse"])
    res = list(res) if isinstance(res, tuple) else [res]
    it_ct = iter(res[:len(init_ct)])
    it_acc_out = iter(res[len(init_ct):len(init_ct) + len(init_acc)])
    it_dx = iter(res[len(init_ct) + len(init_acc):])
    d_carries = [next(it_ct) if f else None for f in float_carry]
    d_xs = [next(it_dx) if dtypes.is_float(x.dtype) else None for x in xs]
    d_consts = [next(it_acc_out) if f else None for f in float_const]
    return d_carries + d_xs + d_consts


register(OpDef("scan", "recurrence", _infer, _impl, _vjp,
               attrs={"body": Attr("graph"), "num_carry": Attr("int"), "num_xs": Attr("int"),
                      "length": Attr("int"), "reverse": Attr("bool", False)},
               num_inputs=(0, None),
               doc="loop over the leading axis of xs with a body graph (carries, ys)"))


def build_scan(b, fn: Callable, carries: Sequence[Value], xs: Sequence[Value],
               consts: Sequence[Value] = (), reverse: bool = False, name: str = "body"):
    """Build a scan whose body is traced from ``fn(bb, carries, xs_t, consts) -> (carries, ys)``.

    ``bb`` is a builder on the body graph; the arguments it receives are the body's values.
    Returns (final carries, stacked ys) as lists.
    """
    from compiler.builder import GraphBuilder

    if not xs:
        raise OpError("build_scan: at least one xs sequence is needed to fix the length")
    T = xs[0].shape[0]
    body = Graph(name)
    bb = GraphBuilder(body)
    c_args = [body.add_arg(f"c{i}", c.type) for i, c in enumerate(carries)]
    x_args = [body.add_arg(f"x{i}", TensorType(x.shape[1:], x.dtype)) for i, x in enumerate(xs)]
    p_args = [body.add_arg(f"p{i}", p.type) for i, p in enumerate(consts)]
    new_c, ys = fn(bb, c_args, x_args, p_args)
    body.outputs = list(new_c) + list(ys)
    res = b.scan(*carries, *xs, *consts, body=body, num_carry=len(carries), num_xs=len(xs),
                 length=T, reverse=reverse)
    res = list(res) if isinstance(res, tuple) else [res]
    return res[:len(carries)], res[len(carries):]
