"""conv2d, its gradients, and 2-D pooling: shape rules, errors, numpy references against
naive loops, adjoint identities, finite differences and PyTorch.

The naive references below loop over output positions and read the input through
TensorFlow's padding rule written out from its definition; they share no code with
compiler/ops/conv.py or compiler/ops/pooling.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import GraphBuilder, OpError, TensorType
from compiler.ir import dtypes
from compiler.ir.parser import parse
from compiler.ir.printer import print_graph
from compiler.ops import get_op

RNG = np.random.default_rng(1234)


# -- helpers -------------------------------------------------------------------------------------
def ev(name, inputs, **attrs):
    op = get_op(name)
    return op.evaluate(inputs, op.check_attrs(attrs))[0]


def build(name, shapes, dtype="f64", **attrs):
    """Build one node through the builder (runs the attribute check and the shape rule)."""
    b = GraphBuilder()
    dts = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(shapes)
    ins = [b.input(f"a{i}", s, d) for i, (s, d) in enumerate(zip(shapes, dts))]
    return b.op(name, *ins, **attrs)


def rand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def tf_out_pad(n, k, s, d, padding):
    """Output size and leading padding of one spatial dimension (TensorFlow's definition)."""
    ek = (k - 1) * d + 1
    if padding == "valid":
        return (n - ek) // s + 1, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + ek - n, 0)
    return out, total // 2


def tf_pads(n, k, s, d, padding):
    ek = (k - 1) * d + 1
    out, lo = tf_out_pad(n, k, s, d, padding)
    total = max((out - 1) * s + ek - n, 0) if padding == "same" else 0
    return lo, total - lo


def taps(shape, kernel, strides, padding, dilation=(1, 1)):
    """Yield (oy, ox, [(i, j, iy, ix) for in-bounds taps in row-major kernel order])."""
    _, h, w = shape[:3]
    kh, kw = kernel
    (sh, sw), (dh, dw) = strides, dilation
    oh, pt = tf_out_pad(h, kh, sh, dh, padding)
    ow, pl = tf_out_pad(w, kw, sw, dw, padding)
    for oy in range(oh):
        for ox in range(ow):
            t = []
            for i in range(kh):
                for j in range(kw):
                    iy, ix = oy * sh + i * dh - pt, ox * sw + j * dw - pl
                    if 0 <= iy < h and 0 <= ix < w:
                        t.append((i, j, iy, ix))
            yield oy, ox, t


def out_hw(shape, kernel, strides, padding, dilation=(1, 1)):
    return (tf_out_pad(shape[1], kernel[0], strides[0], dilation[0], padding)[0],
            tf_out_pad(shape[2], kernel[1], strides[1], dilation[1], padding)[0])


def naive_conv(x, w, strides, padding, dilation):
    oh, ow = out_hw(x.shape, w.shape[:2], strides, padding, dilation)
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for oy, ox, t in taps(x.shape, w.shape[:2], strides, padding, dilation):
        for i, j, iy, ix in t:
            out[:, oy, ox, :] += x[:, iy, ix, :] @ w[i, j]
    return out


def naive_conv_input_grad(g, w, xshape, strides, padding, dilation):
    dx = np.zeros(xshape)
    for oy, ox, t in taps(xshape, w.shape[:2], strides, padding, dilation):
        for i, j, iy, ix in t:
            dx[:, iy, ix, :] += g[:, oy, ox, :] @ w[i, j].T
    return dx


def naive_conv_filter_grad(x, g, wshape, strides, padding, dilation):
    dw = np.zeros(wshape)
    for oy, ox, t in taps(x.shape, wshape[:2], strides, padding, dilation):
        for i, j, iy, ix in t:
            dw[i, j] += x[:, iy, ix, :].T @ g[:, oy, ox, :]
    return dw


def naive_pool(x, pool, strides, padding, kind):
    strides = strides or pool
    oh, ow = out_hw(x.shape, pool, strides, padding)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for oy, ox, t in taps(x.shape, pool, strides, padding):
        vals = np.stack([x[:, iy, ix, :] for _, _, iy, ix in t])
        out[:, oy, ox, :] = vals.max(axis=0) if kind == "max" else vals.mean(axis=0)
    return out


def naive_max_pool_grad(x, g, pool, strides, padding):
    strides = strides or pool
    dx = np.zeros(x.shape)
    n_idx, c_idx = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[3]), indexing="ij")
    for oy, ox, t in taps(x.shape, pool, strides, padding):
        vals = np.stack([x[:, iy, ix, :] for _, _, iy, ix in t])
        first = np.argmax(vals, axis=0)  # numpy's argmax returns the first maximum
        for k, (_, _, iy, ix) in enumerate(t):
            dx[:, iy, ix, :] += np.where(first == k, g[:, oy, ox, :], 0.0)
    return dx


def naive_avg_pool_grad(g, xshape, pool, strides, padding):
    strides = strides or pool
    dx = np.zeros(xshape)
    for oy, ox, t in taps(xshape, pool, strides, padding):
        for _, _, iy, ix in t:
            dx[:, iy, ix, :] += g[:, oy, ox, :] / len(t)
    return dx


