"""Sessions: run parts of a graph-API graph as kiln programs, holding the variables' values.

``sess.run(fetches, feed_dict)`` works in three steps:

1. **Plan** (cached by which tensors are fetched and fed): walk back from the fetches to
   the ops they need, stopping at fed tensors. A needed placeholder that is not fed is an
   error naming it.
2. **Build** (cached by the plan plus the concrete shapes and dtypes fed, and by which
   written variables are initialized yet): lower exactly those ops into one kiln graph whose
   inputs are the fed tensors (with their concrete shapes: kiln compiles static shapes, so an
   unknown batch dimension gives one specialization per batch size), whose params are the
   variables read or written, the optimizer slots and the random-op step counter, and whose
   outputs are the fetched values followed by the new values of written params. That graph
   becomes a :class:`runtime.program.Program` on the session's backend, sharing the session's
   state arrays, which it updates in place.
3. **Run**: check that every variable read is initialized, call the program, store the values
   of newly initialized variables, return the fetches in the structure given.

The backend is ``Session(backend=...)``, else :data:`runtime.program.DEFAULT_BACKEND` when the
session is created.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.builder import GraphBuilder
from compiler.errors import InputError
from compiler.errors import OpError as KilnOpError
from compiler.ir.graph import INPUT, PARAM, Value
from compiler.ir.types import TensorType
from frontend.graph.core import Graph, Operation, Tensor, as_values, get_default_graph
from frontend.graph.errors import FailedPreconditionError, InvalidArgumentError
from frontend.graph.lowering import LowerContext, NotStatic
from frontend.graph.variables import Variable
from runtime import program as _program

__all__ = ["Session", "InteractiveSession", "get_default_session"]

_default_sessions: list["Session"] = []


def get_default_session() -> "Session | None":
    """The innermost session entered with ``with sess:`` / ``sess.as_default()``."""
    return _default_sessions[-1] if _default_sessions else None


def _session_for(session, what: str) -> "Session":
    s = session if session is not None else get_default_session()
    if s is None:
        raise ValueError(f"cannot evaluate {what}: no session given and no default session "
                         f"is registered (use `with tf.Session() as sess:` or pass "
                         f"session=sess)")
    return s


def kiln_name(name: str) -> str:
    """A graph-API name as a kiln value name ('dense/kernel' -> 'dense.kernel')."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", name.replace("/", ".")) or "t"


def _shape_str(t: Tensor) -> str:
    return "unknown" if t.shape.dims is None else \
        "[" + ", ".join("?" if d is None else str(d) for d in t.shape.dims) + "]"


# -- fetch structures ---------------------------------------------------------------------------
def _flatten(fetches, graph: Graph, out: list) -> Any:
    """Collect the leaves of ``fetches`` into ``out``; return a template to rebuild it."""
    if isinstance(fetches, (Tensor, Operation)):
        if fetches.graph is not graph:
            raise ValueError(f"fetch {fetches!r} belongs to another graph than this session's")
        out.append(fetches)
        return len(out) - 1
    if isinstance(fetches, str):
        leaf = graph.get_tensor_by_name(fetches) if ":" in fetches \
            else graph.get_operation_by_name(fetches)
        out.append(leaf)
        return len(out) - 1
    if isinstance(fetches, Mapping):
        return (type(fetches), [(k, _flatten(v, graph, out)) for k, v in fetches.items()])
    if isinstance(fetches, tuple) and hasattr(fetches, "_fields"):
        return ("namedtuple", type(fetches), [_flatten(v, graph, out) for v in fetches])
    if isinstance(fetches, (list, tuple)):
        return (type(fetches), [_flatten(v, graph, out) for v in fetches])
    raise TypeError(f"fetch argument {fetches!r} has invalid type {type(fetches).__name__}; "
                    f"expected a tensor, an operation, a tensor/op name, or a list, tuple or "
                    f"dict of them")


def _rebuild(template, values: list):
    if isinstance(template, int):
        return values[template]
    if template[0] == "namedtuple":
        return template[1](*[_rebuild(t, values) for t in template[2]])
    kind, items = template
    if issubclass(kind, Mapping):
        pairs = [(k, _rebuild(t, values)) for k, t in items]
        try:
            return kind(pairs)
        except TypeError:  # e.g. defaultdict: needs a factory
            return dict(pairs)
    return kind(_rebuild(t, values) for t in items)


