"""``keras.metrics`` (see :mod:`frontend.metrics`)."""
from frontend.metrics import *  # noqa: F401,F403
from frontend.metrics import __all__  # noqa: F401