def vdot(a, b):
    return float(np.vdot(a, b))


# (x shape, w shape, strides, padding, dilation)
CONV_CASES = [
    ((2, 5, 5, 3), (3, 3, 3, 4), (1, 1), "valid", (1, 1)),
    ((1, 6, 7, 2), (3, 2, 2, 3), (1, 1), "same", (1, 1)),     # even kernel width: asymmetric
    ((2, 7, 6, 3), (2, 2, 3, 2), (2, 2), "same", (1, 1)),
    ((1, 8, 7, 2), (3, 3, 2, 2), (2, 3), "valid", (1, 1)),    # leftover rows/columns unused
    ((1, 9, 8, 2), (3, 2, 2, 3), (1, 1), "valid", (2, 3)),
    ((2, 7, 7, 1), (3, 3, 1, 2), (1, 1), "same", (2, 2)),
    ((1, 7, 5, 2), (1, 1, 2, 3), (3, 2), "valid", (1, 1)),    # 1x1, stride > kernel
    ((1, 5, 4, 2), (1, 1, 2, 2), (2, 2), "same", (1, 1)),
    ((1, 4, 4, 1), (4, 4, 1, 1), (1, 1), "valid", (1, 1)),    # kernel == input
    ((1, 6, 5, 2), (2, 3, 2, 2), (3, 2), "same", (2, 1)),     # strides with dilation
    ((1, 2, 3, 1), (3, 4, 1, 2), (1, 1), "same", (1, 1)),     # kernel larger than input
    ((1, 9, 4, 2), (2, 2, 2, 1), (4, 1), "same", (1, 1)),     # stride > kernel, same
]
CONV_IDS = [f"{c[3]}-x{'x'.join(map(str, c[0]))}-w{'x'.join(map(str, c[1]))}-s{c[2][0]}{c[2][1]}"
            f"-d{c[4][0]}{c[4][1]}" for c in CONV_CASES]

# (x shape, pool_size, strides, padding)
POOL_CASES = [
    ((2, 6, 6, 3), (2, 2), None, "valid"),
    ((1, 7, 5, 2), (2, 2), None, "valid"),      # leftover row/column dropped
    ((1, 7, 5, 2), (2, 2), None, "same"),
    ((2, 5, 6, 2), (3, 3), (1, 1), "same"),     # overlapping windows
    ((1, 7, 7, 1), (3, 2), (2, 1), "valid"),
    ((1, 5, 5, 2), (1, 1), (2, 2), "valid"),    # stride > pool
    ((1, 6, 5, 1), (2, 3), (3, 3), "same"),     # stride > pool, same
    ((1, 3, 4, 2), (3, 3), (2, 2), "same"),
    ((1, 4, 6, 1), (4, 2), (1, 2), "valid"),
]
POOL_IDS = [f"{c[3]}-x{'x'.join(map(str, c[0]))}-p{c[1][0]}{c[1][1]}-s{c[2]}" for c in POOL_CASES]


def conv_attrs(strides, padding, dilation):
    return dict(strides=strides, padding=padding, dilation=dilation)


def pool_attrs(pool, strides, padding):
    return dict(pool_size=pool, strides=strides, padding=padding)


# -- shape rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize("xs, ws, strides, padding, dilation, want", [
    ((2, 7, 6, 3), (3, 2, 3, 4), (1, 1), "valid", (1, 1), (2, 5, 5, 4)),
    ((2, 7, 6, 3), (3, 2, 3, 4), (1, 1), "same", (1, 1), (2, 7, 6, 4)),
    ((2, 7, 6, 3), (3, 2, 3, 4), (2, 3), "same", (1, 1), (2, 4, 2, 4)),
    ((2, 7, 6, 3), (3, 2, 3, 4), (2, 3), "valid", (1, 1), (2, 3, 2, 4)),
    ((2, 7, 6, 3), (3, 2, 3, 4), (1, 1), "valid", (2, 3), (2, 3, 3, 4)),
    ((2, 7, 6, 3), (3, 2, 3, 4), (1, 1), "same", (3, 3), (2, 7, 6, 4)),
    ((1, 7, 7, 1), (1, 1, 1, 5), (3, 3), "valid", (1, 1), (1, 3, 3, 5)),
    ((1, 2, 2, 1), (5, 5, 1, 1), (1, 1), "same", (1, 1), (1, 2, 2, 1)),
])
def test_conv2d_shape_rule(xs, ws, strides, padding, dilation, want):
    y = build("conv2d", [xs, ws], strides=strides, padding=padding, dilation=dilation)
    assert y.shape == want and y.dtype == "f64"


def test_conv2d_defaults_and_f32():
    y = build("conv2d", [(1, 5, 5, 2), (3, 3, 2, 1)], dtype="f32")
    assert y.shape == (1, 3, 3, 1) and y.dtype == "f32"
    attrs = get_op("conv2d").check_attrs({})
    assert attrs == {"strides": (1, 1), "padding": "valid", "dilation": (1, 1)}


