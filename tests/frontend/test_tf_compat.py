"""frontend.tf: TensorFlow's names over the graph API (the same objects), the lazy tf.keras,
and the graph_tf1 seed program running with only its import line changed."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import numpy as np
import pytest

import frontend.graph as graph_api
import frontend.tf as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED_DIR = os.path.join(ROOT, "tests", "seed_programs")


def _example():
    spec = importlib.util.spec_from_file_location("graph_tf1_example",
                                                  os.path.join(ROOT, "examples", "graph_tf1.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SEED_NAMES = ["placeholder", "Variable", "random_normal", "zeros", "matmul", "reduce_mean",
              "square", "gradients", "Session", "global_variables_initializer", "float32",
              "reduce_sum"]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_names_are_the_graph_api_objects(name):
    assert getattr(tf, name) is getattr(graph_api, name)
    assert getattr(tf.compat.v1, name) is getattr(tf, name)


def test_namespaces():
    assert tf.nn is graph_api.nn and tf.nn.relu is graph_api.nn.relu
    assert tf.train.GradientDescentOptimizer is graph_api.train.GradientDescentOptimizer
    assert tf.compat.v1.train is tf.train and tf.compat.v1.nn is tf.nn
    assert tf.math.log is graph_api.log and tf.math.sigmoid is tf.sigmoid
    assert tf.random.normal is tf.random_normal and tf.random.set_seed is tf.set_random_seed
    assert tf.initializers.glorot_uniform is tf.glorot_uniform_initializer
    assert tf.errors.InvalidArgumentError is graph_api.errors.InvalidArgumentError
    assert tf.bool is graph_api.bool_ and tf.float32 == "float32" and tf.float32 == np.float32
    assert tf.compat.v1.disable_eager_execution() is None and not tf.executing_eagerly()
    with pytest.raises(AttributeError):
        tf.no_such_thing


def test_keras_is_frontend_keras_loaded_lazily():
    keras = importlib.import_module("frontend.keras")
    assert tf.keras is keras
    layers = importlib.import_module("frontend.tf.keras.layers")
    assert layers is importlib.import_module("frontend.keras.layers")
    from frontend.tf.keras.preprocessing.text import Tokenizer
    from frontend.keras.preprocessing.text import Tokenizer as Tok2
    assert Tokenizer is Tok2
    import frontend.tf.keras.datasets.mnist as mnist_alias
    assert mnist_alias is importlib.import_module("frontend.keras.datasets.mnist")
    assert tf.keras.datasets.mnist.load_data is mnist_alias.load_data


def test_seed_program_matches_the_shared_original():
    path = os.path.join(SEED_DIR, "graph_tf1.py")
    with open(path) as f:
        original = f.read()
    changed = original.replace("import tensorflow as tf", "import frontend.tf as tf")
    assert changed != original
    assert _example().SEED_PROGRAM.strip() == changed.strip()


def test_seed_program_trains():
    ex = _example()
    results = []
    for epochs in (0, 3):
        with tf.Graph().as_default():
            tf.set_random_seed(5)
            data = ex.ToyRegression(seed=1)
            ns = ex.run_seed_program(0.02, epochs, 30, data)
            assert ns["predict"].shape == (256, 1)
            results.append(float(np.mean((ns["predict"] - data.test_y) ** 2)))
            # the program's unused gradient summaries are scalars that run
            for name in ("dW2", "db2", "db1"):
                assert ns[name].shape.as_list() == []
    untrained, trained = results
    assert trained < 0.25 * untrained and trained < 0.5


def test_seed_program_gradient_summaries_evaluate():
    ex = _example()
    with tf.Graph().as_default():
        tf.set_random_seed(2)
        data = ex.ToyRegression(seed=3)
        ns = ex.run_seed_program(0.02, 0, 1, data)
        x_b, y_b = data.get_batch()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {ns["x"]: x_b, ns["y_"]: y_b}
            dw2, db2, loss = sess.run([ns["dW2"], ns["db2"], ns["loss"]], feed)
            # db2 = d mean((y - y_)^2) / d b2 = 2 * mean(y - y_)
            pred = sess.run(ns["y"], feed)
    assert np.isfinite(dw2) and loss > 0
    np.testing.assert_allclose(db2, 2 * np.mean(pred - y_b), rtol=1e-4)


def test_example_main_runs():
    untrained, trained = _example().main(["--epochs", "2", "--steps", "20"])
    assert trained < untrained


def test_importing_tf_does_not_import_keras():
    import subprocess
    code = ("import sys, frontend.tf as tf; tf.placeholder(tf.float32); "
            "print(any(m.startswith('frontend.keras') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT}, check=True)
    assert out.stdout.strip() == "False"
