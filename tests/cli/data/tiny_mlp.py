"""The tiny model of tiny.toml as a Python model file (the convention is in
frontend/cli/loading.py): ``model``, ``data``, ``training`` and ``smoke``."""
import os

import numpy as np

from frontend import keras

with np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.npz")) as f:
    data = ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]))
training = dict(epochs=2, batch_size=16)
smoke = dict(epochs=1, n_train=32, n_test=16)

model = keras.Sequential([
    keras.layers.Dense(16, activation="relu", input_shape=(8,)),
    keras.layers.Dense(3, activation="softmax"),
], name="tiny_mlp")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
