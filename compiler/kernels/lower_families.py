"""Lowering of convolution, pooling and indexed access (registered in ``FAMILY_EMITTERS``).

Convolution is a GEMM between patch matrices (DESIGN.md: one contraction kernel serves matmul
and conv). With ``M = N*OH*OW`` output pixels, ``K = KH*KW*C`` taps and ``O`` filters:

* ``conv2d(x, w)``: ``cols = im2col(x)`` [M, K] (zeros at padding), then the Matmul
  ``out[M, O] = cols @ w[K, O]`` (the filter HWIO is already that matrix, as a view).
* ``conv2d_filter_grad(x, g)``: ``dw[K, O] = cols^T @ g[M, O]``; ``cols^T`` is a transposed
  *view* of the im2col buffer, not a copy (the GEMM packs its operands anyway).
* ``conv2d_input_grad(g, w)``: ``dcols[M, K] = g[M, O] @ w^T`` (a view again), then col2im:
  every input pixel sums the ``dcols`` entries im2col would have copied from it. col2im is
  written per *input* pixel (a gather over the taps that reach it) rather than as a scatter
  of patches, so threads split pixels and never write the same element, and the result does
  not depend on the thread count.

When no tap falls on padding and the patches are an affine view of ``x`` (1x1 convolutions
with stride 1, or a kernel covering the whole image), im2col is skipped and the GEMM reads
``x`` directly; if that view is moreover ``x`` itself in order, the input gradient's GEMM
writes the result directly (no col2im).

Pooling lowers to direct window loops (:class:`~compiler.kernels.families.Pool`); the max
pooling gradient first computes each window's argmax (the first maximal tap in row-major
window order, NaN first, as the reference routes it) and then gathers per input pixel.
gather and scatter_add lower to kernels that check every index in native code.
"""
from __future__ import annotations

from math import prod

from compiler.ir.graph import Node, Value
from compiler.kernels import expr as ex
from compiler.kernels.families import Col2im, Gather, Im2col, Pool, PoolGrad, ScatterAdd, Window
from compiler.kernels.ir import Buffer, Elementwise, Matmul
from compiler.kernels.lower import Buf, _family, _Lowering, _nid
from compiler.kernels.view import View
from compiler.ops.conv import window_geometry

__all__: list[str] = []   # registration only

Operand = tuple[Buffer, View]


# -- helpers --------------------------------------------------------------------------------------
def _define_result(lw: _Lowering, v: Value) -> Buffer:
    """The dense buffer ``v`` is computed into, already registered as ``v``'s source."""
    out = lw.result_buffer(v)
    lw.define(v, Buf(out, View.dense(v.shape)))
    return out


def _zeros(lw: _Lowering, node: Node, out: Buffer, shape: tuple[int, ...]) -> None:
    lw.emit(Elementwise(lw.kernel_name(node), (_nid(node),), node.loc, shape,
                        [(out, View.dense(shape))], [ex.const(0, out.dtype)]))


def _operand(lw: _Lowering, v: Value) -> Operand:
    b = lw.read_buf(v)
    return b.buffer, b.view


def _matrix(lw: _Lowering, node: Node, v: Value, shape: tuple[int, int]) -> Operand:
    """``v`` in memory viewed as the matrix ``shape``; copied dense first when its view
    cannot be reshaped without a copy (as numpy.reshape would copy)."""
    src = lw.read_buf(v)
    view = src.view.reshape(shape)
    if view is not None:
        return src.buffer, view
    tmp = lw.temp(v.name + ".dense", v.dtype, v.shape)
    lw.emit(Elementwise(lw.kernel_name(node), (_nid(node),), node.loc, v.shape,
                        [(tmp, View.dense(v.shape))], [ex.load(src.buffer, src.view, v.dtype)]))
    return tmp, View.dense(shape)


def _transposed(op: Operand) -> Operand:
    buf, view = op
    return buf, View(view.shape[::-1], view.strides[::-1], view.offset)


