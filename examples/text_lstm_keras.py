"""The seed program text_lstm_keras.py made complete: Tokenizer, pad_sequences, Embedding,
LSTM, Dense sigmoid and binary crossentropy, classifying Rotten Tomatoes review snippets as
fresh or rotten (shipped with kiln; Pang & Lee's sentence-polarity data).

    python examples/text_lstm_keras.py [--smoke] [--epochs N] [--backend eager|llvm]

The seed program fits one padded document against the single label ``[1]``; this example
does the same steps on labelled snippets. ``--smoke`` uses 256 training snippets, short
sequences and one epoch.
"""
from __future__ import annotations

import numpy as np

try:
    from examples._common import parser
except ImportError:
    from _common import parser

from frontend.keras import utils
from frontend.keras.datasets import rotten_tomatoes
from frontend.keras.layers import LSTM, Dense, Embedding
from frontend.keras.models import Sequential
from frontend.keras.preprocessing.sequence import pad_sequences
from frontend.keras.preprocessing.text import Tokenizer


def main(argv=None, callbacks=None) -> float:
    """Run the example with command line ``argv``; ``callbacks`` are extra callbacks for
    ``fit`` (the tests record per-batch losses with one). Returns the reported metric."""
    args = parser(__doc__, epochs=5).parse_args(argv)
    utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = rotten_tomatoes.load_data()
    n_train, n_test, maxlen, words, units = ((256, 128, 16, 2000, 16) if args.smoke
                                             else (len(x_train), len(x_test), 40, 10000, 100))
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_test, y_test = x_test[:n_test], y_test[:n_test]

    tokenizer = Tokenizer(num_words=words, oov_token="<unk>")
    tokenizer.fit_on_texts(x_train)
    word_index = tokenizer.word_index
    train = pad_sequences(tokenizer.texts_to_sequences(x_train), maxlen=maxlen, padding='post')
    test = pad_sequences(tokenizer.texts_to_sequences(x_test), maxlen=maxlen, padding='post')

    model = Sequential()
    model.add(Embedding(min(len(word_index) + 1, words), units, input_length=maxlen))
    model.add(LSTM(units))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'],
                  backend=args.backend)
    verbose = args.verbose if args.verbose is not None else (0 if args.smoke else 1)
    model.fit(train, np.asarray(y_train), epochs=1 if args.smoke else args.epochs,
              batch_size=32, verbose=verbose, callbacks=callbacks)
    loss, acc = model.evaluate(test, np.asarray(y_test), verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
