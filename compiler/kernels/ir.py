"""Kernel IR: the program a graph lowers to, between the graph IR and LLVM.

A :class:`KernelProgram` is a list of kernels run in order over a set of buffers. A buffer is
an input or param array handed in by the runtime, an output, a constant baked into the code,
or a temporary that the memory planner places in the arena. A kernel reads buffers through
views (compiler/kernels/view.py) and writes whole or strided regions of others.

Kernel kinds, one per kernel family of DESIGN.md:

* :class:`Elementwise`: a loop nest over ``shape``; each output is an expression tree
  (compiler/kernels/expr.py) evaluated at every point. Fused chains of elementwise ops, copies,
  fills, broadcasts and random numbers all end up here.
* :class:`Reduce`: a reduction over some axes of ``shape`` of a body expression, with an
  optional epilogue on the reduced value (mean's scale); sum, max, min, argmax, argmin.
* :class:`Softmax`: softmax or log-softmax along one axis of a body expression.
* :class:`Matmul`: batched GEMM ``C = epilogue(A @ B)`` on strided operands (a transposed
  operand is a view, not a copy), through the packed microkernel.
* Further families (convolution, pooling, gather/scatter, scan) add their own classes.

Every kernel remembers the graph nodes it came from and where the user built them, so dumps
and errors can say which layer a kernel belongs to. ``str(program)`` prints the whole program.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Iterator

import numpy as np

from compiler.ir import dtypes
from compiler.kernels import expr as ex
from compiler.kernels.view import View

__all__ = ["Buffer", "Kernel", "Elementwise", "Reduce", "Softmax", "Matmul", "KernelProgram",
           "BUFFER_KINDS"]

#: input/param: arrays passed by the runtime; output: results the runtime allocates;
#: temp: intermediates in the arena; const: baked into the code.
BUFFER_KINDS = ("input", "param", "output", "temp", "const")


@dataclass(eq=False)
class Buffer:
    name: str
    dtype: str
    numel: int
    kind: str
    value: np.ndarray | None = None   # const buffers
    offset: int | None = None          # temp buffers: arena byte offset, set by plan_memory
    holds: str | None = None           # the graph value a kernel stores here (runtime checks)

    @property
    def itemsize(self) -> int:
        return dtypes.to_numpy(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    def __repr__(self) -> str:
        return f"Buffer({self.name}, {self.kind}, {self.dtype}[{self.numel}])"


@dataclass(eq=False)
class Kernel:
    name: str
    nodes: tuple[str, ...]   # names of the graph nodes it computes
    loc: str | None          # where the (first) node was built

    family = "kernel"

    def reads(self) -> list[Buffer]:
        raise NotImplementedError

    def writes(self) -> list[Buffer]:
        raise NotImplementedError

    def bytes_touched(self) -> int:
        """Bytes of the distinct buffers the kernel reads or writes, each counted once."""
        return sum({id(b): b.nbytes for b in list(self.reads()) + list(self.writes())}.values())

    def header(self) -> str:
        nodes = ", ".join("%" + n for n in self.nodes)
        loc = f' loc("{self.loc}")' if self.loc else ""
        return f"kernel @{self.name} {self.family} ({nodes}){loc}"


def _expr_reads(roots) -> list[Buffer]:
    seen, out = set(), []
    for e in ex.iter_nodes(roots):
        if e.op == "load" and id(e.buffer) not in seen:
            seen.add(id(e.buffer))
            out.append(e.buffer)
    return out


@dataclass(eq=False)
class Elementwise(Kernel):
    shape: tuple[int, ...] = ()
    outs: list[tuple[Buffer, View]] = field(default_factory=list)
    exprs: list[ex.Expr] = field(default_factory=list)

    family = "elementwise"

    def reads(self):
        return _expr_reads(self.exprs)

    def writes(self):
        return [b for b, _ in self.outs]


@dataclass(eq=False)
class Reduce(Kernel):
    """``out[kept] = post(combine over axes of body[i])``; ``post`` reads the value as acc."""
    shape: tuple[int, ...] = ()          # the iteration space (the body's shape)
    axes: tuple[int, ...] = ()           # reduced dims of ``shape``
    kind: str = "sum"                    # sum | max | min | argmax | argmin
    body: ex.Expr | None = None
    out: tuple[Buffer, View] | None = None   # view over the kept dims, in order
    post: ex.Expr | None = None

    family = "reduction"

    def reads(self):
        return _expr_reads([self.body] + ([self.post] if self.post is not None else []))

    def writes(self):
        return [self.out[0]]


@dataclass(eq=False)
class Softmax(Kernel):
    shape: tuple[int, ...] = ()
    axis: int = -1
    log: bool = False
    body: ex.Expr | None = None
    out: tuple[Buffer, View] | None = None

    family = "reduction"

    def reads(self):
        return _expr_reads([self.body])

    def writes(self):
        return [self.out[0]]


@dataclass(eq=False)
class Matmul(Kernel):
    """For every batch index: ``C[b] = epilogue(A[b] @ B[b])`` with A [M,K], B [K,N].

    ``a``, ``b`` and ``c`` are views of rank ``len(batch) + 2``; C's last dim is unit-stride.
    ``epilogue`` is an expression over C's index space whose ``acc`` leaf is the dot product
    (None: store it as is).
    """
    batch: tuple[int, ...] = ()
    m: int = 0
    n: int = 0
    k: int = 0
    dtype: str = "f32"
    a: tuple[Buffer, View] | None = None
    b: tuple[Buffer, View] | None = None
    c: tuple[Buffer, View] | None = None
    epilogue: ex.Expr | None = None

    family = "contraction"

    def reads(self):
        extra = _expr_reads([self.epilogue]) if self.epilogue is not None else []
        return [self.a[0], self.b[0]] + extra

    def writes(self):
        return [self.c[0]]

    @property
    def flops(self) -> int:
        return 2 * prod(self.batch) * self.m * self.n * self.k


@dataclass(eq=False)
class KernelProgram:
    """Buffers and kernels of one program. ``outputs[i]`` is the buffer of graph output i."""
    name: str
    inputs: list[Buffer]
    params: list[Buffer]
    outputs: list[Buffer]
    kernels: list[Kernel] = field(default_factory=list)
    temps: list[Buffer] = field(default_factory=list)
    consts: list[Buffer] = field(default_factory=list)
    arena_bytes: int = 0
    #: output index -> the param buffer it updates (written in place or copied at the end)
    updates: dict = field(default_factory=dict)

    def buffers(self) -> Iterator[Buffer]:
        seen = set()
        for group in (self.inputs, self.params, self.outputs, self.consts, self.temps):
            for b in group:
                if id(b) not in seen:
                    seen.add(id(b))
                    yield b

    def bytes_per_step(self) -> int:
        """Sum over kernels of the bytes of the distinct buffers each touches: the traffic of
        a program reading and writing each buffer once per kernel (what fusion cuts)."""
        return sum(k.bytes_touched() for k in self.kernels)

    def __str__(self) -> str:
        from compiler.kernels.printer import print_program

        return print_program(self)


@dataclass(eq=False)
class Scan(Kernel):
    """A loop over time running a whole lowered body program per step (the recurrence family).

    The body (a :class:`KernelProgram` lowered from the scan's body graph, compiled once) reads
    ``carries, xs[t], consts`` and writes ``new carries, ys[t]``. Carries alternate between two
    scratch copies (``ping``/``pong``) so that a step never overwrites a carry it still reads;
    ``xs[t]`` and ``ys[t]`` are addressed in place inside the stacked buffers (no copies).
    ``scratch`` holds the body's own arena.
    """
    body: KernelProgram | None = None
    length: int = 0
    reverse: bool = False
    init: list[Buffer] = field(default_factory=list)
    xs: list[Buffer] = field(default_factory=list)
    consts: list[Buffer] = field(default_factory=list)
    finals: list[Buffer] = field(default_factory=list)
    ys: list[Buffer] = field(default_factory=list)
    ping: list[Buffer] = field(default_factory=list)
    pong: list[Buffer] = field(default_factory=list)
    scratch: Buffer | None = None

    family = "recurrence"

    def reads(self):
        return self.init + self.xs + self.consts

    def writes(self):
        return self.finals + self.ys + self.ping + self.pong + [self.scratch]

    def describe(self) -> list[str]:
        names = lambda bs: ", ".join("%" + b.name for b in bs) or "-"  # noqa: E731
        head = (f"scan length {self.length}{' reverse' if self.reverse else ''}: carries "
                f"{names(self.init)} -> {names(self.finals)}; xs {names(self.xs)}; consts "
                f"{names(self.consts)}; ys {names(self.ys)}")
        body = str(self.body).rstrip("\n").splitlines()
        return [head, "body:"] + ["  " + line for line in body]
