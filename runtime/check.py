"""Run-time checks of compiled programs against the eager interpreter, to bisect a wrong result.

``KILN_CHECK=kernels`` (``CompileOptions(check="kernels")``): after every call, the program's
graph (as optimized, the one the kernels were lowered from) is run again by the eager
interpreter on the same inputs and the state as it was before the call, and every kernel's
output is compared with the value the interpreter computes for it, in graph order: the first
kernel that disagrees is named with its nodes and where the user built them. The interpreter
goes on from each kernel's compiled output, so every kernel is judged on the inputs it really
had (a difference of a few ulp upstream cannot flip a max pooling's choice downstream and be
blamed on it). For that, the
program is compiled with no arena reuse and no in-place updates of temps, so every temp still
holds what its kernel wrote when the call returns.

``KILN_CHECK=nan``: after every call, if a result or an updated param holds a NaN or an
infinity, the interpreter re-runs the call op by op from the state before it and names the
first op whose result is not finite (or the input that already was), like
``torch.autograd.detect_anomaly``; if the interpreter stays finite, a compiled kernel is at
fault and ``KILN_CHECK=kernels`` will find it.

Both raise :class:`CheckFailure`. Both cost an eager run (and a copy of the state) per call:
debugging modes, not for training at speed.

Tolerance: integers and booleans exactly; floats within ``rtol`` of each element plus
``rtol`` times the largest magnitude in the value and the op's operands (f32: 2e-4, f64:
1e-9), NaN matching NaN.
Compiled code differs from the interpreter by reassociated sums (GEMM, reductions) and
polynomial transcendentals, a few ulp per op; a wrong kernel is off by far more.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from compiler.errors import KilnError
from compiler.ir import dtypes
from runtime.eager import Interpreter

__all__ = ["CheckFailure", "ProgramCheck", "RTOL"]

#: relative tolerance per float dtype (see the module docstring)
RTOL = {"f32": 2e-4, "f64": 1e-9, "f16": 2e-2}


class CheckFailure(KilnError):
    """A compiled program disagrees with the eager interpreter, or produced a NaN/Inf."""


def _magnitude(arrays) -> float:
    """The largest finite magnitude among the float ``arrays`` (0 if none)."""
    top = 0.0
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.size:
            finite = a[np.isfinite(a)]
            if finite.size:
                top = max(top, float(np.max(np.abs(finite))))
    return top


def mismatch(got: np.ndarray, want: np.ndarray, dtype: str, operands=()) -> str | None:
    """None if ``got`` matches ``want`` within the tolerance for ``dtype``, else what differs.
    The absolute tolerance scales with the largest magnitude in ``want`` and in the op's
    ``operands``: ``p - 1`` for ``p`` a rounding of 1 is exact to within ulp(1), however
    small the result."""
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, expected {list(want.shape)}"
    if got.size == 0:
        return None
    if dtype not in RTOL:
        bad = got != want
    else:
        rtol = RTOL[dtype]
        scale = _magnitude([want, *operands])
        bad = ~np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                          atol=rtol * scale, equal_nan=True)
    if not bad.any():
        return None
    where = np.unravel_index(int(np.argmax(bad)), bad.shape)
    at = ", ".join(map(str, where))
    return (f"{int(bad.sum())} of {bad.size} elements differ; first at [{at}]: got "
            f"{got[where].item()!r}, expected {want[where].item()!r}")


def _nonfinite(a: np.ndarray) -> int:
    return int(np.count_nonzero(~np.isfinite(a))) if a.dtype.kind in "fc" else 0


class ProgramCheck:
    """The checks of one compiled program (see the module docstring); called by the runtime
    after each native call with what it saw."""

    def __init__(self, compiled, mode: str):
        if mode not in ("kernels", "nan"):
            raise ValueError(f"check mode must be 'kernels' or 'nan', got {mode!r}")
        self.mode = mode
        self.compiled = compiled
        self.graph = compiled.graph
        self._interpreter = Interpreter(self.graph, check=False)
        self._kernel_of: dict[str, object] = {}   # value name -> the kernel that writes it
        self._temps: dict[str, object] = {}       # value name -> its temp buffer
        for k in compiled.kernels.kernels:
            for buf in k.writes():
                if buf.holds is not None:
                    self._kernel_of.setdefault(buf.holds, k)
                    if buf.kind == "temp":
                        self._temps[buf.holds] = buf

    def _where(self, name: str) -> str:
        """Which kernel computes value ``name``, for messages."""
        k = self._kernel_of.get(name)
        if k is None:
            fused = self.compiled.node_kernels.get(name)
            return f"kernel {' + '.join(fused)} (fused there)" if fused else "no kernel"
        loc = f"; built at {k.loc}" if k.loc else ""
        return f"kernel {k.name} ({', '.join(k.nodes)}{loc})"

    def after_call(self, inputs: Mapping[str, np.ndarray], state_before: Mapping[str, np.ndarray],
                   results: list[np.ndarray], result_indices: list[int],
                   state_after: Mapping[str, np.ndarray], updates: Mapping[int, str],
                   arena: np.ndarray) -> None:
        """Raise :class:`CheckFailure` if the call that turned ``state_before`` into
        ``state_after`` (params updated in place) and returned ``results`` went wrong."""
        args = {**inputs, **state_before}
        gname = self.graph.name
        if self.mode == "nan":
            produced = list(results) + [state_after[p] for p in updates.values()]
            if not any(_nonfinite(a) for a in produced):
                return
            self._find_first_nonfinite(args)
            raise CheckFailure(
                f"program @{gname}: the compiled call produced a NaN or Inf, but the eager "
                "interpreter computes finite values from the same inputs and state: a "
                "compiled kernel is wrong (KILN_CHECK=kernels finds which)")

        def observe(node, operands, values):
            compiled = list(values)
            for j, (v, want) in enumerate(zip(node.outputs, values)):
                buf = self._temps.get(v.name)
                if buf is None:
                    continue
                dt = dtypes.to_numpy(buf.dtype)
                got = arena[buf.offset:buf.offset + buf.nbytes].view(dt).reshape(v.shape)
                diff = mismatch(got, want, v.dtype, operands)
                if diff is not None:
                    raise CheckFailure(f"program @{gname}: {self._where(v.name)} disagrees "
                                       f"with the eager interpreter at {node.describe()}: "
                                       f"{diff}")
                compiled[j] = got
            # Go on from the compiled values, so each kernel is judged on its own inputs: a
            # few-ulp difference upstream must not flip a downstream argmax (max pooling's
            # gradient routes to the larger of two near-equal inputs) and be blamed on it.
            return compiled

        outputs = self._interpreter.run(args, observe=observe)
        for got, i in zip(results, result_indices):
            self._compare_output(i, got, outputs[i], "output")
        for i, param in updates.items():
            self._compare_output(i, state_after[param], outputs[i], f"update of %{param}")

    def _compare_output(self, i: int, got, want, what: str) -> None:
        v = self.graph.outputs[i]
        diff = mismatch(np.asarray(got), want, v.dtype)
        if diff is not None:
            raise CheckFailure(f"program @{self.graph.name}: {what} {i} (%{v.name}, written by "
                               f"{self._where(v.name)}) is wrong: {diff}")

    def _find_first_nonfinite(self, args: Mapping[str, np.ndarray]) -> None:
        """Raise naming the input or first op whose value is not finite; return if none is."""
        gname = self.graph.name
        for v in self.graph.args:
            n = _nonfinite(args[v.name])
            if n:
                raise CheckFailure(f"program @{gname}: {v.kind} %{v.name} already holds {n} "
                                   f"NaN/Inf value(s) before the call")

        def observe(node, operands, values):
            for v, a in zip(node.outputs, values):
                n = _nonfinite(a)
                if n:
                    inputs = ", ".join("%" + x.name for x in node.inputs)
                    raise CheckFailure(f"program @{gname}: the first NaN/Inf appears at "
                                       f"{node.describe()}: {n} of {a.size} elements of "
                                       f"%{v.name}, from finite inputs ({inputs or 'none'}); "
                                       f"computed in {self._where(v.name)}")
            return None

        self._interpreter.run(args, observe=observe)
