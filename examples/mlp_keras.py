"""A Keras Sequential MLP (Dense relu -> Dense softmax, Adam, sparse categorical
crossentropy, accuracy), as in the seed program mlp_keras.py, on synthetic data.

    python examples/mlp_keras.py [--smoke] [--epochs N] [--backend eager|llvm]

The data are 10 Gaussian clusters in 32 dimensions (no download needed). Prints the
summary, trains, and reports the held-out accuracy.
"""
from __future__ import annotations

import numpy as np

try:
    from examples._common import parser
except ImportError:  # run as a script
    from _common import parser

from frontend.keras import layers, models, utils


def clusters(n: int, features: int = 32, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(classes, features))
    y = rng.integers(0, classes, n)
    return centers[y] + rng.normal(size=(n, features)), y


def main(argv=None, callbacks=None) -> float:
    """Run the example with command line ``argv``; ``callbacks`` are extra callbacks for
    ``fit`` (the tests record per-batch losses with one). Returns the reported metric."""
    args = parser(__doc__, epochs=10).parse_args(argv)
    utils.set_random_seed(0)
    n = 256 if args.smoke else 4000
    x, y = clusters(n + n // 4)
    x_train, y_train, x_test, y_test = x[:n], y[:n], x[n:], y[n:]

    model = models.Sequential()
    model.add(layers.Dense(64, activation='relu', input_shape=(32,)))
    model.add(layers.Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'], backend=args.backend)
    model.summary()
    verbose = args.verbose if args.verbose is not None else (0 if args.smoke else 1)
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=verbose,
              callbacks=callbacks)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
