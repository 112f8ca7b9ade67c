"""Programs: a graph plus the persistent state it reads and updates, ready to call repeatedly.

A training step is a graph whose arguments are of two kinds: *inputs* (a batch of data, fed per
call) and *params* (weights, optimizer slots, step counters: state that outlives the call). Some
of its outputs are the new values of params (``updates``); the rest (loss, metrics,
predictions) are returned to the caller. A :class:`Program` owns the state arrays and writes the
updates back into them in place, so a frontend keeps references to them (``program.state``)
and sees the new weights after every step without copies.

The backend runs the graph: ``"eager"`` interprets it op by op with numpy (the oracle and the
baseline), ``"llvm"`` calls native code compiled from it. Both go through the same input checks
and the same state handling, so a program behaves identically whichever backend runs it.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from compiler.errors import InputError
from compiler.ir import dtypes
from compiler.ir.graph import Graph
from compiler.ir.verify import verify

BACKENDS = ("llvm", "eager")
#: The backend used when none is named: compiled, since the native runner covers the op set.
DEFAULT_BACKEND = "llvm"

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Program", "compile_program"]


def check_backend(backend: str) -> str:
    """Return ``backend`` if it names a backend, else raise a ValueError listing them."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return backend


class Program:
    """A graph bound to its state. Call it with the graph's inputs; get the non-update outputs.

    Parameters
    ----------
    graph:
        A verified graph. Its ``input`` arguments are fed per call, its ``param`` arguments are
        state held by the program.
    state:
        Value of every param, by name. An array that is already C-contiguous, aligned, writeable
        and of the declared dtype is used in place (so programs specialized for different batch
        sizes can share one set of weights); anything else is copied once, floats converted to
        the declared float dtype, other dtype mismatches are an error.
    updates:
        ``{output index: param name}``: outputs that are the new value of a param. They are
        written into the state after each call and not returned.
    backend:
        ``"llvm"`` (compiled) or ``"eager"``.
    options:
        for the backend's runner: ``source`` (the text of the graph before autodiff, kept as
        the ``graph`` stage of the compiled program's dumps), ``compile_options``
        (:class:`compiler.pipeline.CompileOptions`, llvm), ``track_memory`` (eager).
    """

    def __init__(self, graph: Graph, state: Mapping[str, np.ndarray] | None = None,
                 updates: Mapping[int, str] | None = None, backend: str | None = None,
                 **options):
        verify(graph)
        self.graph = graph
        self.backend = check_backend(backend or DEFAULT_BACKEND)
        state = dict(state or {})
        params = {v.name: v for v in graph.params}
        unknown = sorted(set(state) - set(params))
        if unknown:
            raise InputError(f"program @{graph.name}: state given for unknown param(s) "
                             f"{', '.join(unknown)}; params are {', '.join(params) or 'none'}")
        missing = sorted(set(params) - set(state))
        if missing:
            raise InputError(f"program @{graph.name}: no initial value for param(s) "
                             f"{', '.join(missing)}")
        self.state: dict[str, np.ndarray] = {}
        for name, v in params.items():
            self.state[name] = _as_state(graph.name, v, state[name])
        self.updates = dict(updates or {})
        for idx, name in self.updates.items():
            if not 0 <= idx < len(graph.outputs):
                raise InputError(f"program @{graph.name}: update index {idx} out of range "
                                 f"(the graph has {len(graph.outputs)} outputs)")
            if name not in params:
                raise InputError(f"program @{graph.name}: update target {name!r} is not a param")
            if graph.outputs[idx].type != params[name].type:
                raise InputError(f"program @{graph.name}: output {idx} "
                                 f"({graph.outputs[idx].type}) cannot update param %{name} "
                                 f"({params[name].type})")
        self.input_names = [v.name for v in graph.inputs]
        self.result_indices = [i for i in range(len(graph.outputs)) if i not in self.updates]
        self._runner = _make_runner(self, options)
        if self.profile() is not None and os.environ.get("KILN_DEBUG", "0").strip() == "2":
            from runtime.profile import report_at_exit

            report_at_exit(self)

    @property
    def compiled(self):
        """The :class:`~compiler.pipeline.CompiledProgram` behind an ``"llvm"`` program (kernel
        program, stages, pass timings, cache event); None for the eager backend."""
        return getattr(self._runner, "compiled", None)

    def profile(self) -> list | None:
        """Per-kernel run times (:class:`runtime.profile.KernelTime`) of a program compiled
        with profiling (``compile_options=CompileOptions(profile=True)`` or ``KILN_DEBUG=2``);
        None otherwise (and always for the eager backend)."""
        fn = getattr(self._runner, "profile", None)
        return fn() if fn is not None else None

    def reset_profile(self) -> None:
        """Zero the per-kernel counts (e.g. after warm-up calls)."""
        fn = getattr(self._runner, "reset_profile", None)
        if fn is not None:
            fn()

    @property
    def team(self):
        """The :class:`runtime.threads.TeamControl` of a program compiled for several threads
        (its run-time team size and policy); None when serial or eager."""
        return getattr(self._runner, "team", None)

    @property
    def peak_bytes(self) -> int:
        """Peak bytes of intermediates in the last call (eager: measured when tracked)."""
        return self._runner.peak_bytes

    def __call__(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray] = ()
                 ) -> list[np.ndarray]:
        """Run one step; returns the outputs that are not state updates, in graph order."""
        if not isinstance(inputs, Mapping):
            inputs = list(inputs)
            if len(inputs) != len(self.input_names):
                raise InputError(f"program @{self.graph.name} takes {len(self.input_names)} "
                                 f"input(s) ({', '.join(self.input_names)}), got {len(inputs)}")
            inputs = dict(zip(self.input_names, inputs))
        return self._runner.run(inputs)


