"""Every op of the core set: reference semantics vs an independent computation, shape
rule, gradient vs central finite differences (float64) and vs torch.autograd.

The table CASES drives the generic tests; ops tested in their own files are listed in
COVERED_ELSEWHERE. A registry walk fails for any op that is in neither, or that lacks a
facet (shape rule, reference, VJP or explicit NotDifferentiable, family, doc).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from compiler import GraphBuilder, OpError
from compiler.ir.types import TensorType
from compiler.ops import all_ops, get_op
from compiler.ops.registry import FAMILIES, NotDifferentiable
from opcheck import check_grad, check_torch, run_op


# -- input generators -------------------------------------------------------------------
def F(*shape):
    return lambda rng: rng.normal(size=shape)


def P(*shape):  # positive, away from 0
    return lambda rng: rng.uniform(0.5, 2.0, size=shape)


def A(*shape):  # away from the kink at 0
    return lambda rng: rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def U(*shape):
    return lambda rng: rng.uniform(-0.9, 0.9, size=shape)


def I(*shape, hi):
    return lambda rng: rng.integers(0, hi, size=shape).astype(np.int64)


def B(*shape):
    return lambda rng: rng.random(size=shape) < 0.5


def SMALLINT(*shape):  # floats with many exact ties, for comparisons
    return lambda rng: rng.integers(-2, 3, size=shape).astype(np.float64)


@dataclass
class Case:
    op: str
    inputs: list
    attrs: dict = field(default_factory=dict)
    expect: Callable | None = None  # independent reference, on float64 numpy inputs
    torch: Callable | None = None
    grad: bool = True
    id: str = ""

    def arrays(self, seed=0):
        rng = np.random.default_rng(seed)
        return [g(rng) for g in self.inputs]


def _vec(fn):
    """Elementwise via Python's math module: independent of the numpy reference."""
    return lambda *xs: np.vectorize(fn, otypes=[np.float64])(*xs)


def _softmax_loop(x, axis):
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx]
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = sum(e)
        out[idx] = [v / s for v in e]
    return np.moveaxis(out, -1, axis)


def _tf(name):
    """A torch function by attribute path, resolved lazily (torch may be absent)."""
    def call(*args, **kw):
        import torch
        obj = torch
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj(*args, **kw)
    return call


def _t():
    import torch
    return torch


