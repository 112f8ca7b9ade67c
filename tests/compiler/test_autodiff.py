"""Reverse-mode autodiff: gradients vs central finite differences (float64) and torch.autograd.

Each case is a small forward function ``build(b, a) -> loss`` over named arguments ``a``
(GraphBuilder values), a matching torch function over torch tensors, and the float
arguments to differentiate. Every gradient graph is also verified and round-tripped
through the IR text form, and the parsed graph must compute the same gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from compiler import DifferentiationError, GraphBuilder
from compiler.ir import dtypes
from compiler.ir.parser import parse
from compiler.ir.verify import verification_errors
from compiler.ops.scan import build_scan
from compiler.passes.autodiff import autodiff, gradients
from runtime.eager import Interpreter

EPS = 1e-6


@dataclass
class Case:
    name: str
    args: dict[str, np.ndarray]            # inputs (params are those listed in ``params``)
    build: Callable                        # (b, values) -> loss
    wrt: list[str]
    torch_fn: Callable | None = None       # (tensors) -> loss
    params: tuple[str, ...] = ()
    hand: Callable | None = None           # (args) -> {name: gradient}, computed by hand
    atol: float = 1e-6
    extra: dict = field(default_factory=dict)


def _declare(b: GraphBuilder, args: dict, params=()):
    vals = {}
    for k, a in args.items():
        dt = dtypes.from_numpy(a.dtype)
        vals[k] = (b.param if k in params else b.input)(k, a.shape, dt)
    return vals


def loss_graph(case: Case, build=None, args=None):
    b = GraphBuilder(name=case.name)
    v = _declare(b, args or case.args, case.params)
    b.output((build or case.build)(b, v))
    return b.graph


def grad_graph(case: Case):
    b = GraphBuilder(name=case.name)
    v = _declare(b, case.args, case.params)
    loss = case.build(b, v)
    grads = gradients(b.graph, loss, [v[k] for k in case.wrt])
    b.output(loss, *grads)
    return b.graph


def numeric_gradients(case: Case) -> dict[str, np.ndarray]:
    """Central differences of the loss; ``extra["fd_build"]`` (with ``extra["fd_args"]``,
    extra arguments held fixed) replaces the forward function where finite differences
    cannot see what the gradient means (stop_gradient: the frozen value is an argument)."""
    fd_args = {k: f(case.args) for k, f in case.extra.get("fd_args", {}).items()}
    args = dict(case.args, **fd_args)
    it = Interpreter(loss_graph(case, case.extra.get("fd_build"), args))
    out = {}
    for k in case.wrt:
        base = case.args[k]
        g = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += EPS
            minus[idx] -= EPS
            lp = it.run(dict(args, **{k: plus}))[0]
            lm = it.run(dict(args, **{k: minus}))[0]
            g[idx] = (lp - lm) / (2 * EPS)
        out[k] = g
    return out


def analytic_gradients(case: Case) -> dict[str, np.ndarray]:
    g = grad_graph(case)
    assert verification_errors(g) == []
    text = str(g)
    parsed = parse(text)
    assert str(parsed) == text
    res = Interpreter(g).run(case.args)
    res2 = Interpreter(parsed).run(case.args)
    for a, c in zip(res, res2):
        assert a.tobytes() == c.tobytes()
    loss = Interpreter(loss_graph(case)).run(case.args)[0]
    np.testing.assert_allclose(res[0], loss, rtol=1e-12)  # the forward value is unchanged
    grads = dict(zip(case.wrt, res[1:]))
    for k, gr in grads.items():
        assert gr.shape == case.args[k].shape and gr.dtype == case.args[k].dtype, k
    return grads


def torch_gradients(case: Case, torch) -> dict[str, np.ndarray]:
    ts = {k: torch.tensor(a, requires_grad=k in case.wrt) for k, a in case.args.items()}
    loss = case.torch_fn(ts)
    gs = torch.autograd.grad(loss, [ts[k] for k in case.wrt], allow_unused=True)
    return {k: (np.zeros_like(case.args[k]) if g is None else g.detach().numpy())
            for k, g in zip(case.wrt, gs)}


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------
RNG = np.random.default_rng(1234)


def rnd(*shape, scale=1.0):
    return RNG.normal(size=shape) * scale


CASES: list[Case] = []


def case(**kw):
    CASES.append(Case(**kw))


# fan-out: x read three times
case(name="fanout", args={"x": rnd(3, 4)},
     build=lambda b, v: b.sum(b.add(b.mul(b.exp(v["x"]), v["x"]), b.tanh(v["x"]))),
     wrt=["x"],
     torch_fn=lambda t: (t["x"].exp() * t["x"] + t["x"].tanh()).sum(),
     hand=lambda a: {"x": np.exp(a["x"]) * a["x"] + np.exp(a["x"]) + 1 - np.tanh(a["x"]) ** 2})

# bias [3] added onto [4,3]
case(name="bias_add", args={"x": rnd(4, 3), "bias": rnd(3)}, params=("bias",),
     build=lambda b, v: b.sum(b.mul(b.tanh(b.add(v["x"], v["bias"])), v["x"])),
     wrt=["x", "bias"],
     torch_fn=lambda t: ((t["x"] + t["bias"]).tanh() * t["x"]).sum(),
     hand=lambda a: {"bias": ((1 - np.tanh(a["x"] + a["bias"]) ** 2) * a["x"]).sum(0)})

# [4,1] * [1,3] -> [4,3]
case(name="outer_broadcast", args={"a": rnd(4, 1), "c": rnd(1, 3)},
     build=lambda b, v: b.sum(b.square(b.mul(v["a"], v["c"]))),
     wrt=["a", "c"],
     torch_fn=lambda t: ((t["a"] * t["c"]) ** 2).sum(),
     # d/da sum_j (a c_j)^2 = 2 a sum_j c_j^2
     hand=lambda a: {"a": 2 * a["a"] * (a["c"] ** 2).sum(),
                     "c": 2 * a["c"] * (a["a"] ** 2).sum()})

# a scalar param broadcast against everything, and a python-number operand
case(name="scalar_broadcast", args={"x": rnd(2, 3), "s": np.array(0.7)}, params=("s",),
     build=lambda b, v: b.sum(b.sub(b.mul(v["x"], v["s"]), b.mul(v["s"], 3.0))),
     wrt=["x", "s"],
     torch_fn=lambda t: (t["x"] * t["s"] - t["s"] * 3.0).sum(),
     hand=lambda a: {"x": np.full((2, 3), 0.7), "s": np.array(a["x"].sum() - 6 * 3.0)})


def _xent(b, v):
    logits = b.add(b.matmul(v["x"], v["w"]), v["bias"])
    onehot = b.one_hot(v["labels"], depth=3, dtype="f64")
    return b.neg(b.mean(b.sum(b.mul(onehot, b.log_softmax(logits)), axes=[1])))


def _xent_torch(t):
    import torch
    logits = t["x"] @ t["w"] + t["bias"]
    return torch.nn.functional.cross_entropy(logits, t["labels"])


# integer labels through one_hot: no gradient for them, no error
case(name="one_hot_labels",
     args={"x": rnd(4, 2), "w": rnd(2, 3), "bias": rnd(3), "labels": np.array([0, 2, 1, 2])},
     params=("w", "bias"), build=_xent, wrt=["x", "w", "bias"], torch_fn=_xent_torch)

# casts: int -> float is a constant; float -> int -> float carries no gradient
case(name="casts",
     args={"x": RNG.uniform(-3, 3, (2, 3)), "n": np.array([[1, -2, 3], [0, 4, -5]])},
     build=lambda b, v: b.add(
         b.sum(b.mul(v["x"], b.cast(v["n"], dtype="f64"))),
         b.sum(b.mul(b.cast(b.cast(v["x"], dtype="i64"), dtype="f64"), v["x"]))),
     wrt=["x"],
     torch_fn=lambda t: (t["x"] * t["n"].double()).sum() + (t["x"].long().double() * t["x"]).sum(),
     hand=lambda a: {"x": a["n"] + np.trunc(a["x"])})

# argmax (integer) on the way to the loss
case(name="argmax_path", args={"x": rnd(3, 4)},
     build=lambda b, v: b.sum(b.mul(b.one_hot(b.argmax(v["x"], axis=1), depth=4, dtype="f64"),
                                    v["x"])),
     wrt=["x"],
     torch_fn=lambda t: (__import__("torch").nn.functional.one_hot(t["x"].argmax(1), 4).double()
                         * t["x"]).sum(),
     hand=lambda a: {"x": np.eye(4)[a["x"].argmax(1)]})

# stop_gradient blocks its operand's gradient
case(name="stop_gradient", args={"x": rnd(2, 3)},
     build=lambda b, v: b.add(b.sum(b.mul(v["x"], b.stop_gradient(v["x"]))),
                              b.sum(b.stop_gradient(b.exp(v["x"])))),
     wrt=["x"],
     torch_fn=lambda t: (t["x"] * t["x"].detach()).sum() + t["x"].exp().detach().sum(),
     hand=lambda a: {"x": a["x"]},
     # for finite differences the stopped values are constants: x0 = x, e0 = exp(x)
     extra={"fd_args": {"x0": lambda a: a["x"].copy(), "e0": lambda a: np.exp(a["x"])},
            "fd_build": lambda b, v: b.add(b.sum(b.mul(v["x"], v["x0"])), b.sum(v["e0"]))})

# comparisons and where (a bool value on the path)
case(name="where", args={"x": rnd(3, 3), "y": rnd(3, 3)},
     build=lambda b, v: b.sum(b.where(b.greater(v["x"], v["y"]), b.mul(v["x"], v["x"]),
                                      b.mul(v["y"], -2.0))),
     wrt=["x", "y"],
     torch_fn=lambda t: __import__("torch").where(t["x"] > t["y"], t["x"] * t["x"],
                                                  t["y"] * -2.0).sum())

# pow in both operands
case(name="pow", args={"x": RNG.uniform(0.5, 2, (2, 2)), "y": rnd(2, 2)},
     build=lambda b, v: b.sum(b.pow(v["x"], v["y"])),
     wrt=["x", "y"],
     torch_fn=lambda t: (t["x"] ** t["y"]).sum(),
     hand=lambda a: {"x": a["y"] * a["x"] ** (a["y"] - 1),
                     "y": a["x"] ** a["y"] * np.log(a["x"])})

# an unconnected param (and one reached only through an integer value) gets zeros
case(name="unconnected", args={"x": rnd(2, 3), "p": rnd(4), "q": rnd(3)}, params=("p", "q"),
     build=lambda b, v: b.add(b.sum(b.square(v["x"])),
                              b.sum(b.cast(b.argmax(v["q"]), dtype="f64"))),
     wrt=["x", "p", "q"],
     torch_fn=lambda t: (t["x"] ** 2).sum() + t["q"].argmax().double(),
     hand=lambda a: {"x": 2 * a["x"], "p": np.zeros(4), "q": np.zeros(3)})


# -- scans --------------------------------------------------------------------------------------
T, H, D = 4, 3, 2


def _cell(bb, c, xt, p):
    h, aux = c
    w, u, bias = p
    pre = bb.add(bb.add(bb.matmul(bb.reshape(h, shape=(1, H)), w),
                        bb.matmul(bb.reshape(xt[0], shape=(1, D)), u)), bias)
    h2 = bb.tanh(bb.reshape(pre, shape=(H,)))
    # aux: a second carry; ys: the new state and an extra output
    return [h2, bb.mul(aux, 0.5)], [h2, bb.exp(h2)]


def _scan_loss(reverse=False, use_ys=True, use_aux=False, use_extra=False, ys_is_carry=False):
    def build(b, v):
        cell = _cell
        if ys_is_carry:
            def cell(bb, c, xt, p):
                (h2, a2), _ = _cell(bb, c, xt, p)
                return [h2, a2], [c[0], bb.square(h2)]  # ys[0] is the incoming carry
        (h, aux), (ys, extra) = build_scan(b, cell, [v["h0"], v["a0"]], [v["xs"]],
                                           [v["w"], v["u"], v["bias"]], reverse=reverse)
        loss = b.sum(b.mul(h, h))
        if use_ys:
            loss = b.add(loss, b.sum(b.mul(ys, v["r"])))
        if use_aux:
            loss = b.add(loss, b.sum(aux))
        if use_extra:
            loss = b.add(loss, b.mean(extra))
        return loss
    return build


def _scan_torch(reverse=False, use_ys=True, use_aux=False, use_extra=False, ys_is_carry=False):
    def fn(t):
        import torch
        h, aux = t["h0"], t["a0"]
        ys, extra = [None] * T, [None] * T
        for s in (range(T - 1, -1, -1) if reverse else range(T)):
            h_in = h
            h = torch.tanh(h @ t["w"] + t["xs"][s] @ t["u"] + t["bias"][0])
            aux = aux * 0.5
            ys[s] = h_in if ys_is_carry else h
            extra[s] = h ** 2 if ys_is_carry else h.exp()
        loss = (h * h).sum()
        if use_ys:
            loss = loss + (torch.stack(ys) * t["r"]).sum()
        if use_aux:
            loss = loss + aux.sum()
        if use_extra:
            loss = loss + torch.stack(extra).mean()
        return loss
    return fn


def _scan_args():
    return {"xs": rnd(T, D), "h0": rnd(H), "a0": rnd(H), "w": rnd(H, H, scale=0.5),
            "u": rnd(D, H, scale=0.5), "bias": rnd(1, H), "r": rnd(T, H)}


for _name, _kw in [("rnn", {}), ("rnn_reverse", {"reverse": True}),
                   ("rnn_aux_and_extra", {"use_aux": True, "use_extra": True}),
                   ("rnn_unused_ys", {"use_ys": False}),
                   ("rnn_reverse_unused_ys", {"reverse": True, "use_ys": False}),
                   ("rnn_ys_is_incoming_carry", {"ys_is_carry": True, "use_extra": True}),
                   ("rnn_reverse_ys_is_incoming_carry",
                    {"reverse": True, "ys_is_carry": True})]:
    case(name=_name, args=_scan_args(), params=("w", "u", "bias"), build=_scan_loss(**_kw),
         wrt=["xs", "h0", "a0", "w", "u", "bias"], torch_fn=_scan_torch(**_kw),
         )

IDS = [c.name for c in CASES]


# ------------------------------------------------------------------------------------------
# Tests over the cases
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_gradients_match_finite_differences(c):
    got = analytic_gradients(c)
    num = numeric_gradients(c)
    for k in c.wrt:
        np.testing.assert_allclose(got[k], num[k], rtol=1e-5, atol=c.atol, err_msg=k)


@pytest.mark.parametrize("c", [c for c in CASES if c.hand], ids=[c.name for c in CASES if c.hand])
def test_gradients_match_hand_derivations(c):
    got = analytic_gradients(c)
    for k, want in c.hand(c.args).items():
        np.testing.assert_allclose(got[k], want, rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_gradients_match_torch(c):
    torch = pytest.importorskip("torch")
    got = analytic_gradients(c)
    want = torch_gradients(c, torch)
    for k in c.wrt:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_carry_that_does_not_reach_the_loss_gets_zero_gradient():
    c = next(c for c in CASES if c.name == "rnn")
    got = analytic_gradients(c)
    np.testing.assert_array_equal(got["a0"], np.zeros(H))


def test_scan_gradient_is_a_reverse_scan_not_an_unrolled_loop():
    c = next(c for c in CASES if c.name == "rnn")
    g = grad_graph(c)
    scans = [n for n in g.nodes if n.op == "scan"]
    assert len(scans) == 2
    assert scans[1].attrs["reverse"] is True and scans[1].attrs["length"] == T
    assert sum(n.op == "tanh" for n in g.nodes) == 0  # the cell lives in the bodies only


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------
def test_non_scalar_loss_is_rejected():
    b = GraphBuilder(name="g")
    x = b.input("x", (2, 3), "f64")
    y = b.exp(x)
    with pytest.raises(DifferentiationError, match=r"float scalar.*%exp: f64\[2,3\]"):
        gradients(b.graph, y, [x])


@pytest.mark.parametrize("dtype", ["i64", "i32", "bool"])
def test_integer_or_bool_loss_is_rejected(dtype):
    b = GraphBuilder(name="g")
    x = b.input("x", (3,), dtype)
    loss = b.sum(x) if dtype != "bool" else b.logical_not(b.input("s", (), "bool"))
    with pytest.raises(DifferentiationError, match="float scalar"):
        gradients(b.graph, loss, [b.input("f", (2,), "f64")])


def test_gradient_with_respect_to_an_integer_is_rejected():
    b = GraphBuilder(name="g")
    n = b.input("n", (3,), "i64")
    loss = b.sum(b.cast(n, dtype="f64"))
    with pytest.raises(DifferentiationError, match=r"%n: i64\[3\] is not a float"):
        gradients(b.graph, loss, [n])


def test_not_differentiable_op_on_the_path_is_named():
    b = GraphBuilder(name="g")
    x = b.input("x", (1, 4, 4, 1), "f64")
    cot = b.input("cot", (1, 2, 2, 1), "f64")
    with b.location("pool_layer"):
        mg = b.max_pool2d_grad(x, cot, name="mg")
    loss = b.sum(b.square(mg))
    with pytest.raises(DifferentiationError) as info:
        gradients(b.graph, loss, [x])
    msg = str(info.value)
    assert "%mg = max_pool2d_grad" in msg and "pool_layer" in msg
    assert "second derivative of max pooling" in msg


def test_not_differentiable_op_off_the_path_is_fine():
    b = GraphBuilder(name="g")
    x = b.input("x", (1, 4, 4, 1), "f64")
    other = b.input("other", (1, 4, 4, 1), "f64")
    cot = b.input("cot", (1, 2, 2, 1), "f64")
    loss = b.add(b.sum(b.square(x)), b.sum(b.max_pool2d_grad(other, cot)))
    (gx,) = gradients(b.graph, loss, [x])
    b.output(gx)
    xv = RNG.normal(size=(1, 4, 4, 1))
    out = Interpreter(b.graph).run({"x": xv, "other": xv, "cot": RNG.normal(size=(1, 2, 2, 1))})
    np.testing.assert_allclose(out[0], 2 * xv)


# ------------------------------------------------------------------------------------------
# Higher order, the autodiff pass
# ------------------------------------------------------------------------------------------
def test_second_and_third_order_gradients():
    b = GraphBuilder(name="g")
    x = b.input("x", (4,), "f64")
    f_pow = b.sum(b.pow(x, 3.0))
    f_mul = b.sum(b.mul(b.mul(x, x), x))
    (g1p,) = gradients(b.graph, f_pow, [x])
    (g2p,) = gradients(b.graph, b.sum(g1p), [x])
    (g1m,) = gradients(b.graph, f_mul, [x])
    (g2m,) = gradients(b.graph, b.sum(g1m), [x])
    (g3m,) = gradients(b.graph, b.sum(g2m), [x])
    b.output(g1p, g2p, g1m, g2m, g3m)
    assert verification_errors(b.graph) == []
    parsed = parse(str(b.graph))
    assert str(parsed) == str(b.graph)
    xv = np.array([1.5, -2.0, 0.25, 3.0])
    for g in (b.graph, parsed):
        g1p_v, g2p_v, g1m_v, g2m_v, g3m_v = Interpreter(g).run({"x": xv})
        np.testing.assert_allclose(g1p_v, 3 * xv ** 2, rtol=1e-12)
        np.testing.assert_allclose(g2p_v, 6 * xv, rtol=1e-12)
        np.testing.assert_allclose(g1m_v, 3 * xv ** 2, rtol=1e-12)
        np.testing.assert_allclose(g2m_v, 6 * xv, rtol=1e-12)
        np.testing.assert_allclose(g3m_v, np.full(4, 6.0), rtol=1e-12)


def _second_order_case():
    """d/dx sum(g1 * r) where g1 = d/dx sum(tanh(x) * x**3)."""
    def build(b, v):
        f = b.sum(b.mul(b.tanh(v["x"]), b.pow(v["x"], 3.0)))
        (g1,) = gradients(b.graph, f, [v["x"]])
        return b.sum(b.mul(g1, v["r"]))

    def torch_fn(t):
        import torch
        f = (t["x"].tanh() * t["x"] ** 3).sum()
        (g1,) = torch.autograd.grad(f, [t["x"]], create_graph=True)
        return (g1 * t["r"]).sum()

    return Case(name="second_order", args={"x": rnd(5), "r": rnd(5)}, build=build, wrt=["x"],
                torch_fn=torch_fn)


def test_second_order_matches_finite_differences():
    c = _second_order_case()
    got = analytic_gradients(c)
    num = numeric_gradients(c)
    np.testing.assert_allclose(got["x"], num["x"], rtol=1e-5, atol=1e-6)
    # by hand: g1 = (1 - t^2) x^3 + 3 t x^2, t = tanh x
    # dg1/dx = -2 t (1 - t^2) x^3 + 3 (1 - t^2) x^2 + 3 (1 - t^2) x^2 + 6 t x
    x, r = c.args["x"], c.args["r"]
    t = np.tanh(x)
    hand = (-2 * t * (1 - t ** 2) * x ** 3 + 6 * (1 - t ** 2) * x ** 2 + 6 * t * x) * r
    np.testing.assert_allclose(got["x"], hand, rtol=1e-10, atol=1e-12)


def test_second_order_matches_torch():
    torch = pytest.importorskip("torch")
    c = _second_order_case()
    got = analytic_gradients(c)
    want = torch_gradients(c, torch)
    np.testing.assert_allclose(got["x"], want["x"], rtol=1e-10, atol=1e-12)


def test_autodiff_pass_appends_gradients_to_the_outputs():
    b = GraphBuilder(name="g")
    x = b.input("x", (3,), "f64")
    w = b.param("w", (3,), "f64")
    loss = b.sum(b.mul(x, w))
    b.output(loss)
    grads = autodiff(b.graph, loss, [w, x])
    assert list(grads) == [w, x]
    assert b.graph.outputs == [loss, grads[w], grads[x]]
    xv, wv = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 4.0])
    out = Interpreter(b.graph).run({"x": xv, "w": wv})
    np.testing.assert_allclose(out[1], xv)
    np.testing.assert_allclose(out[2], wv)


def test_gradient_of_the_loss_with_respect_to_itself_is_one():
    b = GraphBuilder(name="g")
    s = b.input("s", (), "f64")
    (g,) = gradients(b.graph, s, [s])
    b.output(g)
    assert Interpreter(b.graph).run([np.array(3.0)])[0] == 1.0


def test_gradients_are_appended_with_grad_locations():
    b = GraphBuilder(name="g")
    x = b.input("x", (3,), "f64")
    with b.location("layer"):
        loss = b.sum(b.exp(x))
    n_forward = len(b.graph.nodes)
    gradients(b.graph, loss, [x])
    new = b.graph.nodes[n_forward:]
    assert new and all(n.loc and n.loc.startswith(("grad", "layer/grad")) for n in new)


# ------------------------------------------------------------------------------------------
# Scans differentiated more than once
# ------------------------------------------------------------------------------------------
def _small_rnn(b, v):
    (h,), (ys,) = build_scan(
        b, lambda bb, c, x, p: ([bb.tanh(bb.add(bb.mul(c[0], p[0]), x[0]))], [bb.square(c[0])]),
        [v["h0"]], [v["xs"]], [v["w"]])
    return h, ys


def _small_rnn_torch(t):
    h, ys = t["h0"], []
    for s in range(t["xs"].shape[0]):
        ys.append(h ** 2)
        h = (h * t["w"] + t["xs"][s]).tanh()
    return h, ys


def _scan_second_order_case():
    def build(b, v):
        h, _ = _small_rnn(b, v)
        (gw,) = gradients(b.graph, b.sum(b.mul(h, h)), [v["w"]])
        return b.sum(b.mul(gw, v["r"]))

    def torch_fn(t):
        import torch
        h, _ = _small_rnn_torch(t)
        (gw,) = torch.autograd.grad((h * h).sum(), [t["w"]], create_graph=True)
        return (gw * t["r"]).sum()

    return Case(name="scan_second_order",
                args={"xs": rnd(3, 2), "h0": rnd(2), "w": rnd(2), "r": rnd(2)},
                build=build, wrt=["w", "xs", "h0"], torch_fn=torch_fn)


def test_second_order_through_a_scan_matches_finite_differences():
    c = _scan_second_order_case()
    got = analytic_gradients(c)
    num = numeric_gradients(c)
    for k in c.wrt:
        np.testing.assert_allclose(got[k], num[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_second_order_through_a_scan_matches_torch():
    torch = pytest.importorskip("torch")
    c = _scan_second_order_case()
    got = analytic_gradients(c)
    want = torch_gradients(c, torch)
    for k in c.wrt:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_two_gradient_calls_over_the_same_scan():
    args = {"xs": rnd(3, 2), "h0": rnd(2), "w": rnd(2)}
    b = GraphBuilder(name="g")
    v = _declare(b, args)
    h, ys = _small_rnn(b, v)
    (g1,) = gradients(b.graph, b.sum(h), [v["w"]])
    (g2,) = gradients(b.graph, b.sum(ys), [v["w"]])  # the scan is widened a second time
    b.output(g1, g2)
    assert verification_errors(b.graph) == []
    assert str(parse(str(b.graph))) == str(b.graph)
    got1, got2 = Interpreter(b.graph).run(args)

    def losses(w):
        h, ys = args["h0"], []
        for s in range(3):
            ys.append(h ** 2)
            h = np.tanh(h * w + args["xs"][s])
        return h.sum(), np.sum(ys)

    for which, got in ((0, got1), (1, got2)):
        num = np.zeros(2)
        for i in range(2):
            e = np.eye(2)[i] * EPS
            num[i] = (losses(args["w"] + e)[which] - losses(args["w"] - e)[which]) / (2 * EPS)
        np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-7)
