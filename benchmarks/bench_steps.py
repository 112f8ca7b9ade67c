"""Training-step and matmul benchmarks: compiled (kiln llvm) vs eager (kiln's numpy interpreter),
medians over repetitions after warm-up, all figures from the same run.

    python benchmarks/bench_steps.py            # all
    python benchmarks/bench_steps.py mlp linreg # some

Programs (the performance floor of issue 4):
  mlp     784-128-64-10 MLP, batch 64, softmax cross-entropy, SGD momentum 0.9
  linreg  linear regression, 5 features, batch 5, MSE, SGD
  cnn     the seed CNN (28x28x1, conv32-pool-conv64-pool-conv64-dense64-dense10), batch 32,
          Adam (needs the conv/pool lowering)
  matmul  512x512 float32 matmul, one thread for both numpy and kiln

Each compiled program is first checked against eager on the same inputs and weights (same
loss within tolerance) before it is timed. Compile times are reported cold (cache disabled)
and warm (from the on-disk cache).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from compiler import GraphBuilder  # noqa: E402
from compiler.ops.losses import LOSSES  # noqa: E402
from compiler.passes.autodiff import gradients  # noqa: E402
from compiler.pipeline import CompileOptions  # noqa: E402
from runtime.optimizers import SGD, Adam  # noqa: E402
from runtime.program import Program  # noqa: E402


def median_time(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def dense(b, x, n_in, n_out, name, act, rng, state):
    w = b.param(f"{name}.kernel", (n_in, n_out))
    bias = b.param(f"{name}.bias", (n_out,))
    lim = np.sqrt(6.0 / (n_in + n_out))
    state[w.name] = rng.uniform(-lim, lim, size=(n_in, n_out)).astype(np.float32)
    state[bias.name] = np.zeros(n_out, np.float32)
    with b.location(name):
        y = b.add(b.matmul(x, w), bias)
        return getattr(b, act)(y) if act else y, [w, bias]


def train_step_graph(name, build_model, optimizer, loss_fn, x_shape, y_shape, y_dtype):
    rng = np.random.default_rng(0)
    b = GraphBuilder(name=name)
    x = b.input("x", x_shape)
    y = b.input("y", y_shape, y_dtype)
    state: dict[str, np.ndarray] = {}
    out, params = build_model(b, x, rng, state)
    loss = loss_fn(b, y, out)
    grads = gradients(b.graph, loss, params)
    upd = optimizer.build(b, params, grads)
    state.update(upd.initial_state)
    names = list(upd.new_values)
    b.output(loss, *[upd.new_values[n] for n in names])
    updates = {i + 1: n for i, n in enumerate(names)}
    return b.graph, state, updates


def mlp(b, x, rng, state):
    h, p1 = dense(b, x, 784, 128, "dense_1", "relu", rng, state)
    h, p2 = dense(b, h, 128, 64, "dense_2", "relu", rng, state)
    out, p3 = dense(b, h, 64, 10, "dense_3", None, rng, state)
    return out, p1 + p2 + p3


def linreg(b, x, rng, state):
    out, p = dense(b, x, 5, 1, "dense", None, rng, state)
    return out, p


def bench_program(label, graph, state, updates, inputs, reps):
    progs = {}
    for backend in ("eager", "llvm"):
        st = {k: v.copy() for k, v in state.items()}
        t0 = time.perf_counter()
        opts = {} if backend == "eager" else {"compile_options": CompileOptions(cache=False)}
        progs[backend] = Program(graph, st, updates, backend=backend, **opts)
        if backend == "llvm":
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            Program(graph, {k: v.copy() for k, v in state.items()}, updates, backend="llvm")
            Program(graph, {k: v.copy() for k, v in state.items()}, updates, backend="llvm")
            t1 = time.perf_counter()
            Program(graph, {k: v.copy() for k, v in state.items()}, updates, backend="llvm")
            warm = time.perf_counter() - t1
    le = progs["eager"](inputs)[0]
    ll = progs["llvm"](inputs)[0]
    assert np.allclose(le, ll, rtol=1e-4, atol=1e-5), (label, le, ll)
    te = median_time(lambda: progs["eager"](inputs), reps)
    tl = median_time(lambda: progs["llvm"](inputs), reps)
    k = progs["llvm"]._runner.compiled.kernels
    print(f"{label:<8} eager {te * 1e3:8.3f} ms   compiled {tl * 1e3:8.3f} ms   ratio {te / tl:5.2f}x"
          f"   kernels {len(k.kernels):3d}   arena {k.arena_bytes / 1024:7.1f} KiB"
          f"   compile cold {cold:5.2f} s  cached {warm:5.3f} s", flush=True)


def run_mlp():
    def loss(b, y, logits):
        return LOSSES["sparse_categorical_crossentropy"](b, y, logits, from_logits=True)

    g, st, upd = train_step_graph("mlp_step", mlp, SGD(learning_rate=0.01, momentum=0.9),
                                  loss, (64, 784), (64,), "i64")
    rng = np.random.default_rng(1)
    inputs = {"x": rng.random((64, 784), dtype=np.float32),
              "y": rng.integers(0, 10, 64).astype(np.int64)}
    bench_program("mlp", g, st, upd, inputs, 200)


def run_linreg():
    g, st, upd = train_step_graph("linreg_step", linreg, SGD(learning_rate=0.01),
                                  LOSSES["mean_squared_error"], (5, 5), (5, 1), "f32")
    X = np.array([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8],
                  [5, 6, 7, 8, 9]], np.float32) / 10
    y = (X @ np.arange(1, 6, dtype=np.float32) + 1).reshape(5, 1)
    bench_program("linreg", g, st, upd, {"x": X, "y": y}, 2000)


def run_matmul():
    b = GraphBuilder(name="matmul512")
    x = b.input("a", (512, 512))
    w = b.input("b", (512, 512))
    b.output(b.matmul(x, w))
    rng = np.random.default_rng(0)
    A = rng.random((512, 512), dtype=np.float32)
    B = rng.random((512, 512), dtype=np.float32)
    from compiler.llvm.parallel import Threading

    p = Program(b.graph, backend="llvm",
                compile_options=CompileOptions(threading=Threading(1)))
    np.testing.assert_allclose(p([A, B])[0], A @ B, rtol=1e-4)
    tn = median_time(lambda: A @ B, 30)
    tk = median_time(lambda: p([A, B]), 30)
    gf = 2 * 512 ** 3 / 1e9
    print(f"matmul512 numpy {tn * 1e3:7.3f} ms ({gf / tn:6.1f} GFLOP/s)   kiln {tk * 1e3:7.3f} ms "
          f"({gf / tk:6.1f} GFLOP/s)   kiln/numpy speed {tn / tk:5.2f}  (OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})", flush=True)


BENCHES = {"mlp": run_mlp, "linreg": run_linreg, "matmul": run_matmul}

if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(BENCHES)
    for n in names:
        BENCHES[n]()
