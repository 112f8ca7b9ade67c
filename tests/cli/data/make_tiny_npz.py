"""Writes tiny.npz, the data of tiny.toml and tiny_mlp.py: 8 features, 3 classes (how many
of the sums below are positive), 64 training and 32 test samples. Run from this folder."""
import numpy as np

rng = np.random.default_rng(0)
x = rng.normal(size=(96, 8)).astype(np.float32)
y = ((x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)).astype(np.int32)
np.savez_compressed("tiny.npz", x_train=x[:64], y_train=y[:64], x_test=x[64:], y_test=y[64:])
