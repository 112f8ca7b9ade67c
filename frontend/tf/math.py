"""``tf.math``: the graph API's math functions under TensorFlow's namespace (same objects)."""
from frontend.graph.math_ops import (abs, add, add_n, argmax, argmin, count_nonzero,  # noqa: F401,A004
                                     divide, equal, erf, exp, greater, greater_equal, less,
                                     less_equal, log, log1p, logical_and, logical_not,
                                     logical_or, logical_xor, maximum, minimum, multiply,
                                     negative, not_equal, pow, reciprocal, reduce_all,
                                     reduce_any, reduce_logsumexp, reduce_max, reduce_mean,
                                     reduce_min, reduce_sum, rsqrt, sign, sqrt, square,
                                     squared_difference, subtract, truediv)
from frontend.graph.nn import log_softmax, sigmoid, softmax, softplus, tanh  # noqa: F401
