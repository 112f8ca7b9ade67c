"""Embedding: integer ids -> rows of a trainable ``(input_dim, output_dim)`` table (gather).

Float inputs are cast to int32 (as Keras does). Ids outside ``[0, input_dim)`` are errors,
never wrong reads: a model's data check names the layer before anything runs (see
:meth:`Embedding.input_value_range`), and the gather op itself checks its indices.
"""
from __future__ import annotations

from frontend import initializers as initializers_mod
from frontend import regularizers as regularizers_mod
from frontend.layers.base import Layer
from frontend.layers.core import check_no_constraint
from frontend.layers.tracing import Tensor

__all__ = ["Embedding"]


class Embedding(Layer):
    """Turns ids ``(N, ...)`` into vectors ``(N, ..., output_dim)``."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        for k, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"Embedding '{self.name}': {k} must be a positive int, got {v!r}")
        check_no_constraint(self, embeddings_constraint=embeddings_constraint)
        if mask_zero:
            raise NotImplementedError(f"Embedding '{self.name}': mask_zero=True (masking) is not "
                                      f"supported; pad with 0 and let the model learn it")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers_mod.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers_mod.get(embeddings_regularizer)
        self.input_dtype = "i32"  # what a model feeds this layer when it is first

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          name="embeddings",
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer)

    def input_value_range(self) -> tuple[int, int]:
        """Valid ids are ``[0, input_dim)``."""
        return 0, self.input_dim

    def call(self, inputs):
        ids = inputs if inputs.value.dtype in ("i32", "i64") else inputs.astype("int32")
        ctx = ids.ctx
        return Tensor(ctx.b.gather(ctx.param(self.embeddings), ids.value, axis=0), ctx)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim}
