"""``tf.compat``: ``tf.compat.v1`` holds the same objects as ``frontend.tf`` itself."""
from frontend.tf.compat import v1  # noqa: F401
