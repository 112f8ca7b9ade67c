"""The seed program rnn_keras_subclass.py: a subclassed Model with a SimpleRNN returning
sequences and a Dense softmax per time step, on a synthetic sequence-tagging task.

    python examples/rnn_keras_subclass.py [--smoke] [--epochs N] [--backend eager|llvm]

Each step of a sequence of 32-feature vectors is labelled with one of 10 classes: the
class whose (fixed, random) prototype is closest to the *average of the inputs so far*,
so the answer needs the recurrent state, not just the current input.
"""
from __future__ import annotations

import numpy as np

try:
    from examples._common import parser
except ImportError:
    from _common import parser

from frontend.keras import layers, models, utils


class RNN(models.Model):
    def __init__(self):
        super(RNN, self).__init__()
        self.rnn = layers.SimpleRNN(64, return_sequences=True, input_shape=(None, 32))
        self.dense = layers.Dense(10, activation='softmax')

    def call(self, x, mask=None):
        x = self.rnn(x)
        x = self.dense(x)
        return x


def running_mean_task(n: int, steps: int, seed: int = 0):
    protos = np.random.default_rng(1234).normal(size=(10, 32))  # the same task for every split
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, 32)) + protos[rng.integers(0, 10, (n, 1))]
    mean = np.cumsum(x, axis=1) / np.arange(1, steps + 1)[None, :, None]
    y = np.argmin(((mean[:, :, None, :] - protos) ** 2).sum(-1), axis=-1)
    return x.astype(np.float32), y


def main(argv=None, callbacks=None) -> float:
    """Run the example with command line ``argv``; ``callbacks`` are extra callbacks for
    ``fit`` (the tests record per-batch losses with one). Returns the reported metric."""
    args = parser(__doc__, epochs=10).parse_args(argv)
    utils.set_random_seed(0)
    n, steps = (64, 6) if args.smoke else (2000, 12)
    x_train, y_train = running_mean_task(n, steps)
    x_test, y_test = running_mean_task(n // 4, steps, seed=1)

    model = RNN()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'], backend=args.backend)
    verbose = args.verbose if args.verbose is not None else (0 if args.smoke else 1)
    model.fit(x_train, y_train, epochs=2 if args.smoke else args.epochs, batch_size=32,
              verbose=verbose, callbacks=callbacks)
    model.summary()
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  per-step test accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
