"""Variables: named, persistent tensors whose values live in a Session.

A :class:`Variable` is a tensor (it can be used in any op) that reads the session's current
value. Its value exists only after an initializer ran in that session
(``sess.run(tf.global_variables_initializer())``); reading it earlier raises
:class:`~frontend.graph.errors.FailedPreconditionError`, as TensorFlow does. In the kiln
graph a session builds, a variable is a *param*: state the program reads and, for training
and assign ops, updates in place.

Assign ops (``tf.assign``, ``var.assign_add``, initializers) and training ops *write*
variables; all writes of one ``run`` apply after everything fetched in it has been computed
from the values before the run (so ``sess.run([train_op, loss])`` returns the loss before
the step). Two writes of one variable in one run are an error.
"""
from __future__ import annotations

from frontend.graph.core import (GraphKeys, Operation, Tensor, _graph_of, convert_to_tensor,
                                 get_default_graph, make_op)
from frontend.graph.shape import as_shape

__all__ = ["Variable", "assign", "assign_add", "assign_sub", "group", "no_op",
           "global_variables", "trainable_variables", "local_variables", "variables_initializer",
           "global_variables_initializer", "initialize_all_variables",
           "local_variables_initializer", "model_variables", "moving_average_variables"]


class Variable(Tensor):
    """A tensor with a persistent, session-held value.

    ``initial_value``: a tensor (e.g. ``tf.random_normal([784, 10])``), a Python/numpy value,
    or a callable returning one. Its static shape must be fully known. ``trainable``
    variables are what optimizers train by default.
    """

    def __init__(self, initial_value=None, trainable: bool = True, collections=None,
                 validate_shape: bool = True, caching_device=None, name: str | None = None,
                 variable_def=None, dtype=None, expected_shape=None, import_scope=None,
                 constraint=None, use_resource=None, synchronization=None, aggregation=None,
                 shape=None):
        if initial_value is None:
            raise ValueError("Variable: initial_value must be specified")
        if constraint is not None:
            raise NotImplementedError("Variable: constraint is not supported")
        if callable(initial_value) and not isinstance(initial_value, Tensor):
            initial_value = initial_value()
        graph = _graph_of([initial_value]) if isinstance(initial_value, Tensor) \
            else get_default_graph()
        base = name or "Variable"
        with graph.name_scope(base) as scope:
            op_name = scope[:-1]
            init = convert_to_tensor(initial_value, dtype=dtype, name="initial_value")
        if not init.dtype.is_floating and not init.dtype.is_integer and not init.dtype.is_bool:
            raise TypeError(f"Variable {op_name}: unsupported dtype {init.dtype.name}")
        var_shape = init.shape if shape is None else as_shape(shape)
        if not var_shape.is_compatible_with(init.shape):
            raise ValueError(f"Variable {op_name}: shape {var_shape} is incompatible with the "
                             f"initial value's shape {init.shape}")
        var_shape = var_shape.merge_with(init.shape)
        if not var_shape.is_fully_defined():
            raise ValueError(f"Variable {op_name}: the initial value must have a fully known "
                             f"shape (kiln compiles static shapes), got {init.shape}")
        op = Operation(graph, "VariableV2", op_name, [], None)
        Tensor.__init__(self, op, 0, init.dtype, var_shape)
        op.outputs = [self]
        op.lower = lambda ctx: ctx.read_variable(self)
        op.attrs = {"shape": var_shape, "dtype": init.dtype}
        graph._add(op)
        self.trainable = bool(trainable)
        self.initial_value = init
        with graph.name_scope(op_name + "/"):
            self.initializer = _write_op("Assign", self, [init], lambda ctx, v: v,
                                         name="Assign")
        for key in (collections if collections is not None else [GraphKeys.GLOBAL_VARIABLES]):
            graph.add_to_collection(key, self)
        if self.trainable and GraphKeys.TRAINABLE_VARIABLES not in (collections or []):
            graph.add_to_collection(GraphKeys.TRAINABLE_VARIABLES, self)

    # -- TensorFlow's Variable API ----------------------------------------------------------------
    def value(self) -> "Variable":
        return self

    def read_value(self) -> "Variable":
        return self

    def initialized_value(self) -> Tensor:
        raise NotImplementedError(f"initialized_value() is not supported: initialize "
                                  f"{self.op.name} first and use the variable itself")

    def assign(self, value, use_locking=None, name: str | None = None, read_value: bool = True):
        return assign(self, value, name=name)

    def assign_add(self, delta, use_locking=None, name: str | None = None, read_value=True):
        return assign_add(self, delta, name=name)

    def assign_sub(self, delta, use_locking=None, name: str | None = None, read_value=True):
        return assign_sub(self, delta, name=name)

    def load(self, value, session=None) -> None:
        """Write ``value`` into this variable in ``session`` (default: the default session)."""
        from frontend.graph.session import _session_for
        _session_for(session, f"variable {self.op.name}").load_variable(self, value)

    def __repr__(self) -> str:
        return (f"<tf.Variable '{self.name}' shape={self.shape} "
                f"dtype={self.dtype.name}_ref>")


