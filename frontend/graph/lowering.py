"""What an op's lowering function receives: the builder and the services of the run.

``lower(ctx, *values)`` builds an op from kiln values through ``ctx.b``. Beyond the builder
it may need the per-run random counter (:meth:`LowerContext.rng_step`) or the value of a
small integer tensor at build time (:meth:`LowerContext.static_value`: a shape given as a
tensor, ``tf.reshape(x, tf.shape(y))``), which is known when that tensor only depends on
constants (``tf.shape`` lowers to a constant once shapes are concrete).
"""
from __future__ import annotations

import numpy as np

from compiler.builder import GraphBuilder
from compiler.ir.graph import NODE, Value
from compiler.ops.registry import get_op

__all__ = ["LowerContext", "NotStatic", "const_eval"]


class NotStatic(Exception):
    """A value needed while building the kiln graph depends on data known only at run time."""


class LowerContext:
    """Base lowering context: a builder and constant evaluation."""

    def __init__(self, b: GraphBuilder):
        self.b = b

    def rng_step(self) -> Value:
        """The i64 scalar step counter that random ops read (advanced once per run)."""
        raise NotImplementedError

    def static_value(self, v: Value, what: str) -> np.ndarray:
        """The value of ``v`` if it can be computed from constants alone, else NotStatic."""
        out = const_eval(v)
        if out is None:
            raise NotStatic(f"{what} must be computable before the graph runs (from constants "
                            f"and static shapes such as tf.shape(x)), but %{v.name} depends on "
                            f"fed or variable data")
        return out


_SIZE_LIMIT = 1 << 16  # constant folding is for shapes and small index vectors only


def const_eval(v: Value, _memo: dict | None = None) -> np.ndarray | None:
    """Evaluate ``v`` with the ops' numpy references if only constants feed it, else None."""
    memo = {} if _memo is None else _memo
    if id(v) in memo:
        return memo[id(v)]
    result = None
    node = v.producer
    if v.kind == NODE and node is not None and v.type.size <= _SIZE_LIMIT \
            and not any(hasattr(a, "nodes") for a in node.attrs.values()):
        ins = [const_eval(x, memo) for x in node.inputs]
        if all(x is not None for x in ins) and node.op not in ("random_uniform", "random_normal"):
            result = np.asarray(get_op(node.op).evaluate(ins, node.attrs)[v.index])
    memo[id(v)] = result
    return result
