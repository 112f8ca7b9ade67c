"""The public ways to choose how a model's step programs run and compile:
``Model.set_backend`` and ``get_step(..., compile_options=...)``."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.pipeline import CompileOptions
from frontend.initializers import set_random_seed
from frontend.keras import layers, models, optimizers
from frontend.models.steps import get_step

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3)).astype(np.float32)
Y = RNG.normal(size=(16, 2)).astype(np.float32)


def _model(seed: int = 0):
    """A small MLP trained with momentum (optimizer state that must survive a switch)."""
    set_random_seed(seed)
    m = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)),
                           layers.Dense(2)])
    m.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="mse")
    return m


def _fit(m, epochs: int) -> None:
    m.fit(X, Y, epochs=epochs, batch_size=8, verbose=0, shuffle=False)


def test_switch_to_eager_and_back_predicts_the_same():
    m = _model()
    _fit(m, 1)
    assert m.backend == "llvm"
    before = m.predict(X, verbose=0)
    m.set_backend("eager")
    assert m.backend == "eager"
    eager = m.predict(X, verbose=0)
    # the cached compiled program was dropped: predict built one on the eager backend
    assert get_step(m, "predict", [X]).program.backend == "eager"
    np.testing.assert_allclose(eager, before, rtol=2e-5, atol=1e-6)
    m.set_backend("llvm")
    assert get_step(m, "predict", [X]).program.backend == "llvm"
    np.testing.assert_array_equal(m.predict(X, verbose=0), before)


def test_training_goes_on_across_a_switch():
    """Two epochs on llvm == one on llvm, a switch, one on eager: the weights and the momentum
    slots carry over (a reset momentum would change the third and fourth updates)."""
    a, b = _model(), _model()
    _fit(a, 2)
    _fit(b, 1)
    b.set_backend("eager")
    _fit(b, 1)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-4, atol=1e-6)


def test_unknown_backend_is_a_clear_error_and_changes_nothing():
    m = _model()
    program = get_step(m, "predict", [X]).program
    with pytest.raises(ValueError, match=r"^unknown backend 'gpu'; expected one of llvm, eager$"):
        m.set_backend("gpu")
    assert m.backend == "llvm"
    assert get_step(m, "predict", [X]).program is program


def test_set_backend_on_an_uncompiled_model():
    set_random_seed(0)
    m = models.Sequential([layers.Dense(2, input_shape=(3,))])
    m.set_backend("eager")
    m.predict(X, verbose=0)
    assert get_step(m, "predict", [X]).program.backend == "eager"


def test_compile_options_record_stages_and_share_the_state(monkeypatch):
    monkeypatch.setenv("KILN_DUMP", "")       # the environment asks for no stage
    m = _model()
    xs, ys = [X[:8]], [Y[:8]]
    plain = get_step(m, "train", xs, ys)
    dumped = get_step(m, "train", xs, ys, compile_options=CompileOptions(dump=["fuse"]))
    assert dumped is not plain
    assert get_step(m, "train", xs, ys, compile_options=CompileOptions(dump=["fuse"])) is dumped
    assert "\nfused kernels (root: members" in dumped.program.compiled.stage_text("fuse")
    with pytest.raises(Exception, match="'fuse' was not recorded"):
        plain.program.compiled.stage_text("fuse")
    # the same weight and optimizer slot arrays: training with either trains the model
    assert set(dumped.program.state) == set(plain.program.state)
    for name, arr in plain.program.state.items():
        assert dumped.program.state[name] is arr, name


def test_compile_options_need_the_llvm_backend_and_a_compile_options():
    m = _model()
    m.set_backend("eager")
    with pytest.raises(ValueError, match="compile_options need the llvm backend"):
        get_step(m, "predict", [X], compile_options=CompileOptions())
    m.set_backend("llvm")
    with pytest.raises(TypeError, match="CompileOptions, got dict"):
        get_step(m, "predict", [X], compile_options={"dump": "all"})
    with pytest.raises(ValueError, match="unknown step kind 'infer'"):
        get_step(m, "infer", [X])
