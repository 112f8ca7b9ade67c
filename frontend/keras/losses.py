"""``keras.losses`` (see :mod:`frontend.losses`)."""
from frontend.losses import *  # noqa: F401,F403
from frontend.losses import __all__  # noqa: F401
