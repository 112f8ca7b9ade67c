"""``keras.activations`` (see :mod:`frontend.activations`)."""
from frontend.activations import *  # noqa: F401,F403
from frontend.activations import __all__  # noqa: F401
