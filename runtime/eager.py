"""The eager interpreter: runs a verified graph op by op with the ops' numpy references.

It is the oracle the compiler is checked against and the "eager" baseline users compare
speed with, so it is written to be fast: the schedule (slots, attributes, last uses) is
planned once per graph, each op is one vectorized numpy call, and an intermediate is
dropped as soon as its last reader has run (which also bounds peak memory, reported when
``track_memory`` is on).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from compiler.errors import InputError
from compiler.ir import dtypes
from compiler.ir.graph import Graph
from compiler.ir.verify import verify
from compiler.ops.registry import get_op


def _buffer(a: np.ndarray) -> np.ndarray:
    """The array that owns the memory ``a`` views (``a`` itself when it owns its data)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class _Step:
    __slots__ = ("node", "impl", "attrs", "ins", "outs", "types", "frees")

    def __init__(self, node, ins, outs, frees):
        opdef = get_op(node.op)
        self.node = node
        self.impl = opdef.impl
        self.attrs = node.attrs
        self.ins = ins
        self.outs = outs
        self.types = [(v.type.shape, dtypes.to_numpy(v.dtype)) for v in node.outputs]
        self.frees = frees


class Interpreter:
    """A graph planned for repeated eager execution."""

    def __init__(self, graph: Graph, check: bool = True):
        if check:
            verify(graph)
        self.graph = graph
        slot = {}
        for v in graph.values():
            slot[id(v)] = len(slot)
        self._nslots = len(slot)
        self._arg_slots = [slot[id(v)] for v in graph.args]
        self._out_slots = [slot[id(v)] for v in graph.outputs]
        keep = set(self._out_slots)
        last_use: dict[int, int] = {}
        for i, n in enumerate(graph.nodes):
            for v in n.inputs:
                last_use[slot[id(v)]] = i
        frees_at: dict[int, list[int]] = {}
        for s, i in last_use.items():
            if s not in keep:
                frees_at.setdefault(i, []).append(s)
        self._steps = []
        for i, n in enumerate(graph.nodes):
            outs = [slot[id(v)] for v in n.outputs]
            # Results nobody reads are dropped right after their node runs.
            dead = [s for s in outs if s not in last_use and s not in keep]
            self._steps.append(_Step(n, [slot[id(v)] for v in n.inputs], outs,
                                     frees_at.get(i, []) + dead))
        self.peak_bytes = 0
        self._bodies: dict[int, Interpreter] = {}

    # -- argument checking ----------------------------------------------------------------
    def _bind(self, args) -> list[np.ndarray]:
        g = self.graph
        if isinstance(args, Mapping):
            names = {v.name for v in g.args}
            unknown = sorted(set(args) - names)
            if unknown:
                raise InputError(f"graph @{g.name} has no argument(s) "
                                 f"{', '.join('%' + u for u in unknown)}; its arguments are "
                                 f"{', '.join('%' + v.name for v in g.args)}")
            missing = [v.name for v in g.args if v.name not in args]
            if missing:
                raise InputError(f"graph @{g.name}: missing argument(s) "
                                 f"{', '.join('%' + m for m in missing)}")
            values = [args[v.name] for v in g.args]
        else:
            values = list(args)
            if len(values) != len(g.args):
                raise InputError(f"graph @{g.name} takes {len(g.args)} argument(s), "
                                 f"got {len(values)}")
        out = []
        for v, a in zip(g.args, values):
            if not isinstance(a, np.ndarray):
                raise InputError(f"argument %{v.name} of @{g.name}: expected a numpy array "
                                 f"{v.type}, got {type(a).__name__}")
            want = dtypes.to_numpy(v.dtype)
            if a.dtype != want or a.shape != v.shape:
                raise InputError(f"argument %{v.name} of @{g.name}: expected {v.type}, got "
                                 f"{a.dtype} array of shape {list(a.shape)}")
            out.append(a)
        return out

    # -- execution ---------------------------------------------------------------------------
    def run(self, args: Mapping[str, np.ndarray] | Sequence[np.ndarray],
            track_memory: bool = False, observe=None) -> list[np.ndarray]:
        """Evaluate the graph; ``args`` by name or in argument order. Returns the outputs.
        ``observe(node, inputs, results)``, if given, sees every node's operands and results
        as they are made (runtime/check.py) and may return other arrays of the same types to
        continue with instead (None keeps them)."""
        env: list = [None] * self._nslots
        for s, a in zip(self._arg_slots, self._bind(args)):
            env[s] = a
        # Memory is counted per buffer: a view (reshape, broadcast_to, an op that returns its
        # operand) adds nothing, and keeps its buffer counted until the view is dropped too.
        held: dict[int, list] = {}  # id(buffer) -> [buffer, number of slots holding it]
        live = 0

        def hold(a):
            nonlocal live
            buf = _buffer(a)
            entry = held.get(id(buf))
            if entry is None:
                held[id(buf)] = [buf, 1]
                live += buf.nbytes
            else:
                entry[1] += 1

        def release(a):
            nonlocal live
            buf = _buffer(a)
            entry = held[id(buf)]
            entry[1] -= 1
            if not entry[1]:
                del held[id(buf)]
                live -= buf.nbytes

        if track_memory:
            for a in env:
                if a is not None:
                    hold(a)
        peak = live
        with np.errstate(all="ignore"):
            for st in self._steps:
                operands = [env[s] for s in st.ins]
                res = st.impl(operands, st.attrs, self)
                if not isinstance(res, (list, tuple)):
                    res = (res,)
                for s, r, (shape, dt) in zip(st.outs, res, st.types):
                    if not isinstance(r, np.ndarray):  # numpy scalars from full reductions
                        r = np.asarray(r)
                    if r.shape != shape or r.dtype != dt:
                        raise AssertionError(
                            f"reference of {st.node.describe()} returned {r.dtype}{list(r.shape)}, "
                            f"declared {dt}{list(shape)}")
                    env[s] = r
                    if track_memory:
                        hold(r)
                if observe is not None:
                    instead = observe(st.node, operands, [env[s] for s in st.outs])
                    if instead is not None:
                        for s, r in zip(st.outs, instead):
                            env[s] = r
                if track_memory:
                    peak = max(peak, live)
                for s in st.frees:
                    if track_memory and env[s] is not None:
                        release(env[s])
                    env[s] = None
        if track_memory:
            self.peak_bytes = peak
        return [env[s] for s in self._out_slots]

    def run_body(self, body: Graph, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run a subgraph (a scan body) with positional arguments; used by the scan reference."""
        interp = self._bodies.get(id(body))
        if interp is None:
            interp = self._bodies[id(body)] = Interpreter(body, check=False)
        # xs[t] of a rank-1 xs is a numpy scalar: pass it as the 0-d array it stands for
        return interp.run([a if isinstance(a, np.ndarray) else np.asarray(a) for a in args])


def run_graph(graph: Graph, args: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One-shot eager evaluation of ``graph`` (plan, check arguments, run)."""
    return Interpreter(graph).run(args)
