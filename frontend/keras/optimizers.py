"""``keras.optimizers``: kiln's graph-op optimizers (see :mod:`runtime.optimizers`)."""
from runtime.optimizers import (SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop,  # noqa: F401
                                get_optimizer)

get = get_optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get"]
