"""Running symbolic code on concrete numpy arrays, once.

Layers, activations, losses and metrics are written once, as graph-building code on
:class:`~frontend.layers.tracing.Tensor` s. When a user calls one on numpy arrays
(``Dense(3)(x)``, ``keras.activations.relu(x)``, ``keras.losses.MeanSquaredError()(a, b)``)
these helpers build a one-off graph from the arrays' shapes, run it through a
:class:`runtime.program.Program` on the eager backend, and return numpy arrays: the
same ops, so eager calls and compiled models cannot disagree. (A one-off call would spend
far longer compiling than running, so it never goes through LLVM.)

Conversion of arrays (:func:`as_input_array`): floats become float32 (kiln's layers
compute in float32); integer and boolean arrays keep integer types (int64 stays int64,
smaller or unsigned integers become int32, bool stays bool); Python numbers and lists go
through ``np.asarray`` first.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from compiler.builder import GraphBuilder
from compiler.ir import dtypes
from frontend.layers.tracing import Tensor, TraceContext, flatten, map_structure
from runtime.program import Program

__all__ = ["as_input_array", "run_eagerly", "eager_apply"]


def as_input_array(x, what: str = "input") -> np.ndarray:
    """A C-contiguous array in a dtype the graph IR has (see the module docstring)."""
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        want = np.float32
    elif arr.dtype.kind == "b":
        want = np.bool_
    elif arr.dtype == np.int64:
        want = np.int64
    elif arr.dtype.kind in "iu":
        if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
            want = np.int64
        else:
            want = np.int32
    else:
        raise TypeError(f"{what}: expected numbers, got an array of dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=want)


def _trace_and_run(build: Callable[[TraceContext, list[Tensor]], object], arrays: list[np.ndarray],
                   training: bool, name: str):
    b = GraphBuilder(name=name)
    ctx = TraceContext(b, training=training)
    ins = [Tensor(b.input(f"x{i}", a.shape, dtypes.from_numpy(a.dtype)), ctx)
           for i, a in enumerate(arrays)]
    out = build(ctx, ins)
    leaves = flatten(out)
    b.output(*[t.value for t in leaves])
    n = len(leaves)
    updates = {}
    for j, (w, v) in enumerate(ctx.state_updates):
        b.output(v)
        updates[n + j] = w.param_name
    prog = Program(b.graph, state={w.param_name: w.array for w in ctx.bound}, updates=updates,
                   backend="eager")
    results = iter(prog(arrays))
    return map_structure(lambda t: next(results), out)


def run_eagerly(layer, args, kwargs):
    """``layer(*args, **kwargs)`` on arrays: one graph, run once; returns arrays."""
    kwargs = dict(kwargs)
    training = bool(kwargs.pop("training", False) or False)
    arrays: list[np.ndarray] = []

    def to_slot(x):
        if isinstance(x, (np.ndarray, np.generic, list, float, int)) and not isinstance(x, bool):
            arrays.append(as_input_array(x, f"layer '{layer.name}' input"))
            return ("__array__", len(arrays) - 1)
        return x

    # only the first argument (inputs) and array-valued keyword arguments are data
    inputs = map_structure(to_slot, args[0])
    extra_kwargs = {k: map_structure(to_slot, v) if k in ("initial_state", "mask") else v
                    for k, v in kwargs.items()}

    def build(ctx, ins):
        def back(x):
            if isinstance(x, tuple) and len(x) == 2 and x[0] == "__array__":
                return ins[x[1]]
            return x
        return layer(_restore(inputs, back), *args[1:],
                     **{k: _restore(v, back) for k, v in extra_kwargs.items()},
                     training=training)

    return _trace_and_run(build, arrays, training, "eager_" + _safe(layer.name))


def _restore(structure, back):
    if isinstance(structure, tuple) and len(structure) == 2 and structure[0] == "__array__":
        return back(structure)
    if isinstance(structure, list):
        return [_restore(s, back) for s in structure]
    if isinstance(structure, tuple):
        return tuple(_restore(s, back) for s in structure)
    if isinstance(structure, dict):
        return {k: _restore(v, back) for k, v in structure.items()}
    return structure


def eager_apply(fn: Callable[..., object], *arrays, name: str = "eager"):
    """``fn(*tensors)`` evaluated on numpy ``arrays`` (inference mode); returns arrays."""
    arrs = [as_input_array(a) for a in arrays]
    return _trace_and_run(lambda ctx, ins: fn(*ins), arrs, False, _safe(name))


def _safe(name: str) -> str:
    from frontend.layers.base import graph_name
    return graph_name(name)
