"""matmul: 2-D and batched, batch dimensions broadcast as in numpy.matmul."""
from __future__ import annotations

import numpy as np

from compiler.errors import OpError
from compiler.ir.types import TensorType
from compiler.ops._util import NUMERIC, broadcast_shapes, same_dtype, unbroadcast
from compiler.ops.registry import OpDef, register


def _matmul_infer(ts, a):
    x, y = ts
    same_dtype("matmul", ts, NUMERIC)
    if x.rank < 2 or y.rank < 2:
        raise OpError(f"matmul: operands must have rank >= 2, got {x} and {y} "
                      f"(reshape vectors to [1,n] or [n,1])")
    if x.shape[-1] != y.shape[-2]:
        raise OpError(f"matmul: contraction dimensions differ: {x} has {x.shape[-1]} columns, "
                      f"{y} has {y.shape[-2]} rows")
    batch = broadcast_shapes("matmul (batch dimensions)",
                             [TensorType(x.shape[:-2], x.dtype), TensorType(y.shape[:-2], y.dtype)])
    return [TensorType(batch + (x.shape[-2], y.shape[-1]), x.dtype)]


def _swap_last(b, v):
    perm = list(range(v.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return b.transpose(v, perm=perm)


def _matmul_vjp(b, node, cts):
    x, y = node.inputs
    g = cts[0]
    gx = unbroadcast(b, b.matmul(g, _swap_last(b, y)), x.shape)
    gy = unbroadcast(b, b.matmul(_swap_last(b, x), g), y.shape)
    return [gx, gy]


register(OpDef("matmul", "contraction", _matmul_infer,
               lambda xs, a, c: np.matmul(xs[0], xs[1]), _matmul_vjp, num_inputs=2,
               doc="[..., m, k] @ [..., k, n] -> [..., m, n]"))