@pytest.mark.parametrize("xs, pool, strides, padding, want", [
    ((1, 7, 6, 3), (2, 2), None, "valid", (1, 3, 3, 3)),
    ((1, 7, 6, 3), (2, 2), None, "same", (1, 4, 3, 3)),
    ((1, 7, 6, 3), (3, 3), (1, 1), "same", (1, 7, 6, 3)),
    ((1, 7, 6, 3), (3, 2), (2, 1), "valid", (1, 3, 5, 3)),
    ((2, 5, 5, 1), (1, 1), (3, 3), "valid", (2, 2, 2, 1)),
])
def test_pool_shape_rule(xs, pool, strides, padding, want):
    for name in ("max_pool2d", "avg_pool2d"):
        y = build(name, [xs], pool_size=pool, strides=strides, padding=padding)
        assert y.shape == want
    g = build("avg_pool2d_grad", [want], shape=xs, pool_size=pool, strides=strides,
              padding=padding)
    assert g.shape == xs
    g = build("max_pool2d_grad", [xs, want], pool_size=pool, strides=strides, padding=padding)
    assert g.shape == xs


def test_grad_op_shape_rules():
    g = build("conv2d_input_grad", [(2, 4, 2, 5), (3, 2, 3, 5)], shape=(2, 7, 6, 3),
              strides=(2, 3), padding="same")
    assert g.shape == (2, 7, 6, 3)
    g = build("conv2d_filter_grad", [(2, 7, 6, 3), (2, 4, 2, 5)], shape=(3, 2, 3, 5),
              strides=(2, 3), padding="same")
    assert g.shape == (3, 2, 3, 5)


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes, dtype, attrs, match", [
    ([(5, 5, 3), (3, 3, 3, 4)], "f32", {},
     r"conv2d: input \(NHWC\) must have rank 4, got f32\[5,5,3\]"),
    ([(1, 5, 5, 3), (3, 3, 4)], "f32", {}, r"conv2d: kernel \(HWIO\) must have rank 4"),
    ([(1, 5, 5, 3), (3, 3, 4, 8)], "f32", {},
     r"conv2d: channel mismatch: input has 3 channels .* kernel expects 4"),
    ([(1, 5, 5, 3), (3, 3, 3, 4)], "f32", {"strides": (0, 1)},
     r"conv2d: 'strides' must be two ints >= 1 .*got \[0, 1\]"),
    ([(1, 5, 5, 3), (3, 3, 3, 4)], "f32", {"strides": (1, 1, 1)},
     r"conv2d: 'strides' must be two ints >= 1 .*got \[1, 1, 1\]"),
    ([(1, 5, 5, 3), (3, 3, 3, 4)], "f32", {"strides": 2}, r"conv2d: 'strides' must be two ints"),
    ([(1, 5, 5, 3), (3, 3, 3, 4)], "f32", {"dilation": (1, 0)},
     r"conv2d: 'dilation' must be two ints >= 1 .*got \[1, 0\]"),
    ([(1, 5, 5, 3), (3, 3, 3, 4)], ["f32", "f64"], {}, r"conv2d: operands must have one dtype"),
    ([(1, 5, 5, 3), (3, 3, 3, 4)], "i32", {}, r"conv2d: expected dtype f32 or f64, got i32"),
    ([(1, 4, 6, 3), (5, 3, 3, 4)], "f32", {},
     r"conv2d: kernel height 5 is larger than the input height 4 with padding 'valid'"),
    ([(1, 6, 4, 3), (3, 3, 3, 4)], "f32", {"dilation": (1, 2)},
     r"conv2d: kernel width 3 \(dilated to 5\) is larger than the input width 4"),
    ([(1, 6, 4, 3), (3, 3, 3, 4)], "f32", {"padding": "SAME"},
     r"conv2d: attribute 'padding' must be one of 'valid', 'same', got 'SAME'"),
    ([(1, 6, 4, 3), (0, 3, 3, 4)], "f32", {"padding": "same"},
     r"conv2d: kernel spatial size must be at least 1x1"),
])
def test_conv2d_errors(shapes, dtype, attrs, match):
    with pytest.raises(OpError, match=match):
        build("conv2d", shapes, dtype=dtype, **attrs)


