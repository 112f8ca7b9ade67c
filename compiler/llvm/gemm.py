"""A BLIS-style GEMM generated in llvmlite.ir: kiln's contraction kernel (matmul, dense, conv2d).

``emit_gemm`` defines, in an ``llvmlite.ir`` module, the function

    void NAME(i64 M, i64 N, i64 K,
              ptr A, i64 a_rs, i64 a_cs,     A[i,k] = A[i*a_rs + k*a_cs]  (strides in elements)
              ptr B, i64 b_rs, i64 b_cs,     B[k,j] = B[k*b_rs + j*b_cs]
              ptr C, i64 c_rs,               C[i,j] = C[i*c_rs + j]
              i32 accumulate,                0: C = epi(A@B)   1: C = epi(C + A@B)
              ptr work,                      >= gemm_workspace_bytes(...) bytes, 64-byte aligned
              ptr extra)                     passed through to the epilogue

C must not overlap A, B or the workspace; A and B may overlap each other (they are only read).
Two calls running at the same time (e.g. from the threads of an outer parallel loop) need
separate workspaces.

The algorithm is the one of Goto's paper and BLIS (five loops around a microkernel):

    for jc in 0..N step NC:                  B block  KC x NC  -> packed B (L3-sized)
      for pc in 0..K step KC:                K panel; C accumulates across panels
        pack B[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels (k-major, zero-padded)
        for ic in 0..M step MC:              A block  MC x KC  -> packed A (L2-sized)
          pack A[ic:ic+mc, pc:pc+kc] into MR-tall micro-panels (k-major, zero-padded)
          for jr in 0..nc step NR:           one B micro-panel, reused by every ir (L1)
            for ir in 0..mc step MR:
              microkernel: C[MR x NR] (+)= Ap[ir] @ Bp[jr]

Register tile (the microkernel): MR rows x NR = 2 vectors of the host's lanes, held in
MR * 2 vector accumulators. Per k step it loads 2 vectors of packed B and broadcasts MR
scalars of packed A, each feeding 2 FMAs. On AVX2 (16 ymm registers, 8 fp32 lanes) that is
the 6 x 16 tile: 12 accumulators + 2 B vectors + 1 broadcast = 15 registers, the largest tile
that does not spill, with 2 FMA per broadcast (LLVM-NOTES: a 4 x 24 tile was 2-5% slower). The
row count comes from the register file (16 or 32 vector registers), the width from
``host_target().vector_lanes``: AVX-512 gets 14 x 32, SSE 6 x 8, f64 on AVX2 6 x 8.
The k loop is unrolled by 4 (plus a remainder loop), and the C tile is prefetched for writing
before the k loop so that its store does not stall on a cache miss.

Cache blocking (for Zen 3: L1d 32 KiB, L2 512 KiB per core; measured 83-93 GFLOP/s fp32 on one
core from 64x784x128 to 1024^3, 1.00-1.04x OpenBLAS through numpy): KC is chosen so that one
B micro-panel (KC x NR) is ~32 KiB and streams through L1 while A micro-panels come from L2;
MC so that the packed A block is ~144 KiB, a comfortable part of L2 beside B traffic;
NC = 4080 bounds the packed B block (8 MiB) for the shared L3. f32: KC=512, MC=72; f64:
KC=512, MC=36.

Packing costs O(MK + KN) copies for O(MNK) flops and makes every microkernel load contiguous
and tile edges uniform. It is written with explicit vectors for the four common layouts
(row-major A and B^T through in-register L x L transposes, A^T as short vector copies,
row-major B as vector copies), because packing is what separates medium problems
(``64 x 784 x 128``, ``784 x 64 x 128`` with A^T) from numpy: with scalar packing these ran at
0.89-0.93x, now 1.01-1.03x. Edge panels are zero-padded, so the microkernel always runs the
full tile and only the store is cut to the valid ``mr x nr`` corner (through a small stack
buffer). Because of that, every C element is computed by the same sequence of operations
whatever tile it falls in: ``acc = fma(a[k], b[k], acc)`` for k in order within each K panel,
then ``C = C + acc`` (or ``C = acc`` for the first panel without accumulate), then the
epilogue.

Threads (see :mod:`compiler.llvm.parallel`): the work is split by *output* tiles only, never
along K, so results are bitwise identical for any thread count. Two modes, picked at run time
by a cost estimate in tiles:
* split M (the usual case): threads take contiguous ranges of MR-row tiles; they pack the
  shared B block cooperatively (each packs a share of its micro-panels, then a barrier), and
  each packs its own A blocks into its slice of the workspace.
* split N (few rows, many columns: ``64 x 784``): threads take ranges of NR-column tiles and
  run the whole loop nest on them independently (no barriers); each packs the (small) A itself.
The dot path splits its DOT_R x DOT_S tiles along the dimension that balances better, the
transposed path splits rows of C by NR; in both each thread packs what it reads itself.
Problems below ``PARALLEL_MIN_FLOPS`` run on the calling thread: waking workers costs more.
Measured on 2 quiet cores: 512^3 1.99x, 64x784x128 and 256^3 1.67-1.72x the 1-thread speed.

Small problems: matrix-vector shapes (``M == 1`` with row-major B, ``N == 1`` with row-major A
and contiguous B) take an unpacked path (``_emit_gemv``): with a dimension of 1, packing
costs as much as the product and the register tile runs 1/6 or 1/16 full (measured before:
0.13-0.24x numpy; after: 0.9-1.2x).

Skinny shapes (one dimension of tens beside dimensions of thousands, as in the training step
of a small CNN: ``x[32, 21632] @ W[21632, 10]`` and its two gradients) are where the tiled
algorithm above loses most: the 6 x 16 tile runs 10 of its 16 columns when N = 10, packing
copies a large operand that is then used once, and with K = 10 or 32 a tile's FMAs are few
next to its fixed costs. The worker picks, from the shape and the strides alone (so the
choice never depends on the thread count):

* Dot path (:mod:`compiler.llvm.gemm_dot`), for a long K (``>= DOT_MIN_K``) with A's rows
  contiguous, when its DOT_R x DOT_S tiles of dot products along K pad the output clearly
  less than the broadcast tile: vectors run along K, so no lane idles however narrow N is.
  32 x 10 x 21632: 0.44 -> 0.22 ms.
* Transposed path (``_emit_transposed``), for A^T operands (``a_rs == 1``, a weight gradient
  ``X^T @ dY``) and N up to T_MAX_N: C^T = B^T A^T with the same microkernel, whose tiles
  then run along M (N = 10: rows 10 of 12 busy, instead of columns 10 of 16), written chunk
  by chunk into the workspace and transposed into C with the epilogue. 21632 x 10 x 32 (A^T):
  0.43 -> 0.29 ms.
* Operands in place: A is not packed when N spans at most two micro-panels (each A element
  then feeds at most two tiles: packing would copy A to read it about as often); B is not
  packed when its rows are unit-stride and at most DIRECT_B_MAX_RS apart and M is one A
  block (its K x NR panel then lies in a few compact lines); only its right-edge panel is,
  zero-padded to NR. The microkernel reads such operands through run-time strides.
  9 x 32 x 21632 (A^T): 0.29 -> 0.19 ms.
* Rows outer: for a short K panel (``<= ROWS_OUTER_MAX_KC``) over at least
  ROWS_OUTER_MIN_PANELS micro-panels of an L2-sized packed B block, the tiles run row tile by
  row tile: each tile's time is then mostly its C (and epilogue) memory traffic, which this
  order keeps in a few sequential streams. 32 x 21632 x 10 (B^T, relu-mask epilogue):
  0.45 -> 0.31 ms.
All figures: one Zen 3 core, f32, same-run medians, before -> after these paths. Big shapes
take none of them and run as before (64 x 784 x 128 to 1024^3 within 1%).

Numerics: ``llvm.fma`` (one rounding per multiply-add) when the host has FMA; otherwise
``llvm.fmuladd``, which LLVM lowers to multiply and add. No fast-math reassociation: the
order of every sum is fixed by the code (k in order in the tiled and transposed paths; a fixed
tree of vector partial sums in the ``N == 1`` dot product and the dot path), so results do not
depend on threads or tiles. Which path runs depends on the shape and strides only; paths
differ in rounding (the dot path's order, and the transposed path adds an accumulated C after
the last K panel rather than before the first).

Epilogue: :class:`Epilogue` is applied once per element on the final value (after the last K
panel), before the store: as a vector of ``lanes`` elements for ``lanes`` consecutive columns
that are all in range, or as a scalar for single elements at tile edges. The dot path applies
it in a pass over each thread's finished block, the transposed path while transposing a
chunk into C.
"""
from __future__ import annotations

import ctypes
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import llvmlite.ir as ir
import numpy as np

from compiler.llvm.parallel import (Threading, body_function_type, emit_balanced_split,
                                    emit_barrier, emit_num_threads, emit_parallel,
                                    emit_thread_id)
from compiler.llvm.target import HostTarget, host_target

__all__ = ["Blocking", "Epilogue", "emit_gemm", "gemm_workspace_bytes", "gemm_function_name",
           "GEMM_ARGTYPES", "NumpyGemm", "PARALLEL_MIN_FLOPS"]

I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()

_DTYPES: dict[str, tuple[ir.Type, int, Any]] = {
    "f32": (ir.FloatType(), 4, np.float32),
    "f64": (ir.DoubleType(), 8, np.float64),
}

#: Below this many multiply-adds (M*N*K) the GEMM runs on the calling thread even when
#: threads are allowed: waking libgomp's workers and the barriers cost more than they save.
PARALLEL_MIN_FLOPS = 80 * 80 * 80

#: B is read in place (not packed) when its columns are unit-stride, its rows at most this
#: many elements apart (in either direction) and M at most one A block (MC rows).
DIRECT_B_MAX_RS = 32

#: Tiles run row panel by row panel (instead of B micro-panel by B micro-panel) when a K panel
#: is at most this long and the packed B block at most this many bytes (it stays in L2).
ROWS_OUTER_MAX_KC = 64
ROWS_OUTER_MAX_B_BYTES = 256 * 1024
ROWS_OUTER_MIN_PANELS = 4

#: The dot path's register tile (rows x columns of C, one vector accumulator each: 10, with 2
#: A vectors and a B vector in flight) and the shortest K it is used for (measured against the
#: tiled path on 32 x 10 x K: even at K = 64, 1.2x at 128, 1.5x at 512).
DOT_R, DOT_S = 2, 5
DOT_MIN_K = 128

#: The transposed path (C^T = B^T A^T through C^T chunks in the workspace) serves N up to
#: T_MAX_N; a chunk spans T_CHUNK B micro-panels of C^T (256 rows of C in f32: 12 KiB for
#: N = 10, in L1 when it is transposed into C).
T_MAX_N = 16
T_CHUNK = 16

#: ctypes signature of the generated function, in argument order.
GEMM_ARGTYPES = [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                 ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                 ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                 ctypes.c_void_p, ctypes.c_int64,
                 ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]

_ALIGN = 64  # workspace regions start on cache lines


# ------------------------------------------------------------------------------ parameters


def _dtype_info(dtype: str) -> tuple[ir.Type, int, Any]:
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"GEMM dtype must be one of {sorted(_DTYPES)}, got {dtype!r}") from None


def _vector_registers(host: HostTarget) -> int:
    """Architectural vector registers the microkernel may fill (x86: 16, or 32 with AVX-512;
    AArch64: 32)."""
    if host.arch in ("x86_64", "i386", "i686"):
        return 32 if host.has_feature("avx512f") else 16
    if host.arch in ("aarch64", "arm64"):
        return 32
    return 16


