"""Keras's text tokenization: :class:`Tokenizer` and :func:`text_to_word_sequence`.

Semantics are Keras's (``keras_preprocessing.text``), reproduced exactly because models and
saved vocabularies depend on them:

* words: the text is lowercased (``lower``), every character of ``filters`` is replaced by
  ``split``, and the text is split on ``split``, dropping empty pieces; with ``char_level``
  (or a list of tokens as input) the characters (tokens) are used as they are, unfiltered;
* ``word_index``: 1-based, by descending count over everything fitted, ties in order of
  first occurrence; index 0 is never assigned (it is the padding value); ``oov_token``,
  when given, takes index 1;
* ``num_words``: only indices ``< num_words`` are produced by ``texts_to_sequences``; other
  known words become the OOV index (or are dropped without ``oov_token``); unknown words
  likewise. ``word_index`` itself always holds the whole vocabulary.
"""
from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from typing import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["Tokenizer", "text_to_word_sequence", "tokenizer_from_json"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text: str, filters: str = DEFAULT_FILTERS, lower: bool = True,
                          split: str = " ") -> list[str]:
    """The words of ``text``: lowercased, ``filters`` characters turned into separators."""
    if not isinstance(text, str):
        raise TypeError(f"text_to_word_sequence: expected a str, got {type(text).__name__}")
    if lower:
        text = text.lower()
    if filters:
        text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """Turns texts into sequences of word indices (see the module docstring for the rules).

    ``analyzer``: optional callable ``text -> list of tokens`` replacing the default
    splitting.
    """

    def __init__(self, num_words: int | None = None, filters: str = DEFAULT_FILTERS,
                 lower: bool = True, split: str = " ", char_level: bool = False,
                 oov_token: str | None = None, analyzer=None, **kwargs):
        if "nb_words" in kwargs:  # Keras 1 spelling
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(f"Tokenizer: unrecognized keyword arguments {sorted(kwargs)}")
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, int)
                                      or num_words < 0):
            raise ValueError(f"Tokenizer: num_words must be a non-negative int or None, got "
                             f"{num_words!r}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = document_count
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: defaultdict[str, int] = defaultdict(int)
        self.index_docs: defaultdict[int, int] = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    # -- tokens of one text -------------------------------------------------------------------
    def _tokens(self, text) -> Sequence[str]:
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return text
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer: expected texts as str (or lists of tokens), got "
                            f"{type(text).__name__}")
        if self.analyzer is not None:
            return self.analyzer(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    @staticmethod
    def _texts(texts, what: str):
        if isinstance(texts, str):
            raise TypeError(f"Tokenizer.{what}: expected a list of texts, got a single str "
                            f"(wrap it in a list: [text])")
        return texts

    # -- fitting ----------------------------------------------------------------------------------
    def fit_on_texts(self, texts: Iterable) -> None:
        """Count words (cumulatively) and rebuild ``word_index``."""
        for text in self._texts(texts, "fit_on_texts"):
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        # sorted() is stable: ties keep the order of first occurrence
        ranked = sorted(self.word_counts.items(), key=lambda kv: kv[1], reverse=True)
        vocab = ([self.oov_token] if self.oov_token is not None else []) + [w for w, _ in ranked]
        # index 0 is reserved (padding); dict() keeps the last index of a repeated word, as
        # Keras does when the oov token also occurs in the texts
        self.word_index = dict(zip(vocab, range(1, len(vocab) + 1)))
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in list(self.word_docs.items()):
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences: Iterable[Sequence[int]]) -> None:
        """Count documents per index (needed only for ``sequences_to_matrix(mode='tfidf')``)."""
        for seq in sequences:
            self.document_count += 1
            for i in set(seq):
                self.index_docs[i] += 1

    # -- texts <-> sequences ------------------------------------------------------------------------
    def texts_to_sequences(self, texts: Iterable) -> list[list[int]]:
        """Each text as a list of word indices."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts: Iterable) -> Iterator[list[int]]:
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for text in self._texts(texts, "texts_to_sequences"):
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None:
                    if num_words and i >= num_words:
                        if oov is not None:
                            vect.append(oov)
                    else:
                        vect.append(i)
                elif self.oov_token is not None:
                    vect.append(oov)
            yield vect

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        """Each sequence back as words joined by spaces (filtered words cannot come back)."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences) -> Iterator[str]:
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for seq in sequences:
            vect = []
            for num in seq:
                word = self.index_word.get(num)
                if word is not None:
                    if num_words and num >= num_words:
                        if oov is not None:
                            vect.append(self.index_word[oov])
                    else:
                        vect.append(word)
                elif self.oov_token is not None:
                    vect.append(self.index_word[oov])
            yield " ".join(vect)

    # -- bag-of-words matrices ----------------------------------------------------------------
    def texts_to_matrix(self, texts: Iterable, mode: str = "binary") -> np.ndarray:
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences: Sequence[Sequence[int]],
                            mode: str = "binary") -> np.ndarray:
        """``[len(sequences), num_words]`` float64 matrix: ``binary``, ``count``, ``freq``
        or ``tfidf`` (Keras's formulas) per index."""
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(f"sequences_to_matrix: mode must be binary, count, freq or tfidf, "
                             f"got {mode!r}")
        if self.num_words:
            num_words = self.num_words
        elif self.word_index:
            num_words = len(self.word_index) + 1
        else:
            raise ValueError("sequences_to_matrix: give num_words or fit the tokenizer first")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("sequences_to_matrix: fit the tokenizer before using tfidf mode")
        x = np.zeros((len(sequences), num_words))
        for i, seq in enumerate(sequences):
            if not seq:
                continue
            counts: dict[int, int] = defaultdict(int)
            for j in seq:
                if j < num_words:
                    counts[j] += 1
            for j, c in counts.items():
                if mode == "count":
                    x[i, j] = c
                elif mode == "freq":
                    x[i, j] = c / len(seq)
                elif mode == "binary":
                    x[i, j] = 1
                else:
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[i, j] = tf * idf
        return x

    # -- serialization (JSON: data only) ------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower,
            "split": self.split, "char_level": self.char_level, "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs) -> str:
        """The tokenizer as JSON (Keras's format); read back with :func:`tokenizer_from_json`."""
        if self.analyzer is not None:
            raise ValueError("Tokenizer.to_json: a custom analyzer cannot be serialized")
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """A :class:`Tokenizer` from :meth:`Tokenizer.to_json` output (JSON only, no code)."""
    try:
        data = json.loads(json_string)
        if data.get("class_name") != "Tokenizer":
            raise ValueError(f"class_name is {data.get('class_name')!r}")
        config = dict(data["config"])
        word_counts = json.loads(config.pop("word_counts"))
        word_docs = json.loads(config.pop("word_docs"))
        index_docs = {int(k): v for k, v in json.loads(config.pop("index_docs")).items()}
        index_word = {int(k): v for k, v in json.loads(config.pop("index_word")).items()}
        word_index = json.loads(config.pop("word_index"))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"tokenizer_from_json: not a serialized Tokenizer ({e})") from None
    tok = Tokenizer(**config)
    tok.word_counts = OrderedDict(word_counts)
    tok.word_docs = defaultdict(int, word_docs)
    tok.index_docs = defaultdict(int, index_docs)
    tok.word_index = word_index
    tok.index_word = index_word
    return tok
