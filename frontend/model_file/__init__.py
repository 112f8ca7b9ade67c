"""Declared model files: a model, its training settings and its data in TOML or JSON.

    model = load_model_file("examples/models/mnist_cnn.toml")   # built and compiled
    (x, y), (x_test, y_test) = load_dataset(model.declaration.dataset)
    t = model.declaration.training
    model.fit(x, y, epochs=t.epochs, batch_size=t.batch_size,
              validation_split=t.validation_split, shuffle=t.shuffle)

Loading never executes anything from the file: TOML is read with ``tomllib``, JSON with
``json``, and every name (layer type, activation, initializer, optimizer, loss, metric,
dataset) is looked up in a fixed registry. Every mistake raises :class:`ModelFileError`
with the file, the line, the key path (``model.layers[2].units``) and expected vs got.

Schema (TOML shown; JSON has the same structure, ``[[model.layers]]`` being an array of
objects under ``"model": {"layers": [...]}``)::

    format_version = 1            # optional; this is version 1

    [model]
    name = "mnist_cnn"            # optional
    kind = "sequential"           # or "functional"; default "sequential"
    description = "..."           # optional, free text
    input_shape = [28, 28, 1]     # per sample, no batch dimension (required)
    dtype = "float32"             # optional: "float32" | "int32" (an Embedding first
                                  # makes it int32 without saying)

    [[model.layers]]              # one table per layer, in order
    type = "Conv2D"               # a Keras layer class name
    filters = 32                  # then that layer's Keras keyword arguments
    kernel_size = [3, 3]
    activation = "relu"
    kernel_regularizer = {type = "l2", l2 = 1e-4}   # or "l2"; initializers alike

    [compile]                     # optional; without it the model is not compiled
    optimizer = "adam"            # or {type = "adam", learning_rate = 1e-3, ...}
    loss = "sparse_categorical_crossentropy"        # or {type = ..., from_logits = true}
    metrics = ["accuracy"]
    backend = "llvm"              # optional: "llvm" | "eager"

    [training]                    # optional; these are the defaults but seed
    epochs = 1
    batch_size = 32
    validation_split = 0.0
    shuffle = true
    seed = 0                      # seeds weights, dropout and shuffling (default: none)

    [dataset]                     # optional
    name = "mnist"                # "mnist" | "rotten_tomatoes" | "npz"
    n_train = 60000               # optional: first n samples only
    n_test = 10000
    scale = true                  # mnist: pixels / 255 -> [0, 1]
    reshape = [28, 28, 1]         # mnist: per-sample shape ([784] to flatten)
    # rotten_tomatoes: num_words, maxlen, padding, truncating, oov_token, test_split,
    #                  split_seed
    # npz: path (relative to this file), x_train, y_train, x_test, y_test (array names),
    #      standardize

    [smoke]                       # optional: a tiny run (kiln --smoke, tests)
    epochs = 1
    n_train = 512
    n_test = 256                  # also batch_size

Layer types: Dense, Conv2D, MaxPooling2D (MaxPool2D), AveragePooling2D (AvgPool2D),
GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Reshape, Dropout, Activation,
Embedding, SimpleRNN, LSTM, GRU, BatchNormalization, and the merging layers Add, Subtract,
Multiply, Average, Maximum, Minimum, Concatenate (functional models). Every layer takes
``name`` and ``trainable``.

Functional models: ``kind = "functional"``, inputs as ``[[model.inputs]]`` tables
(``name``, ``shape``, optional ``dtype``) or one ``input_shape``; each layer may say which
inputs or earlier layers it reads with ``inputs = "name"`` or ``inputs = ["a", "b"]``
(default: the layer declared just before it), and ``model.outputs`` names the output
layers (default: the last one).
"""
from frontend.model_file.datasets import load_dataset
from frontend.model_file.declaration import (CompileSettings, DatasetSpec, ModelDeclaration,
                                             SmokeSettings, TrainingSettings)
from frontend.model_file.errors import ModelFileError
from frontend.model_file.loader import FORMAT_VERSION, load_model_file

__all__ = ["load_model_file", "load_dataset", "ModelFileError", "ModelDeclaration",
           "TrainingSettings", "DatasetSpec", "SmokeSettings", "CompileSettings",
           "FORMAT_VERSION"]
