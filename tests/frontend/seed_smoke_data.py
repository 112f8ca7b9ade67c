"""Small stand-ins for the datasets the seed programs load, so their smoke runs are fast.

``mnist.load_data()`` returns the first images of kiln's shipped MNIST (the real data, a
few hundred samples) in Keras's format.
"""
from __future__ import annotations


class mnist:  # noqa: N801  (a module stand-in: seed programs write mnist.load_data())
    @staticmethod
    def load_data():
        from frontend.keras.datasets import mnist as real
        (x_train, y_train), (x_test, y_test) = real.load_data()
        return (x_train[:128], y_train[:128]), (x_test[:64], y_test[:64])
