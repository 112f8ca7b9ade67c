"""kiln's compiler: graph IR, op definitions, passes, lowering and code generation."""
from compiler import ops  # noqa: F401  (registers the op set)
from compiler.builder import GraphBuilder
from compiler.errors import (DifferentiationError, InputError, IRParseError, KilnError, OpError,
                             VerificationError)
from compiler.ir import Graph, Node, TensorType, Value

__all__ = ["GraphBuilder", "Graph", "Node", "TensorType", "Value", "KilnError", "OpError",
           "IRParseError", "VerificationError", "InputError", "DifferentiationError"]
