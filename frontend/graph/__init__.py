"""kiln's TensorFlow-1-style graph API: placeholders, variables, symbolic tensors, gradients,
optimizers and sessions, compiled and run by kiln.

    from frontend import graph as tf            # or: import frontend.tf as tf

    x = tf.placeholder(tf.float32, [None, 10])
    w = tf.Variable(tf.random_normal([10, 1]))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w)))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, feed_dict={x: batch})

Module map: ``core`` (graphs, operations, tensors, conversion), ``array_ops``,
``math_ops``, ``nn``, ``losses``, ``random_ops``, ``variables``, ``init_ops`` (initializers,
``get_variable``), ``gradients``, ``train`` (optimizers), ``session``. ``frontend.tf`` is the
same objects under TensorFlow's names.
"""
from frontend.graph import dtypes, errors, losses, nn, train
from frontend.graph.array_ops import *  # noqa: F401,F403
from frontend.graph.array_ops import __all__ as _array_all
from frontend.graph.core import (Graph, GraphKeys, Operation, Tensor, add_to_collection,
                                 constant, convert_to_tensor, get_collection, get_default_graph,
                                 name_scope, reset_default_graph, set_random_seed)
from frontend.graph.dtypes import DType, as_dtype, bool_, double, float32, float64, int32, int64
from frontend.graph.gradients import gradients
from frontend.graph.init_ops import *  # noqa: F401,F403
from frontend.graph.init_ops import __all__ as _init_all
from frontend.graph.math_ops import *  # noqa: F401,F403
from frontend.graph.math_ops import __all__ as _math_all
from frontend.graph.nn import sigmoid, tanh
from frontend.graph.random_ops import random_normal, random_uniform, truncated_normal
from frontend.graph.session import InteractiveSession, Session, get_default_session
from frontend.graph.shape import TensorShape
from frontend.graph.variables import *  # noqa: F401,F403
from frontend.graph.variables import __all__ as _var_all

__all__ = (["dtypes", "errors", "losses", "nn", "train", "Graph", "GraphKeys", "Operation", "Tensor",
            "TensorShape", "DType", "as_dtype", "bool_", "double", "float32", "float64",
            "int32", "int64", "add_to_collection", "constant", "convert_to_tensor",
            "get_collection", "get_default_graph", "name_scope", "reset_default_graph",
            "set_random_seed", "gradients", "sigmoid", "tanh", "random_normal",
            "random_uniform", "truncated_normal", "Session", "InteractiveSession",
            "get_default_session"] + list(_array_all) + list(_init_all) + list(_math_all)
           + list(_var_all))