@pytest.mark.parametrize("name, shapes, attrs, match", [
    ("conv2d_input_grad", [(1, 3, 3, 4), (3, 3, 2, 4)], {"shape": (1, 6, 6, 2)},
     r"conv2d_input_grad: cotangent f64\[1,3,3,4\] does not match conv2d of input shape "
     r"\[1, 6, 6, 2\] .* which gives \[1, 4, 4, 4\]"),
    ("conv2d_input_grad", [(1, 4, 4, 4), (3, 3, 2, 4)], {"shape": (1, 6, 6, 3)},
     r"conv2d_input_grad: channel mismatch: result 'shape' has 3 channels"),
    ("conv2d_input_grad", [(1, 4, 4, 4), (3, 3, 2, 5)], {"shape": (1, 6, 6, 2)},
     r"conv2d_input_grad: cotangent .* does not match .* gives \[1, 4, 4, 5\]"),
    ("conv2d_input_grad", [(1, 4, 4, 4), (3, 3, 2, 4)], {"shape": (6, 6, 2)},
     r"conv2d_input_grad: attribute 'shape' must have rank 4"),
    ("conv2d_input_grad", [(1, 4, 4, 4), (3, 3, 2, 4)], {},
     r"conv2d_input_grad: missing required attribute 'shape'"),
    ("conv2d_filter_grad", [(1, 6, 6, 2), (1, 3, 3, 4)], {"shape": (3, 3, 2, 4)},
     r"conv2d_filter_grad: cotangent f64\[1,3,3,4\] does not match conv2d of input "
     r"f64\[1,6,6,2\] with kernel shape \[3, 3, 2, 4\]"),
    ("conv2d_filter_grad", [(1, 6, 6, 2), (1, 4, 4, 4)], {"shape": (3, 3, 5, 4)},
     r"conv2d_filter_grad: channel mismatch: input has 2 channels .* result 'shape' expects 5"),
    ("conv2d_filter_grad", [(1, 6, 6, 2), (1, 4, 4, 4)], {"shape": (3, 3, 2, 4),
                                                           "dilation": (0, 1)},
     r"conv2d_filter_grad: 'dilation' must be two ints >= 1"),
])
def test_conv_grad_errors(name, shapes, attrs, match):
    with pytest.raises(OpError, match=match):
        build(name, shapes, **attrs)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape, dtype, attrs, match", [
    ((4, 4, 3), "f32", {}, r"{op}: input \(NHWC\) must have rank 4, got f32\[4,4,3\]"),
    ((1, 4, 4, 3), "i64", {}, r"{op}: input must be f32 or f64, got i64\[1,4,4,3\]"),
    ((1, 2, 4, 3), "f32", {"pool_size": (3, 3)},
     r"{op}: pool height 3 is larger than the input height 2 with padding 'valid'"),
    ((1, 4, 4, 3), "f32", {"pool_size": (2, 0)}, r"{op}: 'pool_size' must be two ints >= 1"),
    ((1, 4, 4, 3), "f32", {"pool_size": (2,)}, r"{op}: 'pool_size' must be two ints >= 1"),
    ((1, 4, 4, 3), "f32", {"strides": (1, 0)}, r"{op}: 'strides' must be two ints >= 1"),
    ((1, 4, 4, 3), "f32", {"padding": "full"}, r"{op}: attribute 'padding' must be one of"),
])
def test_pool_errors(name, shape, dtype, attrs, match):
    with pytest.raises(OpError, match=match.format(op=name)):
        build(name, [shape], dtype=dtype, **attrs)


def test_pool_grad_errors():
    with pytest.raises(OpError, match=r"max_pool2d_grad: cotangent f64\[1,3,3,2\] does not "
                                      r"match max_pool2d of f64\[1,4,4,2\] .* "
                                      r"gives \[1, 2, 2, 2\]"):
        build("max_pool2d_grad", [(1, 4, 4, 2), (1, 3, 3, 2)])
    with pytest.raises(OpError, match=r"max_pool2d_grad: operands must have one dtype"):
        build("max_pool2d_grad", [(1, 4, 4, 2), (1, 2, 2, 2)], dtype=["f64", "f32"])
    with pytest.raises(OpError, match=r"avg_pool2d_grad: cotangent f64\[1,3,3,2\] does not "
                                      r"match avg_pool2d of input shape \[1, 4, 4, 2\]"):
        build("avg_pool2d_grad", [(1, 3, 3, 2)], shape=(1, 4, 4, 2))
    with pytest.raises(OpError, match=r"avg_pool2d_grad: attribute 'shape' must have rank 4"):
        build("avg_pool2d_grad", [(1, 2, 2, 2)], shape=(4, 4, 2))
    with pytest.raises(OpError, match=r"avg_pool2d_grad: cotangent must be f32 or f64, got i32"):
        build("avg_pool2d_grad", [(1, 2, 2, 2)], dtype="i32", shape=(1, 4, 4, 2))