def _sigmoid_py(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


CASES = [
    Case("add", [F(3, 4), F(4)], expect=lambda x, y: x + y, torch=lambda x, y: x + y),
    Case("add", [F(2, 1, 3), F(4, 3)], torch=lambda x, y: x + y, id="bcast"),
    Case("sub", [F(3, 1), F(1, 4)], expect=lambda x, y: x - y, torch=lambda x, y: x - y),
    Case("mul", [F(3, 4), F(3, 1)], expect=lambda x, y: x * y, torch=lambda x, y: x * y),
    Case("div", [F(3, 4), P(4)], expect=lambda x, y: x / y, torch=lambda x, y: x / y),
    Case("pow", [P(3, 4), F(3, 4)], expect=_vec(lambda x, y: x ** y), torch=lambda x, y: x ** y),
    Case("maximum", [F(3, 4), F(4)], expect=_vec(max), torch=_tf("maximum")),
    Case("minimum", [F(3, 4), F(3, 1)], expect=_vec(min), torch=_tf("minimum")),
    Case("equal", [SMALLINT(3, 4), SMALLINT(4)], expect=lambda x, y: x == y, torch=_tf("eq"), grad=False),
    Case("not_equal", [SMALLINT(3, 4), SMALLINT(4)], expect=lambda x, y: x != y, torch=_tf("ne"), grad=False),
    Case("less", [SMALLINT(3, 4), SMALLINT(4)], expect=lambda x, y: x < y, torch=_tf("lt"), grad=False),
    Case("less_equal", [SMALLINT(3, 4), SMALLINT(4)], expect=lambda x, y: x <= y, torch=_tf("le"), grad=False),
    Case("greater", [SMALLINT(3, 4), SMALLINT(4)], expect=lambda x, y: x > y, torch=_tf("gt"), grad=False),
    Case("greater_equal", [SMALLINT(3, 4), SMALLINT(4)], expect=lambda x, y: x >= y, torch=_tf("ge"), grad=False),
    Case("logical_and", [B(3, 4), B(4)], expect=lambda x, y: x & y, torch=_tf("logical_and"), grad=False),
    Case("logical_or", [B(3, 4), B(4)], expect=lambda x, y: x | y, torch=_tf("logical_or"), grad=False),
    Case("logical_not", [B(3, 4)], expect=lambda x: ~x, torch=_tf("logical_not"), grad=False),
    Case("where", [B(3, 4), F(3, 4), F(4)], expect=lambda c, x, y: np.array(
        [[x[i, j] if c[i, j] else y[j] for j in range(4)] for i in range(3)]),
        torch=_tf("where")),
    Case("neg", [F(3, 4)], expect=lambda x: 0 - x, torch=_tf("neg")),
    Case("abs", [A(3, 4)], expect=_vec(abs), torch=_tf("abs")),
    Case("sign", [A(3, 4)], expect=_vec(lambda v: math.copysign(1.0, v)), torch=_tf("sign")),
    Case("square", [F(3, 4)], expect=lambda x: x * x, torch=_tf("square")),
    Case("exp", [F(3, 4)], expect=_vec(math.exp), torch=_tf("exp")),
    Case("log", [P(3, 4)], expect=_vec(math.log), torch=_tf("log")),
    Case("log1p", [P(3, 4)], expect=_vec(math.log1p), torch=_tf("log1p")),
    Case("sqrt", [P(3, 4)], expect=_vec(math.sqrt), torch=_tf("sqrt")),
    Case("rsqrt", [P(3, 4)], expect=_vec(lambda v: 1 / math.sqrt(v)), torch=_tf("rsqrt")),
    Case("erf", [lambda rng: rng.uniform(-4, 4, size=(5, 6))], expect=_vec(math.erf), torch=_tf("erf")),
    # Finite differences see the identity here; the zero gradient is tested in test_autodiff.
    Case("stop_gradient", [F(3, 4)], expect=lambda x: x, torch=lambda x: x.detach(), grad=False),
    Case("cast", [F(3, 4)], {"dtype": "i64"}, expect=lambda x: np.trunc(x).astype(np.int64),
         torch=lambda x: x.to(_t().int64), grad=False),
    Case("cast", [I(3, 4, hi=9)], {"dtype": "f64"}, expect=lambda x: x.astype(float),
         torch=lambda x: x.double(), grad=False, id="int_to_float"),
    Case("clip", [A(4, 5)], {"min": -0.1, "max": 0.1},
         expect=_vec(lambda v: min(max(v, -0.1), 0.1)), torch=lambda x: x.clamp(-0.1, 0.1)),
    Case("relu", [A(3, 4)], expect=_vec(lambda v: max(v, 0.0)), torch=_tf("relu")),
    Case("leaky_relu", [A(3, 4)], {"alpha": 0.1}, expect=_vec(lambda v: v if v > 0 else 0.1 * v),
         torch=lambda x: _t().nn.functional.leaky_relu(x, 0.1)),
    Case("elu", [A(3, 4)], {"alpha": 1.3}, expect=_vec(lambda v: v if v > 0 else 1.3 * (math.exp(v) - 1)),
         torch=lambda x: _t().nn.functional.elu(x, 1.3)),
    Case("sigmoid", [lambda rng: rng.normal(scale=5, size=(3, 4))], expect=_vec(_sigmoid_py),
         torch=_tf("sigmoid")),
    Case("tanh", [F(3, 4)], expect=_vec(math.tanh), torch=_tf("tanh")),
    Case("softplus", [lambda rng: rng.normal(scale=5, size=(3, 4))],
         expect=_vec(lambda v: max(v, 0) + math.log1p(math.exp(-abs(v)))),
         torch=lambda x: _t().nn.functional.softplus(x)),
    Case("gelu", [F(3, 4)], expect=_vec(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
         torch=lambda x: _t().nn.functional.gelu(x)),
    Case("gelu", [F(3, 4)], {"approximate": True},
         expect=_vec(lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
         torch=lambda x: _t().nn.functional.gelu(x, approximate="tanh"), id="tanh"),
    Case("softmax", [F(3, 5)], expect=lambda x: _softmax_loop(x, -1),
         torch=lambda x: _t().softmax(x, -1)),
    Case("softmax", [F(3, 4, 2)], {"axis": 1}, expect=lambda x: _softmax_loop(x, 1),
         torch=lambda x: _t().softmax(x, 1), id="axis1"),
    Case("log_softmax", [F(3, 5)], expect=lambda x: np.log(_softmax_loop(x, -1)),
         torch=lambda x: _t().log_softmax(x, -1)),
    Case("log_softmax", [F(2, 3, 4)], {"axis": 0}, expect=lambda x: np.log(_softmax_loop(x, 0)),
         torch=lambda x: _t().log_softmax(x, 0), id="axis0"),
    Case("sum", [F(2, 3, 4)], expect=lambda x: sum(x.reshape(-1).tolist()), torch=_tf("sum")),
    Case("sum", [F(2, 3, 4)], {"axes": [0, 2], "keepdims": True},
         expect=lambda x: np.array([[[sum(x[:, j, :].reshape(-1).tolist())] for j in range(3)]]),
         torch=lambda x: x.sum(dim=(0, 2), keepdim=True), id="axes_keepdims"),
    Case("mean", [F(2, 3, 4)], {"axes": [1]}, expect=lambda x: (x[:, 0] + x[:, 1] + x[:, 2]) / 3,
         torch=lambda x: x.mean(dim=1)),
    Case("max", [F(3, 5)], {"axes": [1]}, expect=lambda x: np.array([max(r) for r in x]),
         torch=lambda x: x.amax(dim=1)),
    Case("max", [SMALLINT(4, 6)], {"axes": [0], "keepdims": True},
         expect=lambda x: np.array([[max(x[:, j]) for j in range(6)]]),
         torch=lambda x: x.amax(dim=0, keepdim=True), grad=False, id="ties"),
    Case("min", [F(3, 5)], expect=lambda x: min(x.reshape(-1)), torch=lambda x: x.amin()),
    Case("argmax", [F(3, 5)], {"axis": 1}, expect=lambda x: np.array([list(r).index(max(r)) for r in x]),
         torch=lambda x: x.argmax(dim=1), grad=False),
    Case("argmin", [F(3, 5)], {"axis": 0, "keepdims": True},
         expect=lambda x: np.array([[list(x[:, j]).index(min(x[:, j])) for j in range(5)]]),
         torch=lambda x: x.argmin(dim=0, keepdim=True), grad=False),
    Case("reshape", [F(2, 6)], {"shape": (3, 2, 2)}, expect=lambda x: np.array(x.reshape(-1).tolist()).reshape(3, 2, 2),
         torch=lambda x: x.reshape(3, 2, 2)),
    Case("transpose", [F(2, 3, 4)], {"perm": (2, 0, 1)},
         expect=lambda x: np.array([[[x[i, j, k] for j in range(3)] for i in range(2)] for k in range(4)]),
         torch=lambda x: x.permute(2, 0, 1)),
    Case("transpose", [lambda rng: np.array(rng.normal())], {"perm": ()}, expect=lambda x: x,
         torch=lambda x: x.clone(), id="rank0"),
    Case("slice", [lambda rng: np.array(rng.normal())], {"starts": (), "limits": ()},
         expect=lambda x: x, torch=lambda x: x.clone(), id="rank0"),
    Case("broadcast_to", [F(3, 1)], {"shape": (2, 3, 4)},
         expect=lambda x: np.array([[[x[j, 0]] * 4 for j in range(3)]] * 2),
         torch=lambda x: x.expand(2, 3, 4)),
    Case("expand_dims", [F(3, 4)], {"axes": (0, 2)}, expect=lambda x: x.reshape(1, 3, 1, 4),
         torch=lambda x: x.reshape(1, 3, 1, 4)),
    Case("squeeze", [F(1, 3, 1, 4)], {"axes": (0,)}, expect=lambda x: x.reshape(3, 1, 4),
         torch=lambda x: x.squeeze(0)),
    Case("squeeze", [F(1, 3, 1, 4)], expect=lambda x: x.reshape(3, 4),
         torch=lambda x: x.squeeze(), id="all"),
    Case("concat", [F(2, 1), F(2, 3), F(2, 2)], {"axis": 1},
         expect=lambda a, b, c: np.array([list(a[i]) + list(b[i]) + list(c[i]) for i in range(2)]),
         torch=lambda a, b, c: _t().cat([a, b, c], 1)),
    Case("slice", [F(7, 5)], {"starts": (1, 0), "limits": (7, 5), "strides": (2, 3)},
         expect=lambda x: np.array([[x[i, j] for j in (0, 3)] for i in (1, 3, 5)]),
         torch=lambda x: x[1:7:2, 0:5:3]),
    Case("pad", [F(2, 3)], {"pads": ((1, 0), (2, 1)), "interior": (1, 0), "value": 0.5},
         expect=lambda x: np.array([[0.5] * 6, [0.5, 0.5, *x[0], 0.5], [0.5] * 6,
                                    [0.5, 0.5, *x[1], 0.5]]),
         torch=lambda x: _t().nn.functional.pad(
             _t().stack([x[0], _t().full((3,), 0.5, dtype=x.dtype), x[1]]), (2, 1, 1, 0), value=0.5)),
    Case("one_hot", [I(2, 3, hi=5)], {"depth": 4},
         expect=lambda i: np.array([[[1.0 if i[a, b] == k else 0.0 for k in range(4)] for b in range(3)]
                                    for a in range(2)]), grad=False),
    Case("gather", [F(5, 3), I(2, 4, hi=5)],
         expect=lambda p, i: np.array([[p[i[a, b]] for b in range(4)] for a in range(2)]),
         torch=lambda p, i: p[i]),
    Case("gather", [F(2, 5, 3), I(4, hi=5)], {"axis": 1},
         expect=lambda p, i: np.stack([p[:, j, :] for j in i], axis=1),
         torch=lambda p, i: p[:, i, :], id="axis1"),
    Case("gather", [F(3, 5), I(2, 2, hi=5)], {"axis": -1},
         expect=lambda p, i: np.array([[[p[r, i[a, c]] for c in range(2)] for a in range(2)] for r in range(3)]),
         torch=lambda p, i: p[:, i], id="last_axis_2d_indices"),
    Case("scatter_add", [I(6, hi=4), F(6, 3)], {"shape": (4, 3)},
         expect=lambda i, u: np.array([sum((u[n] for n in range(6) if i[n] == r), np.zeros(3))
                                       for r in range(4)]),
         torch=lambda i, u: _t().zeros(4, 3, dtype=u.dtype).index_add(0, i, u)),
    Case("matmul", [F(3, 4), F(4, 5)],
         expect=lambda x, y: np.array([[sum(x[i, k] * y[k, j] for k in range(4)) for j in range(5)]
                                       for i in range(3)]), torch=_tf("matmul")),
    Case("matmul", [F(2, 1, 3, 4), F(5, 4, 2)], torch=_tf("matmul"), id="batched_bcast"),
]

COVERED_ELSEWHERE = {
    "constant": "tests/compiler/test_ops.py::test_constant",
    "scan": "tests/compiler/test_autodiff.py",
    "conv2d": "tests/compiler/test_ops_conv.py",
    "conv2d_input_grad": "tests/compiler/test_ops_conv.py",
    "conv2d_filter_grad": "tests/compiler/test_ops_conv.py",
    "max_pool2d": "tests/compiler/test_ops_conv.py",
    "max_pool2d_grad": "tests/compiler/test_ops_conv.py",
    "avg_pool2d": "tests/compiler/test_ops_conv.py",
    "avg_pool2d_grad": "tests/compiler/test_ops_conv.py",
    "random_uniform": "tests/compiler/test_ops_random.py",
    "random_normal": "tests/compiler/test_ops_random.py",
}


def _ids(cases):
    return [c.op + (f"-{c.id}" if c.id else "") for c in cases]


# -- registry walk --------------------------------------------------------------------------
def test_every_op_has_every_facet_and_a_test():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tabled = {c.op for c in CASES}
    for name, op in all_ops().items():
        assert op.family in FAMILIES, name
        assert callable(op.infer) and callable(op.impl), name
        assert callable(op.vjp) or isinstance(op.vjp, NotDifferentiable), name
        assert op.doc, f"{name} has no doc"
        if name in tabled:
            continue
        assert name in COVERED_ELSEWHERE, f"op {name} has no test case"
        path = os.path.join(root, COVERED_ELSEWHERE[name].split("::")[0])
        assert os.path.exists(path), f"{name}: {path} missing"
        assert re.search(rf"\b{name}\b", open(path).read()), f"{name} not mentioned in {path}"


# -- generic checks ---------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_reference_and_shape_rule(case):
    arrays = case.arrays()
    outs = run_op(case.op, arrays, case.attrs)  # the interpreter checks declared shape/dtype
    if case.expect is not None:
        want = case.expect(*arrays)
        np.testing.assert_allclose(outs[0], np.asarray(want, dtype=outs[0].dtype),
                                   rtol=1e-12, atol=1e-13)


F32_CASES = [c for c in CASES if any(a.dtype == np.float64 for a in c.arrays())]


@pytest.mark.parametrize("case", F32_CASES, ids=_ids(F32_CASES))
def test_float32_matches_float64(case):
    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in case.arrays()]
    out32 = run_op(case.op, arrays, case.attrs)[0]
    out64 = run_op(case.op, [a.astype(np.float64) if a.dtype == np.float32 else a for a in arrays],
                   case.attrs)[0]
    if out32.dtype.kind == "f":
        assert out32.dtype == np.float32
        np.testing.assert_allclose(out32, out64, rtol=2e-5, atol=2e-6)
    elif case.op not in ("cast",):
        np.testing.assert_array_equal(out32, out64)


GRAD_CASES = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_gradient_finite_differences(case):
    check_grad(case.op, case.arrays(), case.attrs)


TORCH_CASES = [c for c in CASES if c.torch is not None]


@pytest.mark.parametrize("case", TORCH_CASES, ids=_ids(TORCH_CASES))
def test_against_torch(case):
    pytest.importorskip("torch")
    check_torch(case.op, case.arrays(), case.attrs, case.torch, grad=case.grad)


def test_constant():
    b = GraphBuilder()
    c = b.constant(2.5, dtype="f64", shape=(2, 3))
    d = b.constant(np.arange(6, dtype=np.int32).reshape(2, 3))
    b.output(c, d)
    from runtime.eager import run_graph
    cv, dv = run_graph(b.graph, [])
    assert cv.dtype == np.float64 and cv.shape == (2, 3) and np.all(cv == 2.5)
    np.testing.assert_array_equal(dv, [[0, 1, 2], [3, 4, 5]])
    with pytest.raises(OpError, match="constant: f32\\[\\] needs a float"):
        b.op("constant", value=1, shape=(), dtype="f32")
    with pytest.raises(OpError, match="not a valid i64"):
        b.constant(1.5, dtype="i64")


def test_cast_gradient_between_float_widths():
    from compiler.passes.autodiff import gradients
    from runtime.eager import run_graph
    b = GraphBuilder()
    x = b.input("x", (3,), "f64")
    y = b.cast(b.mul(b.cast(x, dtype="f32"), 3.0), dtype="f64")
    loss = b.sum(y)
    (gx,) = gradients(b.graph, loss, [x])
    b.output(gx)
    (g,) = run_graph(b.graph, [np.ones(3)])
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [3.0, 3.0, 3.0])


def test_gather_out_of_range_is_an_error():
    from compiler.errors import InputError
    with pytest.raises(InputError, match=r"gather: index 5 is out of range \[0, 5\)"):
        run_op("gather", [np.zeros((5, 2)), np.array([0, 5])])
    with pytest.raises(InputError, match=r"gather: index -1 is out of range"):
        run_op("gather", [np.zeros((5, 2)), np.array([-1, 0])])
    with pytest.raises(InputError, match="scatter_add: index 4"):
        run_op("scatter_add", [np.array([4]), np.zeros((1, 2))], {"shape": (4, 2)})


def test_max_gradient_splits_ties_evenly():
    from opcheck import analytic_grads
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    _, (g,), (w,) = analytic_grads("max", [x], {"axes": (1,)}, [0])
    np.testing.assert_allclose(g, [[0, w[0] / 2, w[0] / 2], [w[1] / 2, 0, w[1] / 2]])


def test_nan_propagates_through_maximum_and_max():
    out = run_op("maximum", [np.array([np.nan, 1.0]), np.array([0.0, np.nan])])[0]
    assert np.isnan(out).all()
    assert np.isnan(run_op("max", [np.array([1.0, np.nan, 3.0])])[0])


def test_stable_activations_at_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    s = run_op("sigmoid", [x])[0]
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[-1] == 1.0
    sp = run_op("softplus", [x])[0]
    np.testing.assert_allclose(sp[-1], 1000.0)
    assert sp[0] == 0.0 or sp[0] < 1e-300
    ls = run_op("log_softmax", [np.array([[1000.0, 0.0, -1000.0]])])[0]
    np.testing.assert_allclose(ls, [[0.0, -1000.0, -2000.0]])


# -- shape rules: error cases -----------------------------------------------------------
ERRORS = [
    ("add", [((3, 4), "f32"), ((5,), "f32")], {}, r"add: operand shapes f32\[3,4\] and f32\[5\] do not broadcast"),
    ("add", [((3,), "f32"), ((3,), "f64")], {}, r"add: operands must have one dtype.*insert a cast"),
    ("div", [((3,), "i32"), ((3,), "i32")], {}, r"div: expected dtype f32 or f64, got i32"),
    ("exp", [((3,), "i64")], {}, r"exp: operand must be f32 or f64, got i64\[3\]"),
    ("logical_and", [((3,), "f32"), ((3,), "f32")], {}, r"logical_and: expected dtype bool"),
    ("where", [((3,), "f32"), ((3,), "f32"), ((3,), "f32")], {}, r"where: condition must be bool"),
    ("clip", [((3,), "f32")], {"min": 1.0, "max": 0.0}, r"clip: min 1.0 is greater than max 0.0"),
    ("cast", [((3,), "f32")], {"dtype": "f16"}, r"cast: attribute 'dtype' expects a dtype"),
    ("sum", [((3, 4), "f32")], {"axes": [2]}, r"sum: axis 2 is out of range for rank 2"),
    ("sum", [((3, 4), "f32")], {"axes": [1, -1]}, r"sum: repeated axis"),
    ("sum", [((3, 4), "f32")], {"axis": 1}, r"sum: unknown attribute\(s\) axis"),
    ("mean", [((3,), "i32")], {}, r"mean: operand must be f32 or f64"),
    ("max", [((0, 4), "f32")], {"axes": [0]}, r"max: cannot reduce over an empty axis"),
    ("argmax", [((), "f32")], {}, r"argmax: operand must have rank >= 1"),
    ("softmax", [((3, 4), "f32")], {"axis": 2}, r"softmax: axis 2 is out of range"),
    ("reshape", [((3, 4), "f32")], {"shape": (5, 2)}, r"reshape: cannot reshape f32\[3,4\] \(12 elements\) to \[5, 2\]"),
    ("reshape", [((3, 4), "f32")], {}, r"reshape: missing required attribute 'shape'"),
    ("transpose", [((3, 4), "f32")], {"perm": (0, 0)}, r"transpose: perm \[0, 0\] is not a permutation"),
    ("broadcast_to", [((3, 2), "f32")], {"shape": (3, 3)}, r"broadcast_to: cannot broadcast f32\[3,2\] to \[3, 3\]"),
    ("squeeze", [((3, 2), "f32")], {"axes": (0,)}, r"squeeze: axis 0 of f32\[3,2\] has size 3, not 1"),
    ("concat", [((3, 2), "f32"), ((4, 3), "f32")], {"axis": 0}, r"concat: operands f32\[3,2\] and f32\[4,3\] differ outside axis 0"),
    ("slice", [((5,), "f32")], {"starts": (2,), "limits": (6,)}, r"slice: dimension 0 of f32\[5\]: need 0 <= start <= limit <= 5"),
    ("slice", [((5,), "f32")], {"starts": (0, 0), "limits": (1, 1)}, r"slice: starts/limits/strides need 1 entries"),
    ("pad", [((5,), "f32")], {"pads": ((-1, 0),)}, r"pad: padding must be non-negative"),
    ("one_hot", [((5,), "f32")], {"depth": 3}, r"one_hot: indices must be i32 or i64"),
    ("gather", [((5, 2), "f32"), ((3,), "f32")], {}, r"gather: indices must be i32 or i64"),
    ("scatter_add", [((3,), "i64"), ((3, 4), "f32")], {"shape": (5, 3)}, r"scatter_add: updates must have shape \[3, 3\]"),
    ("matmul", [((3, 4), "f32"), ((5, 6), "f32")], {}, r"matmul: contraction dimensions differ: f32\[3,4\] has 4 columns, f32\[5,6\] has 5 rows"),
    ("matmul", [((4,), "f32"), ((4, 6), "f32")], {}, r"matmul: operands must have rank >= 2"),
    ("matmul", [((2, 3, 4), "f32"), ((3, 4, 6), "f32")], {}, r"matmul \(batch dimensions\): operand shapes"),
    ("relu", [((3,), "f32"), ((3,), "f32")], {}, r"relu: expected 1 operand\(s\), got 2"),
    ("leaky_relu", [((3,), "f32")], {"alpha": "big"}, r"leaky_relu: attribute 'alpha' expects a number, got 'big'"),
]

# Ops made by the same factory share a rule; each still gets its own row.
ERRORS += [(op, [((3,), "i64")], {}, rf"{op}: operand must be f32 or f64, got i64\[3\]")
           for op in ("log", "log1p", "sqrt", "rsqrt", "erf", "sigmoid", "tanh", "softplus",
                      "gelu", "elu")]
ERRORS += [(op, [((3,), "bool")], {}, rf"{op}: operand must be .*got bool\[3\]")
           for op in ("neg", "abs", "sign", "square")]
ERRORS += [(op, [((2, 3), "f32"), ((2,), "f32")], {}, rf"{op}: operand shapes f32\[2,3\] and f32\[2\]")
           for op in ("sub", "mul", "maximum", "minimum", "pow", "equal", "not_equal", "less",
                      "less_equal", "greater", "greater_equal")]
ERRORS += [
    ("logical_or", [((2, 3), "bool"), ((2,), "bool")], {}, r"logical_or: operand shapes bool\[2,3\] and bool\[2\]"),
    ("logical_not", [((3,), "i32")], {}, r"logical_not: operand must be bool, got i32\[3\]"),
    ("log_softmax", [((), "f32")], {}, r"log_softmax: operand must have rank >= 1"),
    ("min", [((3,), "bool")], {}, r"min: operand must be .*got bool\[3\]"),
    ("argmin", [((3, 0), "f32")], {"axis": 1}, r"argmin: cannot reduce over the empty axis 1"),
    ("expand_dims", [((3,), "f32")], {"axes": (3,)}, r"expand_dims: axis 3 is out of range for rank 2"),
    ("stop_gradient", [((3,), "f32"), ((3,), "f32")], {}, r"stop_gradient: expected 1 operand\(s\), got 2"),
]
ERRORS_ELSEWHERE = {"constant", "scan", "conv2d", "conv2d_input_grad", "conv2d_filter_grad",
                    "max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad",
                    "random_uniform", "random_normal"}


def test_every_op_has_an_error_case():
    missing = set(all_ops()) - {e[0] for e in ERRORS} - ERRORS_ELSEWHERE
    assert not missing, f"ops without a shape-rule error test: {sorted(missing)}"


@pytest.mark.parametrize("op,ins,attrs,msg", ERRORS, ids=[e[0] + "-" + str(i) for i, e in enumerate(ERRORS)])
def test_shape_rule_errors(op, ins, attrs, msg):
    b = GraphBuilder()
    vals = [b.input(f"a{i}", s, d) for i, (s, d) in enumerate(ins)]
    with pytest.raises(OpError, match=msg):
        b.op(op, *vals, **attrs)


def test_errors_name_where_the_node_was_built():
    b = GraphBuilder()
    x = b.input("x", (3, 4))
    with b.location("dense_7"):
        with pytest.raises(OpError, match=r"\[built at dense_7\]"):
            b.matmul(x, x)


def test_unknown_op():
    b = GraphBuilder()
    with pytest.raises(OpError, match="unknown op 'frobnicate'"):
        b.op("frobnicate")
    with pytest.raises(AttributeError, match="no op 'frobnicate'"):
        b.frobnicate
