"""``keras.regularizers`` (see :mod:`frontend.regularizers`)."""
from frontend.regularizers import *  # noqa: F401,F403
from frontend.regularizers import __all__  # noqa: F401