def _matmul(lw: _Lowering, node: Node, a: Operand, b: Operand, c: Operand, m: int, n: int,
            k: int, dtype: str) -> None:
    """``c[m, n] = a[m, k] @ b[k, n]`` as a contraction kernel (k >= 1, m * n >= 1)."""
    lw.emit(Matmul(lw.kernel_name(node), (_nid(node),), node.loc, (), m, n, k, dtype, a, b, c,
                   None))


# -- convolution ----------------------------------------------------------------------------------
def _conv_window(node: Node, xshape, kernel) -> Window:
    a = node.attrs
    strides, dilation = tuple(a["strides"]), tuple(a["dilation"])
    geo = window_geometry(node.op, xshape[1:3], kernel, strides, dilation, a["padding"])
    return Window.from_geometry(xshape[1:3], kernel, strides, dilation, geo)


def _patch_view(xview: View, win: Window) -> View | None:
    """The patch matrix [M, K] as a view of ``x`` when no tap is padding and the six patch
    dims (n, oy, ox, ky, kx, c) merge into two; else None."""
    if win.has_padding:
        return None
    sn, sh, sw, sc = xview.strides
    (oh, ow), (kh, kw) = win.out, win.kernel
    (st_h, st_w), (dh, dw) = win.strides, win.dilation
    n, c = xview.shape[0], xview.shape[3]
    six = View((n, oh, ow, kh, kw, c), (sn, sh * st_h, sw * st_w, sh * dh, sw * dw, sc),
               xview.offset)
    return six.reshape((n * oh * ow, kh * kw * c))


def _patches(lw: _Lowering, node: Node, x: Value, win: Window) -> Operand:
    """The patch matrix of ``x`` [M, K]: a view of ``x`` when possible, else an im2col temp."""
    xbuf, xview = _operand(lw, x)
    n, _, _, c = x.shape
    m, k = n * win.out[0] * win.out[1], win.taps * c
    direct = _patch_view(xview, win)
    if direct is not None:
        return xbuf, direct
    cols = lw.temp(f"{x.name}.cols", x.dtype, (m, k))
    lw.emit(Im2col(lw.kernel_name(node), (_nid(node),), node.loc, [(xbuf, xview)],
                   (cols, View.dense((m, k))), n, c, win))
    return cols, View.dense((m, k))


@_family("conv2d")
def _conv2d(lw: _Lowering, node: Node) -> None:
    x, w = node.inputs
    v = node.outputs[0]
    win = _conv_window(node, x.shape, w.shape[:2])
    kh, kw, c, o = w.shape
    m, k = prod(v.shape[:3]), kh * kw * c
    if m * o == 0 or k == 0:
        out = _define_result(lw, v)
        if m * o:
            _zeros(lw, node, out, v.shape)
        return
    cols = _patches(lw, node, x, win)
    # through emit_contraction: the plan may have fused bias + activation as its epilogue
    lw.emit_contraction(node, Matmul(lw.kernel_name(node), (_nid(node),), node.loc, (), m, o, k,
                                     v.dtype, cols, _matrix(lw, node, w, (k, o)), None, None), v)


@_family("conv2d_filter_grad")
def _conv2d_filter_grad(lw: _Lowering, node: Node) -> None:
    x, g = node.inputs
    v = node.outputs[0]
    kh, kw, c, o = v.shape
    win = _conv_window(node, x.shape, (kh, kw))
    m, k = prod(g.shape[:3]), kh * kw * c
    out = _define_result(lw, v)
    if k * o == 0:
        return
    if m == 0:
        _zeros(lw, node, out, v.shape)
        return
    cols_t = _transposed(_patches(lw, node, x, win))
    _matmul(lw, node, cols_t, _matrix(lw, node, g, (m, o)), (out, View.dense((k, o))),
            k, o, m, v.dtype)


