"""Graph IR: types, graphs, text form (printer/parser) and verifier."""
from compiler.ir.types import TensorType
from compiler.ir.graph import Graph, Node, Value
