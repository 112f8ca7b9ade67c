"""Symbolic gradients (``tf.gradients``) on the Python-side graph.

``gradients(ys, xs)`` returns, for each x, a tensor holding ``d(sum of ys)/dx`` (weighted by
``grad_ys`` when given), as TensorFlow does. The gradient is an op of the graph like any
other: when a session lowers it, kiln's reverse-mode pass
(:func:`compiler.passes.autodiff.backprop`) appends the VJP of every kiln node between the
xs and the ys, so gradients of gradients, gradients through fed tensors and through any op
with a kiln VJP work without frontend-specific rules.

An x that no float path connects to the ys gets ``None`` (or zeros with
``unconnected_gradients="zero"``), decided on the Python graph: paths stop at integer and
boolean tensors and at ``stop_gradient``.
"""
from __future__ import annotations

from compiler.errors import OpError as KilnOpError
from compiler.passes.autodiff import backprop
from frontend.graph import array_ops
from frontend.graph.core import Tensor, convert_to_tensor, make_op

__all__ = ["gradients", "connected"]


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def connected(ys, xs) -> list[bool]:
    """For each x: is there a differentiable float path from x to some y?"""
    reached: set[int] = set()
    stack = [y for y in ys if y.dtype.is_floating]
    while stack:
        t = stack.pop()
        if t.uid in reached:
            continue
        reached.add(t.uid)
        if not t.op.differentiable:
            continue
        stack.extend(i for i in t.op.inputs if i.dtype.is_floating and i.uid not in reached)
    return [x.dtype.is_floating and x.uid in reached for x in xs]


def gradients(ys, xs, grad_ys=None, name: str = "gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients="none") -> list[Tensor | None]:
    """Symbolic ``d(sum(ys))/d(x)`` for each x in ``xs`` (a list, even for one x)."""
    if stop_gradients is not None:
        raise NotImplementedError("gradients: stop_gradients is not supported; wrap the "
                                  "tensors in tf.stop_gradient instead")
    mode = getattr(unconnected_gradients, "value", unconnected_gradients)
    if mode not in ("none", "zero"):
        raise ValueError(f"gradients: unconnected_gradients must be 'none' or 'zero', got "
                         f"{unconnected_gradients!r}")
    ys = [convert_to_tensor(y) for y in _as_list(ys)]
    xs = _as_list(xs)
    for x in xs:
        if not isinstance(x, Tensor):
            raise TypeError(f"gradients: xs must be tensors or variables, got {type(x).__name__}")
    gys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    if len(gys) != len(ys):
        raise ValueError(f"gradients: {len(ys)} ys but {len(gys)} grad_ys")
    gys = [None if g is None else convert_to_tensor(g, dtype=y.dtype) for g, y in zip(gys, ys)]
    for g, y in zip(gys, ys):
        if g is not None and not g.shape.is_compatible_with(y.shape):
            raise ValueError(f"gradients: grad_ys for {y.name} must have its shape {y.shape}, "
                             f"got {g.shape}")

    conn = connected(ys, xs)
    live = [x for x, c in zip(xs, conn) if c]
    results: list[Tensor | None] = []
    if live:
        given = [g is not None for g in gys]
        ny, nx = len(ys), len(live)

        def lower(ctx, *vals):
            b = ctx.b
            y_vals, x_vals = vals[:ny], vals[ny:ny + nx]
            g_iter = iter(vals[ny + nx:])
            outs, cts = [], []
            for y, has in zip(y_vals, given):
                ct = next(g_iter) if has else None
                if y.dtype not in ("f32", "f64"):
                    continue  # integer ys carry no gradient
                if ct is None:
                    ct = b.constant(1.0, dtype=y.dtype, shape=y.shape)
                elif ct.type != y.type:
                    raise KilnOpError(f"grad_ys entry {ct.type} must match y {y.type}")
                outs.append(y)
                cts.append(ct)
            res = backprop(b, outs, cts, list(x_vals))
            return tuple(r if r is not None else b.constant(0.0, dtype=x.dtype, shape=x.shape)
                         for r, x in zip(res, x_vals))

        op = make_op("Gradients", ys + live + [g for g in gys if g is not None], lower,
                     name=name or "gradients", num_outputs=nx,
                     specs=[(x.shape, x.dtype) for x in live])
        grads = iter(op.outputs)
    for x, c in zip(xs, conn):
        if c:
            results.append(next(grads))
        elif mode == "zero":
            results.append(array_ops.zeros_like(x))
        else:
            results.append(None)
    return results
