"""What a model file declares besides the model itself, as frozen dataclasses.

A loaded model carries ``model.declaration``, a :class:`ModelDeclaration`; the ``kiln``
command reads its training settings and dataset from there. Everything is plain data
(numbers, strings, tuples): building these never runs code from the file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainingSettings", "DatasetSpec", "SmokeSettings", "CompileSettings",
           "ModelDeclaration"]


@dataclass(frozen=True)
class TrainingSettings:
    """``[training]``: the arguments of ``fit`` (and the seed applied before building)."""

    epochs: int = 1
    batch_size: int = 32
    validation_split: float = 0.0
    shuffle: bool = True
    #: set with :func:`frontend.initializers.set_random_seed` before the layers are built,
    #: so weights, dropout masks and fit's shuffling are reproducible; None: not seeded
    seed: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """``[dataset]``: a shipped dataset (``mnist``, ``rotten_tomatoes``) or an ``npz`` file,
    with its preprocessing. Fields that do not apply to ``name`` keep their defaults.
    Load it with :func:`frontend.model_file.load_dataset`."""

    name: str
    #: first ``n_train`` training / ``n_test`` test samples only (None: all)
    n_train: int | None = None
    n_test: int | None = None
    # mnist
    scale: bool = True                        #: pixels / 255 as float32, in [0, 1]
    reshape: tuple[int, ...] | None = None    #: per-sample shape, e.g. (28, 28, 1) or (784,)
    # rotten_tomatoes
    num_words: int = 10000                    #: vocabulary: ids are < num_words
    maxlen: int = 40                          #: sequence length after padding/truncating
    padding: str = "post"
    truncating: str = "post"
    oov_token: str | None = "<unk>"
    test_split: float = 0.2
    split_seed: int = 113
    # npz
    path: str | None = None                   #: absolute (declared relative to the file)
    x_train: str = "x_train"
    y_train: str = "y_train"
    x_test: str = "x_test"
    y_test: str = "y_test"
    standardize: bool = False                 #: features to zero mean, unit variance (train stats)
    #: the model file and the line of each key of ``[dataset]``, for error messages
    source: str | None = field(default=None, compare=False)
    lines: tuple[tuple[str, int], ...] = field(default=(), repr=False, compare=False)

    def line_of(self, key: str) -> int | None:
        d = dict(self.lines)
        return d.get(key, d.get(""))


@dataclass(frozen=True)
class SmokeSettings:
    """``[smoke]``: a tiny configuration for quick checks (``kiln --smoke``, tests);
    None fields keep the full value."""

    epochs: int | None = 1
    batch_size: int | None = None
    n_train: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class CompileSettings:
    """``[compile]`` as declared (the model is already compiled with it)."""

    optimizer: Any = "rmsprop"   # a name or a {type = ..., ...} table, as written
    loss: Any = None
    metrics: tuple = ()
    backend: str | None = None


@dataclass(frozen=True)
class ModelDeclaration:
    """Everything a model file declares besides the layers; attached as
    ``model.declaration`` by :func:`frontend.model_file.load_model_file`."""

    path: str                                 #: the model file, absolute
    name: str | None
    training: TrainingSettings
    dataset: DatasetSpec | None
    compile: CompileSettings | None = None
    smoke: SmokeSettings | None = None

    def smoke_version(self) -> "ModelDeclaration":
        """This declaration with ``[smoke]`` applied (epochs, batch size, dataset sizes);
        unchanged when the file has no ``[smoke]`` section."""
        s = self.smoke
        if s is None:
            return self
        training = dataclasses.replace(
            self.training, **{k: v for k, v in (("epochs", s.epochs),
                                                ("batch_size", s.batch_size)) if v is not None})
        dataset = self.dataset
        if dataset is not None:
            dataset = dataclasses.replace(
                dataset, **{k: v for k, v in (("n_train", s.n_train), ("n_test", s.n_test))
                            if v is not None})
        return dataclasses.replace(self, training=training, dataset=dataset)
