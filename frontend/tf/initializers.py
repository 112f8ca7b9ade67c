"""``tf.initializers``: initializer classes under their short names (same objects)."""
from frontend.graph.init_ops import (constant_initializer as constant,  # noqa: F401
                                     glorot_normal_initializer as glorot_normal,
                                     glorot_uniform_initializer as glorot_uniform, he_normal,
                                     he_uniform, lecun_normal, lecun_uniform,
                                     ones_initializer as ones,
                                     random_normal_initializer as random_normal,
                                     random_uniform_initializer as random_uniform,
                                     truncated_normal_initializer as truncated_normal,
                                     variance_scaling_initializer as variance_scaling,
                                     zeros_initializer as zeros)
from frontend.graph.variables import global_variables_initializer as global_variables  # noqa: F401
from frontend.graph.variables import variables_initializer as variables  # noqa: F401
