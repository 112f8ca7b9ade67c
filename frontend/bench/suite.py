"""The built-in benchmark suite: the seed programs' models (tests/seed_programs) with data.

==================  ==========================================================  =====  ==========
name                model                                                       batch  optimizer
==================  ==========================================================  =====  ==========
mlp                 784-128-64-10 relu MLP on logits (mlp_torch.py), MNIST      64     SGD m=0.9
mnist_cnn           Conv2D(32,3x3) - Flatten - Dense(10 softmax), MNIST         32     Adam
cnn_keras           conv32-pool-conv64-pool-conv64-dense64-dense10, MNIST       32     Adam
linear_regression   Dense(1) on 5 features (linear_regression_keras.py)         5      SGD
rnn_keras_subclass  subclassed SimpleRNN(64, sequences) - Dense(10), synthetic  32     Adam
text_lstm           Embedding(vocab, 100) - LSTM(100) - Dense(1 sigmoid),        32     Adam
                    Rotten Tomatoes snippets tokenized and padded to 40 words
==================  ==========================================================  =====  ==========

Data comes from the shipped datasets (frontend.datasets, loaded once per entry) or, for the
RNN, seeded synthetic arrays. linear_regression uses the seed's features divided by 10 (and
targets to match): on the raw features SGD at 0.01 diverges (as in Keras), and a benchmark
that ends in inf/NaN measures nothing useful. Models are built by zero-argument factories,
fresh on every call, with the seed programs' layer settings; each fixes kiln's random
initializers by a seed so that runs are comparable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["SUITE_NAMES", "SuiteEntry", "suite"]

#: The entries of :func:`suite`, in order (without loading any data).
SUITE_NAMES = ("mlp", "mnist_cnn", "cnn_keras", "linear_regression", "rnn_keras_subclass",
               "text_lstm")


@dataclass
class SuiteEntry:
    """A named model factory, its data ``(x, y)`` and the batch size to time it at."""

    name: str
    factory: Callable[[], Any]
    data: tuple[Any, Any]
    batch: int


def _mnist(n: int, flat: bool) -> tuple[np.ndarray, np.ndarray]:
    from frontend.datasets import mnist
    (x, y), _ = mnist.load_data()
    x = (x[:n].astype(np.float32) / 255.0)
    x = x.reshape(n, 784) if flat else x.reshape(n, 28, 28, 1)
    return x, y[:n].astype(np.int64)


def _mlp():
    from frontend.keras import layers, losses, models, optimizers
    m = models.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)),
                           layers.Dense(64, activation="relu"),
                           layers.Dense(10)])
    m.compile(optimizer=optimizers.SGD(learning_rate=0.01, momentum=0.9),
              loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def _mnist_cnn():
    from frontend.keras import layers, models
    m = models.Sequential([layers.Conv2D(32, kernel_size=(3, 3), activation="relu",
                                         input_shape=(28, 28, 1)),
                           layers.Flatten(),
                           layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _cnn_keras():
    from frontend.keras import layers, models
    m = models.Sequential()
    m.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    m.add(layers.MaxPooling2D((2, 2)))
    m.add(layers.Conv2D(64, (3, 3), activation="relu"))
    m.add(layers.MaxPooling2D((2, 2)))
    m.add(layers.Conv2D(64, (3, 3), activation="relu"))
    m.add(layers.Flatten())
    m.add(layers.Dense(64, activation="relu"))
    m.add(layers.Dense(10, activation="softmax"))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _linreg_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8],
                  [5, 6, 7, 8, 9]], dtype=np.float32) / 10
    y = (x @ np.arange(1, 6, dtype=np.float32) + 1.0).reshape(5, 1)
    return x, y


def _linreg():
    from frontend.keras import layers, models
    m = models.Sequential([layers.Dense(1, input_shape=(5,))])
    m.compile(optimizer="sgd", loss="mean_squared_error")
    return m


def _rnn_subclass():
    from frontend.keras import layers, models

    class RNN(models.Model):
        def __init__(self):
            super().__init__()
            self.rnn = layers.SimpleRNN(64, return_sequences=True, input_shape=(None, 32))
            self.dense = layers.Dense(10, activation="softmax")

        def call(self, x, mask=None):
            return self.dense(self.rnn(x))

    m = RNN()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _rnn_data(n: int, steps: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, steps, 32)).astype(np.float32),
            rng.integers(0, 10, (n, steps)).astype(np.int64))


_TEXT_SNIPPETS = 1000
_TEXT_LEN = 40


def _text_data(n: int) -> tuple[tuple[np.ndarray, np.ndarray], int]:
    from frontend.datasets import rotten_tomatoes
    from frontend.keras.preprocessing.sequence import pad_sequences
    from frontend.keras.preprocessing.text import Tokenizer
    (texts, labels), _ = rotten_tomatoes.load_data()
    texts = texts[:_TEXT_SNIPPETS]
    tok = Tokenizer()
    tok.fit_on_texts(texts)
    seqs = pad_sequences(tok.texts_to_sequences(texts[:n]), maxlen=_TEXT_LEN, padding="post")
    return (np.asarray(seqs, dtype=np.int32), labels[:n].astype(np.float32).reshape(n, 1)), \
        len(tok.word_index) + 1


def _text_lstm(vocab: int):
    def make():
        from frontend.keras import layers, models
        m = models.Sequential()
        m.add(layers.Embedding(vocab, 100, input_length=_TEXT_LEN))
        m.add(layers.LSTM(100))
        m.add(layers.Dense(1, activation="sigmoid"))
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return m
    return make


def _seeded(factory: Callable[[], Any], seed: int) -> Callable[[], Any]:
    """``factory`` with kiln's global seed stream reset first
    (:func:`frontend.initializers.set_random_seed`), so that unseeded initializers draw the same
    weights on every call."""
    def make():
        from frontend.initializers import set_random_seed
        set_random_seed(seed)
        return factory()
    make.__name__ = getattr(factory, "__name__", "make")
    return make


def suite() -> list[SuiteEntry]:
    """The built-in suite (see the module docstring), in :data:`SUITE_NAMES` order."""
    text, vocab = _text_data(32)
    entries = [
        SuiteEntry("mlp", _seeded(_mlp, 0), _mnist(64, flat=True), 64),
        SuiteEntry("mnist_cnn", _seeded(_mnist_cnn, 0), _mnist(32, flat=False), 32),
        SuiteEntry("cnn_keras", _seeded(_cnn_keras, 0), _mnist(32, flat=False), 32),
        SuiteEntry("linear_regression", _seeded(_linreg, 0), _linreg_data(), 5),
        SuiteEntry("rnn_keras_subclass", _seeded(_rnn_subclass, 0), _rnn_data(32), 32),
        SuiteEntry("text_lstm", _seeded(_text_lstm(vocab), 0), text, 32),
    ]
    assert tuple(e.name for e in entries) == SUITE_NAMES
    return entries
