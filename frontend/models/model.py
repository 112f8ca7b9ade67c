"""Model: a Layer that trains. The three ways to define one (Keras's) all end here:

* subclassing: layers assigned in ``__init__`` (tracked as attributes) and a ``call(x)``
  written with them (:class:`Model` itself);
* functional: ``Model(inputs, outputs)`` over ``Input`` placeholders
  (:class:`frontend.models.functional.Functional`, which ``Model(...)`` returns);
* :class:`frontend.models.sequential.Sequential`, a stack of layers.

The training API (``compile``, ``fit``, ``evaluate``, ``predict``, ``train_on_batch`` ...)
is here and delegates to :mod:`frontend.training`, which builds one runtime
:class:`~runtime.program.Program` per (program kind, input shapes) and runs the loops.
``summary()`` is in :mod:`frontend.models.summary`, weight files in
:mod:`frontend.models.saving`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from frontend.layers.base import Layer
from frontend.layers.tracing import Tensor, TraceContext, flatten

__all__ = ["Model"]


class Model(Layer):
    """A trainable layer graph (see the module docstring for the three ways to build one)."""

    def __new__(cls, *args, **kwargs):
        # Model(inputs, outputs) is the functional API (as in Keras)
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from frontend.models.functional import Functional
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise TypeError(f"{type(self).__name__}: inputs/outputs are only accepted by "
                            f"Model(inputs, outputs) (the functional API)")
        super().__init__(**kwargs)
        self._init_training_state()

    def _init_training_state(self) -> None:
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._compile_config: dict[str, Any] = {}
        self._programs: dict = {}          # (kind, signature) -> training.Step
        self._opt_state: dict[str, np.ndarray] = {}
        self._output_shape_cache: dict = {}
        self._backend = None

    # -- structure -------------------------------------------------------------------------
    def _forward(self, ctx: TraceContext, inputs: list[Tensor]) -> list[Tensor]:
        """Build the model on graph tensors; returns the outputs as a flat list."""
        arg = inputs[0] if len(inputs) == 1 else list(inputs)
        return flatten(self._graph_call((arg,), {}))

    def call(self, inputs, training=None):
        raise NotImplementedError(f"{type(self).__name__} must implement call() (or be built as "
                                  f"Model(inputs, outputs) or Sequential)")

    def _ensure_built(self, shapes) -> None:
        """Called with the shapes of the first data seen; subclassed models build lazily
        when their first program is traced."""

    def input_specs(self):
        """What the model's inputs must look like (``None`` until known; see training)."""
        return None

    @property
    def output_names(self) -> list[str]:
        n = getattr(self, "_n_outputs", 1)
        return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]

    def build(self, input_shape=None) -> None:
        """Build the weights for inputs of ``input_shape`` (batch dimension ``None``) by
        tracing ``call`` on a placeholder of that shape."""
        self.built = True
        if input_shape is not None:
            self.compute_output_shape(input_shape)
            self._build_input_shape = input_shape

    def _build_for_call(self, input_shape) -> None:
        # Called from inside a trace: the layers used by call() build as they are called.
        if type(self).build is Model.build:
            self.built = True
        else:
            self.build(input_shape)

    # -- training API (see frontend.training) --------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile="auto", backend: str | None = None, **kwargs) -> None:
        """Configure training: optimizer, loss(es), metrics, and the runtime backend.

        ``backend=None`` uses :data:`runtime.program.DEFAULT_BACKEND` when programs are
        built. ``run_eagerly``, ``steps_per_execution`` and ``jit_compile`` are Keras
        arguments accepted for compatibility: kiln always runs one whole-step program.
        """
        from frontend.training import compile_model
        compile_model(self, optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                      metrics=metrics, weighted_metrics=weighted_metrics, backend=backend,
                      **kwargs)

    def set_backend(self, backend: str) -> None:
        """Run this model's programs on ``backend`` (``"llvm"``: compiled, or ``"eager"``: the
        numpy interpreter) from now on.

        The step programs built so far are dropped, so the next ``fit``/``evaluate``/
        ``predict`` builds them on the new backend; the weights and the optimizer's state are
        kept (training goes on where it was). A later ``compile()`` sets the backend again
        (to its ``backend`` argument). Raises ValueError naming the backends for an unknown
        one.
        """
        from runtime.program import DEFAULT_BACKEND, check_backend
        check_backend(backend)
        if backend != (self._backend or DEFAULT_BACKEND):
            self._programs.clear()
        self._backend = backend

    @property
    def backend(self) -> str:
        """The backend this model's programs run on (see :meth:`set_backend`)."""
        from runtime.program import DEFAULT_BACKEND
        return self._backend or DEFAULT_BACKEND

    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None, sample_weight=None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, **kwargs):
        """Train for ``epochs`` epochs of mini-batches; returns a History."""
        from frontend.training import fit
        return fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                   callbacks=callbacks, validation_split=validation_split,
                   validation_data=validation_data, shuffle=shuffle, class_weight=class_weight,
                   sample_weight=sample_weight, initial_epoch=initial_epoch,
                   steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                   validation_batch_size=validation_batch_size, validation_freq=validation_freq,
                   **kwargs)

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps: int | None = None, callbacks=None,
                 return_dict: bool = False, **kwargs):
        """Loss (and metrics) over the data in inference mode."""
        from frontend.training import evaluate
        return evaluate(self, x, y, batch_size=batch_size, verbose=verbose,
                        sample_weight=sample_weight, steps=steps, callbacks=callbacks,
                        return_dict=return_dict, **kwargs)

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps: int | None = None,
                callbacks=None, **kwargs):
        """Predictions for ``x`` in inference mode, batch by batch, as numpy arrays."""
        from frontend.training import predict
        return predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps,
                       callbacks=callbacks, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        from frontend.training import train_on_batch
        return train_on_batch(self, x, y, sample_weight=sample_weight, class_weight=class_weight,
                              return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        from frontend.training import test_on_batch
        return test_on_batch(self, x, y, sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x):
        from frontend.training import predict_on_batch
        return predict_on_batch(self, x)

    def _eager_call(self, args, kwargs):
        """``model(arrays)``: inference through the predict program (training=True runs a
        one-off forward in training mode)."""
        if kwargs.get("training"):
            return super()._eager_call(args, kwargs)
        from frontend.training import predict_on_batch
        return predict_on_batch(self, args[0])

    @property
    def metrics_names(self) -> list[str]:
        from frontend.training import metric_names
        return metric_names(self)

    # -- inspection and persistence -----------------------------------------------------------
    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False) -> None:
        """Print the layers, their output shapes and parameter counts, and the totals."""
        from frontend.models.summary import summary_text
        text = summary_text(self, line_length=line_length, show_trainable=show_trainable)
        (print_fn or print)(text)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Write every weight to an ``.npz`` file (see :mod:`frontend.models.saving`)."""
        from frontend.models.saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str, skip_mismatch: bool = False) -> None:
        """Read weights written by :meth:`save_weights` into this (built) model."""
        from frontend.models.saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"model '{self.name}' has {len(layers)} layers, no index {index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r} in model '{self.name}'; layers are "
                         f"{', '.join(l.name for l in layers)}")
