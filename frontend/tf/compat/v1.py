"""``tf.compat.v1``: TensorFlow 1's API as reached from TensorFlow 2 code. The names are the
objects of :mod:`frontend.tf` (and so of :mod:`frontend.graph`); the TensorFlow 2 switches
(``disable_eager_execution``, ``disable_v2_behavior``) are accepted as no-ops because this
API is always graph mode."""
from frontend.tf import *  # noqa: F401,F403
from frontend.tf import __all__ as _tf_all


def disable_eager_execution() -> None:
    """No-op: kiln's graph API never executes eagerly."""


def disable_v2_behavior() -> None:
    """No-op: kiln's graph API always has TensorFlow 1 behaviour."""


def enable_eager_execution(*args, **kwargs) -> None:
    raise NotImplementedError("eager execution is not part of kiln's graph API; use "
                              "frontend.keras or run graphs in a Session")


def __getattr__(name: str):
    import frontend.tf as _tf
    return getattr(_tf, name)


__all__ = list(_tf_all) + ["disable_eager_execution", "disable_v2_behavior"]
