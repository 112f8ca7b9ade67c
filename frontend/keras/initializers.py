"""``keras.initializers`` (see :mod:`frontend.initializers`)."""
from frontend.initializers import *  # noqa: F401,F403
from frontend.initializers import __all__  # noqa: F401
