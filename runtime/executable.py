"""Native execution of a Program: compiled code, an arena, persistent state, one call per step.

A :class:`NativeRunner` compiles its program's graph once (compiler/pipeline.py, through the
on-disk cache), allocates the arena for intermediates and the GEMM workspace, and builds the
pointer table the native entry point reads: one slot per input, param (the Program's state
arrays, updated in place by the generated code) and output, then the arena and the workspace.
Addresses of everything but the inputs are resolved once here, not per call.

Before every call each input is checked (ndarray, exact dtype, exact shape, C-contiguous,
aligned); anything else raises :class:`~compiler.errors.InputError` naming the input with
expected vs got, so native code never sees an array it was not compiled for. Conversion is
never implicit here: frontends convert by their documented rules before calling.

Data that only the kernels can check (gather/scatter indices) is validated in native code: the
entry point returns a non-zero status naming the failing kernel, and :meth:`NativeRunner.run`
raises an ``InputError`` with that kernel's message (op, node, where it was built, what was
wrong; see ``compiler.kernels.families.status_messages``).

A program compiled with ``check`` (``KILN_CHECK``) is compared with the eager interpreter after
every call (runtime/check.py). A program compiled for more than one thread gets a :class:`runtime.threads.TeamControl`: each
call is timed and the adaptive policy may shrink or restore the team between calls (results do
not depend on the team size).
"""
from __future__ import annotations

import ctypes
import time
from typing import Mapping

import numpy as np

from compiler.errors import InputError, KilnError
from compiler.ir import dtypes
from compiler.kernels.families import status_messages
from compiler.llvm.parallel import TEAM_SIZE_SYMBOL
from compiler.pipeline import CompileOptions, compile_graph
from runtime.check import ProgramCheck
from runtime.threads import TeamControl, thread_policy

__all__ = ["NativeRunner", "check_input"]

_ALIGN = 64


def _aligned_empty(nbytes: int) -> np.ndarray:
    """A 64-byte-aligned uint8 buffer of ``nbytes`` (at least one cache line)."""
    raw = np.zeros(max(nbytes, 1) + _ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start:start + max(nbytes, 1)]


def check_input(program_name: str, name: str, value, shape: tuple, dtype: str) -> np.ndarray:
    """Return ``value`` if it is exactly what native code expects, else raise InputError."""
    if not isinstance(value, np.ndarray):
        raise InputError(f"input '{name}' of program @{program_name}: expected a numpy array "
                         f"{dtype}{list(shape)}, got {type(value).__name__}")
    want = dtypes.to_numpy(dtype)
    if value.dtype != want:
        raise InputError(f"input '{name}' of program @{program_name}: expected dtype {want}, "
                         f"got {value.dtype} (convert explicitly, e.g. x.astype(np.{want}))")
    if value.shape != tuple(shape):
        raise InputError(f"input '{name}' of program @{program_name}: expected shape "
                         f"{list(shape)}, got {list(value.shape)}")
    if not value.flags.c_contiguous:
        raise InputError(f"input '{name}' of program @{program_name}: expected a C-contiguous "
                         f"array, got strides {value.strides} (use np.ascontiguousarray)")
    if not value.flags.aligned:
        raise InputError(f"input '{name}' of program @{program_name}: array data is not "
                         f"aligned to its {want.itemsize}-byte elements")
    return value


