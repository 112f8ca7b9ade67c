"""Build an MLP training graph with kiln's graph builder, differentiate it as a graph
transformation, print its IR, and train it with the eager interpreter.

    python examples/graph_ir_mlp.py [--steps N] [--print-ir]

The data are three interleaved spirals (a classic non-linearly-separable toy problem), so
the example needs no download. Later issues run the same graph JIT-compiled.
"""
from __future__ import annotations

import argparse

import numpy as np

from compiler import GraphBuilder
from compiler.ir.verify import verify
from compiler.ops import losses
from compiler.passes.autodiff import gradients
from runtime.eager import Interpreter


def spirals(n_per_class: int, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def build_train_step(batch: int, hidden: int, classes: int):
    """Graph: (x, y, params) -> (loss, accuracy count, gradients of every param)."""
    b = GraphBuilder(name="mlp_train_step")
    x = b.input("x", (batch, 2))
    y = b.input("y", (batch,), "i64")
    w1, b1 = b.param("w1", (2, hidden)), b.param("b1", (hidden,))
    w2, b2 = b.param("w2", (hidden, classes)), b.param("b2", (classes,))
    with b.location("dense_1"):
        h = b.relu(b.add(b.matmul(x, w1), b1, name="h"))
    with b.location("dense_2"):
        logits = b.add(b.matmul(h, w2), b2, name="logits")
    with b.location("loss"):
        loss = losses.sparse_categorical_crossentropy(b, y, logits, from_logits=True)
    with b.location("accuracy"):
        correct = b.sum(b.cast(b.equal(b.argmax(logits, axis=-1), y), dtype="f32"))
    params = [w1, b1, w2, b2]
    grads = gradients(b.graph, loss, params)
    b.output(loss, correct, *grads)
    return verify(b.graph), params


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=60)
    ap.add_argument("--print-ir", action="store_true", help="print the whole training graph")
    args = ap.parse_args(argv)

    x_all, y_all = spirals(200)
    graph, params = build_train_step(args.batch, hidden=64, classes=3)
    if args.print_ir:
        print(graph)
    print(f"training graph: {len(graph.nodes)} nodes, {len(graph.args)} arguments")

    rng = np.random.default_rng(1)
    values = {"w1": (rng.normal(size=(2, 64)) * np.sqrt(2 / 2)).astype(np.float32),
              "b1": np.zeros(64, np.float32),
              "w2": (rng.normal(size=(64, 3)) * np.sqrt(2 / 64)).astype(np.float32),
              "b2": np.zeros(3, np.float32)}
    step = Interpreter(graph)
    lr, momentum = 0.1, 0.9
    velocity = {k: np.zeros_like(v) for k, v in values.items()}
    acc = 0.0
    for i in range(args.steps):
        idx = rng.choice(len(x_all), size=args.batch, replace=False)
        loss, correct, *grads = step.run({"x": x_all[idx], "y": y_all[idx], **values})
        for p, g in zip(params, grads):
            velocity[p.name] = momentum * velocity[p.name] - lr * g
            values[p.name] += velocity[p.name]
        acc = float(correct) / args.batch
        if i % max(args.steps // 6, 1) == 0 or i == args.steps - 1:
            print(f"step {i:4d}  loss {float(loss):.4f}  batch accuracy {acc:.2f}")
    return float(loss)


if __name__ == "__main__":
    main()
