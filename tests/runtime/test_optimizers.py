"""Optimizers: each update rule against a hand-written numpy version of Keras's formula over
several steps (float64, tight tolerances; float32 looser), against torch.optim where torch
is importable, and the API's errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import GraphBuilder
from runtime.optimizers import (OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, OptimizerUpdate,
                                RMSprop, get_optimizer)
from runtime.program import Program

SHAPES = {"w": (3, 4), "b": (4,)}
STEPS = 6


def _grads(seed: int, dtype) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()} for _ in range(STEPS)]


def _init(dtype) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(123)
    return {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}


def run_optimizer(opt: Optimizer, dtype=np.float64, seed: int = 0):
    """Apply ``opt`` through a compiled-step program to params fed gradients as inputs."""
    dt = "f64" if dtype == np.float64 else "f32"
    b = GraphBuilder(name="opt_step")
    params = [b.param(k, s, dt) for k, s in SHAPES.items()]
    grads = [b.input(f"g_{k}", s, dt) for k, s in SHAPES.items()]
    upd = opt.build(b, params, grads)
    assert isinstance(upd, OptimizerUpdate)
    names = list(upd.new_values)
    b.output(*upd.new_values.values())
    state = {**_init(dtype), **upd.initial_state}
    prog = Program(b.graph, state=state, updates={i: n for i, n in enumerate(names)})
    history = []
    for g in _grads(seed, dtype):
        prog({f"g_{k}": v for k, v in g.items()})
        history.append({k: prog.state[k].copy() for k in SHAPES})
    return history, prog, upd


# -- hand-written references (Keras 3 formulas), float64 ---------------------------------
def ref_sgd(lr=0.01, momentum=0.0, nesterov=False, weight_decay=None):
    w, m, out = _init(np.float64), {k: 0.0 for k in SHAPES}, []
    for g in _grads(0, np.float64):
        for k in SHAPES:
            if weight_decay:
                w[k] = w[k] - w[k] * weight_decay * lr
            if momentum:
                m[k] = momentum * m[k] - lr * g[k]
                w[k] = w[k] + (momentum * m[k] - lr * g[k] if nesterov else m[k])
            else:
                w[k] = w[k] - lr * g[k]
        out.append({k: v.copy() for k, v in w.items()})
    return out


def ref_adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, weight_decay=None):
    w = _init(np.float64)
    m = {k: np.zeros(s) for k, s in SHAPES.items()}
    v = {k: np.zeros(s) for k, s in SHAPES.items()}
    vh = {k: np.zeros(s) for k, s in SHAPES.items()}
    out = []
    for t, g in enumerate(_grads(0, np.float64), start=1):
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for k in SHAPES:
            if weight_decay:
                w[k] = w[k] - w[k] * weight_decay * lr
            m[k] = m[k] + (g[k] - m[k]) * (1 - b1)
            v[k] = v[k] + (g[k] ** 2 - v[k]) * (1 - b2)
            vv = v[k]
            if amsgrad:
                vh[k] = np.maximum(vh[k], v[k])
                vv = vh[k]
            w[k] = w[k] - m[k] * alpha / (np.sqrt(vv) + eps)
        out.append({k: x.copy() for k, x in w.items()})
    return out


def ref_rmsprop(lr=0.001, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    w = _init(np.float64)
    v = {k: np.zeros(s) for k, s in SHAPES.items()}
    a = {k: np.zeros(s) for k, s in SHAPES.items()}
    mo = {k: np.zeros(s) for k, s in SHAPES.items()}
    out = []
    for g in _grads(0, np.float64):
        for k in SHAPES:
            v[k] = rho * v[k] + (1 - rho) * g[k] ** 2
            if centered:
                a[k] = rho * a[k] + (1 - rho) * g[k]
                den = v[k] - a[k] ** 2 + eps
            else:
                den = v[k] + eps
            inc = lr * g[k] / np.sqrt(den)
            if momentum:
                mo[k] = momentum * mo[k] + inc
                w[k] = w[k] - mo[k]
            else:
                w[k] = w[k] - inc
        out.append({k: x.copy() for k, x in w.items()})
    return out


def ref_adagrad(lr=0.001, init=0.1, eps=1e-7):
    w = _init(np.float64)
    acc = {k: np.full(s, init) for k, s in SHAPES.items()}
    out = []
    for g in _grads(0, np.float64):
        for k in SHAPES:
            acc[k] = acc[k] + g[k] ** 2
            w[k] = w[k] - lr * g[k] / np.sqrt(acc[k] + eps)
        out.append({k: x.copy() for k, x in w.items()})
    return out


# Learning rates exactly representable in f32 (the learning rate is an f32 param, as in
# Keras), so the f64 runs can be compared to 1e-12.
CASES = [
    ("sgd", lambda: SGD(), lambda: ref_sgd(lr=float(np.float32(0.01)))),
    ("sgd_lr", lambda: SGD(learning_rate=0.125), lambda: ref_sgd(lr=0.125)),
    ("sgd_momentum", lambda: SGD(0.0625, momentum=0.9), lambda: ref_sgd(0.0625, 0.9)),
    ("sgd_nesterov", lambda: SGD(0.0625, momentum=0.9, nesterov=True),
     lambda: ref_sgd(0.0625, 0.9, True)),
    ("adam", lambda: Adam(learning_rate=2 ** -10), lambda: ref_adam(lr=2 ** -10)),
    ("adam_amsgrad", lambda: Adam(2 ** -6, amsgrad=True), lambda: ref_adam(2 ** -6, amsgrad=True)),
    ("adamw", lambda: AdamW(2 ** -6, weight_decay=0.25),
     lambda: ref_adam(2 ** -6, weight_decay=0.25)),
    ("rmsprop", lambda: RMSprop(2 ** -10), lambda: ref_rmsprop(2 ** -10)),
    ("rmsprop_centered_momentum", lambda: RMSprop(2 ** -8, momentum=0.5, centered=True),
     lambda: ref_rmsprop(2 ** -8, momentum=0.5, centered=True)),
    ("adagrad", lambda: Adagrad(2 ** -4), lambda: ref_adagrad(2 ** -4)),
    ("sgd_weight_decay", lambda: SGD(0.125, weight_decay=0.5),
     lambda: ref_sgd(0.125, weight_decay=0.5)),
]


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_update_matches_keras_formula_f64(name, make, ref):
    got, _, _ = run_optimizer(make(), np.float64)
    for step, (g, r) in enumerate(zip(got, ref())):
        for k in SHAPES:
            np.testing.assert_allclose(g[k], r[k], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name}: param {k} after step {step + 1}")


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_update_matches_keras_formula_f32(name, make, ref):
    got, prog, _ = run_optimizer(make(), np.float32)
    assert all(prog.state[k].dtype == np.float32 for k in SHAPES)
    for g, r in zip(got, ref()):
        for k in SHAPES:
            np.testing.assert_allclose(g[k], r[k], rtol=2e-5, atol=2e-6)


def test_default_hyperparameters_are_keras():
    assert SGD().learning_rate == 0.01 and SGD().momentum == 0.0
    a = Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    r = RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0, 1e-7,
                                                                          False)
    ag = Adagrad()
    assert (ag.learning_rate, ag.initial_accumulator_value, ag.epsilon) == (0.001, 0.1, 1e-7)
    assert AdamW().weight_decay == 0.004 and AdamW().learning_rate == 0.001


def test_defaults_match_formula_with_default_lr():
    # The default learning rates are not f32-exact: compare at f32 precision of the rate.
    got, _, _ = run_optimizer(Adam(), np.float64)
    for g, r in zip(got, ref_adam(lr=float(np.float32(0.001)))):
        np.testing.assert_allclose(g["w"], r["w"], rtol=1e-12)
    got, _, _ = run_optimizer(AdamW(), np.float64)
    for g, r in zip(got, ref_adam(lr=float(np.float32(0.001)), weight_decay=0.004)):
        np.testing.assert_allclose(g["w"], r["w"], rtol=1e-9)


def test_slot_names_and_initial_state():
    _, prog, upd = run_optimizer(Adam(), np.float32)
    assert set(upd.initial_state) == {"adam.iterations", "adam.learning_rate", "w.m", "w.v",
                                      "b.m", "b.v"}
    assert upd.initial_state["adam.iterations"].dtype == np.int64
    assert upd.initial_state["adam.learning_rate"].dtype == np.float32
    assert int(prog.state["adam.iterations"]) == STEPS
    assert set(upd.new_values) == {"w", "b"} | set(upd.initial_state) - {"adam.learning_rate"}
    b = GraphBuilder(name="slots")
    upd = Adagrad(initial_accumulator_value=0.5).build(b, [b.param("w", (3, 4))],
                                                       [b.input("g", (3, 4))])
    np.testing.assert_array_equal(upd.initial_state["w.accumulator"], np.full((3, 4), 0.5))
    assert upd.initial_state["w.accumulator"].dtype == np.float32
    _, _, upd = run_optimizer(SGD(), np.float32)
    assert set(upd.initial_state) == {"sgd.iterations", "sgd.learning_rate"}


def test_taken_slot_name_gets_a_suffix():
    b = GraphBuilder(name="clash")
    w = b.param("w", (2,))
    b.param("w.m", (2,))  # a model param that happens to use the slot's name
    g = b.input("g", (2,))
    upd = Adam().build(b, [w], [g])
    assert "w.m" not in upd.initial_state
    assert any(k.startswith("w.m.") for k in upd.initial_state)


def test_learning_rate_can_change_without_rebuilding():
    opt = SGD(learning_rate=0.5)
    b = GraphBuilder(name="lr")
    w = b.param("w", (2,), "f64")
    g = b.input("g", (2,), "f64")
    upd = opt.build(b, [w], [g])
    names = list(upd.new_values)
    b.output(*upd.new_values.values())
    prog = Program(b.graph, state={"w": np.zeros(2), **upd.initial_state},
                   updates=dict(enumerate(names)))
    prog({"g": np.ones(2)})
    np.testing.assert_allclose(prog.state["w"], [-0.5, -0.5])
    opt.learning_rate = 0.25
    prog({"g": np.ones(2)})
    np.testing.assert_allclose(prog.state["w"], [-0.75, -0.75])


@pytest.mark.parametrize("kind,kw", [("clipvalue", 0.5), ("clipnorm", 1.0),
                                     ("global_clipnorm", 1.0)])
def test_gradient_clipping(kind, kw):
    b = GraphBuilder(name="clip")
    ws = [b.param("w1", (2,), "f64"), b.param("w2", (2,), "f64")]
    gs = [b.input("g1", (2,), "f64"), b.input("g2", (2,), "f64")]
    upd = SGD(learning_rate=1.0, **{kind: kw}).build(b, ws, gs)
    names = list(upd.new_values)
    b.output(*upd.new_values.values())
    prog = Program(b.graph, state={"w1": np.zeros(2), "w2": np.zeros(2), **upd.initial_state},
                   updates=dict(enumerate(names)))
    g1, g2 = np.array([3.0, 4.0]), np.array([0.3, 0.4])
    prog({"g1": g1, "g2": g2})
    if kind == "clipvalue":
        e1, e2 = np.clip(g1, -0.5, 0.5), np.clip(g2, -0.5, 0.5)
    elif kind == "clipnorm":
        e1, e2 = g1 / 5.0, g2
    else:
        norm = math.sqrt(25 + 0.25)
        e1, e2 = g1 / norm, g2 / norm
    np.testing.assert_allclose(prog.state["w1"], -e1)
    np.testing.assert_allclose(prog.state["w2"], -e2)


def test_get_optimizer():
    for name, cls in OPTIMIZERS.items():
        assert type(get_optimizer(name)) is cls
        assert type(get_optimizer(name.upper())) is cls
    opt = Adam()
    assert get_optimizer(opt) is opt
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*'sgd'.*'adagrad'"):
        get_optimizer("adamax")
    with pytest.raises(ValueError, match="name .* or an Optimizer instance, got int"):
        get_optimizer(3)


def test_bad_hyperparameters_and_build_arguments():
    with pytest.raises(ValueError, match="SGD: momentum must be <= 1.0, got 1.5"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="beta_1 must be < 1.0"):
        Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue"):
        SGD(clipnorm=1.0, clipvalue=1.0)
    b = GraphBuilder(name="bad")
    w = b.param("w", (2,))
    x = b.input("x", (2,))
    with pytest.raises(ValueError, match="got 1 params but 2 gradients"):
        SGD().build(b, [w], [x, x])
    with pytest.raises(ValueError, match=r"gradient %g of param %w must be f32\[2\], got f32\[3\]"):
        SGD().build(b, [w], [b.input("g", (3,))])
    with pytest.raises(ValueError, match="%x is a graph input, not a param"):
        SGD().build(b, [x], [x])


def _torch_run(make_torch, dtype=np.float64):
    torch = pytest.importorskip("torch")
    params = {k: torch.tensor(v, requires_grad=True) for k, v in _init(dtype).items()}
    opt = make_torch(torch, list(params.values()))
    out = []
    for g in _grads(0, dtype):
        for k, p in params.items():
            p.grad = torch.tensor(g[k])
        opt.step()
        out.append({k: p.detach().numpy().copy() for k, p in params.items()})
    return out


# epsilon = 0 where Keras and PyTorch place epsilon differently, so the rules coincide.
TORCH_CASES = [
    ("sgd", lambda: SGD(0.125), lambda t, p: t.optim.SGD(p, lr=0.125)),
    ("sgd_momentum", lambda: SGD(0.0625, momentum=0.9),
     lambda t, p: t.optim.SGD(p, lr=0.0625, momentum=0.9)),
    ("sgd_nesterov", lambda: SGD(0.0625, momentum=0.9, nesterov=True),
     lambda t, p: t.optim.SGD(p, lr=0.0625, momentum=0.9, nesterov=True)),
    ("adam", lambda: Adam(2 ** -6, epsilon=0.0),
     lambda t, p: t.optim.Adam(p, lr=2 ** -6, eps=0.0)),
    ("adam_amsgrad", lambda: Adam(2 ** -6, epsilon=0.0, amsgrad=True),
     lambda t, p: t.optim.Adam(p, lr=2 ** -6, eps=0.0, amsgrad=True)),
    ("adamw", lambda: AdamW(2 ** -6, weight_decay=0.25, epsilon=0.0),
     lambda t, p: t.optim.AdamW(p, lr=2 ** -6, eps=0.0, weight_decay=0.25)),
    ("rmsprop", lambda: RMSprop(2 ** -8, epsilon=0.0),
     lambda t, p: t.optim.RMSprop(p, lr=2 ** -8, alpha=0.9, eps=0.0)),
    ("rmsprop_centered_momentum", lambda: RMSprop(2 ** -8, momentum=0.5, centered=True, epsilon=0.0),
     lambda t, p: t.optim.RMSprop(p, lr=2 ** -8, alpha=0.9, eps=0.0, momentum=0.5, centered=True)),
    ("adagrad", lambda: Adagrad(2 ** -4, epsilon=0.0),
     lambda t, p: t.optim.Adagrad(p, lr=2 ** -4, initial_accumulator_value=0.1, eps=0.0)),
]


@pytest.mark.parametrize("name,make,make_torch", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_update_matches_torch(name, make, make_torch):
    theirs = _torch_run(make_torch)
    ours, _, _ = run_optimizer(make(), np.float64)
    for step, (o, t) in enumerate(zip(ours, theirs)):
        for k in SHAPES:
            np.testing.assert_allclose(o[k], t[k], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} vs torch: {k} after step {step + 1}")