def _round_down(x: int, m: int) -> int:
    return max(m, x // m * m)


@dataclass(frozen=True)
class Blocking:
    """Register tile (``mr x nr``, ``nr`` a multiple of ``lanes``) and cache blocks
    (``mc`` a multiple of ``mr``, ``nc`` a multiple of ``nr``, ``kc``). See the module docstring
    for why the defaults are what they are; tests use small blocks to reach every loop edge
    with small matrices."""

    lanes: int
    mr: int
    nr: int
    mc: int
    kc: int
    nc: int

    def __post_init__(self) -> None:
        if min(self.lanes, self.mr, self.nr, self.mc, self.kc, self.nc) < 1:
            raise ValueError(f"blocking sizes must be positive: {self}")
        if self.nr % self.lanes or self.mc % self.mr or self.nc % self.nr:
            raise ValueError(f"need nr % lanes == mc % mr == nc % nr == 0: {self}")

    @classmethod
    def for_host(cls, dtype: str, host: HostTarget | None = None) -> "Blocking":
        """The blocking for ``dtype`` on ``host`` (default: this machine)."""
        _, size, _ = _dtype_info(dtype)
        host = host or host_target()
        lanes = host.vector_lanes(size)
        nv = 2  # vectors per tile row: 2 FMAs per broadcast A element
        nr = nv * lanes
        # accumulators + the nv B vectors + one broadcast must fit the register file.
        mr = max(1, (_vector_registers(host) - nv - 1) // nv)
        kc = max(16, (32 * 1024) // (nr * size) // 16 * 16)  # B micro-panel ~ 32 KiB (L1)
        mc = _round_down((144 * 1024) // (kc * size), mr)      # A block ~ 144 KiB (L2)
        nc = _round_down(4080, nr)                              # B block <= ~8 MiB (L3)
        return cls(lanes=lanes, mr=mr, nr=nr, mc=mc, kc=kc, nc=nc)

    @property
    def key(self) -> str:
        return f"{self.mr}x{self.nr}_{self.mc}x{self.kc}x{self.nc}"


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _workspace_layout(size: int, blk: Blocking, M: int, N: int, K: int) -> tuple[int, int]:
    """(bytes of the packed-B region, bytes of one thread's whole slice). The generated code
    computes the same numbers (``_emit_workspace_layout``); keep the two in step."""
    kc = min(blk.kc, max(K, 0))
    b_bytes = _round_up(kc * min(blk.nc, _round_up(max(N, 0), blk.nr)) * size, _ALIGN)
    a_bytes = _round_up(kc * min(blk.mc, _round_up(max(M, 0), blk.mr)) * size, _ALIGN)
    return b_bytes, b_bytes + a_bytes + sum(_t_region(size, blk, N, K))


def _t_region(size: int, blk: Blocking, N: int, K: int) -> tuple[int, int, int]:
    """Bytes of the transposed path's packed B^T, packed edge panel of A^T and chunk of C^T
    (all 0 when N is too wide for that path)."""
    if not 0 < N <= T_MAX_N:
        return 0, 0, 0
    kc = min(blk.kc, max(K, 0))
    return (_round_up(_round_up(N, blk.mr) * kc * size, _ALIGN),
            _round_up(kc * blk.nr * size, _ALIGN),
            _round_up(_round_up(N, blk.mr) * T_CHUNK * blk.nr * size, _ALIGN))


def gemm_workspace_bytes(dtype: str, M: int, N: int, K: int, num_threads: int | Threading,
                         blocking: Blocking | None = None) -> int:
    """Bytes of packing workspace the GEMM needs for this problem (0 if nothing is packed).

    ``num_threads`` must be the ``threading`` the function was emitted with (or its count).
    Each thread gets a slice holding one packed B block (``min(KC,K) x min(NC,N)``), one packed
    A block (``min(MC,M) x min(KC,K)``) and, when N is at most T_MAX_N, the transposed path's
    buffers (packed B^T, one packed panel of A^T, a chunk of C^T: 15 KiB for N = 10, K = 32);
    the caller allocates it once and reuses it (fresh memory would cost page faults on every
    call).
    """
    _, size, _ = _dtype_info(dtype)
    nt = num_threads.num_threads if isinstance(num_threads, Threading) else int(num_threads)
    blk = blocking or Blocking.for_host(dtype)
    return max(1, nt) * _workspace_layout(size, blk, M, N, K)[1]


# ------------------------------------------------------------------------------ epilogue


class Epilogue:
    """Code applied to each final value of C before it is stored (bias, activation, residual).

    Subclasses set ``key`` (an identifier-like string: it becomes part of the GEMM function's
    name, so two epilogues with the same key must emit the same code) and implement
    :meth:`emit`.
    """

    key: str = "epilogue"

    def emit(self, builder: ir.IRBuilder, value: ir.Value, row: ir.Value, col: ir.Value,
             extra: ir.Value) -> ir.Value:
        """Return the value to store for ``value`` at ``C[row, col...]``.

        ``value`` is either a vector ``<lanes x T>`` holding columns ``col .. col+lanes-1`` of
        row ``row`` (all in range), or a scalar ``T`` for the single element ``(row, col)``.
        ``row``/``col`` are i64, ``extra`` is the GEMM's ``extra`` pointer. Called exactly once
        per element, after the last K panel. The result must have ``value``'s type.
        """
        raise NotImplementedError


# ------------------------------------------------------------------------------ IR helpers


class _Emitter:
    """Shared state while emitting one GEMM: types, intrinsics, blocking."""

    def __init__(self, module: ir.Module, dtype: str, blk: Blocking, host: HostTarget):
        self.module = module
        self.T, self.size, _ = _dtype_info(dtype)
        self.blk = blk
        self.L = blk.lanes
        self.nv = blk.nr // blk.lanes
        self.VT = ir.VectorType(self.T, self.L)
        suffix = "f32" if dtype == "f32" else "f64"
        # FMA when the hardware has it (one rounding, stated); fmuladd lets LLVM split it into
        # multiply + add elsewhere instead of calling libm's fma per lane.
        base = "llvm.fma" if host.has_feature("fma") or host.arch == "aarch64" else "llvm.fmuladd"
        self.vfma = self._intrinsic(f"{base}.v{self.L}{suffix}", self.VT, [self.VT] * 3)
        self.sfma = self._intrinsic(f"{base}.{suffix}", self.T, [self.T] * 3)
        self.prefetch = self._intrinsic("llvm.prefetch.p0", VOID, [PTR, I32, I32, I32])
        # LLVM 22 form: no alignment operand (element alignment is assumed).
        self.masked_load = self._intrinsic(
            f"llvm.masked.load.v{self.L}{suffix}.p0", self.VT,
            [PTR, ir.VectorType(I1, self.L), self.VT])
        self.zero_vec = ir.Constant(self.VT, None)
        self.splat_mask = ir.Constant(ir.VectorType(I32, self.L), [0] * self.L)

    def _intrinsic(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        # Declared as plain functions by mangled name: Module.declare_intrinsic gets vector
        # intrinsics wrong (LLVM-NOTES).
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
        return fn

    # element-addressed pointer arithmetic (strides may be negative or zero: no inbounds)
    def at(self, b: ir.IRBuilder, ptr: ir.Value, index: ir.Value) -> ir.Value:
        return b.gep(ptr, [index], source_etype=self.T)

    def load(self, b: ir.IRBuilder, ptr: ir.Value) -> ir.Value:
        return b.load(ptr, typ=self.T, align=self.size)

    def vload(self, b: ir.IRBuilder, ptr: ir.Value) -> ir.Value:
        return b.load(ptr, typ=self.VT, align=self.size)

    def transpose(self, b: ir.IRBuilder, rows: list[ir.Value]) -> list[ir.Value]:
        """Transpose an L x L block held in L vectors (``out[k][c] == rows[c][k]``).

        log2(L) butterfly stages; stage j swaps bit j of the vector index with bit j of the
        lane index, one two-input shuffle per output vector (unpck/shufps/vperm2f128 on x86).
        """
        L = self.L
        v = list(rows)
        bit = 1
        while bit < L:
            lo_mask = ir.Constant(ir.VectorType(I32, L),
                                  [k if not k & bit else L + (k ^ bit) for k in range(L)])
            hi_mask = ir.Constant(ir.VectorType(I32, L),
                                  [k | bit if not k & bit else L + k for k in range(L)])
            nxt = list(v)
            for c in range(L):
                if not c & bit:
                    nxt[c] = b.shuffle_vector(v[c], v[c | bit], lo_mask)
                    nxt[c | bit] = b.shuffle_vector(v[c], v[c | bit], hi_mask)
            v = nxt
            bit <<= 1
        return v

    def splat(self, b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        v = b.insert_element(self.zero_vec, x, I32(0))
        return b.shuffle_vector(v, self.zero_vec, self.splat_mask)

    def splat_i64(self, b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        zero = ir.Constant(ir.VectorType(I64, self.L), None)
        return b.shuffle_vector(b.insert_element(zero, x, I32(0)), zero, self.splat_mask)


def _pow2_chunks(n: int, max_width: int) -> list[tuple[int, int]]:
    """(offset, width) pieces of ``n`` elements, powers of two no wider than ``max_width``:
    6 -> [(0, 4), (4, 2)]."""
    out, off = [], 0
    while off < n:
        w = max_width
        while w > n - off:
            w //= 2
        out.append((off, w))
        off += w
    return out


def _i64(x: int) -> ir.Constant:
    return I64(x)


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _ceil_div(b: ir.IRBuilder, x: ir.Value, d: int) -> ir.Value:
    return b.sdiv(b.add(x, _i64(d - 1)), _i64(d))


def _thread_rect(b: ir.IRBuilder, split_n: ir.Value, M: ir.Value, N: ir.Value,
                 tiles_m: ir.Value, tiles_n: ir.Value, tile_m: int, tile_n: int,
                 tid: ir.Value, nt: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
    """``(i0, i1, j0, j1)``: this thread's rectangle of C, whole tiles of ``tile_m x tile_n``:
    a balanced share of the tile columns and every row when ``split_n``, else a share of
    the tile rows and every column (the edges clipped to M, N)."""
    m0, m1 = emit_balanced_split(b, tiles_m, tid, nt)
    n0, n1 = emit_balanced_split(b, tiles_n, tid, nt)
    i0 = b.select(split_n, _i64(0), b.mul(m0, _i64(tile_m)))
    i1 = b.select(split_n, M, _min(b, b.mul(m1, _i64(tile_m)), M))
    j0 = b.select(split_n, b.mul(n0, _i64(tile_n)), _i64(0))
    j1 = b.select(split_n, _min(b, b.mul(n1, _i64(tile_n)), N), N)
    return i0, i1, j0, j1


def _ceil_div_v(b: ir.IRBuilder, x: ir.Value, d: ir.Value) -> ir.Value:
    """``ceil(x / d)`` for a run-time ``d > 0``."""
    return b.sdiv(b.sub(b.add(x, d), _i64(1)), d)


@contextmanager
def _for(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: ir.Value | int,
         name: str) -> Iterator[ir.Value]:
    """``for (i = start; i < stop; i += step)`` (signed); the body is emitted in the ``with``."""
    fn = b.function
    head = fn.append_basic_block(f"{name}.head")
    body = fn.append_basic_block(f"{name}.body")
    done = fn.append_basic_block(f"{name}.done")
    pre = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), body, done)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, step if isinstance(step, ir.Value) else _i64(step)), b.block)
    b.branch(head)
    b.position_at_end(done)


def _if_value(b: ir.IRBuilder, cond: ir.Value, then: Any, otherwise: ir.Value) -> ir.Value:
    """``cond ? then() : otherwise``, evaluating ``then()`` only when ``cond`` holds."""
    pre = b.block
    with b.if_then(cond):
        value = then()
        then_block = b.block
    phi = b.phi(otherwise.type)
    phi.add_incoming(value, then_block)
    phi.add_incoming(otherwise, pre)
    return phi


def _carry_loop(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: int,
                inits: list[ir.Value], body: Any, name: str) -> list[ir.Value]:
    """``for (i = start; i < stop; i += step) values = body(i, values)``; returns the final
    values (``inits`` if the loop does not run). The values live in phis, i.e. registers."""
    fn = b.function
    pre = b.block
    loop = fn.append_basic_block(f"{name}.body")
    latch = fn.append_basic_block(f"{name}.latch")
    done = fn.append_basic_block(f"{name}.done")
    b.cbranch(b.icmp_signed("<", start, stop), loop, done)
    b.position_at_end(loop)
    i = b.phi(I64, name=name)
    phis = [b.phi(v.type) for v in inits]
    i.add_incoming(start, pre)
    for phi, v in zip(phis, inits):
        phi.add_incoming(v, pre)
    outs = body(i, list(phis))
    i_next = b.add(i, _i64(step))
    b.branch(latch)
    b.position_at_end(latch)
    i.add_incoming(i_next, latch)
    for phi, v in zip(phis, outs):
        phi.add_incoming(v, latch)
    b.cbranch(b.icmp_signed("<", i_next, stop), loop, done)
    b.position_at_end(done)
    finals = []
    for v_in, v_out in zip(inits, outs):
        phi = b.phi(v_in.type)
        phi.add_incoming(v_in, pre)
        phi.add_incoming(v_out, latch)
        finals.append(phi)
    return finals


def _merge(b: ir.IRBuilder, t: ir.Type,
           incoming: list[tuple[list[list[ir.Value]], ir.Block]]) -> list[list[ir.Value]]:
    """Phis joining tables of values that arrive from several blocks (same shape each)."""
    first = incoming[0][0]
    out = []
    for r in range(len(first)):
        out.append([])
        for v in range(len(first[r])):
            phi = b.phi(t)
            for table, block in incoming:
                phi.add_incoming(table[r][v], block)
            out[r].append(phi)
    return out


def _internal(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type],
              arg_names: list[str], *, optsize: bool = False) -> tuple[ir.Function, ir.IRBuilder]:
    """An internal helper function and a builder at its entry.

    Helpers are ``noinline``: inlined into one function, the microkernel, packers and loop nest
    compiled 2x slower and the GEMM body was duplicated into the serial and parallel paths, for
    no measured speed. ``optsize`` (packers, microkernel, worker and the skinny paths' helpers):
    their vector code is written by hand here, and LLVM's own vectorization and unrolling of
    their scalar loops tripled their code and compile time for no measured gain.
    """
    fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    if optsize:
        fn.attributes.add("optsize")
    for arg, n in zip(fn.args, arg_names):
        arg.name = n
    return fn, ir.IRBuilder(fn.append_basic_block("entry"))


# ------------------------------------------------------------------------------ packing


def _emit_pack_a(e: _Emitter, name: str) -> ir.Function:
    """``pack_a(dst, A, a_rs, a_cs, mc, kc)``: A[0:mc, 0:kc] into MR-row micro-panels.

    Panel p holds rows p*MR .. p*MR+MR-1 as ``kc`` groups of MR consecutive elements (one group
    per k), which is the order the microkernel broadcasts them in. Rows past ``mc`` are zeros.
    """
    MR = e.blk.mr
    fn, b = _internal(e.module, name, VOID, [PTR, PTR, I64, I64, I64, I64],
                      ["dst", "a", "a_rs", "a_cs", "mc", "kc"], optsize=True)
    dst, a, a_rs, a_cs, mc, kc = fn.args
    dst.add_attribute("noalias")
    with _for(b, _i64(0), mc, MR, "ir") as i0:
        panel = e.at(b, dst, b.mul(i0, kc))
        rows = _min(b, _i64(MR), b.sub(mc, i0))
        full = b.icmp_signed("==", rows, _i64(MR))
        with b.if_else(full) as (then, otherwise):
            with then:
                # Transposed A (a_rs == 1, as in a weight gradient X^T @ dY): the MR elements
                # of each k are contiguous, copied as a few short vectors (6 = 4 + 2).
                a_col = e.at(b, a, i0)
                unit = b.icmp_signed("==", a_rs, _i64(1))
                k_split = b.select(unit, kc, _i64(0))
                with _for(b, _i64(0), k_split, 1, "kv") as k:
                    src = e.at(b, a_col, b.mul(k, a_cs))
                    out = e.at(b, panel, b.mul(k, _i64(MR)))
                    for off, width in _pow2_chunks(MR, e.L):
                        vt = ir.VectorType(e.T, width)
                        b.store(b.load(e.at(b, src, _i64(off)), typ=vt, align=e.size),
                                e.at(b, out, _i64(off)), align=e.size)
                # Row-major A (a_cs == 1, the usual case): each row is contiguous in k; load
                # L k-values of every row, transpose L x L blocks of rows in registers and
                # store the MR valid lanes of each k.
                row_ptrs = [e.at(b, a, b.mul(b.add(i0, _i64(r)), a_rs)) for r in range(MR)]
                unit_k = b.and_(b.not_(unit), b.icmp_signed("==", a_cs, _i64(1)))
                k_blocks = b.select(unit_k, b.mul(b.sdiv(kc, _i64(e.L)), _i64(e.L)), _i64(0))
                with _for(b, _i64(0), k_blocks, e.L, "kb") as k:
                    for g in range(0, MR, e.L):
                        n_rows = min(e.L, MR - g)
                        vecs = [e.vload(b, e.at(b, row_ptrs[g + r], k)) for r in range(n_rows)]
                        vecs += [e.zero_vec] * (e.L - n_rows)
                        for kk, col in enumerate(e.transpose(b, vecs)):
                            out = e.at(b, panel, b.add(b.mul(b.add(k, _i64(kk)), _i64(MR)),
                                                       _i64(g)))
                            for off, width in _pow2_chunks(n_rows, e.L):
                                part = col if width == e.L else b.shuffle_vector(
                                    col, col, ir.Constant(ir.VectorType(I32, width),
                                                          list(range(off, off + width))))
                                b.store(part, e.at(b, out, _i64(off)), align=e.size)
                # Anything else, and the k remainder: MR strided streams, unrolled.
                k_split = b.select(unit, k_split, k_blocks)
                with _for(b, k_split, kc, 1, "k") as k:
                    koff = b.mul(k, a_cs)
                    out = e.at(b, panel, b.mul(k, _i64(MR)))
                    for r in range(MR):
                        b.store(e.load(b, e.at(b, row_ptrs[r], koff)), e.at(b, out, _i64(r)),
                                align=e.size)
            with otherwise:
                # Last, partial panel: rows past `rows` read row 0 (always valid) and store
                # zero: branch-free, unrolled like the full panel.
                zero = ir.Constant(e.T, 0.0)
                valid = [b.icmp_signed("<", _i64(r), rows) for r in range(MR)]
                row_ptrs = [e.at(b, a, b.mul(b.select(valid[r], b.add(i0, _i64(r)), i0), a_rs))
                            for r in range(MR)]
                with _for(b, _i64(0), kc, 1, "kt") as k:
                    koff = b.mul(k, a_cs)
                    out = e.at(b, panel, b.mul(k, _i64(MR)))
                    for r in range(MR):
                        v = b.select(valid[r], e.load(b, e.at(b, row_ptrs[r], koff)), zero)
                        b.store(v, e.at(b, out, _i64(r)), align=e.size)
    b.ret_void()
    return fn


def _emit_pack_b(e: _Emitter, name: str) -> ir.Function:
    """``pack_b(dst, B, b_rs, b_cs, kc, nc, p_begin, p_end)``: micro-panels ``p_begin..p_end``
    of B[0:kc, 0:nc], each NR columns wide.

    Panel p holds columns p*NR .. p*NR+NR-1 as ``kc`` rows of NR consecutive elements; columns
    past ``nc`` are zeros. Row-major B (``b_cs == 1``) is copied a vector at a time: with M
    small (``64 x 784 x 128``) B packing is a visible part of the run time.
    """
    NR, L = e.blk.nr, e.L
    fn, b = _internal(e.module, name, VOID, [PTR, PTR, I64, I64, I64, I64, I64, I64],
                      ["dst", "b", "b_rs", "b_cs", "kc", "nc", "p_begin", "p_end"], optsize=True)
    dst, src, b_rs, b_cs, kc, nc, p_begin, p_end = fn.args
    dst.add_attribute("noalias")
    with _for(b, p_begin, p_end, 1, "p") as p:
        j0 = b.mul(p, _i64(NR))
        panel = e.at(b, dst, b.mul(j0, kc))
        base = e.at(b, src, b.mul(j0, b_cs))
        cols = _min(b, _i64(NR), b.sub(nc, j0))
        full = b.icmp_signed("==", cols, _i64(NR))
        unit = b.and_(full, b.icmp_signed("==", b_cs, _i64(1)))
        with b.if_else(unit) as (then, otherwise):
            with then:
                with _for(b, _i64(0), kc, 1, "kv") as k:
                    row = e.at(b, base, b.mul(k, b_rs))
                    out = e.at(b, panel, b.mul(k, _i64(NR)))
                    for v in range(NR // L):
                        b.store(e.vload(b, e.at(b, row, _i64(v * L))), e.at(b, out, _i64(v * L)),
                                align=e.size)
            with otherwise:
                with b.if_else(full) as (strided, partial):
                    with strided:
                        # Transposed B (b_rs == 1, as in dY @ W^T): each column is contiguous
                        # in k; load L x L blocks as column vectors and transpose them in
                        # registers, instead of 2 scalar accesses per element.
                        unit_k = b.icmp_signed("==", b_rs, _i64(1))
                        k_split = b.select(unit_k, b.mul(b.sdiv(kc, _i64(L)), _i64(L)), _i64(0))
                        with _for(b, _i64(0), k_split, L, "kt") as k:
                            for h in range(NR // L):
                                cols_v = [e.vload(b, e.at(b, base, b.add(
                                    b.mul(_i64(h * L + c), b_cs), k))) for c in range(L)]
                                for kk, row_v in enumerate(e.transpose(b, cols_v)):
                                    dst_k = b.add(b.mul(b.add(k, _i64(kk)), _i64(NR)),
                                                  _i64(h * L))
                                    b.store(row_v, e.at(b, panel, dst_k), align=e.size)
                        col_ptrs = [e.at(b, base, b.mul(_i64(c), b_cs)) for c in range(NR)]
                        with _for(b, k_split, kc, 1, "ks") as k:
                            koff = b.mul(k, b_rs)
                            out = e.at(b, panel, b.mul(k, _i64(NR)))
                            for c in range(NR):
                                b.store(e.load(b, e.at(b, col_ptrs[c], koff)),
                                        e.at(b, out, _i64(c)), align=e.size)
                    with partial:
                        # Columns past `cols` read column 0 (always valid) and store zero.
                        zero = ir.Constant(e.T, 0.0)
                        valid = [b.icmp_signed("<", _i64(c), cols) for c in range(NR)]
                        col_ptrs = [e.at(b, base, b.select(valid[c], b.mul(_i64(c), b_cs),
                                                           _i64(0))) for c in range(NR)]
                        with _for(b, _i64(0), kc, 1, "kp") as k:
                            koff = b.mul(k, b_rs)
                            out = e.at(b, panel, b.mul(k, _i64(NR)))
                            for c in range(NR):
                                v = b.select(valid[c], e.load(b, e.at(b, col_ptrs[c], koff)),
                                             zero)
                                b.store(v, e.at(b, out, _i64(c)), align=e.size)
    b.ret_void()
    return fn


# ------------------------------------------------------------------------------ microkernel


#: A block's microkernel parameters (see _emit_ukernel), filled once per block by the caller.
_DESC = ir.LiteralStructType([I64, I64, I64, I64, I64, I32, PTR])
_A_STRIDED, _LOAD_C, _LAST = 1, 2, 4


def _store_desc(b: ir.IRBuilder, desc: ir.Value, kc: ir.Value, a_rs: ir.Value,
                a_cs: ir.Value, b_rs: ir.Value, c_rs: ir.Value, a_strided: ir.Value,
                load_c: ir.Value, last: ir.Value, extra: ir.Value) -> None:
    flags = b.or_(b.or_(b.select(a_strided, I32(_A_STRIDED), I32(0)),
                        b.select(load_c, I32(_LOAD_C), I32(0))),
                  b.select(last, I32(_LAST), I32(0)))
    for k, v in enumerate((kc, a_rs, a_cs, b_rs, c_rs, flags, extra)):
        b.store(v, b.gep(desc, [I32(0), I32(k)], source_etype=_DESC))


def _load_desc(b: ir.IRBuilder, desc: ir.Value) -> list[ir.Value]:
    return [b.load(b.gep(desc, [I32(0), I32(k)], source_etype=_DESC), typ=t)
            for k, t in enumerate(_DESC.elements)]


def _emit_ukernel(e: _Emitter, name: str, epilogue: Epilogue | None) -> ir.Function:
    """``ukernel(desc, ap, bp, c, mr, nr, row, col, b_strided)``, ``desc`` a :data:`_DESC`
    (``kc, a_rs, a_cs, b_rs, c_rs, flags, extra``; flags: ``_A_STRIDED | _LOAD_C | _LAST``)
    shared by the tiles of a block: the call passes 9 arguments instead of 17 (with 17, 11 on the
    stack and the caller's loop state spilled, 21632 x 32 x 9 took 4% longer).

    Computes the MR x NR product of one A micro-panel and one B micro-panel in registers, then
    stores its ``mr x nr`` valid corner to ``c`` (the tile's top-left element, global
    coordinates ``row``, ``col``): ``C = (load_c ? C : 0) + acc``, then the epilogue if
    ``last``.

    Each operand is either a packed micro-panel (zero-padded to the full tile, MR elements
    per k for A, NR for B) or read in place: ``A[r, k] = ap[r*a_rs + k*a_cs]`` when
    ``_A_STRIDED`` (rows past ``mr`` read row ``mr - 1``: valid memory, never stored),
    ``B[k, 0:NR] = bp[k*b_rs + 0:NR]`` when ``b_strided`` (B must have NR readable columns:
    in-place panels are full ones). The k loop has three forms: both packed, unrolled by 4
    with constant offsets (the big-GEMM loop); packed A with B in place; A in place (any B, a
    packed one read with ``b_rs = NR``). Constant offsets for a packed operand matter: with
    both read through run-time strides, the transposed path ran 6% slower. All forms
    run the same FMA sequence per element (k in order from a zero accumulator), so an
    element's bits do not depend on the form, the tile it falls in or the thread.
    """
    MR, NR, L, nv = e.blk.mr, e.blk.nr, e.L, e.nv
    # optsize: its loops are unrolled by hand where that pays; LLVM's own unrolling of the
    # strided loops and duplication of the stores doubled its code for no speed (measured:
    # 1150 -> 600 lines of assembly, 13% less compile time for a GEMM module, equal or better
    # speed on big and skinny shapes).
    fn, b = _internal(e.module, name, VOID, [PTR, PTR, PTR, PTR, I64, I64, I64, I64, I1],
                      ["desc", "ap", "bp", "c", "mr", "nr", "row", "col", "b_strided"],
                      optsize=True)
    desc, ap, bp, c, mr, nr, row, col, b_strided = fn.args
    desc.add_attribute("noalias")
    kc, a_rs, a_cs, b_rs, c_rs, flags, extra = _load_desc(b, desc)
    a_strided = b.icmp_unsigned("!=", b.and_(flags, I32(_A_STRIDED)), I32(0))
    load_c = b.icmp_unsigned("!=", b.and_(flags, I32(_LOAD_C)), I32(0))
    last = b.icmp_unsigned("!=", b.and_(flags, I32(_LAST)), I32(0))
    b_rs = b.select(b_strided, b_rs, _i64(NR))
    c.add_attribute("noalias")
    edge_buf = b.alloca(ir.ArrayType(e.T, MR * NR), name="edge")
    edge_buf.align = 64
    edge_buf.type = PTR  # llvmlite types allocas as typed pointers; LLVM 22 has only `ptr`

    # Prefetch the C tile for writing: its first and last element of each row (a row of the
    # tile may straddle two cache lines). Prefetches never fault, so rows past mr are harmless;
    # the GEPs are not inbounds, so the addresses are plain arithmetic.
    c_rows = [e.at(b, c, b.mul(_i64(r), c_rs)) for r in range(MR)]
    for r in range(MR):
        for off in (0, NR - 1):
            b.call(e.prefetch, [e.at(b, c_rows[r], _i64(off)), I32(1), I32(3), I32(1)])

    def k_loop(tag: str, trips: ir.Value, unroll: int, accs_in: list[list[ir.Value]],
               a_in: ir.Value, b_in: ir.Value, step: Any, a_stride: Any, b_stride: Any
               ) -> tuple[list[list[ir.Value]], ir.Value, ir.Value]:
        """``trips`` iterations of ``unroll`` k steps (``step(accs, a_ptr, b_ptr, u)``); the
        accumulators and panel pointers are phis, the pointers advance by ``*_stride(n)``."""
        pre = b.block
        head = fn.append_basic_block(f"{tag}.head")
        body = fn.append_basic_block(f"{tag}.body")
        done = fn.append_basic_block(f"{tag}.done")
        b.cbranch(b.icmp_signed(">", trips, _i64(0)), body, done)
        b.position_at_end(body)
        i = b.phi(I64, name=f"{tag}.i")
        a_ptr = b.phi(PTR, name=f"{tag}.a")
        b_ptr = b.phi(PTR, name=f"{tag}.b")
        acc_phis = [[b.phi(e.VT, name=f"acc{r}_{v}") for v in range(nv)] for r in range(MR)]
        i.add_incoming(_i64(0), pre)
        a_ptr.add_incoming(a_in, pre)
        b_ptr.add_incoming(b_in, pre)
        for r in range(MR):
            for v in range(nv):
                acc_phis[r][v].add_incoming(accs_in[r][v], pre)
        accs = acc_phis
        for u in range(unroll):
            accs = step(accs, a_ptr, b_ptr, u)
        a_next = e.at(b, a_ptr, a_stride(unroll))
        b_next = e.at(b, b_ptr, b_stride(unroll))
        i_next = b.add(i, _i64(1))
        b.branch(head)
        b.position_at_end(head)
        for phi, val in ((i, i_next), (a_ptr, a_next), (b_ptr, b_next)):
            phi.add_incoming(val, head)
        for r in range(MR):
            for v in range(nv):
                acc_phis[r][v].add_incoming(accs[r][v], head)
        b.cbranch(b.icmp_signed("<", i_next, trips), body, done)
        # Exit values: from `pre` when the loop did not run, else from the latch.
        b.position_at_end(done)
        outs = []
        for r in range(MR):
            row_out = []
            for v in range(nv):
                phi = b.phi(e.VT)
                phi.add_incoming(accs_in[r][v], pre)
                phi.add_incoming(accs[r][v], head)
                row_out.append(phi)
            outs.append(row_out)
        a_out = b.phi(PTR)
        a_out.add_incoming(a_in, pre)
        a_out.add_incoming(a_next, head)
        b_out = b.phi(PTR)
        b_out.add_incoming(b_in, pre)
        b_out.add_incoming(b_next, head)
        return outs, a_out, b_out

    def fma_rows(accs: list[list[ir.Value]], a_vals: list[ir.Value],
                 bv: list[ir.Value]) -> list[list[ir.Value]]:
        return [[b.call(e.vfma, [e.splat(b, a_vals[r]), bv[v], accs[r][v]]) for v in range(nv)]
                for r in range(MR)]

    def packed_step(accs, a_ptr, b_ptr, u):
        bv = [e.vload(b, e.at(b, b_ptr, _i64(u * NR + v * L))) for v in range(nv)]
        return fma_rows(accs, [e.load(b, e.at(b, a_ptr, _i64(u * MR + r))) for r in range(MR)],
                        bv)

    zero = [[e.zero_vec] * nv for _ in range(MR)]
    UNROLL = 4
    results = []
    a_packed_stride = lambda n: _i64(n * MR)  # noqa: E731
    with b.if_else(a_strided) as (a_strided_bb, a_packed_bb):
        with a_packed_bb:
            def b_strided_step(accs, a_ptr, b_ptr, u):
                bv = [e.vload(b, e.at(b, b_ptr, _i64(v * L))) for v in range(nv)]
                return fma_rows(accs, [e.load(b, e.at(b, a_ptr, _i64(r))) for r in range(MR)],
                                bv)

            inner = []
            with b.if_else(b_strided) as (b_strided_bb, b_packed_bb):
                with b_packed_bb:
                    acc, a_p, b_p = k_loop("k4", b.lshr(kc, _i64(2)), UNROLL, zero, ap, bp,
                                           packed_step, a_packed_stride,
                                           lambda n: _i64(n * NR))
                    acc, _, _ = k_loop("k1", b.and_(kc, _i64(UNROLL - 1)), 1, acc, a_p, b_p,
                                       packed_step, a_packed_stride, lambda n: _i64(n * NR))
                    inner.append((acc, b.block))
                with b_strided_bb:
                    acc, _, _ = k_loop("kb", kc, 1, zero, ap, bp, b_strided_step,
                                       a_packed_stride, lambda n: b.mul(_i64(n), b_rs))
                    inner.append((acc, b.block))
            results.append((_merge(b, e.VT, inner), b.block))
        with a_strided_bb:
            # Row offsets, clamped to the last valid row, once per tile. One k step per
            # iteration: unrolled steps with run-time strides need an address register per
            # (row, step), and spilled (measured slower).
            last_row = b.sub(mr, _i64(1))
            a_off = [_i64(0)] + [b.mul(_min(b, _i64(r), last_row), a_rs) for r in range(1, MR)]

            def a_strided_step(accs, a_ptr, b_ptr, u):
                bv = [e.vload(b, e.at(b, b_ptr, _i64(v * L))) for v in range(nv)]
                return fma_rows(accs, [e.load(b, e.at(b, a_ptr, a_off[r])) for r in range(MR)],
                                bv)

            acc, _, _ = k_loop("ka", kc, 1, zero, ap, bp, a_strided_step,
                               lambda n: b.mul(_i64(n), a_cs), lambda n: b.mul(_i64(n), b_rs))
            results.append((acc, b.block))
    accs = _merge(b, e.VT, results)

    def finish(value: ir.Value, ptr: ir.Value, r: ir.Value, cidx: ir.Value, vector: bool,
               lc: ir.Value | bool, ls: ir.Value | bool) -> None:
        _emit_store(e, b, epilogue, value, ptr, r, cidx, extra, vector, lc, ls)

    done = fn.append_basic_block("done")
    full_bb = fn.append_basic_block("full")
    edge_bb = fn.append_basic_block("edge")
    is_full = b.and_(b.icmp_signed("==", mr, _i64(MR)), b.icmp_signed("==", nr, _i64(NR)))
    b.cbranch(is_full, full_bb, edge_bb)

    # Full tile: store sequences specialised on (load_c, last). With an epilogue, C is added
    # before the epilogue's single copy: its code is most of a microkernel's IR, one copy per
    # vector of the tile (a separate copy per load_c cost 13% more IR for a bias epilogue).
    b.position_at_end(full_bb)
    variants = {}
    for lc in (False, True):
        for ls in (False, True) if epilogue is None else (False,):
            variants[lc, ls] = fn.append_basic_block(f"full.{int(lc)}{int(ls)}")
    last_bb = fn.append_basic_block("full.last")
    more_bb = fn.append_basic_block("full.more")
    b.cbranch(last, last_bb, more_bb)
    for ls, bb in ((True, last_bb), (False, more_bb)):
        if (True, ls) in variants:
            b.position_at_end(bb)
            b.cbranch(load_c, variants[True, ls], variants[False, ls])
    for (lc, ls), bb in variants.items():
        b.position_at_end(bb)
        for r in range(MR):
            for v in range(nv):
                finish(accs[r][v], e.at(b, c_rows[r], _i64(v * L)), row, col, True, lc, ls)
        b.branch(done)
    if epilogue is not None:
        b.position_at_end(last_bb)
        add_bb = fn.append_basic_block("full.last.c")
        epi_bb = fn.append_basic_block("full.last.epi")
        b.cbranch(load_c, add_bb, epi_bb)
        b.position_at_end(add_bb)
        summed = [[b.fadd(e.vload(b, e.at(b, c_rows[r], _i64(v * L))), accs[r][v])
                   for v in range(nv)] for r in range(MR)]
        b.branch(epi_bb)
        b.position_at_end(epi_bb)
        finals = _merge(b, e.VT, [(summed, add_bb), (accs, last_bb)])
        for r in range(MR):
            grow = b.add(row, _i64(r))
            for v in range(nv):
                finish(finals[r][v], e.at(b, c_rows[r], _i64(v * L)), grow,
                       b.add(col, _i64(v * L)), True, False, True)
        b.branch(done)

    # Edge tile: spill the accumulators, store the valid mr x nr corner of each row: whole
    # vectors while they fit, then single elements. C is added by a select (reading C is
    # valid: it is the tile's own corner); the epilogue runs behind a branch on `last`.
    b.position_at_end(edge_bb)
    for r in range(MR):
        for v in range(nv):
            b.store(accs[r][v], e.at(b, edge_buf, _i64(r * NR + v * L)), align=e.size)
    n_vec = b.mul(b.sdiv(nr, _i64(L)), _i64(L))
    with _for(b, _i64(0), mr, 1, "er") as r:
        grow = b.add(row, r)
        c_row = e.at(b, c, b.mul(r, c_rs))
        buf_row = e.at(b, edge_buf, b.mul(r, _i64(NR)))
        for v in range(nv):
            with b.if_then(b.icmp_signed(">=", nr, _i64((v + 1) * L))):
                ptr = e.at(b, c_row, _i64(v * L))
                x = e.vload(b, e.at(b, buf_row, _i64(v * L)))
                x = b.select(load_c, b.fadd(e.vload(b, ptr), x), x)
                finish(x, ptr, grow, b.add(col, _i64(v * L)), True, False, last)
        with _for(b, n_vec, nr, 1, "es") as j:
            ptr = e.at(b, c_row, j)
            x = e.load(b, e.at(b, buf_row, j))
            x = b.select(load_c, b.fadd(e.load(b, ptr), x), x)
            finish(x, ptr, grow, b.add(col, j), False, False, last)
    b.branch(done)

    b.position_at_end(done)
    b.ret_void()
    return fn


def _emit_store(e: _Emitter, b: ir.IRBuilder, epilogue: Epilogue | None, value: ir.Value,
                ptr: ir.Value, row: ir.Value, col: ir.Value, extra: ir.Value, vector: bool,
                load_c: ir.Value | bool, last: ir.Value | bool) -> None:
    """Store ``value`` (plus the C already at ``ptr`` if ``load_c``, then through the epilogue
    if ``last``) at ``ptr``. ``load_c``/``last`` are Python bools where the caller specialised
    the code, i1 values otherwise (then branches, so that C is not read and the epilogue not
    run when they are false)."""
    def add_c() -> ir.Value:
        return b.fadd(e.vload(b, ptr) if vector else e.load(b, ptr), value)

    if load_c is True:
        value = add_c()
    elif load_c is not False:
        value = _if_value(b, load_c, add_c, value)
    if epilogue is not None and last is not False:
        def apply() -> ir.Value:
            return _checked_epilogue(epilogue, b, value, row, col, extra)
        value = apply() if last is True else _if_value(b, last, apply, value)
    b.store(value, ptr, align=e.size)


def _emit_gemv(e: _Emitter, name: str, epilogue: Epilogue | None) -> ir.Function:
    """``gemv(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, load_c, extra)``: the matrix-
    vector shapes, unpacked. Packing costs as much as the product itself when a dimension is 1,
    and the register tile would run 1/MR or 1/NR full (measured: 0.13-0.24x numpy).

    * ``M == 1`` and ``b_cs == 1``: ``C[0, :] = sum_k A[0, k] * B[k, :]``, vectors along N,
      B read row by row (contiguous), the C row in L1 as the accumulator; each C element is
      summed over k in order (with accumulate, starting from C rather than added to it).
    * ``N == 1`` and ``a_cs == b_rs == 1``: ``C[i, 0] = dot(A[i, :], B[:, 0])``, vectors
      along K: each dot product is summed in a fixed order of 4 vector partial sums, their
      lanes, then the scalar tail (so results differ from the tiled path in rounding, never
      between runs or thread counts).

    The caller checks those conditions.
    """
    L = e.L
    fn, b = _internal(e.module, name, VOID,
                      [I64, I64, I64, PTR, I64, I64, PTR, I64, I64, PTR, I64, I1, PTR],
                      ["M", "N", "K", "A", "a_rs", "a_cs", "B", "b_rs", "b_cs", "C", "c_rs",
                       "load_c", "extra"])
    M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, load_c, extra = fn.args
    zero_s = ir.Constant(e.T, 0.0)

    def store(value: ir.Value, row: ir.Value, col: ir.Value, vector: bool,
              add_c: ir.Value | bool) -> None:
        ptr = e.at(b, C, b.add(b.mul(row, c_rs), col))
        _emit_store(e, b, epilogue, value, ptr, row, col, extra, vector, add_c, True)

    row_case = b.icmp_signed("==", M, _i64(1))
    with b.if_else(row_case) as (row_path, col_path):
        with row_path:
            # k outer, in steps of 4 rows of B, each swept whole (contiguous streams), with the
            # C row (L1-resident) as the accumulator: C[j] = fma(a[k], B[k, j], C[j]) for k in
            # order. C is first zeroed unless accumulating, the epilogue is a last pass.
            n_vec = b.mul(b.sdiv(N, _i64(L)), _i64(L))
            with b.if_then(b.not_(load_c)):
                with _for(b, _i64(0), n_vec, L, "rz") as j:
                    b.store(e.zero_vec, e.at(b, C, j), align=e.size)
                with _for(b, n_vec, N, 1, "rzs") as j:
                    b.store(zero_s, e.at(b, C, j), align=e.size)

            def sweep(k0: ir.Value, rows: int) -> None:
                a_k = [e.load(b, e.at(b, A, b.mul(b.add(k0, _i64(u)), a_cs))) for u in range(rows)]
                av = [e.splat(b, x) for x in a_k]
                b_rows = [e.at(b, B, b.mul(b.add(k0, _i64(u)), b_rs)) for u in range(rows)]
                with _for(b, _i64(0), n_vec, L, "rj") as j:
                    ptr = e.at(b, C, j)
                    acc = e.vload(b, ptr)
                    for u in range(rows):
                        acc = b.call(e.vfma, [av[u], e.vload(b, e.at(b, b_rows[u], j)), acc])
                    b.store(acc, ptr, align=e.size)
                with _for(b, n_vec, N, 1, "rjs") as j:
                    ptr = e.at(b, C, j)
                    acc = e.load(b, ptr)
                    for u in range(rows):
                        acc = b.call(e.sfma, [a_k[u], e.load(b, e.at(b, b_rows[u], j)), acc])
                    b.store(acc, ptr, align=e.size)

            k_blk = b.mul(b.sdiv(K, _i64(4)), _i64(4))
            with _for(b, _i64(0), k_blk, 4, "rk") as k0:
                sweep(k0, 4)
            with _for(b, k_blk, K, 1, "rk1") as k0:
                sweep(k0, 1)
            if epilogue is not None:
                with _for(b, _i64(0), n_vec, L, "re") as j:
                    store(e.vload(b, e.at(b, C, j)), _i64(0), j, True, False)
                with _for(b, n_vec, N, 1, "res") as j:
                    store(e.load(b, e.at(b, C, j)), _i64(0), j, False, False)
        with col_path:
            UNROLL = 4
            k_wide = b.mul(b.sdiv(K, _i64(UNROLL * L)), _i64(UNROLL * L))
            k_vec = b.mul(b.sdiv(K, _i64(L)), _i64(L))
            with _for(b, _i64(0), M, 1, "ci") as i:
                a_row = e.at(b, A, b.mul(i, a_rs))

                def dot_step(width: int) -> Any:
                    def step(k: ir.Value, accs: list[ir.Value]) -> list[ir.Value]:
                        return [b.call(e.vfma, [e.vload(b, e.at(b, a_row, b.add(k, _i64(u * L)))),
                                                e.vload(b, e.at(b, B, b.add(k, _i64(u * L)))),
                                                acc]) for u, acc in enumerate(accs[:width])] \
                            + accs[width:]
                    return step

                accs = _carry_loop(b, _i64(0), k_wide, UNROLL * L, [e.zero_vec] * UNROLL,
                                   dot_step(UNROLL), "ck")
                accs = _carry_loop(b, k_wide, k_vec, L, accs, dot_step(1), "cv")
                total = b.fadd(b.fadd(accs[0], accs[1]), b.fadd(accs[2], accs[3]))
                width = L
                while width > 1:  # lanes: halve and add, in a fixed order
                    width //= 2
                    lo = b.shuffle_vector(total, total, ir.Constant(
                        ir.VectorType(I32, width), list(range(width))))
                    hi = b.shuffle_vector(total, total, ir.Constant(
                        ir.VectorType(I32, width), list(range(width, 2 * width))))
                    total = b.fadd(lo, hi)
                total = b.extract_element(total, I32(0))

                def tail_step(k: ir.Value, accs: list[ir.Value]) -> list[ir.Value]:
                    return [b.call(e.sfma, [e.load(b, e.at(b, a_row, k)),
                                            e.load(b, e.at(b, B, k)), accs[0]])]
                total, = _carry_loop(b, k_vec, K, 1, [total], tail_step, "cs")
                store(total, i, _i64(0), False, load_c)
    b.ret_void()
    return fn


def _checked_epilogue(epilogue: Epilogue, b: ir.IRBuilder, value: ir.Value, row: ir.Value,
                      col: ir.Value, extra: ir.Value) -> ir.Value:
    out = epilogue.emit(b, value, row, col, extra)
    if out.type != value.type:
        raise TypeError(f"epilogue '{epilogue.key}' returned {out.type} for a {value.type} value")
    return out


# ------------------------------------------------------------------------------ driver

#: Fields of the argument block handed to every thread, in the function's argument order.
_PARAM_TYPES = [I64, I64, I64, PTR, I64, I64, PTR, I64, I64, PTR, I64, I32, PTR, PTR]
_PARAM_NAMES = ["M", "N", "K", "A", "a_rs", "a_cs", "B", "b_rs", "b_cs", "C", "c_rs",
                "accumulate", "work", "extra"]
_PARAMS = ir.LiteralStructType(_PARAM_TYPES)
#: The block the worker gets: the arguments, then the variant's own routines (its microkernel,
#: C^T chunk store and epilogue pass, the last null without an epilogue). One worker serves
#: every GEMM variant of a module with the same dtype, blocking and threads (it calls those
#: routines through the pointers), instead of one copy of its ~600 lines of IR per epilogue.
_WORKER_PARAMS = ir.LiteralStructType(_PARAM_TYPES + [PTR, PTR, PTR])
_UKERNEL_TYPE = ir.FunctionType(VOID, [PTR, PTR, PTR, PTR, I64, I64, I64, I64, I1])
_TSTORE_TYPE = ir.FunctionType(VOID, [PTR, I64, PTR, I64, I64, I64, I64, I1, PTR])
_EPI_TYPE = ir.FunctionType(VOID, [PTR, I64, I64, I64, I64, I64, PTR])


def _emit_workspace_layout(e: _Emitter, b: ir.IRBuilder, M: ir.Value, N: ir.Value,
                           K: ir.Value) -> tuple[ir.Value, ir.Value, tuple]:
    """IR twin of ``_workspace_layout``: (packed-B bytes, bytes per thread slice, the three
    parts of the transposed path's region, which ends the slice)."""
    blk, size = e.blk, e.size

    def round_up(x: ir.Value, m: int) -> ir.Value:
        return b.mul(_ceil_div(b, x, m), _i64(m))

    kc = _min(b, _i64(blk.kc), K)
    b_bytes = round_up(b.mul(b.mul(kc, _min(b, _i64(blk.nc), round_up(N, blk.nr))),
                             _i64(size)), _ALIGN)
    a_bytes = round_up(b.mul(b.mul(kc, _min(b, _i64(blk.mc), round_up(M, blk.mr))),
                             _i64(size)), _ALIGN)
    t_parts = _emit_t_region(e, b, N, K)
    t_bytes = b.add(b.add(t_parts[0], t_parts[1]), t_parts[2])
    return b_bytes, b.add(b.add(b_bytes, a_bytes), t_bytes), t_parts


def _emit_t_region(e: _Emitter, b: ir.IRBuilder, N: ir.Value,
                   K: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """IR twin of ``_t_region`` (N > 0, K >= 0 here)."""
    blk, size = e.blk, e.size

    def round_up(x: ir.Value, m: int) -> ir.Value:
        return b.mul(_ceil_div(b, x, m), _i64(m))

    kc = _min(b, _i64(blk.kc), K)
    used = b.icmp_signed("<=", N, _i64(T_MAX_N))
    parts = (round_up(b.mul(b.mul(round_up(N, blk.mr), kc), _i64(size)), _ALIGN),
             round_up(b.mul(kc, _i64(blk.nr * size)), _ALIGN),
             round_up(b.mul(round_up(N, blk.mr), _i64(T_CHUNK * blk.nr * size)), _ALIGN))
    return tuple(b.select(used, p, _i64(0)) for p in parts)


def _emit_transposed(e: _Emitter, b: ir.IRBuilder, vals: dict, K: ir.Value,
                     accumulate: ir.Value, tid: ir.Value, nt: ir.Value, pack_a: ir.Function,
                     pack_b: ir.Function, ukernel: ir.Value, tstore: ir.Value,
                     desc: ir.Value, layout: tuple, my_slice: ir.Value) -> None:
    """Thread ``tid``'s rows of C for ``a_rs == 1`` and ``N <= T_MAX_N``, as C^T = B^T A^T.

    Threads take contiguous ranges of NR-row tiles of C. For each chunk of up to T_CHUNK * NR
    of those rows, K panel by K panel: B^T is packed into MR-row panels (N x kc: tiny), A^T's
    rows are read in place as the B operand (NR contiguous elements per k; a partial last
    panel is packed), and the microkernel writes C^T's chunk (N x chunk, L1-sized) into the
    workspace with ``last`` false, so no epilogue yet. Then the chunk is transposed into C
    through L x L register transposes, adding C when accumulating and applying the epilogue
    once per element: vectors of L columns while they fit, single elements for the rest.

    Each element of C^T is summed exactly as the untransposed path sums it (k in order per K
    panel, panels added in order); C (when accumulated into) is added after the last panel.
    """
    blk = e.blk
    MR, NR, KC = blk.mr, blk.nr, blk.kc
    M, N = vals["M"], vals["N"]
    A, a_cs = vals["A"], vals["a_cs"]
    B, b_rs, b_cs = vals["B"], vals["b_rs"], vals["b_cs"]
    C, c_rs, extra = vals["C"], vals["c_rs"], vals["extra"]
    CH = T_CHUNK * NR
    ld = _i64(CH)  # row stride of the C^T chunk

    tiles = _ceil_div(b, M, NR)
    t0, t1 = emit_balanced_split(b, tiles, tid, nt)
    i0 = b.mul(t0, _i64(NR))
    i1 = _min(b, b.mul(t1, _i64(NR)), M)
    slice_bytes, t_parts = layout[1], layout[2]
    t_base = b.gep(my_slice, [b.sub(slice_bytes, b.add(b.add(t_parts[0], t_parts[1]),
                                                        t_parts[2]))],
                   source_etype=ir.IntType(8))
    bt_pack = t_base
    edge_pack = b.gep(t_base, [t_parts[0]], source_etype=ir.IntType(8))
    ct = b.gep(edge_pack, [t_parts[1]], source_etype=ir.IntType(8))
    zero = _i64(0)

    with _for(b, i0, i1, CH, "tch") as ch:
        w = _min(b, _i64(CH), b.sub(i1, ch))
        full_w = b.mul(b.sdiv(w, _i64(NR)), _i64(NR))
        # K panels: a do-while, so that K == 0 still writes a C^T chunk of zeros.
        pre = b.block
        k_body = b.function.append_basic_block("tpc.body")
        k_done = b.function.append_basic_block("tpc.done")
        b.branch(k_body)
        b.position_at_end(k_body)
        pc = b.phi(I64, name="tpc")
        pc.add_incoming(zero, pre)
        kc = _min(b, _i64(KC), b.sub(K, pc))
        pc_next = b.add(pc, kc)
        load_c = b.icmp_signed("!=", pc, zero)
        # B^T[j, k] = B[k, j]: packed as the A operand of the transposed product.
        b.call(pack_a, [bt_pack, e.at(b, B, b.mul(pc, b_rs)), b_cs, b_rs, N, kc])
        # A^T[k, i] = A[i, k] = A[i + k*a_cs]; the chunk's partial last panel is packed.
        a_chunk = e.at(b, A, b.add(ch, b.mul(pc, a_cs)))
        b.call(pack_b, [edge_pack, e.at(b, a_chunk, full_w), a_cs, _i64(1), kc,
                        b.sub(w, full_w), zero, b.select(b.icmp_signed("<", full_w, w),
                                                          _i64(1), zero)])
        false = ir.Constant(I1, 0)
        _store_desc(b, desc, kc, _i64(1), _i64(MR), a_cs, ld, false, load_c, false, extra)
        with _for(b, zero, w, NR, "tjr") as jr:
            nr = _min(b, _i64(NR), b.sub(w, jr))
            in_place = b.icmp_signed("==", nr, _i64(NR))
            bp = b.select(in_place, e.at(b, a_chunk, jr), edge_pack)
            with _for(b, zero, N, MR, "tir") as ir_:
                # Always a full tile: B^T's packed rows past N and the packed edge panel's
                # columns past w are zeros, and the chunk has room for them (never read).
                b.call(ukernel, [desc, e.at(b, bt_pack, b.mul(ir_, kc)), bp,
                                 e.at(b, ct, b.add(b.mul(ir_, ld), jr)), _i64(MR), _i64(NR),
                                 zero, zero, in_place])
        pc.add_incoming(pc_next, b.block)
        b.cbranch(b.icmp_signed(">=", pc_next, K), k_done, k_body)
        b.position_at_end(k_done)

        b.call(tstore, [ct, ld, e.at(b, C, b.mul(ch, c_rs)), c_rs, ch, w, N, accumulate,
                        extra])


def _emit_tstore(e: _Emitter, name: str, epilogue: Epilogue | None) -> ir.Function:
    """``tstore(ct, ld, c, c_rs, row0, w, n, accumulate, extra)``: rows ``0..w`` of C (at
    ``c``; global row ``row0 + i``) from the chunk of C^T at ``ct`` (row stride ``ld``):
    ``C[i, j] = epi((accumulate ? C[i, j] : 0) + ct[j*ld + i])`` for j < n.

    L x L blocks go through register transposes and the vector epilogue; the columns past the
    last whole vector, and the rows past the last whole block, one element at a time, a
    column at a time (contiguous in C^T). ``optsize``: LLVM's own vectorization and
    unrolling of these loops inline copy after copy of the epilogue, for no measured gain.
    """
    L = e.L
    fn, b = _internal(e.module, name, VOID, [PTR, I64, PTR, I64, I64, I64, I64, I1, PTR],
                      ["ct", "ld", "c", "c_rs", "row0", "w", "n", "accumulate", "extra"],
                      optsize=True)
    ct, ld, c, c_rs, row0, w, n, accumulate, extra = fn.args
    c.add_attribute("noalias")
    tbuf = b.alloca(ir.ArrayType(e.T, L * L), name="tbuf")  # one transposed L x L block
    tbuf.type = PTR  # llvmlite types allocas as typed pointers; LLVM 22 has only `ptr`
    zero = _i64(0)

    def put(value: ir.Value, i: ir.Value, j: ir.Value, vector: bool) -> None:
        ptr = e.at(b, c, b.add(b.mul(i, c_rs), j))
        old = e.vload(b, ptr) if vector else e.load(b, ptr)
        value = b.select(accumulate, b.fadd(old, value), value)
        _emit_store(e, b, epilogue, value, ptr, b.add(row0, i), j, extra, vector, False, True)

    w_vec = b.mul(b.sdiv(w, _i64(L)), _i64(L))
    n_vec = b.mul(b.sdiv(n, _i64(L)), _i64(L))
    with _for(b, zero, w_vec, L, "ti") as i:
        with _for(b, zero, n_vec, L, "tj") as j:
            rows = [e.vload(b, e.at(b, ct, b.add(b.mul(b.add(j, _i64(t)), ld), i)))
                    for t in range(L)]
            for c_, vec in enumerate(e.transpose(b, rows)):
                b.store(vec, e.at(b, tbuf, _i64(c_ * L)), align=e.size)
            with _for(b, zero, _i64(L), 1, "tc") as c_:
                put(e.vload(b, e.at(b, tbuf, b.mul(c_, _i64(L)))), b.add(i, c_), j, True)
    with _for(b, n_vec, n, 1, "sj") as j:
        ct_row = e.at(b, ct, b.mul(j, ld))
        with _for(b, zero, w_vec, 1, "si") as i:
            put(e.load(b, e.at(b, ct_row, i)), i, j, False)
    with _for(b, zero, n, 1, "rj") as j:
        ct_row = e.at(b, ct, b.mul(j, ld))
        with _for(b, w_vec, w, 1, "ri") as i:
            put(e.load(b, e.at(b, ct_row, i)), i, j, False)
    b.ret_void()
    return fn


def _callee(ptr: ir.Value, fnty: ir.FunctionType) -> ir.Value:
    """``ptr`` (a loaded function pointer) made callable by ``IRBuilder.call``, which takes the
    callee's type from its ``function_type``: a loaded opaque ``ptr`` has none (LLVM 22 has no
    typed pointers to carry it), so the value gets a subclass that names it."""
    ptr.__class__ = type("FunctionPointer", (type(ptr),), {"function_type": fnty})
    return ptr


def _emit_epilogue_pass(e: _Emitter, name: str, epilogue: Epilogue) -> ir.Function:
    """``epi(c, c_rs, i0, i1, j0, j1, extra)``: ``C[i, j] = epi(C[i, j])`` on a finished block
    (the dot path's output): vectors of L columns while they fit, then single elements."""
    L = e.L
    fn, b = _internal(e.module, name, VOID, list(_EPI_TYPE.args),
                      ["c", "c_rs", "i0", "i1", "j0", "j1", "extra"], optsize=True)
    c, c_rs, i0, i1, j0, j1, extra = fn.args
    j_vec = b.add(j0, b.mul(b.sdiv(b.sub(j1, j0), _i64(L)), _i64(L)))
    with _for(b, i0, i1, 1, "ei") as i:
        c_row = e.at(b, c, b.mul(i, c_rs))
        with _for(b, j0, j_vec, L, "ev") as j:
            ptr = e.at(b, c_row, j)
            _emit_store(e, b, epilogue, e.vload(b, ptr), ptr, i, j, extra, True, False, True)
        with _for(b, j_vec, j1, 1, "es") as j:
            ptr = e.at(b, c_row, j)
            _emit_store(e, b, epilogue, e.load(b, ptr), ptr, i, j, extra, False, False, True)
    b.ret_void()
    return fn


def _emit_worker(e: _Emitter, name: str, threading: Threading, pack_a: ir.Function,
                 pack_b: ir.Function, dot: ir.Function) -> ir.Function:
    """``worker(params, tid, nthreads)``: thread ``tid``'s share of the whole GEMM, ``params``
    a :data:`_WORKER_PARAMS` block.

    All threads of a team run it with the same params; with ``nthreads == 1`` it is the whole
    serial GEMM and emits no barrier.
    """
    blk = e.blk
    MR, NR, MC, KC, NC = blk.mr, blk.nr, blk.mc, blk.kc, blk.nc
    fn, b = _internal(e.module, name, VOID, [PTR, I64, I64], ["params", "tid", "nthreads"],
                      optsize=True)
    params, tid, nt = fn.args
    desc = b.alloca(_DESC, name="desc")
    desc.type = PTR  # llvmlite types allocas as typed pointers; LLVM 22 has only `ptr`
    vals = {}
    for k, (t, n) in enumerate(zip(_WORKER_PARAMS.elements,
                                   _PARAM_NAMES + ["ukernel", "tstore", "epi"])):
        vals[n] = b.load(b.gep(params, [I32(0), I32(k)], source_etype=_WORKER_PARAMS), typ=t,
                         name=n)
    # The variant's routines, called through their pointers.
    ukernel = _callee(vals["ukernel"], _UKERNEL_TYPE)
    tstore = _callee(vals["tstore"], _TSTORE_TYPE)
    epi = _callee(vals["epi"], _EPI_TYPE)
    M, N, K = vals["M"], vals["N"], vals["K"]
    A, a_rs, a_cs = vals["A"], vals["a_rs"], vals["a_cs"]
    B, b_rs, b_cs = vals["B"], vals["b_rs"], vals["b_cs"]
    C, c_rs, extra = vals["C"], vals["c_rs"], vals["extra"]
    accumulate = b.icmp_signed("!=", vals["accumulate"], I32(0))

    # M <= 0 or N <= 0: nothing to store. (Every thread returns here together: no barrier
    # has been reached yet.)
    empty = b.or_(b.icmp_signed("<=", M, _i64(0)), b.icmp_signed("<=", N, _i64(0)))
    with b.if_then(empty, likely=False):
        b.ret_void()
    K = b.select(b.icmp_signed("<", K, _i64(0)), _i64(0), K)
    layout = _emit_workspace_layout(e, b, M, N, K)
    my_slice = b.gep(vals["work"], [b.mul(tid, layout[1])], source_etype=ir.IntType(8))

    # Long K and rows of A contiguous in k: dot products (compiler.llvm.gemm_dot) when their
    # tile wastes clearly fewer lanes than the broadcast tile (by 1.25x, counted in padded
    # outputs: 32 x 10 pads to 32 x 10 in 2 x 5 tiles, to 36 x 16 in 6 x 16 tiles).
    def padded(x: ir.Value, m: int) -> ir.Value:
        return b.mul(_ceil_div(b, x, m), _i64(m))

    use_dot = b.and_(b.and_(b.icmp_signed("==", a_cs, _i64(1)),
                            b.icmp_signed(">=", K, _i64(DOT_MIN_K))),
                     b.icmp_signed(">", b.mul(b.mul(padded(M, MR), padded(N, NR)), _i64(4)),
                                   b.mul(b.mul(padded(M, DOT_R), padded(N, DOT_S)), _i64(5))))
    with b.if_then(use_dot):
        # Threads split the output in whole tiles, along the dimension that balances better;
        # each packs the B columns it reads into its own slice (no barrier).
        d_tiles_m = _ceil_div(b, M, DOT_R)
        d_tiles_n = _ceil_div(b, N, DOT_S)
        d_split_n = b.icmp_signed("<", b.mul(_ceil_div_v(b, d_tiles_n, nt), d_tiles_m),
                                  b.mul(_ceil_div_v(b, d_tiles_m, nt), d_tiles_n))
        di0, di1, dj0, dj1 = _thread_rect(b, d_split_n, M, N, d_tiles_m, d_tiles_n, DOT_R,
                                          DOT_S, tid, nt)
        with b.if_then(b.and_(b.icmp_signed("<", di0, di1), b.icmp_signed("<", dj0, dj1))):
            # Column chunks of at most NC: the packed columns fit the B region of the slice.
            with _for(b, dj0, dj1, NC, "dc") as dj:
                b.call(dot, [K, A, a_rs, B, b_rs, b_cs, C, c_rs, accumulate, di0, di1, dj,
                             _min(b, b.add(dj, _i64(NC)), dj1), my_slice])
            # The epilogue, once per element, on the finished block.
            with b.if_then(b.icmp_unsigned("!=", epi, ir.Constant(PTR, None))):
                b.call(epi, [C, c_rs, di0, di1, dj0, dj1, extra])
        b.ret_void()

    # A^T layout (columns of A contiguous: a weight gradient X^T @ dY) and a narrow N: the
    # product transposed, C^T = B^T A^T, whose register tiles run along M instead of N (for
    # N = 10: 10 of 12 rows of two tiles busy instead of 10 of 16 columns), computed chunk by
    # chunk into the workspace and transposed into C (see _emit_transposed).
    use_t = b.and_(b.and_(b.icmp_signed("==", a_rs, _i64(1)),
                          b.icmp_signed("<=", N, _i64(T_MAX_N))),
                   b.icmp_signed(">", b.mul(b.mul(padded(M, MR), padded(N, NR)), _i64(4)),
                                 b.mul(b.mul(padded(N, MR), padded(M, NR)), _i64(5))))
    with b.if_then(use_t):
        _emit_transposed(e, b, vals, K, accumulate, tid, nt, pack_a, pack_b, ukernel, tstore,
                         desc, layout, my_slice)
        b.ret_void()

    tiles_m = _ceil_div(b, M, MR)
    tiles_n = _ceil_div(b, N, NR)

    # Operands read in place instead of packed (see the module docstring, "Skinny shapes"):
    # A when N spans at most two micro-panels (each A element then feeds at most two tiles,
    # so packing would copy A to save little: 9 x 32 x 21632 A^T 0.23 -> 0.21 ms, 21632 x 32
    # x 9 unchanged); B when its rows are unit-stride and short and M is one A block (its
    # K x NR panel then lies in a few compact lines, read by at most MC / MR tiles).
    direct_a = b.icmp_signed("<=", N, _i64(2 * NR))
    direct_b = b.and_(b.and_(b.icmp_signed("==", b_cs, _i64(1)),
                             b.icmp_signed("<=", M, _i64(MC))),
                      b.icmp_unsigned("<=", b.add(b_rs, _i64(DIRECT_B_MAX_RS)),
                                      _i64(2 * DIRECT_B_MAX_RS)))

    # Split mode, from an estimate of each thread's critical path in tile units: splitting N
    # makes every thread pack all of A (estimated at half a tile's time per MR rows), unless
    # A is read in place.
    cost_m = b.mul(_ceil_div_v(b, tiles_m, nt), tiles_n)
    cost_n = b.add(b.mul(_ceil_div_v(b, tiles_n, nt), tiles_m),
                   b.select(direct_a, _i64(0), b.lshr(tiles_m, _i64(1))))
    multi = b.icmp_signed(">", nt, _i64(1))
    split_n = b.and_(multi, b.icmp_signed("<", cost_n, cost_m))
    shared_b = b.and_(b.and_(multi, b.not_(split_n)), b.not_(direct_b))

    i0, i1, j0, j1 = _thread_rect(b, split_n, M, N, tiles_m, tiles_n, MR, NR, tid, nt)

    b_bytes = layout[0]
    a_pack = b.gep(my_slice, [b_bytes], source_etype=ir.IntType(8))
    b_pack = b.select(shared_b, vals["work"], my_slice)

    def barrier() -> None:
        with b.if_then(shared_b):
            emit_barrier(b, threading)

    with _for(b, j0, j1, NC, "jc") as jc:
        nc = _min(b, _i64(NC), b.sub(j1, jc))
        n_panels = _ceil_div(b, nc, NR)
        p_begin, p_end = emit_balanced_split(b, n_panels, tid, nt)
        p_begin = b.select(shared_b, p_begin, _i64(0))
        p_end = b.select(shared_b, p_end, n_panels)
        # K panels: a do-while, so that K == 0 still runs once and stores C = epi(0 or C).
        pre = b.block
        k_body = fn.append_basic_block("pc.body")
        k_done = fn.append_basic_block("pc.done")
        b.branch(k_body)
        b.position_at_end(k_body)
        pc = b.phi(I64, name="pc")
        pc.add_incoming(_i64(0), pre)
        kc = _min(b, _i64(KC), b.sub(K, pc))
        pc_next = b.add(pc, kc)
        last = b.icmp_signed(">=", pc_next, K)
        load_c = b.or_(accumulate, b.icmp_signed("!=", pc, _i64(0)))
        # Read in place, B still needs its right-edge panel packed (zero-padded to NR).
        p_begin = b.select(direct_b, b.sdiv(nc, _i64(NR)), p_begin)
        b.call(pack_b, [b_pack, e.at(b, B, b.add(b.mul(pc, b_rs), b.mul(jc, b_cs))), b_rs,
                        b_cs, kc, nc, p_begin, p_end])
        barrier()  # the whole B block is packed
        # Tile order: B micro-panel outer (it stays in L1 while A panels stream from L2), the
        # BLIS order; but when a K panel is short and the packed B block fits L2 (dY @ W^T
        # with K = 10), rows outer: each tile's work is then mostly its C (and epilogue)
        # memory traffic, and sweeping C row tile by row tile keeps those accesses in a few
        # sequential streams the hardware prefetches (32 x 21632 x 10: 0.42 -> 0.27 ms). Not
        # for 2 or 3 panels (21632 x 32 x 9: 3% slower), nor for long K panels, where the B
        # micro-panel's stay in L1 is what matters.
        rows_outer = b.and_(b.and_(b.icmp_signed("<=", kc, _i64(ROWS_OUTER_MAX_KC)),
                                   b.icmp_signed(">=", nc, _i64(ROWS_OUTER_MIN_PANELS * NR))),
                            b.icmp_signed("<=", b.mul(b.mul(kc, nc), _i64(e.size)),
                                          _i64(ROWS_OUTER_MAX_B_BYTES)))
        with _for(b, i0, i1, MC, "ic") as ic:
            mc = _min(b, _i64(MC), b.sub(i1, ic))
            a_block = e.at(b, A, b.add(b.mul(ic, a_rs), b.mul(pc, a_cs)))
            with b.if_then(b.not_(direct_a)):
                b.call(pack_a, [a_pack, a_block, a_rs, a_cs, mc, kc])

            # A micro-panel at row offset i: a_base + i * a_step (in place, or packed).
            a_base = b.select(direct_a, a_block, a_pack)
            a_step = b.select(direct_a, a_rs, kc)
            ap_rs = b.select(direct_a, a_rs, _i64(1))
            ap_cs = b.select(direct_a, a_cs, _i64(MR))
            b_full = b.select(direct_b, _i64(NR), _i64(NR + 1))  # nr of in-place B panels
            _store_desc(b, desc, kc, ap_rs, ap_cs, b_rs, c_rs, direct_a, load_c, last, extra)

            def tile(ir_: ir.Value, mr: ir.Value, jr: ir.Value, nr: ir.Value) -> None:
                col = b.add(jc, jr)
                row = b.add(ic, ir_)
                c_tile = e.at(b, C, b.add(b.mul(row, c_rs), col))
                b_in_place = b.icmp_signed("==", nr, b_full)
                bp = b.select(b_in_place, e.at(b, B, b.add(b.mul(pc, b_rs), col)),
                              e.at(b, b_pack, b.mul(jr, kc)))
                b.call(ukernel, [desc, e.at(b, a_base, b.mul(ir_, a_step)), bp, c_tile, mr, nr,
                                 row, col, b_in_place])

            with b.if_else(rows_outer) as (by_rows, by_panels):
                with by_rows:
                    with _for(b, _i64(0), mc, MR, "ir") as ir_:
                        mr = _min(b, _i64(MR), b.sub(mc, ir_))
                        with _for(b, _i64(0), nc, NR, "jr") as jr:
                            tile(ir_, mr, jr, _min(b, _i64(NR), b.sub(nc, jr)))
                with by_panels:
                    with _for(b, _i64(0), nc, NR, "jr") as jr:
                        nr = _min(b, _i64(NR), b.sub(nc, jr))
                        with _for(b, _i64(0), mc, MR, "ir") as ir_:
                            tile(ir_, _min(b, _i64(MR), b.sub(mc, ir_)), jr, nr)
        barrier()  # nobody still reads the B block when the next one is packed over it
        pc.add_incoming(pc_next, b.block)
        b.cbranch(last, k_done, k_body)
        b.position_at_end(k_done)
    b.ret_void()
    return fn


def gemm_function_name(dtype: str, threading: Threading, epilogue: Epilogue | None = None,
                       blocking: Blocking | None = None) -> str:
    """The default name ``emit_gemm`` gives: ``kiln_gemm_<dtype>_t<threads>[_<epilogue key>]``
    (plus the blocking when it is not the host's default)."""
    parts = ["kiln_gemm", dtype, f"t{threading.num_threads}"]
    if epilogue is not None:
        parts.append(re.sub(r"[^0-9A-Za-z_]", "_", epilogue.key))
    if blocking is not None and blocking != Blocking.for_host(dtype):
        parts.append("b" + blocking.key)
    return "_".join(parts)


def emit_gemm(module: ir.Module, dtype: str, *, threading: Threading, name: str | None = None,
              epilogue: Epilogue | None = None, blocking: Blocking | None = None) -> ir.Function:
    """Define (once) the GEMM function for ``dtype`` in ``module`` and return it.

    The signature and semantics are in the module docstring. The function is external (callable
    from Python through ctypes and from other modules; set ``.linkage = "internal"`` on the
    result to keep it private to a program module). Its helpers are internal: those with its
    epilogue, ``<name>.ukernel``, ``.tstore``, ``.epi`` (only with an epilogue) and ``.gemv``;
    the routines shared by every GEMM of one dtype and blocking: the loop nest
    ``kiln_gemm.worker.<dtype>.t<threads>.<blocking>.<lanes>`` (it calls a variant's routines
    through pointers in its argument block) and its parallel region ``<worker>.body``, the
    packers ``kiln_gemm.pack_{a,b}.<dtype>.<tile>.<lanes>`` and
    ``kiln_gemm.pack_bt.<dtype>.<lanes>``, and the dot kernel
    ``kiln_gemm.dot.<dtype>.<tile>.<kc>.<lanes>``.
    If ``module`` already has a function called ``name`` (default: :func:`gemm_function_name`)
    it is returned as it is. ``blocking`` overrides the host's default blocking (tests use tiny
    blocks; :func:`gemm_workspace_bytes` must then be given the same).

    Compile cost at O3 (measured, f32): about 0.6 s for the first GEMM of a module, 0.27 s for
    each further variant of the same dtype (the shared routines are emitted once).
    """
    _dtype_info(dtype)
    name = name or gemm_function_name(dtype, threading, epilogue, blocking)
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    host = host_target()
    blk = blocking or Blocking.for_host(dtype, host)
    e = _Emitter(module, dtype, blk, host)
    # The packing routines depend only on the element type and the register tile: GEMM
    # variants in one module (threads, epilogues) share them, which halves their compile cost.
    pack_a = module.globals.get(f"kiln_gemm.pack_a.{dtype}.{blk.mr}.{blk.lanes}") \
        or _emit_pack_a(e, f"kiln_gemm.pack_a.{dtype}.{blk.mr}.{blk.lanes}")
    pack_b = module.globals.get(f"kiln_gemm.pack_b.{dtype}.{blk.nr}.{blk.lanes}") \
        or _emit_pack_b(e, f"kiln_gemm.pack_b.{dtype}.{blk.nr}.{blk.lanes}")
    ukernel = _emit_ukernel(e, f"{name}.ukernel", epilogue)
    from compiler.llvm.gemm_dot import emit_dot, emit_pack_bt  # it imports this module
    bt_name = f"kiln_gemm.pack_bt.{dtype}.{blk.lanes}"
    dot_name = f"kiln_gemm.dot.{dtype}.{DOT_R}x{DOT_S}.{blk.kc}.{blk.lanes}"
    dot = module.globals.get(dot_name) or emit_dot(
        e, dot_name, module.globals.get(bt_name) or emit_pack_bt(e, bt_name), DOT_R, DOT_S)
    tstore = _emit_tstore(e, f"{name}.tstore", epilogue)
    epi = ir.Constant(PTR, None) if epilogue is None else \
        _emit_epilogue_pass(e, f"{name}.epi", epilogue)
    worker_name = f"kiln_gemm.worker.{dtype}.t{threading.num_threads}.{blk.key}.{blk.lanes}"
    worker = module.globals.get(worker_name) or _emit_worker(e, worker_name, threading, pack_a,
                                                             pack_b, dot)
    gemv = _emit_gemv(e, f"{name}.gemv", epilogue)

    fn = ir.Function(module, ir.FunctionType(VOID, _PARAM_TYPES), name=name)
    fn.attributes.add("nounwind")
    for arg, n in zip(fn.args, _PARAM_NAMES):
        arg.name = n
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    block = b.alloca(_WORKER_PARAMS, name="params")
    block.type = PTR  # see the edge buffer in _emit_ukernel
    for k, arg in enumerate(list(fn.args) + [ukernel, tstore, epi]):
        b.store(arg, b.gep(block, [I32(0), I32(k)], source_etype=_WORKER_PARAMS))
    (M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, accumulate, _, extra) = fn.args
    one = _i64(1)
    row_vec = b.and_(b.icmp_signed("==", M, one), b.icmp_signed("==", b_cs, one))
    col_vec = b.and_(b.icmp_signed("==", N, one),
                     b.and_(b.icmp_signed("==", a_cs, one), b.icmp_signed("==", b_rs, one)))
    use_gemv = b.and_(b.or_(row_vec, col_vec), b.icmp_signed(">", b.mul(M, N), _i64(0)))
    with b.if_then(use_gemv):
        b.call(gemv, [M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs,
                      b.icmp_signed("!=", accumulate, I32(0)), extra])
        b.ret_void()
    if not threading.parallel:
        b.call(worker, [block, _i64(0), _i64(1)])
        b.ret_void()
        return fn

    body_name = f"{worker_name}.body"
    body = module.globals.get(body_name)
    if body is None:
        body, bb = _internal(module, body_name, VOID, [PTR], ["params"])
        bb.call(worker, [body.args[0], emit_thread_id(bb, threading),
                         emit_num_threads(bb, threading)])
        bb.ret_void()
    assert body.function_type == body_function_type()

    work = b.mul(b.mul(M, N), K)
    # Parallel only when there is enough work and at least two tiles along some dimension.
    big = b.and_(b.icmp_signed(">=", work, _i64(PARALLEL_MIN_FLOPS)),
                 b.or_(b.icmp_signed(">", M, _i64(blk.mr)), b.icmp_signed(">", N, _i64(blk.nr))))
    with b.if_else(big) as (par, ser):
        with par:
            emit_parallel(b, threading, body, block)
        with ser:
            b.call(worker, [block, _i64(0), _i64(1)])
    b.ret_void()
    return fn


# ------------------------------------------------------------------------------ numpy calls


def _aligned_bytes(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    off = (-raw.ctypes.data) % _ALIGN
    return raw[off:off + nbytes]


class NumpyGemm:
    """Calls a compiled GEMM on numpy arrays: checks them, keeps a reusable workspace.

    For tests, benchmarks and Python-level callers; compiled programs call the GEMM from
    generated code instead. Native code never sees a bad array: dtype, dimensions, element-
    multiple strides, C's unit column stride and writability, and overlap are checked here.
    """

    def __init__(self, compiled: Any, fn_name: str, dtype: str, threading: Threading,
                 blocking: Blocking | None = None):
        self.dtype = dtype
        self.np_dtype = np.dtype(_dtype_info(dtype)[2])
        self.threading = threading
        self.blocking = blocking or Blocking.for_host(dtype)
        self.fn = compiled.ctypes_function(fn_name, None, GEMM_ARGTYPES)
        self._work = _aligned_bytes(0)

    def workspace(self, M: int, N: int, K: int) -> np.ndarray:
        need = gemm_workspace_bytes(self.dtype, M, N, K, self.threading, self.blocking)
        if self._work.nbytes < need:
            self._work = _aligned_bytes(need)
        return self._work

    def _strides(self, x: np.ndarray, what: str) -> tuple[int, int]:
        item = self.np_dtype.itemsize
        if x.dtype != self.np_dtype or x.ndim != 2:
            raise TypeError(f"{what} must be a 2-d {self.np_dtype} array, got {x.dtype}{x.shape}")
        if any(s % item for s in x.strides):
            raise ValueError(f"{what}'s strides {x.strides} are not multiples of {item}")
        return x.strides[0] // item, x.strides[1] // item

    def __call__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, *, accumulate: bool = False,
                 extra: int = 0) -> np.ndarray:
        a_rs, a_cs = self._strides(a, "A")
        b_rs, b_cs = self._strides(b, "B")
        c_rs, c_cs = self._strides(c, "C")
        (M, K), (K2, N) = a.shape, b.shape
        if K2 != K or c.shape != (M, N):
            raise ValueError(f"shapes do not agree: A{a.shape} @ B{b.shape} -> C{c.shape}")
        if c_cs != 1 and N > 1 and M > 0:
            raise ValueError(f"C must have unit column stride, got strides {c.strides}")
        if not c.flags.writeable:
            raise ValueError("C is read-only")
        if c.size and (np.may_share_memory(c, a) or np.may_share_memory(c, b)):
            raise ValueError("C overlaps A or B")
        work = self.workspace(M, N, K)
        self.fn(M, N, K, a.ctypes.data, a_rs, a_cs, b.ctypes.data, b_rs, b_cs,
                c.ctypes.data, c_rs, int(bool(accumulate)), work.ctypes.data, extra)
        return c
