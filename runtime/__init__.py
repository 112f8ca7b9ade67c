"""kiln's runtime: the eager interpreter, (later) executables, optimizers and data feeding."""
from runtime.eager import Interpreter, run_graph

__all__ = ["Interpreter", "run_graph"]
