"""Shipped datasets: MNIST exactly as Keras returns it, the Rotten Tomatoes snippets loader,
checksum verification and clear errors for damaged or unexpected files."""
from __future__ import annotations

import bz2
import os
import shutil

import numpy as np
import pytest

from frontend.datasets import DatasetError, _files, mnist, rotten_tomatoes
from frontend.keras.datasets import mnist as keras_mnist

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))), "shared", "data")


@pytest.fixture(scope="module")
def digits():
    return mnist.load_data()


def test_mnist_is_complete_and_as_keras_returns_it(digits):
    (x_train, y_train), (x_test, y_test) = digits
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    np.testing.assert_array_equal(y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(np.bincount(y_train),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    assert abs(x_train.mean() / 255 - 0.1307) < 1e-3 and abs(x_train.std() / 255 - 0.3081) < 1e-3


def test_keras_compat_path_is_the_same_function():
    assert keras_mnist.load_data is mnist.load_data
    import frontend.keras as keras
    assert keras.datasets.mnist.load_data is mnist.load_data


def test_shipped_files_match_the_recorded_checksums():
    for name, digest in _files.SHIPPED.items():
        assert _files.sha256_of(_files.data_path(name)) == digest
        shared = os.path.join(SHARED, name)
        if os.path.exists(shared):
            assert _files.sha256_of(shared) == digest
    with open(os.path.join(_files.DATA_DIR, "README.md")) as f:
        readme = f.read()
    assert all(d in readme for d in _files.SHIPPED.values())
    assert "LeCun" in readme and "Pang" in readme


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A writable copy of the data directory that the loaders use instead of the real one."""
    for name in _files.SHIPPED:
        shutil.copy(_files.data_path(name), tmp_path / name)
    monkeypatch.setattr(_files, "DATA_DIR", str(tmp_path))
    return tmp_path


def test_damaged_file_is_reported_with_both_digests(data_copy):
    path = data_copy / "rotten_tomatoes_snippets.csv.bz2"
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as e:
        rotten_tomatoes.load_data()
    msg = str(e.value)
    assert str(path) in msg and _files.SHIPPED[path.name] in msg and "got" in msg


def test_missing_file_is_reported(data_copy):
    os.remove(data_copy / "mnist.npz")
    with pytest.raises(FileNotFoundError, match="mnist.npz is missing"):
        mnist.load_data()


def test_other_npz_is_checked_and_never_unpickled(tmp_path):
    bad = tmp_path / "digits.npz"
    np.savez(bad, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"expected arrays"):
        mnist.load_data(str(bad))
    arrays = {k: np.zeros(1, np.uint8) for k in ("x_train", "y_train", "x_test", "y_test")}
    arrays["y_test"] = np.array([{"evil": 1}], dtype=object)
    np.savez(bad, **arrays)
    with pytest.raises(DatasetError, match="holds Python objects, which kiln never unpickles"):
        mnist.load_data(str(bad))
    bad.write_text("not an archive\n")   # numpy would take it for a pickle
    with pytest.raises(DatasetError, match=r"digits.npz is not an \.npz \(zip\) archive"):
        mnist.load_data(str(bad))
    np.save(tmp_path / "digits.npy", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"digits.npy is an \.npy array, not an \.npz"):
        mnist.load_data(str(tmp_path / "digits.npy"))
    small = {"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(2, np.uint8),
             "x_test": np.zeros((1, 28, 28), np.uint8), "y_test": np.zeros(1, np.uint8)}
    np.savez(bad, **small)
    with pytest.raises(DatasetError, match=r"x_train should be uint8 of shape \(60000, 28, 28\)"):
        mnist.load_data(str(bad))


def test_rotten_tomatoes_snippets():
    texts, labels, movies = rotten_tomatoes.load_snippets()
    assert len(texts) == len(labels) == len(movies) == 7403 + 5405
    assert int(labels.sum()) == 7403 and labels.dtype == np.int64
    assert texts[0] == "A three-hour cinema master class." and labels[0] == 1


def test_rotten_tomatoes_split_by_movie():
    (x_tr, y_tr), (x_te, y_te) = rotten_tomatoes.load_data(test_split=0.2, seed=1)
    assert len(x_tr) + len(x_te) == 12808
    assert abs(len(x_te) / 12808 - 0.2) < 0.01
    assert all(isinstance(t, str) for t in x_tr[:50]) and set(np.unique(y_te)) == {0, 1}
    texts, _, movies = rotten_tomatoes.load_snippets()
    movie_of = dict(zip(texts, movies))
    assert not {movie_of[t] for t in x_tr} & {movie_of[t] for t in x_te}
    (again, _), _ = rotten_tomatoes.load_data(test_split=0.2, seed=1)
    assert again == x_tr
    (other, _), _ = rotten_tomatoes.load_data(test_split=0.2, seed=2)
    assert other != x_tr
    (_, _), (x_none, _) = rotten_tomatoes.load_data(test_split=0.0)
    assert x_none == []
    (s_tr, _), (s_te, _) = rotten_tomatoes.load_data(test_split=0.5, group_by_movie=False)
    assert len(s_te) == 6404


@pytest.mark.parametrize("split", [1.0, -0.1, "0.2", True])
def test_rotten_tomatoes_rejects_bad_split(split):
    with pytest.raises(ValueError, match="test_split"):
        rotten_tomatoes.load_data(test_split=split)


def test_rotten_tomatoes_unexpected_contents(data_copy, monkeypatch):
    path = data_copy / "rotten_tomatoes_snippets.csv.bz2"
    path.write_bytes(bz2.compress(b"category,text,movie\nfresh,good,x\n"))
    monkeypatch.setitem(_files.SHIPPED, path.name, _files.sha256_of(str(path)))
    with pytest.raises(DatasetError, match=r"expected the header"):
        rotten_tomatoes.load_data()
    path.write_bytes(bz2.compress(b"category,text,movie_name,has_plot_and_reviews\n"
                                  b"meh,so-so,x,False\n"))
    monkeypatch.setitem(_files.SHIPPED, path.name, _files.sha256_of(str(path)))
    with pytest.raises(DatasetError, match=r"record 2 has category 'meh'"):
        rotten_tomatoes.load_data()


def test_rotten_tomatoes_with_tokenizer_and_pad_sequences():
    from frontend.keras.preprocessing.sequence import pad_sequences
    from frontend.keras.preprocessing.text import Tokenizer

    (x_tr, y_tr), (x_te, _) = rotten_tomatoes.load_data(seed=0)
    tok = Tokenizer(num_words=5000, oov_token="<unk>")
    tok.fit_on_texts(x_tr)
    train = pad_sequences(tok.texts_to_sequences(x_tr), maxlen=40)
    test = pad_sequences(tok.texts_to_sequences(x_te), maxlen=40)
    assert train.shape == (len(x_tr), 40) and train.dtype == np.int32
    assert train.max() < 5000 and test.max() < 5000
    words = test[test > 0]
    assert 0.02 < np.mean(words == 1) < 0.2  # out-of-vocabulary share of held-out movies