class NativeRunner:
    """Runs a :class:`runtime.program.Program` through compiled code."""

    def __init__(self, program, options: dict):
        self.program = program
        opts = options.pop("compile_options", None)
        source = options.pop("source", None)
        if options:
            raise TypeError(f"llvm backend: unknown option(s) {', '.join(options)}")
        opts = opts or CompileOptions.from_env()
        self.compiled = compile_graph(program.graph, program.updates, opts, source=source)
        kp, layout = self.compiled.kernels, self.compiled.layout
        self._status_messages = status_messages(kp)   # status code -> InputError message
        self.peak_bytes = kp.arena_bytes
        self._arena = _aligned_empty(kp.arena_bytes)
        self._work = _aligned_empty(layout.work_bytes)
        self._table = (ctypes.c_void_p * len(layout))()
        self._table[layout.arena_slot] = self._arena.ctypes.data
        self._table[layout.work_slot] = self._work.ctypes.data
        g = program.graph
        slot_of = {id(b): i for i, b in enumerate(layout.slots)}
        self._input_slots = [(v.name, v.shape, v.dtype, slot_of[id(b)])
                             for v, b in zip(g.inputs, kp.inputs)]
        self._param_slots = [(v.name, slot_of[id(b)]) for v, b in zip(g.params, kp.params)]
        self._bound: dict[str, np.ndarray] = {}
        self._bind_state()
        # Results: one persistent array per non-update output, copied out after each call.
        # (Lowering gives every non-update output a buffer of its own, never a param's.)
        self._results: list[np.ndarray] = []
        for i in program.result_indices:
            v, buf = g.outputs[i], kp.outputs[i]
            arr = np.empty(v.shape, dtype=dtypes.to_numpy(v.dtype))
            self._table[slot_of[id(buf)]] = arr.ctypes.data
            self._results.append(arr)
        # Update outputs that could not be written in place get a buffer of their own; the
        # program copies them into their param at its end.
        self._update_buffers: list[np.ndarray] = []
        for i, buf in enumerate(layout.slots):
            if buf.kind == "output" and self._table[i] is None:
                arr = np.empty(buf.numel, dtype=dtypes.to_numpy(buf.dtype))
                self._update_buffers.append(arr)
                self._table[i] = arr.ctypes.data
        self._entry = self.compiled.entry
        self.team: TeamControl | None = None
        module = self.compiled.module
        if TEAM_SIZE_SYMBOL in module.exports:
            cell = ctypes.c_int32.from_address(module.address(TEAM_SIZE_SYMBOL))
            # the initializer is the team size the program was compiled for
            self.team = TeamControl(module.address(TEAM_SIZE_SYMBOL), int(cell.value),
                                    thread_policy())
        self._timed = self.team is not None and self.team.adaptive is not None
        self._check = ProgramCheck(self.compiled, opts.check) if opts.check else None
        self._profile_counts = None
        if layout.profile_slot is not None:
            # (cycles, calls) per kernel, added to by the entry function
            self._profile_counts = np.zeros(2 * len(kp.kernels), dtype=np.int64)
            self._table[layout.profile_slot] = self._profile_counts.ctypes.data

    def profile(self) -> list | None:
        """Per-kernel times since the program was built or last reset (None if not profiled)."""
        if self._profile_counts is None:
            return None
        from runtime.profile import KernelTime, cycles_per_second

        rate = cycles_per_second(self.compiled.cycle_counter)
        out = []
        for i, k in enumerate(self.compiled.kernels.kernels):
            out.append(KernelTime(k.name, k.family, tuple(k.nodes),
                                  int(self._profile_counts[2 * i + 1]),
                                  float(self._profile_counts[2 * i]) / rate,
                                  k.bytes_touched(), int(getattr(k, "flops", 0) or 0)))
        return out

    def reset_profile(self) -> None:
        if self._profile_counts is not None:
            self._profile_counts[:] = 0

    def _bind_state(self) -> None:
        state = self.program.state
        for name, slot in self._param_slots:
            arr = state[name]
            if self._bound.get(name) is not arr:
                v = self.program.graph.value(name)
                check_input(self.program.graph.name, name, arr, v.shape, v.dtype)
                if not arr.flags.writeable:
                    raise InputError(f"param '{name}' of program @{self.program.graph.name}: "
                                     "the state array is read-only; the step updates it in place")
                self._bound[name] = arr
                self._table[slot] = arr.ctypes.data

    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        p = self.program
        gname = p.graph.name
        if len(inputs) != len(self._input_slots) or any(n not in inputs for n, *_ in self._input_slots):
            unknown = sorted(set(inputs) - {n for n, *_ in self._input_slots})
            missing = [n for n, *_ in self._input_slots if n not in inputs]
            raise InputError(f"program @{gname}: " + "; ".join(
                ([f"unknown input(s) {', '.join(unknown)}"] if unknown else []) +
                ([f"missing input(s) {', '.join(missing)}"] if missing else [])) +
                f"; its inputs are {', '.join(n for n, *_ in self._input_slots)}")
        keep = {}
        for name, shape, dt, slot in self._input_slots:
            a = check_input(gname, name, inputs[name], shape, dt)
            keep[name] = a
            self._table[slot] = a.ctypes.data
        self._bind_state()
        if self._check is not None:
            before = {name: arr.copy() for name, arr in p.state.items()}
        if self._timed:
            t0 = time.perf_counter()
            status = self._entry(self._table)
            self.team.observe(time.perf_counter() - t0)
        else:
            status = self._entry(self._table)
        if status != 0:
            msg = self._status_messages.get(status)
            if msg is None:
                raise KilnError(f"program @{gname}: native code reported error {status}")
            # bad data (an out-of-range index) detected before any memory was touched through it
            raise InputError(f"program @{gname}: {msg}")
        results = [arr.copy() for arr in self._results]
        if self._check is not None:
            self._check.after_call(keep, before, results, p.result_indices, p.state, p.updates,
                                   self._arena)
        return results
