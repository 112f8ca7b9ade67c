"""``tf.random``: TensorFlow 2 spellings of the random ops (same objects as ``tf.random_*``)."""
from frontend.graph.core import set_random_seed  # noqa: F401
from frontend.graph.random_ops import random_normal as normal  # noqa: F401
from frontend.graph.random_ops import random_uniform as uniform  # noqa: F401
from frontend.graph.random_ops import truncated_normal  # noqa: F401

set_seed = set_random_seed