# -- references vs naive loops -------------------------------------------------------------------
@pytest.mark.parametrize("xs, ws, strides, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_conv_references_vs_naive(xs, ws, strides, padding, dilation):
    a = conv_attrs(strides, padding, dilation)
    x, w = rand(*xs), rand(*ws)
    y = ev("conv2d", [x, w], **a)
    np.testing.assert_allclose(y, naive_conv(x, w, strides, padding, dilation), rtol=1e-12,
                               atol=1e-12)
    g = rand(*y.shape)
    dx = ev("conv2d_input_grad", [g, w], shape=xs, **a)
    np.testing.assert_allclose(dx, naive_conv_input_grad(g, w, xs, strides, padding, dilation),
                               rtol=1e-12, atol=1e-12)
    dw = ev("conv2d_filter_grad", [x, g], shape=ws, **a)
    np.testing.assert_allclose(dw, naive_conv_filter_grad(x, g, ws, strides, padding, dilation),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs, pool, strides, padding", POOL_CASES, ids=POOL_IDS)
def test_pool_references_vs_naive(xs, pool, strides, padding):
    a = pool_attrs(pool, strides, padding)
    x = rand(*xs)
    ymax = ev("max_pool2d", [x], **a)
    np.testing.assert_array_equal(ymax, naive_pool(x, pool, strides, padding, "max"))
    yavg = ev("avg_pool2d", [x], **a)
    np.testing.assert_allclose(yavg, naive_pool(x, pool, strides, padding, "avg"), rtol=1e-13)
    g = rand(*ymax.shape)
    np.testing.assert_allclose(ev("max_pool2d_grad", [x, g], **a),
                               naive_max_pool_grad(x, g, pool, strides, padding), rtol=1e-13)
    np.testing.assert_allclose(ev("avg_pool2d_grad", [g], shape=xs, **a),
                               naive_avg_pool_grad(g, xs, pool, strides, padding), rtol=1e-13)


def test_max_pool_grad_ties_go_to_first_element():
    # All-equal windows: the first element in row-major order takes the whole cotangent.
    x = np.zeros((1, 2, 2, 1))
    g = np.full((1, 1, 1, 1), 3.0)
    dx = ev("max_pool2d_grad", [x, g])
    np.testing.assert_array_equal(dx[0, :, :, 0], [[3.0, 0.0], [0.0, 0.0]])
    # Ties in the second row only: (1, 0) comes before (1, 1).
    x = np.array([[1.0, 2.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    dx = ev("max_pool2d_grad", [x, g])
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 0.0], [3.0, 0.0]])
    # Overlapping windows (3x3 stride 1 'same' on a constant image): every window's first
    # real element takes its cotangent; contributions accumulate.
    x = np.ones((1, 3, 3, 1))
    g = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    dx = ev("max_pool2d_grad", [x, g], pool_size=(3, 3), strides=(1, 1), padding="same")
    # Window at (oy, ox) starts at row max(oy-1, 0), column max(ox-1, 0).
    want = np.zeros((3, 3))
    for oy in range(3):
        for ox in range(3):
            want[max(oy - 1, 0), max(ox - 1, 0)] += g[0, oy, ox, 0]
    np.testing.assert_array_equal(dx[0, :, :, 0], want)


def test_max_pool_same_never_selects_padding():
    # A window whose real elements are all -inf: its max is -inf, and the padding (also -inf
    # internally) must not absorb the gradient.
    # 3x3 stride 1 'same' pads one row/column on every side, so windows start in padding.
    x = np.full((1, 3, 3, 1), -np.inf)
    a = pool_attrs((3, 3), (1, 1), "same")
    y = ev("max_pool2d", [x], **a)
    assert y.shape == (1, 3, 3, 1) and np.all(y == -np.inf)
    g = np.arange(1.0, 10.0).reshape(y.shape)
    dx = ev("max_pool2d_grad", [x, g], **a)
    assert dx.sum() == g.sum()  # every window's cotangent reached a real element
    np.testing.assert_array_equal(dx, naive_max_pool_grad(x, g, (3, 3), (1, 1), "same"))
    # 'same' max pool of negative numbers is not clipped at 0 by the padding.
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = ev("max_pool2d", [x], padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])


def test_max_pool_nan_propagates_and_routes_gradient():
    x = np.array([[1.0, np.nan], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    y = ev("max_pool2d", [x])
    assert np.isnan(y).all()
    dx = ev("max_pool2d_grad", [x, np.full((1, 1, 1, 1), 2.0)])
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 2.0], [0.0, 0.0]])


def test_max_pool_grad_nonfinite_cotangent_stays_in_place():
    x = np.array([[1.0, 4.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    dx = ev("max_pool2d_grad", [x, np.full((1, 1, 1, 1), np.inf)])
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, np.inf], [0.0, 0.0]])


def test_avg_pool_same_counts_only_real_elements():
    x = np.ones((1, 5, 4, 2))
    for pool, strides in (((2, 2), None), ((3, 3), (1, 1)), ((3, 2), (2, 3))):
        y = ev("avg_pool2d", [x], pool_size=pool, strides=strides, padding="same")
        np.testing.assert_allclose(y, 1.0, rtol=1e-15)  # padding is not averaged in


