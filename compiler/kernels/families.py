"""Kernel IR for the non-elementwise families: sliding windows (im2col, col2im, pooling and its
gradients) and indexed access (gather, scatter-add).

Convolutions do not get a kernel class of their own: conv2d and its two gradients lower to an
:class:`Im2col` or :class:`Col2im` kernel around an ordinary :class:`~compiler.kernels.ir.Matmul`
(compiler/kernels/lower_families.py), so that their arithmetic runs in the contraction kernel.

Every kernel here keeps the buffers it reads in ``inputs_bufs`` (a list of (buffer, view)
pairs, named accessors are properties over it): that is the field the lowering's in-place
update rewrite (``lower.replace_reads``) knows how to redirect. The result is ``out``.

Status codes. Kernels with ``can_fail`` (gather and scatter-add, whose indices are data) check
their indices in native code before touching memory through them. A bad index makes the kernel
return :func:`status_code` (unique per compiled module) instead of 0; the entry point returns
that code at once, and the runtime turns it into an ``InputError`` with the message from
:func:`status_messages`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from compiler.kernels.ir import Buffer, Kernel, KernelProgram
from compiler.kernels.view import View

__all__ = ["Window", "FamilyKernel", "Im2col", "Col2im", "Pool", "PoolGrad", "Gather",
           "ScatterAdd", "status_code", "status_messages"]


@dataclass(frozen=True)
class Window:
    """The geometry of a 2-D sliding window over NHWC data (compiler/ops/conv.window_geometry).

    Window ``(oy, ox)`` tap ``(ky, kx)`` reads input row ``oy * strides[0] + ky * dilation[0] -
    pad[0]`` and column ``ox * strides[1] + kx * dilation[1] - pad[1]``; taps outside
    ``[0, size)`` are padding.
    """
    size: tuple[int, int]       # input H, W
    out: tuple[int, int]        # OH, OW
    kernel: tuple[int, int]     # KH, KW
    strides: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int]        # padding before the first row / column

    @staticmethod
    def from_geometry(size, kernel, strides, dilation, geo) -> "Window":
        """From the ``(out, pad_lo, pad_hi)`` pairs of ``window_geometry``."""
        (oh, pt, _), (ow, pl, _) = geo
        return Window(tuple(size), (oh, ow), tuple(kernel), tuple(strides), tuple(dilation),
                      (pt, pl))

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def has_padding(self) -> bool:
        """True when some tap of some window falls outside the input."""
        for n, o, k, s, d, p in zip(self.size, self.out, self.kernel, self.strides,
                                    self.dilation, self.pad):
            if o and (p > 0 or (o - 1) * s + (k - 1) * d - p >= n):
                return True
        return False

    def __str__(self) -> str:
        def pair(v):
            return f"{v[0]}x{v[1]}"
        dil = f" dilation {pair(self.dilation)}" if self.dilation != (1, 1) else ""
        return (f"window {pair(self.kernel)} stride {pair(self.strides)}{dil} "
                f"pad {self.pad[0]},{self.pad[1]} over {pair(self.size)} -> {pair(self.out)}")


def _ref(pair: tuple[Buffer, View]) -> str:
    buf, view = pair
    return f"%{buf.name}{view}"


@dataclass(eq=False)
class FamilyKernel(Kernel):
    """A kernel that reads ``inputs_bufs`` and writes all of ``out`` (a dense region)."""
    inputs_bufs: list[tuple[Buffer, View]] = field(default_factory=list)
    out: tuple[Buffer, View] | None = None

    #: True for kernels that validate data (indices) and may return a non-zero status
    can_fail = False
    #: the graph op named in error messages
    op = "kernel"

    def reads(self) -> list[Buffer]:
        seen, bufs = set(), []
        for b, _ in self.inputs_bufs:
            if id(b) not in seen:
                seen.add(id(b))
                bufs.append(b)
        return bufs

    def writes(self) -> list[Buffer]:
        return [self.out[0]]

    def describe(self) -> list[str]:
        raise NotImplementedError

    def failure_message(self) -> str:
        """What a non-zero status of this kernel means (kernels with ``can_fail``)."""
        raise NotImplementedError


# -- windows -------------------------------------------------------------------------------------
@dataclass(eq=False)
class Im2col(FamilyKernel):
    """Patches of ``x`` [N,H,W,C]: ``out`` [N*OH*OW, KH*KW*C] dense, row ``(n, oy, ox)``,
    column ``(ky, kx, c)``; padding taps are zeros."""
    batch: int = 0
    channels: int = 0
    window: Window | None = None
    family = "contraction"

    @property
    def x(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[0]

    def describe(self) -> list[str]:
        return [f"im2col {_ref(self.x)} {self.window}", f"  -> {_ref(self.out)}"]


@dataclass(eq=False)
class Col2im(FamilyKernel):
    """The transpose of :class:`Im2col`: ``out`` [N,H,W,C] gets, at every pixel, the sum of
    the patch-matrix entries ``cols`` [N*OH*OW, KH*KW*C] that im2col copied from it."""
    batch: int = 0
    channels: int = 0
    window: Window | None = None
    family = "contraction"

    @property
    def cols(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[0]

    def describe(self) -> list[str]:
        return [f"col2im {_ref(self.cols)} {self.window}", f"  -> {_ref(self.out)}"]


#: Pool kinds: max and avg pooling, and the argmax that routes max pooling's gradient
POOL_KINDS = ("max", "avg", "argmax")


@dataclass(eq=False)
class Pool(FamilyKernel):
    """``out[n, oy, ox, c]`` = max / mean (over real elements) / first argmax of window
    ``(oy, ox)`` of ``x`` [N,H,W,C]. argmax writes the tap number ``ky * KW + kx`` (i32)."""
    kind: str = "max"
    window: Window | None = None
    family = "window"

    @property
    def x(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[0]

    def describe(self) -> list[str]:
        return [f"{self.kind}_pool {_ref(self.x)} {self.window}", f"  -> {_ref(self.out)}"]


@dataclass(eq=False)
class PoolGrad(FamilyKernel):
    """The gradient of pooling, computed per input pixel (every pixel sums over the windows
    that contain it, so threads never write the same element): ``avg`` spreads ``g / count``,
    ``max`` routes ``g`` where the window's argmax (``inputs_bufs[1]``) is this pixel's tap."""
    kind: str = "max"
    window: Window | None = None
    family = "window"

    @property
    def g(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[0]

    def describe(self) -> list[str]:
        what = ", ".join(_ref(p) for p in self.inputs_bufs)
        return [f"{self.kind}_pool_grad {what} {self.window}", f"  -> {_ref(self.out)}"]


# -- indexed access --------------------------------------------------------------------------------
@dataclass(eq=False)
class Gather(FamilyKernel):
    """``out[pre, i, post] = params[pre, indices[i], post]`` along ``axis``; every index is
    checked against ``[0, params.shape[axis])`` before any is used."""
    axis: int = 0
    family = "gather"
    op = "gather"
    can_fail = True

    @property
    def params(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[0]

    @property
    def indices(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[1]

    @property
    def size(self) -> int:
        return self.params[1].shape[self.axis]

    def describe(self) -> list[str]:
        return [f"gather {_ref(self.params)} axis {self.axis} at {_ref(self.indices)} "
                f"(checked in [0, {self.size}))", f"  -> {_ref(self.out)}"]

    def failure_message(self) -> str:
        return f"index out of range [0, {self.size})"


@dataclass(eq=False)
class ScatterAdd(FamilyKernel):
    """``out = zeros; out[indices[i], post] += updates[i, post]`` in index order (repeats
    accumulate); every index is checked against ``[0, out.shape[0])`` first."""
    family = "gather"
    op = "scatter_add"
    can_fail = True

    @property
    def indices(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[0]

    @property
    def updates(self) -> tuple[Buffer, View]:
        return self.inputs_bufs[1]

    @property
    def size(self) -> int:
        return self.out[1].shape[0]

    def describe(self) -> list[str]:
        return [f"scatter_add {_ref(self.updates)} at {_ref(self.indices)} "
                f"(checked in [0, {self.size}))", f"  -> {_ref(self.out)}"]

    def failure_message(self) -> str:
        return f"index out of range [0, {self.size})"


# -- status codes ----------------------------------------------------------------------------------
def _all_kernels(program: KernelProgram) -> Iterator[Kernel]:
    """Every kernel of ``program``, nested bodies (scan) included, in a fixed order."""
    for k in program.kernels:
        yield k
        body = getattr(k, "body", None)
        if isinstance(body, KernelProgram):
            yield from _all_kernels(body)


def status_code(program: KernelProgram, kernel: Kernel) -> int:
    """The status the entry point of ``program`` returns when ``kernel`` (a kernel of it or of
    a nested body) fails: 1 + its position among all kernels, so codes are unique per module
    and survive propagation out of scan bodies."""
    for i, k in enumerate(_all_kernels(program)):
        if k is kernel:
            return i + 1
    raise ValueError(f"kernel @{kernel.name} is not part of program @{program.name}")


def status_messages(program: KernelProgram) -> dict[int, str]:
    """Status code -> error message, for every kernel of ``program`` that can fail."""
    table = {}
    for i, k in enumerate(_all_kernels(program)):
        if getattr(k, "can_fail", False):
            node = f" %{k.nodes[0]}" if k.nodes else ""
            where = f" (built at {k.loc})" if k.loc else ""
            table[i + 1] = f"{k.op}{node}{where}: {k.failure_message()}"
    return table
