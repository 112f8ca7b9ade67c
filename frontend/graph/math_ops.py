"""Arithmetic, comparisons, reductions, matmul and clipping ops of the graph API, and the
operator overloads of :class:`~frontend.graph.core.Tensor` (``+ - * / @ ** < ... [ ]``).

Dtypes follow TensorFlow: both operands of a binary op must have one dtype (a Python number
or numpy array is converted to the tensor operand's dtype; two tensors of different dtypes
are an error asking for ``tf.cast``), except true division of integers, which computes in
float64 as TensorFlow does.
"""
from __future__ import annotations

import numbers

from frontend.graph import array_ops
from frontend.graph import dtypes as _dt
from frontend.graph.core import Tensor, convert_to_tensor, make_tensor
from frontend.graph.errors import UnimplementedError

__all__ = ["add", "subtract", "multiply", "divide", "truediv", "div", "negative", "abs", "sign",
           "square", "sqrt", "rsqrt", "exp", "log", "log1p", "erf", "reciprocal", "pow",
           "maximum", "minimum", "squared_difference", "add_n", "matmul", "equal", "not_equal",
           "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
           "logical_not", "logical_xor", "reduce_sum", "reduce_mean", "reduce_max",
           "reduce_min", "reduce_any", "reduce_all", "reduce_logsumexp", "argmax", "argmin",
           "clip_by_value", "clip_by_norm", "global_norm", "clip_by_global_norm",
           "count_nonzero"]


