"""The seed program cnn_keras.py: Conv2D/MaxPooling2D stack, Flatten, Dense, trained with
Adam on MNIST digits (shipped with kiln; see frontend/data).

    python examples/cnn_keras.py [--smoke] [--epochs N] [--backend eager|llvm]

``--smoke`` trains one epoch on 96 images and evaluates on 64 more.
"""
from __future__ import annotations

import numpy as np

try:
    from examples._common import parser
except ImportError:
    from _common import parser

from frontend.keras import layers, models, utils


def load(n_train: int, n_test: int):
    from frontend.keras.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    prep = lambda x: (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)  # noqa: E731
    return prep(x_train[:n_train]), y_train[:n_train], prep(x_test[:n_test]), y_test[:n_test]


def main(argv=None, callbacks=None) -> float:
    """Run the example with command line ``argv``; ``callbacks`` are extra callbacks for
    ``fit`` (the tests record per-batch losses with one). Returns the reported metric."""
    args = parser(__doc__, epochs=10).parse_args(argv)
    utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = load(96, 64) if args.smoke else load(60000, 10000)
    epochs = 1 if args.smoke else args.epochs

    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation='relu'))
    model.add(layers.Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'], backend=args.backend)
    model.summary()
    verbose = args.verbose if args.verbose is not None else (0 if args.smoke else 1)
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose,
              callbacks=callbacks)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