@_family("conv2d_input_grad")
def _conv2d_input_grad(lw: _Lowering, node: Node) -> None:
    g, w = node.inputs
    v = node.outputs[0]
    n, _, _, c = v.shape
    kh, kw, _, o = w.shape
    win = _conv_window(node, v.shape, (kh, kw))
    m, k = prod(g.shape[:3]), kh * kw * c
    out = _define_result(lw, v)
    if prod(v.shape) == 0:
        return
    if m * o == 0:
        _zeros(lw, node, out, v.shape)
        return
    gmat = _matrix(lw, node, g, (m, o))
    w_t = _transposed(_matrix(lw, node, w, (k, o)))
    direct = _patch_view(View.dense(v.shape), win)
    if direct is not None and direct.is_dense():
        # every element of x is exactly one patch entry, in order: dx is dcols
        _matmul(lw, node, gmat, w_t, (out, View.dense((m, k))), m, k, o, v.dtype)
        return
    dcols = lw.temp(f"{v.name}.dcols", v.dtype, (m, k))
    _matmul(lw, node, gmat, w_t, (dcols, View.dense((m, k))), m, k, o, v.dtype)
    lw.emit(Col2im(lw.kernel_name(node), (_nid(node),), node.loc, [(dcols, View.dense((m, k)))],
                   (out, View.dense(v.shape)), n, c, win))


# -- pooling --------------------------------------------------------------------------------------
def _pool_window(node: Node, xshape) -> Window:
    a = node.attrs
    pool = tuple(a["pool_size"])
    strides = pool if a["strides"] is None else tuple(a["strides"])
    geo = window_geometry(node.op, xshape[1:3], pool, strides, (1, 1), a["padding"],
                          what="pool")
    return Window.from_geometry(xshape[1:3], pool, strides, (1, 1), geo)


@_family("max_pool2d", "avg_pool2d")
def _pool(lw: _Lowering, node: Node) -> None:
    x, v = node.inputs[0], node.outputs[0]
    out = _define_result(lw, v)
    if prod(v.shape) == 0:
        return
    lw.emit(Pool(lw.kernel_name(node), (_nid(node),), node.loc, [_operand(lw, x)],
                 (out, View.dense(v.shape)), node.op.split("_")[0], _pool_window(node, x.shape)))


@_family("max_pool2d_grad")
def _max_pool_grad(lw: _Lowering, node: Node) -> None:
    x, g = node.inputs
    v = node.outputs[0]
    out = _define_result(lw, v)
    if prod(v.shape) == 0:
        return
    win = _pool_window(node, x.shape)
    xop = _operand(lw, x)
    arg = lw.temp(f"{_nid(node)}.argmax", "i32", g.shape)
    lw.emit(Pool(lw.kernel_name(node), (_nid(node),), node.loc, [xop],
                 (arg, View.dense(g.shape)), "argmax", win))
    lw.emit(PoolGrad(lw.kernel_name(node), (_nid(node),), node.loc,
                     [_operand(lw, g), (arg, View.dense(g.shape))], (out, View.dense(v.shape)),
                     "max", win))


@_family("avg_pool2d_grad")
def _avg_pool_grad(lw: _Lowering, node: Node) -> None:
    g, v = node.inputs[0], node.outputs[0]
    out = _define_result(lw, v)
    if prod(v.shape) == 0:
        return
    lw.emit(PoolGrad(lw.kernel_name(node), (_nid(node),), node.loc, [_operand(lw, g)],
                     (out, View.dense(v.shape)), "avg", _pool_window(node, v.shape)))


# -- indexed access -------------------------------------------------------------------------------
@_family("gather")
def _gather(lw: _Lowering, node: Node) -> None:
    params, idx = node.inputs
    v = node.outputs[0]
    out = _define_result(lw, v)
    if prod(idx.shape) == 0:   # no index to check, nothing to copy
        return
    # emitted even when the result is empty: bad indices are still an error, as in eager
    lw.emit(Gather(lw.kernel_name(node), (_nid(node),), node.loc,
                   [_operand(lw, params), _operand(lw, idx)], (out, View.dense(v.shape)),
                   node.attrs["axis"] % params.rank))


@_family("scatter_add")
def _scatter_add(lw: _Lowering, node: Node) -> None:
    idx, upd = node.inputs
    v = node.outputs[0]
    out = _define_result(lw, v)
    if prod(idx.shape) == 0 and prod(v.shape) == 0:
        return
    lw.emit(ScatterAdd(lw.kernel_name(node), (_nid(node),), node.loc,
                       [_operand(lw, idx), _operand(lw, upd)], (out, View.dense(v.shape))))