# -- dtype, layout, edge cases -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_have_declared_type_and_are_contiguous(dtype):
    x, w = rand(2, 7, 6, 3, dtype=dtype), rand(2, 3, 3, 4, dtype=dtype)
    for a in (conv_attrs((2, 2), "same", (1, 1)), conv_attrs((1, 2), "valid", (2, 1))):
        y = ev("conv2d", [x, w], **a)
        g = rand(*y.shape, dtype=dtype)
        outs = [("conv2d", [x, w], {}, y),
                ("conv2d_input_grad", [g, w], {"shape": x.shape}, None),
                ("conv2d_filter_grad", [x, g], {"shape": w.shape}, None)]
        for name, ins, extra, out in outs:
            out = ev(name, ins, **a, **extra) if out is None else out
            want = get_op(name).infer_types(
                [build_type(v) for v in ins], get_op(name).check_attrs({**a, **extra}))[0]
            assert out.dtype == dtype and out.shape == want.shape, name
            assert out.flags.c_contiguous, name
    for a in (pool_attrs((2, 2), None, "same"), pool_attrs((3, 2), (1, 2), "valid")):
        for name in ("max_pool2d", "avg_pool2d"):
            y = ev(name, [x], **a)
            assert y.dtype == dtype and y.flags.c_contiguous
            g = rand(*y.shape, dtype=dtype)
            dx = (ev("max_pool2d_grad", [x, g], **a) if name == "max_pool2d" else
                  ev("avg_pool2d_grad", [g], shape=x.shape, **a))
            assert dx.dtype == dtype and dx.shape == x.shape and dx.flags.c_contiguous


def build_type(arr):
    return TensorType(arr.shape, dtypes.from_numpy(arr.dtype))


def test_empty_batch():
    x, w = np.zeros((0, 5, 5, 2)), rand(3, 3, 2, 4)
    y = ev("conv2d", [x, w], padding="same")
    assert y.shape == (0, 5, 5, 4)
    assert ev("conv2d_input_grad", [y, w], shape=x.shape, padding="same").shape == x.shape
    dw = ev("conv2d_filter_grad", [x, y], shape=w.shape, padding="same")
    assert dw.shape == w.shape and not dw.any()
    assert ev("max_pool2d", [x]).shape == (0, 2, 2, 2)
    assert ev("max_pool2d_grad", [x, np.zeros((0, 2, 2, 2))]).shape == x.shape


def test_conv_large_batch_is_chunked_consistently():
    # The reference processes batches in chunks; a batch larger than one chunk must give the
    # same results as the per-sample computation.
    import compiler.ops.conv as conv
    x, w = rand(5, 6, 6, 3), rand(3, 3, 3, 2)
    a = conv_attrs((1, 1), "same", (1, 1))
    old = conv._COLS_BUDGET
    try:
        conv._COLS_BUDGET = 1  # force one sample per chunk
        y = ev("conv2d", [x, w], **a)
        g = rand(*y.shape)
        dx = ev("conv2d_input_grad", [g, w], shape=x.shape, **a)
        dw = ev("conv2d_filter_grad", [x, g], shape=w.shape, **a)
    finally:
        conv._COLS_BUDGET = old
    np.testing.assert_allclose(y, ev("conv2d", [x, w], **a), rtol=1e-13)
    np.testing.assert_allclose(dx, ev("conv2d_input_grad", [g, w], shape=x.shape, **a),
                               rtol=1e-13)
    np.testing.assert_allclose(dw, ev("conv2d_filter_grad", [x, g], shape=w.shape, **a),
                               rtol=1e-12)


# -- adjoint identities and finite differences on the references ---------------------------------
@pytest.mark.parametrize("xs, ws, strides, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_conv_adjoint_identities(xs, ws, strides, padding, dilation):
    a = conv_attrs(strides, padding, dilation)
    x, w = rand(*xs), rand(*ws)
    y = ev("conv2d", [x, w], **a)
    g = rand(*y.shape)
    lhs = vdot(y, g)
    assert vdot(x, ev("conv2d_input_grad", [g, w], shape=xs, **a)) == pytest.approx(lhs, rel=1e-12)
    assert vdot(w, ev("conv2d_filter_grad", [x, g], shape=ws, **a)) == pytest.approx(lhs, rel=1e-12)


@pytest.mark.parametrize("xs, pool, strides, padding", POOL_CASES, ids=POOL_IDS)
def test_pool_grads_vs_finite_differences(xs, pool, strides, padding):
    a = pool_attrs(pool, strides, padding)
    x = rand(*xs)
    g = rand(*ev("max_pool2d", [x], **a).shape)
    # avg pool is linear: its grad is its exact adjoint.
    assert vdot(x, ev("avg_pool2d_grad", [g], shape=xs, **a)) == pytest.approx(
        vdot(ev("avg_pool2d", [x], **a), g), rel=1e-12)
    # Central differences of <pool(x), g>, every element (max pool is piecewise linear and
    # the random values have no ties closer than eps).
    for name, grad in (("max_pool2d", ev("max_pool2d_grad", [x, g], **a)),
                       ("avg_pool2d", ev("avg_pool2d_grad", [g], shape=xs, **a))):
        eps = 1e-6
        num = np.zeros(xs)
        for idx in np.ndindex(*xs):
            xp, xm = x.copy(), x.copy()
            xp[idx] += eps
            xm[idx] -= eps
            num[idx] = (vdot(ev(name, [xp], **a), g) - vdot(ev(name, [xm], **a), g)) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8, err_msg=name)


