"""A subclassed model as a Python model file: no declared input shape, so the kiln command
takes the shapes from ``data`` (compile, ir) or from the input array (predict)."""
import numpy as np

from frontend import keras


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))


rng = np.random.default_rng(0)
x = rng.normal(size=(40, 5)).astype(np.float32)
y = rng.normal(size=(40, 2)).astype(np.float32)
data = ((x, y), None)          # no test data
training = dict(batch_size=8)

model = Net()
model.compile(optimizer="sgd", loss="mse")
