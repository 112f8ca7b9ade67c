"""kiln's runtime: programs (a graph bound to its state) run by the eager interpreter or by
compiled native code, and the optimizers whose updates are graph ops."""
from runtime.eager import Interpreter, run_graph
from runtime.program import BACKENDS, Program, compile_program

__all__ = ["Interpreter", "run_graph", "Program", "compile_program", "BACKENDS"]
