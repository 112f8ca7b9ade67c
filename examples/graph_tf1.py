"""The TensorFlow 1 graph-mode seed program, run by kiln with only its import line changed.

    python examples/graph_tf1.py [--epochs N] [--steps N] [--learning-rate LR]

Below the data section, the program is the seed program ``graph_tf1.py`` verbatim except
``import tensorflow as tf`` -> ``import frontend.tf as tf``. It leaves ``learning_rate``,
``epochs``, ``steps`` and ``dataset`` undefined; the data section fills them with a small
regression task (10 inputs -> 1 output, a smooth nonlinear target plus a step), so the
program trains a 10-5-1 ReLU network by plain gradient descent and predicts on held-out data.
The session runs on kiln's default backend (``runtime.program.DEFAULT_BACKEND``).
"""
from __future__ import annotations

import argparse

import numpy as np


class ToyRegression:
    """Batches of x ~ N(0, I_10) with y = tanh(x . w) + 0.5 * [x_0 > 0]."""

    def __init__(self, batch_size: int = 32, n_test: int = 256, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.w = self.rng.normal(size=(10, 1)) / 3.0
        self.batch_size = batch_size
        self.test_x = self.rng.normal(size=(n_test, 10)).astype(np.float32)
        self.test_y = self.target(self.test_x)

    def target(self, x: np.ndarray) -> np.ndarray:
        return (np.tanh(x @ self.w) + 0.5 * (x[:, :1] > 0)).astype(np.float32)

    def get_batch(self):
        x = self.rng.normal(size=(self.batch_size, 10)).astype(np.float32)
        return x, self.target(x)

    def get_test_data(self):
        return self.test_x, self.test_y


def run_seed_program(learning_rate: float, epochs: int, steps: int, dataset) -> dict:
    """Run the seed program's text (below) with the undefined names filled in; returns its
    global namespace (``predict``, ``loss``, ...)."""
    namespace = {"learning_rate": learning_rate, "epochs": epochs, "steps": steps,
                 "dataset": dataset, "__name__": "graph_tf1_seed"}
    exec(compile(SEED_PROGRAM, "graph_tf1.py", "exec"), namespace)
    return namespace


# ---- the seed program (only the import line changed) -------------------------------------------
SEED_PROGRAM = '''\
import numpy as np
import frontend.tf as tf

# structure of the network
input_size = 10
hidden_size = 5
output_size = 1

# initialise weights and biases
W1 = tf.Variable(tf.random_normal([input_size, hidden_size]))
b1 = tf.Variable(tf.zeros([hidden_size]))
W2 = tf.Variable(tf.random_normal([hidden_size, output_size]))
b2 = tf.Variable(tf.zeros([output_size]))

# activation
def activation(x):
    return tf.nn.relu(x)

# forward pass
x = tf.placeholder(tf.float32, [None, input_size])
h1 = activation(tf.matmul(x, W1) + b1)
y = tf.matmul(h1, W2) + b2

# loss and gradients
y_ = tf.placeholder(tf.float32, [None, output_size])
loss = tf.reduce_mean(tf.square(y - y_))
dW2 = tf.reduce_sum(tf.gradients(loss, W2))
db2 = tf.reduce_sum(tf.gradients(loss, b2))
db1 = tf.reduce_sum(tf.gradients(loss, b1))

# update weights and biases
optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(loss, var_list=[W1, b1, W2, b2])

# train, then predict
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for epoch in range(epochs):
        for step in range(steps):
            x_batch, y_batch = dataset.get_batch()
            sess.run(optimizer, feed_dict={x: x_batch, y_: y_batch})
    test_x, test_y = dataset.get_test_data()
    predict = sess.run(y, feed_dict={x: test_x})
'''


def main(argv=None) -> tuple[float, float]:
    """Train and report the test mean squared error before and after; returns both."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--learning-rate", type=float, default=0.02)
    args = p.parse_args(argv)
    import frontend.tf as tf

    results = []
    for epochs in (0, args.epochs):  # untrained, then trained, from the same initial weights
        with tf.Graph().as_default():
            tf.set_random_seed(1)
            data = ToyRegression()
            ns = run_seed_program(args.learning_rate, epochs, args.steps, data)
            results.append(float(np.mean((ns["predict"] - data.test_y) ** 2)))
    print(f"test MSE untrained: {results[0]:.4f}   after {args.epochs} epochs x {args.steps} "
          f"steps: {results[1]:.4f}")
    return results[0], results[1]


if __name__ == "__main__":
    main()
