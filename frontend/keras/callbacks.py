"""``keras.callbacks`` (see :mod:`frontend.callbacks`)."""
from frontend.callbacks import *  # noqa: F401,F403
from frontend.callbacks import __all__  # noqa: F401
