"""Helpers that check one op: run its reference, check its VJP against finite differences
and against torch.autograd.

The scalar used for gradient checks is ``loss = sum_i sum(out_i * R_i)`` with fixed random
R_i, so every element of every output's cotangent is exercised (not just all-ones).
"""
from __future__ import annotations

import numpy as np

from compiler import GraphBuilder
from compiler.ir import dtypes
from compiler.ir.verify import verify
from compiler.passes.autodiff import gradients
from runtime.eager import Interpreter


def _build(opname, arrays, attrs):
    b = GraphBuilder(name=opname)
    ins = [b.input(f"a{i}", a.shape, dtypes.from_numpy(a.dtype)) for i, a in enumerate(arrays)]
    out = b.op(opname, *ins, **attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    return b, ins, outs


def run_op(opname: str, arrays: list[np.ndarray], attrs: dict | None = None) -> list[np.ndarray]:
    """Evaluate one op through a one-node graph in the eager interpreter."""
    b, ins, outs = _build(opname, arrays, attrs or {})
    b.output(*outs)
    return Interpreter(b.graph).run(arrays)


def cotangent_weights(outs, seed: int) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed + 1000)
    return [rng.normal(size=v.shape).astype(dtypes.to_numpy(v.dtype))
            if dtypes.is_float(v.dtype) else None for v in outs]


def _loss_graph(opname, arrays, attrs, seed):
    b, ins, outs = _build(opname, arrays, attrs)
    weights = cotangent_weights(outs, seed)
    terms = [b.sum(b.mul(o, b.constant(w))) for o, w in zip(outs, weights) if w is not None]
    loss = terms[0]
    for t in terms[1:]:
        loss = b.add(loss, t)
    return b, ins, loss, weights


def analytic_grads(opname, arrays, attrs, wrt, seed=0):
    b, ins, loss, weights = _loss_graph(opname, arrays, attrs, seed)
    grads = gradients(b.graph, loss, [ins[i] for i in wrt])
    b.graph.outputs = [loss] + grads
    verify(b.graph)
    res = Interpreter(b.graph).run(arrays)
    return res[0], res[1:], weights


def numeric_grads(opname, arrays, attrs, wrt, seed=0, eps=1e-6):
    b, ins, loss, _ = _loss_graph(opname, arrays, attrs, seed)
    b.graph.outputs = [loss]
    interp = Interpreter(b.graph)

    def f(args):
        return float(interp.run(args)[0])

    out = []
    for i in wrt:
        g = np.zeros_like(arrays[i])
        for idx in np.ndindex(arrays[i].shape):
            args = list(arrays)
            plus, minus = arrays[i].copy(), arrays[i].copy()
            plus[idx] += eps
            minus[idx] -= eps
            args[i] = plus
            fp = f(args)
            args[i] = minus
            g[idx] = (fp - f(args)) / (2 * eps)
        out.append(g)
    return out


def float_inputs(arrays) -> list[int]:
    return [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]


def check_grad(opname, arrays, attrs=None, wrt=None, seed=0, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Assert the op's VJP matches central finite differences (float64 inputs)."""
    attrs = attrs or {}
    wrt = float_inputs(arrays) if wrt is None else wrt
    _, analytic, _ = analytic_grads(opname, arrays, attrs, wrt, seed)
    numeric = numeric_grads(opname, arrays, attrs, wrt, seed, eps)
    for i, a, n in zip(wrt, analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol,
                                   err_msg=f"{opname}: gradient of operand {i}")
    return analytic


def check_torch(opname, arrays, attrs, torch_fn, seed=0, rtol=1e-7, atol=1e-9, grad=True):
    """Assert forward outputs and (if ``grad``) the VJP agree with torch.autograd (float64)."""
    import torch

    attrs = attrs or {}
    ours = run_op(opname, arrays, attrs)
    tens = [torch.tensor(a, requires_grad=(grad and a.dtype.kind == "f")) for a in arrays]
    theirs = torch_fn(*tens)
    theirs = list(theirs) if isinstance(theirs, (tuple, list)) else [theirs]
    assert len(theirs) == len(ours)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{opname}: forward vs torch")
    if not grad:
        return
    wrt = float_inputs(arrays)
    _, analytic, weights = analytic_grads(opname, arrays, attrs, wrt, seed)
    loss = sum((t * torch.tensor(w)).sum() for t, w in zip(theirs, weights) if w is not None)
    loss.backward()
    for i, a in zip(wrt, analytic):
        tg = tens[i].grad
        expected = np.zeros_like(arrays[i]) if tg is None else tg.numpy()
        np.testing.assert_allclose(a, expected, rtol=rtol * 10, atol=atol * 10,
                                   err_msg=f"{opname}: gradient of operand {i} vs torch")


def forward_and_grad_graph(opname: str, arrays, attrs=None, seed: int = 0):
    """A graph with the op's outputs and, when it is differentiable in some float operand, the
    gradients of ``sum(out * R)`` with respect to those operands (the VJP's ops compiled too)."""
    from compiler.ops import get_op

    attrs = attrs or {}
    b, ins, loss, _ = _loss_graph(opname, arrays, attrs, seed) if (
        get_op(opname).differentiable and float_inputs(arrays)
        and any(dtypes.is_float(o.dtype) for o in _build(opname, arrays, attrs)[2])) \
        else (None, None, None, None)
    if b is None:
        b, ins, outs = _build(opname, arrays, attrs)
        b.output(*outs)
        return b.graph
    outs = [n for n in b.graph.nodes if n.op == opname][0].outputs
    grads = gradients(b.graph, loss, [ins[i] for i in float_inputs(arrays)])
    b.graph.outputs = list(outs) + grads
    verify(b.graph)
    return b.graph


def check_compiled(graph, arrays, rtol: float, atol: float, label: str = "") -> None:
    """Run ``graph`` eagerly and compiled (llvm backend) on ``arrays``; assert they agree."""
    from runtime.program import Program

    expected = Interpreter(graph).run(arrays)
    got = Program(graph, backend="llvm")(list(arrays))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == e.dtype and g.shape == e.shape, (label, i, g.dtype, e.dtype)
        if g.dtype.kind in "biu":
            np.testing.assert_array_equal(g, e, err_msg=f"{label}: output {i}")
        else:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"{label}: output {i} compiled vs eager")
