"""Models: Sequential, the functional Model(inputs, outputs), and subclassed Models."""
from frontend.models.functional import Functional
from frontend.models.model import Model
from frontend.models.sequential import Sequential

__all__ = ["Model", "Sequential", "Functional"]
