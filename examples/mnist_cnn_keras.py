"""The seed program mnist_cnn_keras.py: one Conv2D, Flatten, Dense softmax on MNIST, then
evaluate on the test set.

    python examples/mnist_cnn_keras.py [--smoke] [--epochs N] [--backend eager|llvm]

``--smoke`` trains one epoch on 512 images and tests on 256.
"""
from __future__ import annotations

try:
    from examples._common import parser
except ImportError:
    from _common import parser

from frontend.keras import utils
from frontend.keras.datasets import mnist
from frontend.keras.layers import Conv2D, Dense, Flatten
from frontend.keras.models import Sequential


def main(argv=None, callbacks=None) -> float:
    """Run the example with command line ``argv``; ``callbacks`` are extra callbacks for
    ``fit`` (the tests record per-batch losses with one). Returns the reported metric."""
    args = parser(__doc__, epochs=5).parse_args(argv)
    utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    if args.smoke:
        x_train, y_train, x_test, y_test = x_train[:512], y_train[:512], x_test[:256], y_test[:256]
    epochs = 1 if args.smoke else args.epochs

    x_train = x_train.reshape(x_train.shape[0], 28, 28, 1)
    x_test = x_test.reshape(x_test.shape[0], 28, 28, 1)
    x_train, x_test = x_train / 255.0, x_test / 255.0   # float64: fit converts to float32

    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), activation='relu', input_shape=(28, 28, 1)))
    model.add(Flatten())
    model.add(Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'], backend=args.backend)
    verbose = args.verbose if args.verbose is not None else (0 if args.smoke else 1)
    model.fit(x_train, y_train, epochs=epochs, verbose=verbose,
              callbacks=callbacks)

    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
    print('Test accuracy:', test_acc)
    return test_acc


if __name__ == "__main__":
    main()