def _write_op(op_type: str, var: Variable, inputs, combine, name: str | None) -> Operation:
    """An op writing ``combine(ctx, *input_values)`` into ``var``; its output is the new value."""
    if not isinstance(var, Variable):
        raise TypeError(f"{op_type}: expected a tf.Variable to write, got {type(var).__name__}")
    op = make_op(op_type, inputs, None, name=name or op_type, specs=[(var.shape, var.dtype)],
                 differentiable=False)

    def lower(ctx, *vals):
        new = combine(ctx, *vals)
        ctx.write_variable(var, new, op)
        return new

    op.lower = lower
    op.writes = (var,)
    return op


def _value_for(var, value, what):
    if not isinstance(var, Variable):
        raise TypeError(f"{what}: expected a tf.Variable, got {type(var).__name__}")
    v = convert_to_tensor(value, dtype=var.dtype)
    if not var.shape.is_compatible_with(v.shape):
        raise ValueError(f"{what}: cannot assign a value of shape {v.shape} to variable "
                         f"{var.op.name} of shape {var.shape}")
    return v


def assign(ref: Variable, value, validate_shape=None, use_locking=None,
           name: str | None = None) -> Tensor:
    """Write ``value`` into ``ref`` (when run); returns the new value."""
    v = _value_for(ref, value, "assign")
    return _write_op("Assign", ref, [v], lambda ctx, x: x, name).outputs[0]


def assign_add(ref: Variable, value, use_locking=None, name: str | None = None) -> Tensor:
    """``ref += value`` (when run); returns the new value."""
    v = _value_for(ref, value, "assign_add")
    return _write_op("AssignAdd", ref, [ref, v], lambda ctx, cur, x: ctx.b.add(cur, x),
                     name).outputs[0]


def assign_sub(ref: Variable, value, use_locking=None, name: str | None = None) -> Tensor:
    """``ref -= value`` (when run); returns the new value."""
    v = _value_for(ref, value, "assign_sub")
    return _write_op("AssignSub", ref, [ref, v], lambda ctx, cur, x: ctx.b.sub(cur, x),
                     name).outputs[0]


def group(*inputs, name: str | None = None) -> Operation:
    """An op that runs all of ``inputs`` (ops or tensors) and returns nothing."""
    flat = []
    for x in inputs:
        flat.extend(x if isinstance(x, (list, tuple)) else [x])
    ops = []
    for x in flat:
        if isinstance(x, Tensor):
            ops.append(x.op)
        elif isinstance(x, Operation):
            ops.append(x)
        else:
            raise TypeError(f"group: expected ops or tensors, got {type(x).__name__}")
    graph = _graph_of(ops)
    return make_op("NoOp", [], None, name=name or "group_deps", specs=[], control_inputs=ops,
                   graph=graph)


def no_op(name: str | None = None) -> Operation:
    return make_op("NoOp", [], None, name=name or "NoOp", specs=[])


def global_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def trainable_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection("model_variables", scope)


def moving_average_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection("moving_average_variables", scope)


def variables_initializer(var_list, name: str = "init") -> Operation:
    """An op that runs the initializers of ``var_list``."""
    var_list = list(var_list)
    if not var_list:
        return no_op(name=name)
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    """An op that initializes every global variable created so far."""
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


def local_variables_initializer() -> Operation:
    return variables_initializer(local_variables(), name="init_local")
