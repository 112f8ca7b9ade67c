"""Each example trained compiled (``--backend llvm``) and eagerly gives the same loss curve.

Every step's training loss is recorded on both backends from the same seed, data order and
initial weights (the frontends draw initial values and shuffles from ``set_random_seed``,
dropout bits are counter-based and identical across backends), and the sequences are compared
step by step. What is compared:

* Keras examples: the per-step loss of every full batch, recovered from the running epoch mean
  that ``fit`` reports after each batch (``m_i = (l_0 + ... + l_i) / (i + 1)`` for equal
  batches, so ``l_i = (i + 1) m_i - i m_{i-1}``; the means are float64 sums of the float32
  batch losses, so the recovery is exact to float64 rounding), and the running means
  themselves for every batch, including a partial last one.
* graph_tf1 (TF1 session API): the loss fetched together with every training op.

Tolerance: ``|compiled - eager| <= RTOL0 * (1 + step / 10) * |eager| + ATOL``. The two
backends differ per step by float32 rounding only (FMA contraction, vectorized sums and
transcendentals: ~1e-7 relative per op, measured ~3e-7 on the loss); the difference feeds back
through the weight updates, so it may grow along the curve, slowly for these smoke runs (a few
dozen steps, learning rates that do not amplify perturbations). ``RTOL0 = 2e-5`` starts at ~100
float32 ulp and reaches ~1e-4 at step 40. A wrong gradient, update or loss kernel shows up
within the first steps at the percent level.

Runs use each example's ``--smoke`` configuration; the compiled runs dominate the time (one
compile per program, cached in ``KILN_CACHE_DIR``).
"""
from __future__ import annotations

import importlib.util
import os
from typing import Callable

import numpy as np
import pytest

from frontend.callbacks import Callback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTOL0 = 2e-5
ATOL = 1e-7


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (in-process, so imports are paid once)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}_curves",
                                                  os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BatchLosses(Callback):
    """Records, per epoch, the running mean loss ``fit`` reports after every batch."""

    def __init__(self):
        super().__init__()
        self.epochs: list[list[float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_end(self, batch, logs=None):
        assert batch == len(self.epochs[-1]), "batches arrive in order"
        self.epochs[-1].append(float(logs["loss"]))

    def running_means(self) -> np.ndarray:
        return np.array([m for epoch in self.epochs for m in epoch])

    def step_losses(self) -> np.ndarray:
        """Per-batch losses of every batch but each epoch's last (which may be partial, so its
        weight in the mean is unknown here)."""
        out = []
        for means in self.epochs:
            for i in range(len(means) - 1):
                out.append((i + 1) * means[i] - (i * means[i - 1] if i else 0.0))
        return np.array(out)


def assert_same_curve(compiled: np.ndarray, eager: np.ndarray, what: str) -> None:
    """The two loss sequences have the same length and agree within the module's tolerance,
    which grows linearly with the step."""
    assert compiled.shape == eager.shape and eager.size > 0, (what, compiled.shape, eager.shape)
    assert np.isfinite(eager).all(), f"{what}: eager losses are not finite: {eager}"
    steps = np.arange(eager.size)
    allowed = RTOL0 * (1 + steps / 10) * np.abs(eager) + ATOL
    err = np.abs(compiled - eager)
    bad = np.flatnonzero(err > allowed)
    assert bad.size == 0, (f"{what}: compiled and eager losses part at step {bad[0]}: "
                           f"compiled {compiled[bad[0]]!r} eager {eager[bad[0]]!r} (allowed "
                           f"{allowed[bad[0]]:.3g}); relative differences "
                           f"{np.round(err / np.maximum(np.abs(eager), 1e-30), 9).tolist()}")


def run_keras_example(name: str, argv: list[str], backend: str) -> BatchLosses:
    rec = BatchLosses()
    load_example(name).main(["--smoke", "--verbose", "0", "--backend", backend] + argv,
                            callbacks=[rec])
    return rec


KERAS = [
    # (example, extra argv, minimum number of recorded steps)
    ("linear_regression_keras", ["--epochs", "40"], 40),   # SGD, one full batch per epoch
    ("mlp_keras", ["--epochs", "3"], 21),                    # Adam, 8 batches x 3 epochs
    ("mnist_cnn_keras", [], 15),                             # conv + dense, 16 batches
    ("cnn_keras", [], 2),                                    # 3 conv + 2 pools, 3 batches
    ("rnn_keras_subclass", [], 2),                           # SimpleRNN scan, 2 epochs x 2
    ("text_lstm_keras", [], 7),                              # embedding + LSTM, 8 batches
]


@pytest.mark.parametrize("name,argv,min_steps", KERAS, ids=[k[0] for k in KERAS])
def test_keras_example_loss_curve(name, argv, min_steps, capsys):
    if name == "text_lstm_keras":
        pytest.importorskip("frontend.keras.preprocessing.text")
    compiled = run_keras_example(name, argv, "llvm")
    eager = run_keras_example(name, argv, "eager")
    capsys.readouterr()  # the examples' own report is not under test here
    assert len(compiled.epochs) == len(eager.epochs) >= 1
    steps_c, steps_e = compiled.step_losses(), eager.step_losses()
    if name == "linear_regression_keras":
        # 5 samples: every epoch is one batch, so the epoch mean is the step's loss
        steps_c, steps_e = compiled.running_means(), eager.running_means()
    assert steps_e.size >= min_steps, (name, steps_e.size)
    assert_same_curve(steps_c, steps_e, f"{name} per-step loss")
    assert_same_curve(compiled.running_means(), eager.running_means(),
                      f"{name} running mean loss")


def test_graph_tf1_loss_curve(monkeypatch):
    """The TF1 seed program (plain gradient descent on a 10-5-1 ReLU net) run through sessions
    bound to each backend; every ``sess.run(optimizer)`` also fetches the loss (evaluated
    before that step's update, as in TF)."""
    import frontend.tf as tf

    example = load_example("graph_tf1")
    base = tf.Session

    def recording_session(backend: str, losses: list[float]) -> Callable:
        class RecordingSession(base):
            """The seed program's ``tf.Session()``, on ``backend``, recording the loss of
            each training step."""

            def __init__(self, *args, **kwargs):
                kwargs["backend"] = backend
                super().__init__(*args, **kwargs)

            def run(self, fetches, feed_dict=None, **kwargs):
                if getattr(fetches, "type", None) == "ApplyGradients":
                    # the seed program's loss = tf.reduce_mean(...): the graph's only Mean
                    loss = self.graph.get_tensor_by_name("Mean:0")
                    _, value = super().run([fetches, loss], feed_dict, **kwargs)
                    losses.append(float(value))
                    return None
                return super().run(fetches, feed_dict, **kwargs)
        return RecordingSession

    curves = {}
    for backend in ("llvm", "eager"):
        losses: list[float] = []
        monkeypatch.setattr(tf, "Session", recording_session(backend, losses))
        with tf.Graph().as_default():
            tf.set_random_seed(1)
            example.run_seed_program(0.02, 2, 15, example.ToyRegression())
        curves[backend] = np.array(losses)
    monkeypatch.setattr(tf, "Session", base)
    assert curves["eager"].size == 30
    assert_same_curve(curves["llvm"], curves["eager"], "graph_tf1 per-step loss")
    # and the curve is a training curve: the loss falls
    assert curves["eager"][-5:].mean() < curves["eager"][:5].mean()