# -- feeds ------------------------------------------------------------------------------------------
def feed_array(t: Tensor, value, exact_shape: bool = False) -> np.ndarray:
    """``value`` converted for tensor ``t``, or an InvalidArgumentError saying expected vs got."""
    if isinstance(value, (Tensor, Operation)):
        raise TypeError(f"the value fed for {t.name} is a symbolic {type(value).__name__}; "
                        f"feed values must be numbers, lists or numpy arrays (run the tensor "
                        f"first to get its value)")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"cannot feed {t.name}: {e}") from None
    want, kind = t.dtype, arr.dtype.kind
    ok = (kind in "fiu" if want.is_floating else
          kind in "iu" or (kind == "f" and arr.size > 0 and np.all(arr == np.round(arr)))
          if want.is_integer else kind == "b")
    if not ok or (want.is_integer and kind == "f" and arr.size == 0):
        raise InvalidArgumentError(f"cannot feed {arr.dtype} values for {t.name}, which has "
                                   f"dtype {want.name}")
    if want.is_integer and arr.size:
        info = np.iinfo(want.as_numpy_dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise InvalidArgumentError(f"cannot feed {t.name} ({want.name}): values out of range "
                                       f"[{info.min}, {info.max}]")
    arr = np.asarray(arr, dtype=want.as_numpy_dtype, order="C")  # 0-d stays 0-d
    ok_shape = arr.shape == tuple(t.shape.dims) if exact_shape else \
        t.shape.is_compatible_with(arr.shape)
    if not ok_shape:
        raise InvalidArgumentError(f"cannot feed a value of shape {list(arr.shape)} for "
                                   f"{t.name}, which has shape {_shape_str(t)}")
    return arr


# -- plans (what a set of fetches needs) -----------------------------------------------------------
class _Plan:
    """Ops needed by some fetches given some fed tensors, in dependency order."""

    def __init__(self, fetches: list, fed: list[Tensor]):
        fed_ids = {t.uid for t in fed}
        self.fed = fed
        self.ops: list[Operation] = []
        done: set[int] = set()
        roots = [f if isinstance(f, Operation) else f.op for f in fetches
                 if isinstance(f, Operation) or f.uid not in fed_ids]
        for root in roots:  # iterative post-order DFS: graphs may be deep
            if root.uid in done:
                continue
            stack = [(root, iter(self._deps(root, fed_ids)))]
            on_stack = {root.uid}
            while stack:
                op, it = stack[-1]
                nxt = next((d for d in it if d.uid not in done), None)
                if nxt is None:
                    stack.pop()
                    on_stack.discard(op.uid)
                    done.add(op.uid)
                    self.ops.append(op)
                elif nxt.uid not in on_stack:
                    on_stack.add(nxt.uid)
                    stack.append((nxt, iter(self._deps(nxt, fed_ids))))
        missing = [op for op in self.ops if op.type == "Placeholder"]
        if missing:
            desc = "; ".join(f"'{op.name}' with dtype {op.outputs[0].dtype.name} and shape "
                             f"{_shape_str(op.outputs[0])}" for op in missing)
            raise InvalidArgumentError(f"you must feed a value for placeholder tensor(s) {desc}")
        self.reads = [op.outputs[0] for op in self.ops if op.type == "VariableV2"]
        writes: dict[int, Variable] = {}
        for op in self.ops:
            for v in op.writes:
                writes.setdefault(v.uid, v)
        self.writes = list(writes.values())

    @staticmethod
    def _deps(op: Operation, fed_ids: set[int]) -> list[Operation]:
        return [t.op for t in op.inputs if t.uid not in fed_ids] + list(op.control_inputs)


# -- building a program -----------------------------------------------------------------------------
class _RunContext(LowerContext):
    """Lowering context of one kiln program: variables as params, writes as updates."""

    def __init__(self, session: "Session", b: GraphBuilder):
        super().__init__(b)
        self.session = session
        self.var_params: dict[int, Value] = {}
        self.sources: dict[str, tuple] = {}      # param name -> where its state lives
        self.updates: list[tuple[Value, Value]] = []
        self.init_writes: list[tuple[Variable, Value]] = []
        self._writers: dict[object, Operation] = {}
        self._step: Value | None = None

    def rng_step(self) -> Value:
        if self._step is None:
            self._step = self.b.graph.add_arg("rng_step", TensorType((), "i64"), PARAM,
                                              exact=False)
            self.sources[self._step.name] = ("rng",)
        return self._step

    def read_variable(self, var: Variable) -> Value:
        p = self.var_params.get(var.uid)
        if p is None:
            p = self.b.graph.add_arg(kiln_name(var.op.name),
                                     TensorType(tuple(var.shape.dims), var.dtype.kiln), PARAM,
                                     exact=False)
            self.var_params[var.uid] = p
            self.sources[p.name] = ("var", var)
        return p

    def _claim(self, key, what: str, op: Operation) -> None:
        prev = self._writers.get(key)
        if prev is not None:
            raise InvalidArgumentError(f"{what} is written twice in one run: by {prev.describe()} "
                                       f"and by {op.describe()}; run them separately")
        self._writers[key] = op

    def write_variable(self, var: Variable, new: Value, op: Operation) -> None:
        want = TensorType(tuple(var.shape.dims), var.dtype.kiln)
        if new.type != want:
            raise InvalidArgumentError(f"{op.describe()}: cannot write a {new.type} value into "
                                       f"variable '{var.op.name}' of type {want}")
        self._claim(("var", var.uid), f"variable '{var.op.name}'", op)
        if var.uid in self.session._values:
            self.updates.append((self.read_variable(var), new))
        else:
            self.init_writes.append((var, new))

    def write_param(self, param: Value, new: Value, op: Operation) -> None:
        src = self.sources.get(param.name)
        if src and src[0] == "var":
            self.write_variable(src[1], new, op)
            return
        self._claim(("param", param.name), f"state %{param.name}", op)
        self.updates.append((param, new))

    def register_slots(self, op: Operation, initial_state: Mapping[str, np.ndarray]) -> None:
        """Optimizer slots created by ``op``'s update: kept by the session per training op."""
        for name, arr in initial_state.items():
            key = (op.uid, name)
            have = self.session._slots.get(key)
            if have is None or have.shape != arr.shape or have.dtype != arr.dtype:
                # keep the optimizer's own array (it may update e.g. its learning rate in place)
                self.session._slots[key] = arr if arr.flags.c_contiguous and arr.flags.writeable \
                    else np.array(arr, order="C", copy=True)
            self.sources[name] = ("slot", key)


class _Compiled:
    """One specialization: the program and where each fetch comes from."""

    def __init__(self, session: "Session", plan: _Plan, fetches: list,
                 feeds: dict[Tensor, np.ndarray]):
        b = GraphBuilder(name="session_run")
        ctx = _RunContext(session, b)
        env: dict[int, Value] = {}
        self.input_names: list[tuple[str, Tensor]] = []
        for t in plan.fed:
            v = b.graph.add_arg(kiln_name(t.op.name if t.value_index == 0 else t.name),
                                TensorType(feeds[t].shape, t.dtype.kiln), INPUT, exact=False)
            env[t.uid] = v
            self.input_names.append((v.name, t))
        for op in plan.ops:
            vals = [env[t.uid] for t in op.inputs]
            with b.location(op.location):
                try:
                    outs = as_values(op.lower(ctx, *vals)) if op.lower is not None else ()
                except (KilnOpError, NotStatic) as e:
                    raise InvalidArgumentError(f"{op.describe()}: {e}") from None
            if len(outs) != len(op.outputs):
                raise AssertionError(f"internal: lowering of {op.describe()} gave {len(outs)} "
                                     f"values for {len(op.outputs)} outputs")
            for t, v in zip(op.outputs, outs):
                env.setdefault(t.uid, v)
        if ctx._step is not None:
            ctx.write_param(ctx._step, b.add(ctx._step, 1), plan.ops[-1])

        # Fetches: computed values become outputs; params and inputs are read directly.
        results: list[Value] = []
        index: dict[int, int] = {}
        self.sources: list[tuple] = []
        for f in fetches:
            if isinstance(f, Operation):
                self.sources.append(("none",))
                continue
            v = env[f.uid]
            if v.kind == PARAM:
                self.sources.append(("state", v.name))
            elif v.kind == INPUT:
                self.sources.append(("feed", f))
            else:
                if id(v) not in index:
                    index[id(v)] = len(results)
                    results.append(v)
                self.sources.append(("out", index[id(v)]))
        self.init_outputs = []
        for var, v in ctx.init_writes:
            self.init_outputs.append((len(results), var))
            results.append(v)
        updates = {len(results) + i: p.name for i, (p, _) in enumerate(ctx.updates)}
        outputs = results + [new for _, new in ctx.updates]
        state = {}
        for p in b.graph.params:
            src = ctx.sources[p.name]
            state[p.name] = (session._values[src[1].uid] if src[0] == "var" else
                             session._slots[src[1]] if src[0] == "slot" else session._rng)
        self.state = state
        self.program = None
        if not outputs:
            return
        b.output(*outputs)
        self.program = _program.Program(b.graph, state=state, updates=updates,
                                        backend=session.backend)
        for name, arr in state.items():
            if self.program.state[name] is not arr:
                raise AssertionError(f"internal: the program copied state %{name} instead of "
                                     f"sharing the session's array")

    def run(self, session: "Session", feeds: dict[Tensor, np.ndarray]) -> list:
        program = self.program
        before = {}
        for src in self.sources:
            if src[0] == "state":
                before[src[1]] = self.state[src[1]].copy()
        results = []
        if program is not None:
            try:
                results = program({name: feeds[t] for name, t in self.input_names})
            except InputError as e:
                raise InvalidArgumentError(str(e)) from e
            # The eager runner may return a view of an input (a reshape of a fed batch),
            # which is the caller's own array: copy it so the fetch keeps its value. (Views
            # of state are copied by the Program itself.)
            fed = list(feeds.values())
            results = [np.array(r, copy=True) if any(np.may_share_memory(r, s) for s in fed)
                       else r for r in results]
        for idx, var in self.init_outputs:
            session._store(var, results[idx])
        out = []
        for src in self.sources:
            kind = src[0]
            if kind == "none":
                out.append(None)
            elif kind == "out":
                out.append(results[src[1]])
            elif kind == "feed":
                out.append(np.array(feeds[src[1]], copy=True))
            else:
                out.append(before[src[1]])
        return out


# -- sessions ---------------------------------------------------------------------------------
class Session:
    """Runs graph-API graphs and holds the values of their variables.

    ``Session(graph=None, backend=None)``: the graph defaults to the default graph when the
    session is created; the backend to :data:`runtime.program.DEFAULT_BACKEND`. ``target`` and
    ``config`` are accepted for compatibility and ignored.
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config=None, *,
                 backend: str | None = None):
        self.graph = graph if graph is not None else get_default_graph()
        if not isinstance(self.graph, Graph):
            raise TypeError(f"Session: graph must be a graph-API Graph, got "
                            f"{type(self.graph).__name__}")
        self.backend = _program.check_backend(backend or _program.DEFAULT_BACKEND)
        self._values: dict[int, np.ndarray] = {}
        self._slots: dict[tuple, np.ndarray] = {}
        self._rng = np.zeros((), np.int64)
        self._plans: dict[tuple, _Plan] = {}
        self._compiled: dict[tuple, _Compiled] = {}
        self._closed = False
        self._default_ctx = []

    # -- running ----------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Compute ``fetches`` (a tensor, op, name, or a list/tuple/dict nesting of them) with
        ``feed_dict`` values for placeholders (or any other tensors). Ops give None."""
        template, feeds, compiled = self._prepare(fetches, feed_dict)
        return _rebuild(template, compiled.run(self, feeds))

    def kiln_program(self, fetches, feed_dict=None) -> "_program.Program | None":
        """The kiln :class:`~runtime.program.Program` that ``run(fetches, feed_dict)`` calls
        (None when nothing needs computing), built and cached exactly as ``run`` would.
        ``print(sess.kiln_program(loss, feed).graph)`` shows the kiln IR."""
        return self._prepare(fetches, feed_dict)[2].program

    def _prepare(self, fetches, feed_dict):
        if self._closed:
            raise RuntimeError("attempted to use a closed Session")
        leaves: list = []
        template = _flatten(fetches, self.graph, leaves)
        feeds = self._feeds(feed_dict)
        fed = sorted(feeds, key=lambda t: t.uid)
        key = (tuple(x.uid for x in leaves), tuple(t.uid for t in fed))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan(leaves, fed)
        missing = [v for v in plan.reads if v.uid not in self._values]
        if missing:
            names = ", ".join(v.op.name for v in missing)
            raise FailedPreconditionError(f"attempting to use uninitialized value(s) {names}; "
                                          f"run tf.global_variables_initializer() (or the "
                                          f"variables' initializers) in this session first")
        key2 = (key, tuple((feeds[t].shape, feeds[t].dtype.str) for t in fed),
                tuple(v.uid in self._values for v in plan.writes))
        compiled = self._compiled.get(key2)
        if compiled is None:
            compiled = self._compiled[key2] = _Compiled(self, plan, leaves, feeds)
        return template, feeds, compiled

    def _feeds(self, feed_dict) -> dict[Tensor, np.ndarray]:
        feeds: dict[Tensor, np.ndarray] = {}
        if feed_dict is None:
            return feeds
        if not isinstance(feed_dict, Mapping):
            raise TypeError(f"feed_dict must be a dict, got {type(feed_dict).__name__}")
        for key, value in feed_dict.items():
            t = key
            if isinstance(key, str):
                t = self.graph.get_tensor_by_name(key if ":" in key else key + ":0")
            if not isinstance(t, Tensor):
                raise TypeError(f"feed_dict key {key!r} is not a tensor (feed placeholders or "
                                f"other tensors of the graph)")
            if t.graph is not self.graph:
                raise ValueError(f"cannot feed {t.name}: it belongs to another graph than this "
                                 f"session's")
            if t in feeds:
                raise ValueError(f"{t.name} is fed twice in one feed_dict")
            feeds[t] = feed_array(t, value)
        return feeds

    # -- state ------------------------------------------------------------------------------------
    def _store(self, var: Variable, value: np.ndarray) -> None:
        have = self._values.get(var.uid)
        if have is None:
            self._values[var.uid] = np.array(value, dtype=var.dtype.as_numpy_dtype, order="C",
                                             copy=True)
        else:
            np.copyto(have, value)  # in place: compiled programs hold this array

    def load_variable(self, var: Variable, value) -> None:
        """Set ``var``'s value in this session (``Variable.load``)."""
        if var.graph is not self.graph:
            raise ValueError(f"variable {var.op.name} belongs to another graph than this "
                             f"session's")
        self._store(var, feed_array(var, value, exact_shape=True))

    # -- lifetime and default session -----------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the variables' values and compiled programs."""
        self._closed = True
        self._values.clear()
        self._slots.clear()
        self._plans.clear()
        self._compiled.clear()

    def as_default(self):
        """``with sess.as_default():`` makes ``tensor.eval()`` and ``op.run()`` use this session."""
        return _DefaultSession(self)

    def __enter__(self) -> "Session":
        _default_sessions.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if _default_sessions and _default_sessions[-1] is self:
            _default_sessions.pop()
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._values)} variable(s) initialized"
        return f"<Session backend={self.backend!r} {state}>"


class _DefaultSession:
    def __init__(self, session: Session):
        self.session = session

    def __enter__(self) -> Session:
        _default_sessions.append(self.session)
        return self.session

    def __exit__(self, *exc) -> None:
        if _default_sessions and _default_sessions[-1] is self.session:
            _default_sessions.pop()


class InteractiveSession(Session):
    """A session that makes itself the default session on creation (for notebooks)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config=None, *,
                 backend: str | None = None):
        super().__init__(target, graph, config, backend=backend)
        _default_sessions.append(self)

    def close(self) -> None:
        if self in _default_sessions:
            _default_sessions.remove(self)
        super().close()
