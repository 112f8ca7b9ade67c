"""Linear regression with a one-unit Dense layer, SGD and mean squared error, as in the seed
program linear_regression_keras.py.

    python examples/linear_regression_keras.py [--smoke] [--epochs N]

The seed program trains on the raw features (values 1..9) with SGD at Keras's default
learning rate 0.01. That diverges, in Keras as here: the largest curvature of the loss is
about 290, and gradient descent is stable only for learning rate * curvature < 2 (here
2.9). This example standardizes the features first (data normalisation), which makes the
same model and optimizer converge to the exact fit.
"""
from __future__ import annotations

import numpy as np

try:
    from examples._common import parser
except ImportError:
    from _common import parser

from frontend import keras
from frontend.keras import utils


def main(argv=None, callbacks=None) -> float:
    """Run the example with command line ``argv``; ``callbacks`` are extra callbacks for
    ``fit`` (the tests record per-batch losses with one). Returns the reported metric."""
    args = parser(__doc__, epochs=1000).parse_args(argv)
    utils.set_random_seed(0)
    epochs = min(args.epochs, 300) if args.smoke else args.epochs

    X = np.array([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8],
                  [5, 6, 7, 8, 9]])
    y = np.dot(X, np.array([1, 2, 3, 4, 5])) + 10
    Xn = (X - X.mean(axis=0)) / X.std(axis=0)

    model = keras.Sequential([keras.layers.Dense(1, input_shape=(X.shape[1],))])
    model.compile(optimizer='sgd', loss='mean_squared_error', backend=args.backend)
    model.fit(Xn, y, epochs=epochs, verbose=0, callbacks=callbacks)
    predictions = model.predict(Xn, verbose=0)
    err = float(np.abs(predictions.ravel() - y).max())
    print("targets:    ", y)
    print("predictions:", np.round(predictions.ravel(), 2))
    print(f"largest error {err:.4f}")
    return err


if __name__ == "__main__":
    main()