def _as_state(graph_name: str, v, value) -> np.ndarray:
    want = dtypes.to_numpy(v.dtype)
    arr = np.asarray(value)
    if arr.dtype != want and not (np.issubdtype(arr.dtype, np.floating)
                                  and np.issubdtype(want, np.floating)):
        raise InputError(f"program @{graph_name}: param %{v.name} expects {v.type}, got "
                         f"{arr.dtype} values")
    if arr.shape != v.shape:
        raise InputError(f"program @{graph_name}: param %{v.name} expects {v.type}, got shape "
                         f"{list(arr.shape)}")
    if arr is value and arr.dtype == want and arr.flags.c_contiguous and arr.flags.writeable \
            and arr.flags.aligned:
        return arr  # shared: several programs (one per batch size) update the same arrays
    return np.array(arr, dtype=want, order="C", copy=True)


class _EagerRunner:
    def __init__(self, program: Program, options: dict):
        from runtime.eager import Interpreter

        self.program = program
        self.track_memory = bool(options.pop("track_memory", False))
        options.pop("source", None)   # only compiled programs keep stage texts
        if options:
            raise TypeError(f"eager backend: unknown option(s) {', '.join(options)}")
        self.interp = Interpreter(program.graph, check=False)
        self.peak_bytes = 0

    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        p = self.program
        args = dict(p.state)
        unknown = sorted(set(inputs) - set(p.input_names))
        if unknown:
            raise InputError(f"program @{p.graph.name} has no input(s) {', '.join(unknown)}; "
                             f"its inputs are {', '.join(p.input_names)}")
        args.update(inputs)
        outs = self.interp.run(args, track_memory=self.track_memory)
        self.peak_bytes = self.interp.peak_bytes
        results = [outs[i] for i in p.result_indices]
        # A result may be (a view of) a param the updates below overwrite: hand out a copy so
        # that it keeps the value it had in this step, as the compiled runner's results do.
        state = list(p.state.values())
        results = [r.copy() if any(np.may_share_memory(r, s) for s in state) else r
                   for r in results]
        for idx, name in p.updates.items():
            np.copyto(p.state[name], outs[idx])
        return results


def _make_runner(program: Program, options: dict):
    if program.backend == "eager":
        return _EagerRunner(program, options)
    from runtime.executable import NativeRunner  # the compiled backend (imports LLVM)

    return NativeRunner(program, options)


def compile_program(graph: Graph, state: Mapping[str, np.ndarray] | None = None,
                    updates: Mapping[int, str] | None = None, backend: str | None = None,
                    **options) -> Program:
    """Bind ``graph`` to its state and prepare it to run on ``backend`` (see :class:`Program`)."""
    return Program(graph, state=state, updates=updates, backend=backend, **options)
