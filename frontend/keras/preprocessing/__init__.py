"""``keras.preprocessing``: text tokenization (:mod:`.text`) and sequence padding
(:mod:`.sequence`) with Keras's exact semantics."""
from frontend.keras.preprocessing import sequence, text  # noqa: F401

__all__ = ["sequence", "text"]
