"""Writes the small .npz datasets the example model files read (run from anywhere):

* linear_regression.npz: the seed program linear_regression_keras.py's five points,
  ``X`` (features 1..9) and ``y = X @ [1, 2, 3, 4, 5] + 10``; the seed predicts on its
  training data, so the test arrays are the same five points.
* clusters.npz: the synthetic data of examples/mlp_keras.py (10 Gaussian clusters in 32
  dimensions, seed 0), 640 training and 160 test samples, float32.

    python examples/models/data/make_data.py
"""
from __future__ import annotations

import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def linear_regression() -> dict[str, np.ndarray]:
    X = np.array([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8],
                  [5, 6, 7, 8, 9]], dtype=np.float32)
    y = (X @ np.array([1, 2, 3, 4, 5], dtype=np.float32) + 10).astype(np.float32)
    return {"x_train": X, "y_train": y, "x_test": X.copy(), "y_test": y.copy()}


def clusters(n_train: int = 640, n_test: int = 160, features: int = 32, classes: int = 10,
             seed: int = 0) -> dict[str, np.ndarray]:
    # the same draws as examples/mlp_keras.py's clusters()
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(classes, features))
    n = n_train + n_test
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(size=(n, features))).astype(np.float32)
    y = y.astype(np.int32)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:],
            "y_test": y[n_train:]}


def main() -> None:
    for name, arrays in (("linear_regression", linear_regression()), ("clusters", clusters())):
        path = os.path.join(HERE, f"{name}.npz")
        np.savez_compressed(path, **arrays)
        print(f"wrote {path}: " + ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items()))


if __name__ == "__main__":
    main()
