"""Property tests (hypothesis): broadcasting shape rules agree with numpy, and gradients of
broadcasting ops are un-broadcast correctly for any compatible pair of shapes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from compiler import GraphBuilder, OpError
from opcheck import check_grad, run_op


@st.composite
def broadcastable_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                     min_side=1, max_side=3))
    return shapes.input_shapes


@settings(max_examples=40, deadline=None)
@given(broadcastable_pair(), st.sampled_from(["add", "sub", "mul", "maximum"]))
def test_binary_broadcast_forward_and_gradient(shapes, op):
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=s) for s in shapes]
    want = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum}[op](*xs)
    (got,) = run_op(op, xs)
    np.testing.assert_array_equal(got, want)
    check_grad(op, xs)


@settings(max_examples=40, deadline=None)
@given(st.tuples(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                 hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_shape_rule_matches_numpy(shapes):
    b = GraphBuilder()
    x, y = b.input("x", shapes[0]), b.input("y", shapes[1])
    try:
        expected = np.broadcast_shapes(*shapes)
    except ValueError:
        with pytest.raises(OpError, match="do not broadcast"):
            b.add(x, y)
        return
    assert b.add(x, y).shape == expected


@settings(max_examples=30, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), st.data())
def test_reduction_gradients_for_any_axes(shape, data):
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    keepdims = data.draw(st.booleans())
    op = data.draw(st.sampled_from(["sum", "mean", "max"]))
    x = np.random.default_rng(1).normal(size=shape)
    attrs = {"axes": axes or None, "keepdims": keepdims}
    want = {"sum": np.sum, "mean": np.mean, "max": np.max}[op](
        x, axis=tuple(axes) if axes else None, keepdims=keepdims)
    np.testing.assert_allclose(run_op(op, [x], attrs)[0], want)
    check_grad(op, [x], attrs)
