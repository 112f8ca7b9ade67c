"""Keras text preprocessing: Tokenizer and pad_sequences against hand-computed expectations
(Keras's exact rules), and the text_lstm seed program with only its imports changed."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from frontend.keras.preprocessing.sequence import pad_sequences
from frontend.keras.preprocessing.text import (Tokenizer, text_to_word_sequence,
                                               tokenizer_from_json)

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat, dog: cat?"]


def test_text_to_word_sequence():
    assert text_to_word_sequence("Hello, World!  It's\tme.") == ["hello", "world", "it's", "me"]
    assert text_to_word_sequence("A-B c", lower=False) == ["A", "B", "c"]
    assert text_to_word_sequence("a;b;;c", filters="", split=";") == ["a", "b", "c"]


def test_word_index_by_count_then_first_occurrence():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    # counts: the 3, cat 3, dog 2, then single words in order of first occurrence
    assert list(tok.word_index.items()) == [
        ("the", 1), ("cat", 2), ("dog", 3), ("sat", 4), ("on", 5), ("mat", 6), ("ate", 7),
        ("my", 8), ("homework", 9)]
    assert tok.index_word[2] == "cat" and tok.word_counts["the"] == 3
    assert tok.word_docs["cat"] == 2 and tok.index_docs[2] == 2 and tok.document_count == 3
    assert tok.texts_to_sequences(["the cat and the unicorn"]) == [[1, 2, 1]]


def test_oov_token_and_num_words():
    tok = Tokenizer(num_words=4, oov_token="<oov>")
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["<oov>"] == 1 and tok.word_index["the"] == 2
    assert len(tok.word_index) == 10  # the whole vocabulary is kept
    # kept: indices 1..3 (<oov>, the, cat); dog=4 and unknown words map to 1
    assert tok.texts_to_sequences(["the dog and the cat"]) == [[2, 1, 1, 2, 3]]
    assert tok.sequences_to_texts([[2, 3, 4, 99]]) == ["the cat <oov> <oov>"]
    plain = Tokenizer(num_words=3)
    plain.fit_on_texts(TEXTS)
    assert plain.texts_to_sequences(["the dog cat"]) == [[1, 2]]
    assert plain.sequences_to_texts([[1, 2, 3, 0]]) == ["the cat"]


def test_cumulative_fitting_and_lists_of_tokens():
    tok = Tokenizer()
    tok.fit_on_texts(["b a"])
    tok.fit_on_texts([["A", "c", "b"]])  # lists of tokens are lowercased, not split
    assert tok.word_index == {"b": 1, "a": 2, "c": 3}
    assert tok.texts_to_sequences([["C", "a"]]) == [[3, 2]]


def test_char_level_keeps_every_character():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["aab!", "Ba"])
    assert tok.word_index == {"a": 1, "b": 2, "!": 3}
    assert tok.texts_to_sequences(["b?a"]) == [[2, 1]]


def test_oov_token_occurring_in_texts_takes_keras_index():
    tok = Tokenizer(oov_token="x")
    tok.fit_on_texts(["x y y"])
    assert tok.word_index == {"x": 3, "y": 2}  # Keras's dict(zip(...)) keeps the last index


def test_matrices():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    seqs = [[1, 2, 1], []]
    np.testing.assert_array_equal(tok.sequences_to_matrix(seqs, "binary")[0, :4], [0, 1, 1, 0])
    np.testing.assert_array_equal(tok.sequences_to_matrix(seqs, "count")[0, :3], [0, 2, 1])
    np.testing.assert_allclose(tok.sequences_to_matrix(seqs, "freq")[0, :3], [0, 2 / 3, 1 / 3])
    tfidf = tok.sequences_to_matrix(seqs, "tfidf")
    # "the" (index 1): tf = 1 + ln 2, idf = ln(1 + 3 / (1 + 2)) = ln 2
    np.testing.assert_allclose(tfidf[0, 1], (1 + np.log(2)) * np.log(2))
    assert tfidf.shape == (2, 10) and not tfidf[1].any()
    assert tok.texts_to_matrix(["cat cat"], "count")[0, 2] == 2
    with pytest.raises(ValueError, match="mode"):
        tok.sequences_to_matrix(seqs, "bogus")


def test_json_round_trip():
    tok = Tokenizer(num_words=5, oov_token="?")
    tok.fit_on_texts(TEXTS)
    back = tokenizer_from_json(tok.to_json())
    assert back.word_index == tok.word_index and back.index_word == tok.index_word
    assert back.texts_to_sequences(TEXTS) == tok.texts_to_sequences(TEXTS)
    assert json.loads(tok.to_json())["class_name"] == "Tokenizer"
    with pytest.raises(ValueError, match="not a serialized Tokenizer"):
        tokenizer_from_json('{"class_name": "Other"}')


def test_tokenizer_input_errors():
    with pytest.raises(TypeError, match=r"single str"):
        Tokenizer().fit_on_texts("one text")
    with pytest.raises(TypeError, match="unrecognized"):
        Tokenizer(num_wrods=3)
    with pytest.raises(TypeError, match="expected texts as str"):
        Tokenizer().fit_on_texts([3])


def test_pad_sequences_defaults_pre():
    out = pad_sequences([[1, 2, 3], [4, 5], []])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, 4, 5], [0, 0, 0]])


def test_pad_and_truncate_post_and_pre():
    seqs = [[1, 2, 3, 4], [5]]
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[3, 4], [0, 5]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post"),
                                  [[1, 2], [0, 5]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, padding="post", value=-1),
                                  [[2, 3, 4], [5, -1, -1]])


def test_pad_dtypes_and_item_shapes():
    f = pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=9.0)
    np.testing.assert_array_equal(f, np.array([[0.5, 1.5], [9.0, 2.5]], np.float32))
    np.testing.assert_array_equal(pad_sequences([[0.7, 1.2]]), [[0, 1]])  # int dtype truncates
    v = pad_sequences([[[1, 2]], [[3, 4], [5, 6]]], padding="post")
    assert v.shape == (2, 2, 2)
    np.testing.assert_array_equal(v[0], [[1, 2], [0, 0]])
    s = pad_sequences([["a"], ["b", "c"]], dtype=object, value="<pad>")
    assert s.tolist() == [["<pad>", "a"], ["b", "c"]]
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)


def test_pad_errors():
    with pytest.raises(ValueError, match="padding must be"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating must be"):
        pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match="item 1 is 5"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="items of shape"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])
    with pytest.raises(ValueError, match="string padding"):
        pad_sequences([[1]], value="x")
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences([[1]], maxlen=-2)


# -- the text_lstm seed program --------------------------------------------------------------------
SEED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seed_programs",
                    "text_lstm_keras.py")


def test_text_lstm_seed_program_with_imports_changed(tmp_path, monkeypatch):
    pytest.importorskip("frontend.keras.layers")
    with open(SEED) as f:
        src = f.read()
    changed = src.replace("import tensorflow as tf", "import frontend.tf as tf").replace(
        "from tensorflow.keras", "from frontend.tf.keras")
    assert changed.count("frontend.tf") == 5
    from frontend.datasets import rotten_tomatoes
    (texts, _), _ = rotten_tomatoes.load_data()
    (tmp_path / "data.txt").write_text(" ".join(texts[:3]))  # the file the program reads
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "text_lstm_seed"}
    exec(compile(changed, "text_lstm_keras.py", "exec"), ns)
    assert ns["padded"].shape == (1, len(ns["sequences"][0]))
    assert ns["padded"].shape[1] > 30 and len(ns["word_index"]) > 20