# -- operand conversion -------------------------------------------------------------------------
def _pair(x, y, what: str) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype (numbers take the tensor operand's dtype)."""
    try:
        if isinstance(x, Tensor):
            y = convert_to_tensor(y, dtype=x.dtype) if not isinstance(y, Tensor) else y
        elif isinstance(y, Tensor):
            x = convert_to_tensor(x, dtype=y.dtype)
        else:
            x = convert_to_tensor(x)
            y = convert_to_tensor(y, dtype=x.dtype)
    except TypeError as e:
        raise TypeError(f"{what}: {e}") from None
    if x.dtype != y.dtype:
        raise TypeError(f"{what}: operands must have one dtype, got {x.dtype.name} ({x.name}) "
                        f"and {y.dtype.name} ({y.name}); insert tf.cast")
    return x, y


def _binary(op_type: str, kiln_op: str, x, y, name, allowed=None, out=None) -> Tensor:
    x, y = _pair(x, y, op_type)
    if allowed is not None and not allowed(x.dtype):
        raise TypeError(f"{op_type}: operands of dtype {x.dtype.name} are not supported")
    return make_tensor(op_type, [x, y], lambda ctx, a, b: getattr(ctx.b, kiln_op)(a, b),
                       name=name or op_type, dtypes=[out or x.dtype])


def _unary(op_type: str, kiln_op: str, x, name, allowed=None) -> Tensor:
    x = convert_to_tensor(x)
    if allowed is not None and not allowed(x.dtype):
        raise TypeError(f"{op_type}: expected a float tensor, got {x.dtype.name} ({x.name})"
                        if allowed is _float else
                        f"{op_type}: dtype {x.dtype.name} ({x.name}) is not supported")
    return make_tensor(op_type, [x], lambda ctx, a: getattr(ctx.b, kiln_op)(a),
                       name=name or op_type, specs=[(x.shape, x.dtype)])


def _float(d: _dt.DType) -> bool:
    return d.is_floating


def _numeric(d: _dt.DType) -> bool:
    return not d.is_bool


# -- arithmetic -----------------------------------------------------------------------------
def add(x, y, name: str | None = None) -> Tensor:
    return _binary("Add", "add", x, y, name, _numeric)


def subtract(x, y, name: str | None = None) -> Tensor:
    return _binary("Sub", "sub", x, y, name, _numeric)


def multiply(x, y, name: str | None = None) -> Tensor:
    return _binary("Mul", "mul", x, y, name, _numeric)


def truediv(x, y, name: str | None = None) -> Tensor:
    """``x / y``; integers are divided in float64 (TensorFlow's true division)."""
    x, y = _pair(x, y, "truediv")
    if x.dtype.is_bool:
        raise TypeError("truediv: bool operands are not supported")
    if x.dtype.is_integer:
        x, y = array_ops.cast(x, _dt.float64), array_ops.cast(y, _dt.float64)
    return _binary("RealDiv", "div", x, y, name or "truediv")


divide = truediv


def div(x, y, name: str | None = None) -> Tensor:
    """TensorFlow 1's ``tf.div``: float division (floor division of integers is not
    supported)."""
    x, y = _pair(x, y, "div")
    if not x.dtype.is_floating:
        raise UnimplementedError("div: integer (floor) division is not supported; cast to float")
    return _binary("RealDiv", "div", x, y, name or "div")


def negative(x, name: str | None = None) -> Tensor:
    return _unary("Neg", "neg", x, name, _numeric)


def abs(x, name: str | None = None) -> Tensor:  # noqa: A001
    return _unary("Abs", "abs", x, name, _numeric)


def sign(x, name: str | None = None) -> Tensor:
    return _unary("Sign", "sign", x, name, _numeric)


def square(x, name: str | None = None) -> Tensor:
    return _unary("Square", "square", x, name, _numeric)


def sqrt(x, name: str | None = None) -> Tensor:
    return _unary("Sqrt", "sqrt", x, name, _float)


def rsqrt(x, name: str | None = None) -> Tensor:
    return _unary("Rsqrt", "rsqrt", x, name, _float)


def exp(x, name: str | None = None) -> Tensor:
    return _unary("Exp", "exp", x, name, _float)


def log(x, name: str | None = None) -> Tensor:
    return _unary("Log", "log", x, name, _float)


def log1p(x, name: str | None = None) -> Tensor:
    return _unary("Log1p", "log1p", x, name, _float)


def erf(x, name: str | None = None) -> Tensor:
    return _unary("Erf", "erf", x, name, _float)


def reciprocal(x, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    return truediv(1, x, name=name or "Reciprocal")


def pow(x, y, name: str | None = None) -> Tensor:  # noqa: A001
    """``x ** y`` for floats."""
    return _binary("Pow", "pow", x, y, name, _float)


def maximum(x, y, name: str | None = None) -> Tensor:
    return _binary("Maximum", "maximum", x, y, name, _numeric)


def minimum(x, y, name: str | None = None) -> Tensor:
    return _binary("Minimum", "minimum", x, y, name, _numeric)


def squared_difference(x, y, name: str | None = None) -> Tensor:
    return square(subtract(x, y), name=name or "SquaredDifference")


def add_n(inputs, name: str | None = None) -> Tensor:
    """Sum of a list of tensors of one shape and dtype."""
    ts = array_ops._convert_all(inputs, "add_n")

    def lower(ctx, *vs):
        for v in vs[1:]:
            if v.type != vs[0].type:
                from compiler.errors import OpError
                raise OpError(f"add_n: all inputs must have one type, got {vs[0].type} and "
                              f"{v.type}")
        total = vs[0]
        for v in vs[1:]:
            total = ctx.b.add(total, v)
        return total

    return make_tensor("AddN", ts, lower, name=name or "AddN")


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False, adjoint_a: bool = False,
           adjoint_b: bool = False, a_is_sparse: bool = False, b_is_sparse: bool = False,
           name: str | None = None) -> Tensor:
    """Matrix product over the last two axes (leading axes broadcast as batch)."""
    x, y = _pair(a, b, "MatMul")
    ta, tb = transpose_a or adjoint_a, transpose_b or adjoint_b

    def swap(ctx, v):
        perm = list(range(v.rank))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return ctx.b.transpose(v, perm=perm)

    def lower(ctx, u, v):
        if ta and u.rank >= 2:
            u = swap(ctx, u)
        if tb and v.rank >= 2:
            v = swap(ctx, v)
        return ctx.b.matmul(u, v)

    return make_tensor("MatMul", [x, y], lower, name=name or "MatMul")



# -- comparisons and logic -------------------------------------------------------------------
def _compare(op_type, kiln_op, x, y, name):
    return _binary(op_type, kiln_op, x, y, name, out=_dt.bool_)


def equal(x, y, name: str | None = None) -> Tensor:
    return _compare("Equal", "equal", x, y, name)


def not_equal(x, y, name: str | None = None) -> Tensor:
    return _compare("NotEqual", "not_equal", x, y, name)


def less(x, y, name: str | None = None) -> Tensor:
    return _compare("Less", "less", x, y, name)


def less_equal(x, y, name: str | None = None) -> Tensor:
    return _compare("LessEqual", "less_equal", x, y, name)


def greater(x, y, name: str | None = None) -> Tensor:
    return _compare("Greater", "greater", x, y, name)


def greater_equal(x, y, name: str | None = None) -> Tensor:
    return _compare("GreaterEqual", "greater_equal", x, y, name)


def _is_bool(d):
    return d.is_bool


def logical_and(x, y, name: str | None = None) -> Tensor:
    return _binary("LogicalAnd", "logical_and", x, y, name, _is_bool)


def logical_or(x, y, name: str | None = None) -> Tensor:
    return _binary("LogicalOr", "logical_or", x, y, name, _is_bool)


def logical_not(x, name: str | None = None) -> Tensor:
    return _unary("LogicalNot", "logical_not", x, name, _is_bool)


def logical_xor(x, y, name: str | None = None) -> Tensor:
    return _binary("LogicalXor", "not_equal", x, y, name, _is_bool, out=_dt.bool_)


# -- reductions ------------------------------------------------------------------------------
def _axes(axis, reduction_indices):
    axis = axis if axis is not None else reduction_indices
    if axis is None:
        return None
    if isinstance(axis, Tensor):
        raise TypeError("reduction axes must be Python ints (static), got a tensor")
    return array_ops._ints(axis, "axis")


def _reduce(op_type, kiln_op, input_tensor, axis, keepdims, name, reduction_indices, keep_dims,
            allowed=_numeric):
    x = convert_to_tensor(input_tensor)
    if not allowed(x.dtype):
        hint = " (cast to float first)" if kiln_op == "mean" else ""
        raise TypeError(f"{op_type}: dtype {x.dtype.name} ({x.name}) is not supported{hint}")
    axes = _axes(axis, reduction_indices)
    keep = bool(keepdims if keepdims is not None else (keep_dims or False))
    return make_tensor(op_type, [x], lambda ctx, v: getattr(ctx.b, kiln_op)(
        v, axes=axes, keepdims=keep), name=name or op_type)


def reduce_sum(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None) -> Tensor:
    """Sum over ``axis`` (an int or list; None = all axes)."""
    return _reduce("Sum", "sum", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_mean(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                keep_dims=None) -> Tensor:
    """Mean over ``axis`` (floats; cast integers first)."""
    return _reduce("Mean", "mean", input_tensor, axis, keepdims, name, reduction_indices,
                   keep_dims, _float)


def reduce_max(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None) -> Tensor:
    return _reduce("Max", "max", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_min(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None) -> Tensor:
    return _reduce("Min", "min", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def _bool_reduce(op_type, kiln_op, input_tensor, axis, keepdims, name, reduction_indices,
                 keep_dims):
    x = convert_to_tensor(input_tensor, dtype=_dt.bool_)
    axes = _axes(axis, reduction_indices)
    keep = bool(keepdims if keepdims is not None else (keep_dims or False))

    def lower(ctx, v):
        r = getattr(ctx.b, kiln_op)(ctx.b.cast(v, dtype="i32"), axes=axes, keepdims=keep)
        return ctx.b.cast(r, dtype="bool")

    return make_tensor(op_type, [x], lower, name=name or op_type, dtypes=[_dt.bool_])


def reduce_any(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None) -> Tensor:
    return _bool_reduce("Any", "max", input_tensor, axis, keepdims, name, reduction_indices,
                        keep_dims)


def reduce_all(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None) -> Tensor:
    return _bool_reduce("All", "min", input_tensor, axis, keepdims, name, reduction_indices,
                        keep_dims)


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                     keep_dims=None) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, computed stably (the max is subtracted first)."""
    x = convert_to_tensor(input_tensor)
    if not x.dtype.is_floating:
        raise TypeError(f"ReduceLogSumExp: expected a float tensor, got {x.dtype.name}")
    axes = _axes(axis, reduction_indices)
    keep = bool(keepdims if keepdims is not None else (keep_dims or False))

    def lower(ctx, v):
        b = ctx.b
        m = b.stop_gradient(b.max(v, axes=axes, keepdims=True))
        s = b.log(b.sum(b.exp(b.sub(v, m)), axes=axes, keepdims=True))
        r = b.add(s, m)
        return r if keep else b.squeeze(r, axes=axes if axes is not None
                                        else list(range(v.rank)))

    return make_tensor("ReduceLogSumExp", [x], lower, name=name or "ReduceLogSumExp")


def count_nonzero(input_tensor, axis=None, keepdims=None, dtype=_dt.int64, name=None,
                  reduction_indices=None, keep_dims=None) -> Tensor:
    x = convert_to_tensor(input_tensor)
    nz = not_equal(x, False if x.dtype.is_bool else 0)
    return reduce_sum(array_ops.cast(nz, dtype), axis=axis, keepdims=keepdims,
                      reduction_indices=reduction_indices, keep_dims=keep_dims,
                      name=name or "count_nonzero")


def _arg(op_type, kiln_op, input, axis, name, dimension, output_type):
    x = convert_to_tensor(input)
    axis = axis if axis is not None else dimension
    axis = 0 if axis is None else array_ops._ints(axis, f"{op_type}: axis")[0]  # TF1: axis 0
    out = _dt.as_dtype(output_type)
    if not out.is_integer:
        raise TypeError(f"{op_type}: output_type must be int32 or int64, got {out.name}")

    def lower(ctx, v):
        r = getattr(ctx.b, kiln_op)(v, axis=axis)
        return r if out.kiln == "i64" else ctx.b.cast(r, dtype=out.kiln)

    return make_tensor(op_type, [x], lower, name=name or op_type, dtypes=[out],
                       differentiable=False)


def argmax(input, axis=None, name=None, dimension=None, output_type=_dt.int64) -> Tensor:
    """Index of the largest entry along ``axis`` (TensorFlow 1's default axis is 0)."""
    return _arg("ArgMax", "argmax", input, axis, name, dimension, output_type)


def argmin(input, axis=None, name=None, dimension=None, output_type=_dt.int64) -> Tensor:
    return _arg("ArgMin", "argmin", input, axis, name, dimension, output_type)


# -- clipping ----------------------------------------------------------------------------------
def clip_by_value(t, clip_value_min, clip_value_max, name: str | None = None) -> Tensor:
    """Clamp into [min, max]; the gradient passes where min <= t <= max."""
    x = convert_to_tensor(t)
    lo, hi = clip_value_min, clip_value_max
    if x.dtype.is_floating and all(isinstance(v, numbers.Real) and not isinstance(v, Tensor)
                                   for v in (lo, hi)):
        lo_f, hi_f = float(lo), float(hi)
        return make_tensor("ClipByValue", [x], lambda ctx, v: ctx.b.clip(v, min=lo_f, max=hi_f),
                           name=name or "clip_by_value")
    return maximum(minimum(x, hi), lo, name=name or "clip_by_value")


def clip_by_norm(t, clip_norm, axes=None, name: str | None = None) -> Tensor:
    """``t * clip_norm / max(||t||, clip_norm)`` (unchanged when the L2 norm is small)."""
    x = convert_to_tensor(t)
    norm = sqrt(reduce_sum(square(x), axis=axes, keepdims=True))
    c = convert_to_tensor(clip_norm, dtype=x.dtype)
    return truediv(multiply(x, c), maximum(norm, c), name=name or "clip_by_norm")


def global_norm(t_list, name: str | None = None) -> Tensor:
    """``sqrt(sum of squares of every entry of every tensor)``; None entries are skipped."""
    ts = [convert_to_tensor(t) for t in t_list if t is not None]
    if not ts:
        raise ValueError("global_norm: expected at least one tensor")
    return sqrt(add_n([reduce_sum(square(t)) for t in ts]), name=name or "global_norm")


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name: str | None = None):
    """Scale every tensor by ``clip_norm / max(global_norm, clip_norm)``; returns
    ``(clipped_list, global_norm)`` (None entries stay None)."""
    t_list = list(t_list)
    gn = use_norm if use_norm is not None else global_norm(t_list)
    c = convert_to_tensor(clip_norm, dtype=gn.dtype)
    scale = truediv(c, maximum(gn, c))
    out = [None if t is None else multiply(t, scale if t.dtype == scale.dtype
                                           else array_ops.cast(scale, t.dtype))
           for t in (None if t is None else convert_to_tensor(t) for t in t_list)]
    return out, gn


# -- operator overloads ------------------------------------------------------------------------
def _install_operators() -> None:
    def binop(fn):
        return (lambda self, other: fn(self, other)), (lambda self, other: fn(other, self))

    for names, fn in ((("__add__", "__radd__"), add), (("__sub__", "__rsub__"), subtract),
                      (("__mul__", "__rmul__"), multiply),
                      (("__truediv__", "__rtruediv__"), truediv),
                      (("__matmul__", "__rmatmul__"), matmul), (("__pow__", "__rpow__"), pow),
                      (("__and__", "__rand__"), logical_and), (("__or__", "__ror__"), logical_or),
                      (("__xor__", "__rxor__"), logical_xor)):
        fwd, rev = binop(fn)
        setattr(Tensor, names[0], fwd)
        setattr(Tensor, names[1], rev)
    Tensor.__lt__ = lambda self, other: less(self, other)
    Tensor.__le__ = lambda self, other: less_equal(self, other)
    Tensor.__gt__ = lambda self, other: greater(self, other)
    Tensor.__ge__ = lambda self, other: greater_equal(self, other)
    Tensor.__neg__ = lambda self: negative(self)
    Tensor.__pos__ = lambda self: self
    Tensor.__abs__ = lambda self: abs(self)
    Tensor.__invert__ = lambda self: logical_not(self)
    Tensor.__getitem__ = lambda self, key: array_ops.strided_slice_item(self, key)


_install_operators()