# -- VJP rules: closed under differentiation -----------------------------------------------------
def _vjp_ops(name, shapes, attrs):
    b = GraphBuilder()
    ins = [b.input(f"a{i}", s, "f64") for i, s in enumerate(shapes)]
    out = b.op(name, *ins, **attrs)
    c = b.input("c", out.shape, "f64")
    node = out.producer
    before = len(b.graph.nodes)
    grads = get_op(name).vjp(b, node, [c])
    return [g.producer.op for g in grads], [g.shape for g in grads], b.graph.nodes[before:]


def test_conv_vjps_are_conv_ops():
    a = conv_attrs((2, 1), "same", (1, 2))
    ops, shapes, _ = _vjp_ops("conv2d", [(1, 5, 6, 2), (3, 2, 2, 3)], a)
    assert ops == ["conv2d_input_grad", "conv2d_filter_grad"]
    assert shapes == [(1, 5, 6, 2), (3, 2, 2, 3)]
    ops, shapes, _ = _vjp_ops("conv2d_input_grad", [(1, 3, 6, 3), (3, 2, 2, 3)],
                              {**a, "shape": (1, 5, 6, 2)})
    assert ops == ["conv2d", "conv2d_filter_grad"]
    assert shapes == [(1, 3, 6, 3), (3, 2, 2, 3)]
    ops, shapes, nodes = _vjp_ops("conv2d_filter_grad", [(1, 5, 6, 2), (1, 3, 6, 3)],
                                  {**a, "shape": (3, 2, 2, 3)})
    assert ops == ["conv2d_input_grad", "conv2d"]
    assert shapes == [(1, 5, 6, 2), (1, 3, 6, 3)]
    assert all(n.attrs["strides"] == (2, 1) and n.attrs["dilation"] == (1, 2) for n in nodes)


def test_pool_vjps():
    a = pool_attrs((3, 2), (1, 2), "same")
    ops, shapes, _ = _vjp_ops("max_pool2d", [(1, 5, 6, 2)], a)
    assert ops == ["max_pool2d_grad"] and shapes == [(1, 5, 6, 2)]
    ops, shapes, _ = _vjp_ops("avg_pool2d", [(1, 5, 6, 2)], a)
    assert ops == ["avg_pool2d_grad"] and shapes == [(1, 5, 6, 2)]
    ops, shapes, _ = _vjp_ops("avg_pool2d_grad", [(1, 5, 3, 2)], {**a, "shape": (1, 5, 6, 2)})
    assert ops == ["avg_pool2d"] and shapes == [(1, 5, 3, 2)]
    op = get_op("max_pool2d_grad")
    assert not op.differentiable and "second derivative of max pooling" in op.vjp.reason


def test_families_and_text_round_trip():
    for name in ("conv2d", "conv2d_input_grad", "conv2d_filter_grad"):
        assert get_op(name).family == "contraction"
    for name in ("max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad"):
        assert get_op(name).family == "window"
    b = GraphBuilder()
    x = b.input("x", (1, 5, 5, 2), "f64")
    w = b.param("w", (2, 3, 2, 4), "f64")
    y = b.conv2d(x, w, padding="same", strides=(2, 2), dilation=(1, 2))
    dx = b.conv2d_input_grad(y, w, shape=x.shape, padding="same", strides=(2, 2), dilation=(1, 2))
    dw = b.conv2d_filter_grad(x, y, shape=w.shape, padding="same", strides=(2, 2), dilation=(1, 2))
    p = b.max_pool2d(dx, pool_size=(3, 3), strides=(1, 2), padding="same")
    q = b.avg_pool2d_grad(p, shape=(1, 5, 5, 2), pool_size=(3, 3), strides=(1, 2), padding="same")
    b.output(q, dw)
    text = print_graph(b.graph)
    assert "shape=" not in text  # type_attrs: the result type states it
    assert print_graph(parse(text)) == text


# -- through autodiff and the eager interpreter (tests/opcheck.py) -------------------------------
try:
    import opcheck
except ImportError:  # pragma: no cover - the harness ships with the tests
    opcheck = None
needs_opcheck = pytest.mark.skipif(opcheck is None, reason="tests/opcheck.py not importable")


@needs_opcheck

@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[2], CONV_CASES[5], CONV_CASES[9]],
                         ids=[CONV_IDS[i] for i in (1, 2, 5, 9)])
def test_conv_ops_finite_differences(case):
    xs, ws, strides, padding, dilation = case
    a = conv_attrs(strides, padding, dilation)
    x, w = rand(*xs), rand(*ws)
    g = rand(*ev("conv2d", [x, w], **a).shape)
    opcheck.check_grad("conv2d", [x, w], a)
    opcheck.check_grad("conv2d_input_grad", [g, w], {**a, "shape": xs})
    opcheck.check_grad("conv2d_filter_grad", [x, g], {**a, "shape": ws})


@needs_opcheck
@pytest.mark.parametrize("case", [POOL_CASES[2], POOL_CASES[3], POOL_CASES[6]],
                         ids=[POOL_IDS[i] for i in (2, 3, 6)])
