"""kiln's op set. Importing this package registers every op (see :mod:`compiler.ops.registry`)."""
from compiler.ops.registry import Attr, NotDifferentiable, OpDef, all_ops, get_op, has_op, register
from compiler.ops import (  # noqa: F401  (imported for registration)
    constant, elementwise, activations, reductions, shape, linalg, indexing, conv, pooling,
    random, scan,
)

__all__ = ["Attr", "NotDifferentiable", "OpDef", "all_ops", "get_op", "has_op", "register"]