def test_pool_ops_finite_differences(case):
    xs, pool, strides, padding = case
    a = pool_attrs(pool, strides, padding)
    x = rand(*xs)
    opcheck.check_grad("max_pool2d", [x], a)
    opcheck.check_grad("avg_pool2d", [x], a)
    g = rand(*ev("avg_pool2d", [x], **a).shape)
    opcheck.check_grad("avg_pool2d_grad", [g], {**a, "shape": xs})


# -- PyTorch -------------------------------------------------------------------------------------
def _torch_conv(torch, x, w, strides, padding, dilation):
    F = torch.nn.functional
    xt = x.permute(0, 3, 1, 2)
    if padding == "same":
        t, bo = tf_pads(x.shape[1], w.shape[0], strides[0], dilation[0], "same")
        l, r = tf_pads(x.shape[2], w.shape[1], strides[1], dilation[1], "same")
        xt = F.pad(xt, (l, r, t, bo))
    # (.contiguous(): torch's slow_conv2d backward rejects some permuted weights)
    y = F.conv2d(xt.contiguous(), w.permute(3, 2, 0, 1).contiguous(), stride=strides,
                 dilation=dilation)
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize("xs, ws, strides, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_conv_vs_torch(xs, ws, strides, padding, dilation):
    torch = pytest.importorskip("torch")
    a = conv_attrs(strides, padding, dilation)
    x, w = rand(*xs), rand(*ws)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    yt = _torch_conv(torch, xt, wt, strides, padding, dilation)
    y = ev("conv2d", [x, w], **a)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rand(*y.shape)
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ev("conv2d_input_grad", [g, w], shape=xs, **a),
                               xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ev("conv2d_filter_grad", [x, g], shape=ws, **a),
                               wt.grad.numpy(), rtol=1e-10, atol=1e-12)


@needs_opcheck
def test_conv_vs_torch_through_autodiff_f32():
    torch = pytest.importorskip("torch")
    xs, ws, strides, padding, dilation = CONV_CASES[2]
    a = conv_attrs(strides, padding, dilation)
    opcheck.check_torch("conv2d", [rand(*xs), rand(*ws)], a,
                        lambda x, w: _torch_conv(torch, x, w, strides, padding, dilation))
    # float32 forward agrees with torch to float32 accuracy
    x, w = rand(4, 9, 8, 5, dtype=np.float32), rand(3, 3, 5, 6, dtype=np.float32)
    y = ev("conv2d", [x, w], padding="same", strides=(2, 2))
    yt = _torch_conv(torch, torch.tensor(x), torch.tensor(w), (2, 2), "same", (1, 1))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-4, atol=1e-5)


def _torch_pool(torch, x, pool, strides, padding, kind):
    F = torch.nn.functional
    strides = strides or pool
    xt = x.permute(0, 3, 1, 2)
    t, bo = tf_pads(x.shape[1], pool[0], strides[0], 1, padding)
    l, r = tf_pads(x.shape[2], pool[1], strides[1], 1, padding)
    if kind == "max":
        y = F.max_pool2d(F.pad(xt, (l, r, t, bo), value=-math.inf), pool, strides)
    elif (t, l) == (bo, r) and t <= pool[0] // 2 and l <= pool[1] // 2:
        y = F.avg_pool2d(xt, pool, strides, padding=(t, l), count_include_pad=False)
    else:  # asymmetric padding: window sums over the count of real elements
        ones = torch.ones_like(xt[:1, :1])
        s = F.avg_pool2d(F.pad(xt, (l, r, t, bo)), pool, strides)
        n = F.avg_pool2d(F.pad(ones, (l, r, t, bo)), pool, strides)
        y = s / n
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("xs, pool, strides, padding", POOL_CASES, ids=POOL_IDS)
def test_pool_vs_torch(xs, pool, strides, padding, kind):
    torch = pytest.importorskip("torch")
    a = pool_attrs(pool, strides, padding)
    x = rand(*xs)
    xt = torch.tensor(x, requires_grad=True)
    yt = _torch_pool(torch, xt, pool, strides, padding, kind)
    y = ev(f"{kind}_pool2d", [x], **a)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = rand(*y.shape)
    (yt * torch.tensor(g)).sum().backward()
    dx = (ev("max_pool2d_grad", [x, g], **a) if kind == "max" else
          ev("avg_pool2d_grad", [g], shape=xs, **a))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_max_pool_ties_vs_torch():
    torch = pytest.importorskip("torch")
    x = np.round(rand(2, 6, 5, 3) * 1.5)  # many ties
    for a in (pool_attrs((2, 2), None, "valid"), pool_attrs((3, 3), (1, 1), "same")):
        xt = torch.tensor(x, requires_grad=True)
        yt = _torch_pool(torch, xt, a["pool_size"], a["strides"], a["padding"], "max")
        g = rand(*yt.shape)
        (yt * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(ev("max_pool2d_grad", [x, g], **a), xt.grad.numpy(),
                                   rtol=1e-12, atol=1e-14)
