"""Creation and shape ops of the graph API: placeholders, constants, reshape, concat, slicing,
casts, ``tf.shape``, one_hot, gather, where, pad, tile, ...

Shapes given as tensors (``tf.zeros(tf.shape(x))``, ``tf.reshape(x, [tf.shape(x)[0], -1])``)
are evaluated when the session builds the kiln graph, where every shape is concrete.
"""
from __future__ import annotations

import builtins
import math
import numbers
from typing import Sequence

import numpy as np

from compiler.errors import OpError as KilnOpError
from frontend.graph import dtypes as _dt
from frontend.graph.core import (Tensor, _holds_tensor, constant, convert_to_tensor, make_op,
                                 make_tensor)
from frontend.graph.errors import UnimplementedError
from frontend.graph.shape import TensorShape, as_shape

__all__ = ["placeholder", "placeholder_with_default", "zeros", "ones", "fill", "zeros_like",
           "ones_like", "reshape", "transpose", "concat", "stack", "unstack", "split",
           "expand_dims", "squeeze", "cast", "to_float", "to_int32", "to_int64", "identity",
           "stop_gradient", "shape", "size", "rank", "tile", "one_hot", "gather", "where",
           "pad", "range", "strided_slice", "slice", "newaxis"]

newaxis = None


def _ints(value, what: str) -> list[int]:
    """A Python int or list of ints (static), or a TypeError naming ``what``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, np.ndarray):
        value = value.tolist()
        if isinstance(value, int):
            return [value]
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        return [int(v) for v in value]
    raise TypeError(f"{what} must be an int or a list of ints, got {value!r}")


def _shape_input(shape, what: str):
    """A shape argument: static dims (list of ints) or an int tensor (evaluated at build time)."""
    if isinstance(shape, Tensor) or (isinstance(shape, (list, tuple)) and _holds_tensor(shape)):
        t = convert_to_tensor(shape, name=f"{what}_shape")
        if not t.dtype.is_integer:
            raise TypeError(f"{what}: a shape tensor must be int32 or int64, got {t.dtype.name}")
        return None, t
    if isinstance(shape, TensorShape):
        shape = shape.as_list()
    dims = _ints(shape, f"{what}: shape") if not (isinstance(shape, (list, tuple)) and not shape) \
        else []
    return dims, None


def _dims_at_build(ctx, dims, shape_val, what: str) -> tuple[int, ...]:
    if shape_val is None:
        return tuple(dims)
    arr = ctx.static_value(shape_val, f"{what}'s shape")
    return tuple(int(d) for d in np.asarray(arr).reshape(-1))


# -- placeholders -------------------------------------------------------------------------------
def placeholder(dtype, shape=None, name: str | None = None) -> Tensor:
    """A tensor whose value is fed at run time: ``sess.run(y, feed_dict={x: batch})``.

    ``shape`` may leave dimensions unknown (``[None, 784]``) or be None (any shape); the
    session compiles one specialization per concrete fed shape.
    """
    dt = _dt.as_dtype(dtype)
    shp = as_shape(shape)
    op = make_op("Placeholder", [], None, name=name or "Placeholder", specs=[(shp, dt)],
                 attrs={"dtype": dt, "shape": shp})
    return op.outputs[0]


def placeholder_with_default(input, shape, name: str | None = None) -> Tensor:
    """A placeholder that takes the value of ``input`` when it is not fed."""
    x = convert_to_tensor(input)
    shp = as_shape(shape)
    if not shp.is_compatible_with(x.shape):
        raise ValueError(f"placeholder_with_default: shape {shp} is incompatible with the "
                         f"default value's shape {x.shape}")
    return make_tensor("PlaceholderWithDefault", [x], lambda ctx, v: v,
                       name=name or "PlaceholderWithDefault", specs=[(shp, x.dtype)])


# -- filled tensors -------------------------------------------------------------------------------
def fill(dims, value, name: str | None = None, dtype=None) -> Tensor:
    """A tensor of shape ``dims`` filled with the scalar ``value``."""
    v = np.asarray(value)
    dt = _dt.as_dtype(dtype) if dtype is not None else convert_to_tensor(value).dtype
    if v.ndim != 0:
        raise ValueError(f"fill: value must be a scalar, got shape {list(v.shape)}")
    static, shape_t = _shape_input(dims, "fill")
    scalar = v.astype(dt.as_numpy_dtype).item()

    def lower(ctx, *sv):
        shp = _dims_at_build(ctx, static, sv[0] if sv else None, "fill")
        return ctx.b.constant(scalar, dtype=dt.kiln, shape=shp)

    if shape_t is None:
        return make_tensor("Fill", [], lower, name=name or "Fill", specs=[(static, dt)],
                           differentiable=False)
    return make_tensor("Fill", [shape_t], lower, name=name or "Fill", dtypes=[dt],
                       differentiable=False)


def zeros(shape, dtype=_dt.float32, name: str | None = None) -> Tensor:
    """A tensor of zeros (``shape``: list of ints or an int tensor such as ``tf.shape(x)``)."""
    dt = _dt.as_dtype(dtype)
    return fill(shape, False if dt.is_bool else 0, name=name or "zeros", dtype=dt)


def ones(shape, dtype=_dt.float32, name: str | None = None) -> Tensor:
    dt = _dt.as_dtype(dtype)
    return fill(shape, True if dt.is_bool else 1, name=name or "ones", dtype=dt)


def _like(x, value, dtype, name):
    x = convert_to_tensor(x)
    dt = x.dtype if dtype is None else _dt.as_dtype(dtype)
    scalar = np.asarray(value).astype(dt.as_numpy_dtype).item()
    return make_tensor(name, [x], lambda ctx, v: ctx.b.constant(scalar, dtype=dt.kiln,
                                                                shape=v.shape),
                       name=name, dtypes=[dt], differentiable=False)


def zeros_like(tensor, dtype=None, name: str | None = None, optimize: bool = True) -> Tensor:
    """Zeros with the shape (and by default the dtype) of ``tensor``."""
    return _like(tensor, 0, dtype, name or "zeros_like")


def ones_like(tensor, dtype=None, name: str | None = None, optimize: bool = True) -> Tensor:
    return _like(tensor, 1, dtype, name or "ones_like")


def range(start, limit=None, delta=1, dtype=None, name: str = "range") -> Tensor:  # noqa: A001
    """``[start, start + delta, ...)`` below ``limit`` (Python numbers; a constant)."""
    if limit is None:
        start, limit = 0, start
    vals = np.arange(start, limit, delta)
    if dtype is None:
        dtype = _dt.float32 if vals.dtype.kind == "f" else _dt.int32
    return constant(vals, dtype=dtype, name=name)


# -- reshaping ------------------------------------------------------------------------------------
def _resolve_reshape(x, dims: Sequence[int]) -> tuple[int, ...]:
    dims = list(dims)
    if sum(d == -1 for d in dims) > 1:
        raise KilnOpError(f"reshape: at most one dimension may be -1, got {dims}")
    if any(d < -1 for d in dims):
        raise KilnOpError(f"reshape: dimensions must be >= -1, got {dims}")
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if known == 0 or x.type.size % known:
            raise KilnOpError(f"reshape: cannot reshape {x.type} ({x.type.size} elements) "
                              f"to {dims}")
        dims[dims.index(-1)] = x.type.size // known
    elif known != x.type.size:
        raise KilnOpError(f"reshape: cannot reshape {x.type} ({x.type.size} elements) to "
                          f"{dims} ({known} elements)")
    return tuple(dims)


def reshape(tensor, shape, name: str | None = None) -> Tensor:
    """``tensor`` with a new shape; one dimension may be -1 (inferred)."""
    x = convert_to_tensor(tensor)
    static, shape_t = _shape_input(shape, "reshape")

    def lower(ctx, v, *sv):
        dims = _resolve_reshape(v, _dims_at_build(ctx, static, sv[0] if sv else None, "reshape"))
        return v if dims == v.shape else ctx.b.reshape(v, shape=dims)

    ins = [x] if shape_t is None else [x, shape_t]
    return make_tensor("Reshape", ins, lower, name=name or "Reshape")


def transpose(a, perm=None, name: str = "transpose", conjugate: bool = False) -> Tensor:
    """Permute the axes of ``a`` (default: reverse them)."""
    x = convert_to_tensor(a)
    perm = None if perm is None else _ints(perm, "transpose: perm")
    return make_tensor("Transpose", [x], lambda ctx, v: ctx.b.transpose(v, perm=perm), name=name)


def _convert_all(values, what: str, dtype=None) -> list[Tensor]:
    if isinstance(values, Tensor):
        raise TypeError(f"{what}: expected a list of tensors, got a single tensor {values.name}")
    values = list(values)
    if not values:
        raise ValueError(f"{what}: expected at least one tensor, got an empty list")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    dt = dtype if dtype is not None else (first.dtype if first is not None else None)
    return [convert_to_tensor(v, dtype=dt) for v in values]


def concat(values, axis: int, name: str = "concat") -> Tensor:
    """Join tensors along an existing axis."""
    ts = _convert_all(values, "concat")
    axis = _ints(axis, "concat: axis")[0]
    if len(ts) == 1:
        return identity(ts[0], name=name)
    return make_tensor("ConcatV2", ts, lambda ctx, *vs: ctx.b.concat(*vs, axis=axis), name=name)


def stack(values, axis: int = 0, name: str = "stack", dtype=None) -> Tensor:
    """Join tensors along a new axis (a list holding tensors converts to a tensor this way)."""
    ts = _convert_all(values, "stack", dtype)
    axis = _ints(axis, "stack: axis")[0]

    def lower(ctx, *vs):
        r = vs[0].rank
        if not -r - 1 <= axis <= r:
            raise KilnOpError(f"stack: axis {axis} is out of range for rank-{r} values")
        ax = axis % (r + 1)
        parts = [ctx.b.expand_dims(v, axes=[ax]) for v in vs]
        return parts[0] if len(parts) == 1 else ctx.b.concat(*parts, axis=ax)

    return make_tensor("Pack", ts, lower, name=name)


def _static_dim(x: Tensor, axis: int, what: str) -> int:
    if x.shape.dims is None or x.shape.dims[axis] is None:
        raise ValueError(f"{what}: the size of axis {axis} of {x.name} must be known statically, "
                         f"got shape {x.shape}")
    return x.shape.dims[axis]


def unstack(value, num: int | None = None, axis: int = 0, name: str = "unstack") -> list[Tensor]:
    """Split along ``axis`` into a list of tensors with that axis removed."""
    x = convert_to_tensor(value)
    n = num if num is not None else _static_dim(x, axis, "unstack")

    def lower(ctx, v):
        ax = axis % v.rank
        if v.shape[ax] != n:
            raise KilnOpError(f"unstack: expected axis {ax} of {v.type} to have {n} entries")
        shape = v.shape[:ax] + v.shape[ax + 1:]
        outs = []
        for i in builtins.range(n):
            starts = [0] * v.rank
            limits = list(v.shape)
            starts[ax], limits[ax] = i, i + 1
            outs.append(ctx.b.reshape(ctx.b.slice(v, starts=starts, limits=limits), shape=shape))
        return tuple(outs)

    return make_op("Unpack", [x], lower, name=name, num_outputs=n,
                   dtypes=[x.dtype] * n).outputs



def split(value, num_or_size_splits, axis: int = 0, num=None, name: str = "split") -> list[Tensor]:
    """Split along ``axis`` into ``num_or_size_splits`` equal parts or parts of given sizes."""
    x = convert_to_tensor(value)
    axis = _ints(axis, "split: axis")[0]
    if isinstance(num_or_size_splits, numbers.Integral):
        n_parts, sizes = int(num_or_size_splits), None
    else:
        sizes = _ints(num_or_size_splits, "split: num_or_size_splits")
        n_parts = len(sizes)

    def lower(ctx, v):
        ax = axis % v.rank
        total = v.shape[ax]
        if sizes is None:
            if total % n_parts:
                raise KilnOpError(f"split: axis {ax} of {v.type} ({total}) is not divisible "
                                  f"into {n_parts} parts")
            parts = [total // n_parts] * n_parts
        else:
            parts = list(sizes)
            if parts.count(-1) == 1:
                parts[parts.index(-1)] = total - (sum(parts) + 1)
            if sum(parts) != total or min(parts) < 0:
                raise KilnOpError(f"split: sizes {sizes} do not add up to axis {ax} of {v.type}")
        outs, start = [], 0
        for p in parts:
            starts = [0] * v.rank
            limits = list(v.shape)
            starts[ax], limits[ax] = start, start + p
            outs.append(ctx.b.slice(v, starts=starts, limits=limits))
            start += p
        return tuple(outs)

    return make_op("Split", [x], lower, name=name, num_outputs=n_parts,
                   dtypes=[x.dtype] * n_parts).outputs


def expand_dims(input, axis: int, name: str | None = None, dim=None) -> Tensor:
    """Insert a size-1 axis at ``axis`` (a position in the result)."""
    x = convert_to_tensor(input)
    axis = _ints(axis if axis is not None else dim, "expand_dims: axis")[0]
    return make_tensor("ExpandDims", [x], lambda ctx, v: ctx.b.expand_dims(v, axes=[axis]),
                       name=name or "ExpandDims")


def squeeze(input, axis=None, name: str | None = None, squeeze_dims=None) -> Tensor:
    """Remove size-1 axes (all of them, or those listed)."""
    x = convert_to_tensor(input)
    axis = axis if axis is not None else squeeze_dims
    axes = None if axis is None else _ints(axis, "squeeze: axis")
    return make_tensor("Squeeze", [x], lambda ctx, v: ctx.b.squeeze(v, axes=axes),
                       name=name or "Squeeze")


def cast(x, dtype, name: str | None = None) -> Tensor:
    """``x`` converted to ``dtype`` (float to int truncates toward zero)."""
    dt = _dt.as_dtype(dtype)
    x = convert_to_tensor(x)
    if x.dtype == dt:
        return x
    return make_tensor("Cast", [x], lambda ctx, v: ctx.b.cast(v, dtype=dt.kiln),
                       name=name or "Cast", dtypes=[dt])


def to_float(x, name: str = "ToFloat") -> Tensor:
    return cast(x, _dt.float32, name=name)


def to_int32(x, name: str = "ToInt32") -> Tensor:
    return cast(x, _dt.int32, name=name)


def to_int64(x, name: str = "ToInt64") -> Tensor:
    return cast(x, _dt.int64, name=name)


def identity(input, name: str | None = None) -> Tensor:
    """The same value as a new tensor (a name to fetch or feed)."""
    x = convert_to_tensor(input)
    return make_tensor("Identity", [x], lambda ctx, v: v, name=name or "Identity",
                       specs=[(x.shape, x.dtype)])


def stop_gradient(input, name: str | None = None) -> Tensor:
    """Identity whose gradient is zero (gradients stop here)."""
    x = convert_to_tensor(input)
    return make_tensor("StopGradient", [x], lambda ctx, v: ctx.b.stop_gradient(v),
                       name=name or "StopGradient", specs=[(x.shape, x.dtype)],
                       differentiable=False)


def shape(input, name: str | None = None, out_type=_dt.int32) -> Tensor:
    """The shape of ``input`` as a 1-D int tensor (a constant once shapes are concrete)."""
    x = convert_to_tensor(input)
    dt = _dt.as_dtype(out_type)
    n = x.shape.ndims
    return make_tensor("Shape", [x], lambda ctx, v: ctx.b.constant(
        np.array(v.shape, dtype=dt.as_numpy_dtype).reshape(-1), dtype=dt.kiln),
        name=name or "Shape", specs=[([n], dt)], differentiable=False)


def size(input, name: str | None = None, out_type=_dt.int32) -> Tensor:
    x = convert_to_tensor(input)
    dt = _dt.as_dtype(out_type)
    return make_tensor("Size", [x], lambda ctx, v: ctx.b.constant(v.type.size, dtype=dt.kiln),
                       name=name or "Size", specs=[((), dt)], differentiable=False)


def rank(input, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return make_tensor("Rank", [x], lambda ctx, v: ctx.b.constant(v.rank, dtype="i32"),
                       name=name or "Rank", specs=[((), _dt.int32)], differentiable=False)


def tile(input, multiples, name: str | None = None) -> Tensor:
    """Repeat ``input`` ``multiples[i]`` times along axis i."""
    x = convert_to_tensor(input)
    mult = _ints(multiples, "tile: multiples")

    def lower(ctx, v):
        if len(mult) != v.rank:
            raise KilnOpError(f"tile: multiples {mult} need one entry per axis of {v.type}")
        inter = [d for s in v.shape for d in (1, s)]
        big = [d for m, s in zip(mult, v.shape) for d in (m, s)]
        y = ctx.b.broadcast_to(ctx.b.reshape(v, shape=inter), shape=big)
        return ctx.b.reshape(y, shape=[m * s for m, s in zip(mult, v.shape)])

    return make_tensor("Tile", [x], lower, name=name or "Tile")


def one_hot(indices, depth: int, on_value=None, off_value=None, axis=None, dtype=None,
            name: str | None = None) -> Tensor:
    """One-hot rows along a new last axis; out-of-range indices give all-``off_value`` rows."""
    idx = convert_to_tensor(indices)
    if not idx.dtype.is_integer:
        raise TypeError(f"one_hot: indices must be int32 or int64, got {idx.dtype.name}")
    if axis not in (None, -1):
        raise UnimplementedError("one_hot: only axis=-1 (the new last axis) is supported; "
                                 "transpose the result for other layouts")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.float32
    on = 1 if on_value is None else on_value
    off = 0 if off_value is None else off_value
    depth = _ints(depth, "one_hot: depth")[0]

    def lower(ctx, v):
        kd = "f32" if dt.is_bool else dt.kiln
        y = ctx.b.one_hot(v, depth=depth, dtype=kd)
        if (on, off) != (1, 0):
            y = ctx.b.add(ctx.b.mul(y, on - off), off)
        return ctx.b.cast(y, dtype="bool") if dt.is_bool else y

    return make_tensor("OneHot", [idx], lower, name=name or "one_hot", dtypes=[dt],
                       differentiable=False)


def gather(params, indices, validate_indices=None, name: str | None = None, axis: int = 0,
           batch_dims: int = 0) -> Tensor:
    """Slices of ``params`` at integer ``indices`` along ``axis`` (indices checked at run time)."""
    if batch_dims:
        raise UnimplementedError("gather: batch_dims is not supported")
    p = convert_to_tensor(params)
    idx = convert_to_tensor(indices)
    if not idx.dtype.is_integer:
        raise TypeError(f"gather: indices must be int32 or int64, got {idx.dtype.name}")
    axis = _ints(axis, "gather: axis")[0]
    return make_tensor("GatherV2", [p, idx], lambda ctx, a, i: ctx.b.gather(a, i, axis=axis),
                       name=name or "GatherV2")


def where(condition, x=None, y=None, name: str | None = None) -> Tensor:
    """Elementwise ``x if condition else y`` (broadcasting; a rank-1 condition may also
    select whole rows of x and y, as in TensorFlow 1)."""
    if x is None and y is None:
        raise UnimplementedError("where(condition) without x and y returns a data-dependent "
                                 "number of indices, which kiln's static shapes cannot hold")
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither")
    c = convert_to_tensor(condition, dtype=_dt.bool_)
    if isinstance(x, Tensor) or not isinstance(y, Tensor):
        x = convert_to_tensor(x)
        y = convert_to_tensor(y, dtype=x.dtype)
    else:
        y = convert_to_tensor(y)
        x = convert_to_tensor(x, dtype=y.dtype)

    def lower(ctx, cv, xv, yv):
        if cv.rank == 1 and xv.rank > 1 and cv.shape[0] == xv.shape[0] and cv.shape != xv.shape[-1:]:
            cv = ctx.b.reshape(cv, shape=cv.shape + (1,) * (xv.rank - 1))
        return ctx.b.where(cv, xv, yv)

    return make_tensor("Select", [c, x, y], lower, name=name or "Select", dtypes=[x.dtype])


def pad(tensor, paddings, mode: str = "CONSTANT", name: str | None = None,
        constant_values=0) -> Tensor:
    """Pad with ``constant_values``; ``paddings`` is ``[[before, after], ...]`` per axis."""
    if str(mode).upper() != "CONSTANT":
        raise UnimplementedError(f"pad: only mode 'CONSTANT' is supported, got {mode!r}")
    x = convert_to_tensor(tensor)
    pads = np.asarray(paddings)
    if pads.ndim != 2 or pads.shape[1] != 2 or pads.dtype.kind not in "iu":
        raise ValueError(f"pad: paddings must be an [n, 2] list of ints, got {paddings!r}")
    pads = [tuple(int(v) for v in row) for row in pads]
    value = float(constant_values)
    return make_tensor("Pad", [x], lambda ctx, v: ctx.b.pad(v, pads=pads, value=value),
                       name=name or "Pad")


# -- slicing ------------------------------------------------------------------------------------
def _check_key(key) -> tuple:
    if not isinstance(key, tuple):
        key = (key,)
    for k in key:
        if isinstance(k, Tensor):
            raise TypeError("indexing with a tensor is not supported (the result's shape would "
                            "depend on data); use tf.gather")
        if isinstance(k, builtins.slice):
            for part in (k.start, k.stop, k.step):
                if part is not None and not (isinstance(part, numbers.Integral)
                                             and not isinstance(part, bool)):
                    raise TypeError(f"slice bounds must be Python ints or None, got {part!r}")
            if k.step is not None and k.step <= 0:
                raise UnimplementedError(f"slices with a step <= 0 are not supported, got "
                                         f"step {k.step}")
        elif not (k is None or k is Ellipsis or
                  (isinstance(k, numbers.Integral) and not isinstance(k, bool))):
            raise TypeError(f"cannot index a tensor with {k!r}; use ints, slices, ..., or "
                            f"tf.newaxis")
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    return key


def _lower_getitem(ctx, v, key):
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > v.rank:
        raise KilnOpError(f"too many indices for {v.type}: {n_real} given")
    full = []
    for k in key:
        if k is Ellipsis:
            full.extend([builtins.slice(None)] * (v.rank - n_real))
        else:
            full.append(k)
    if Ellipsis not in key:
        full.extend([builtins.slice(None)] * (v.rank - n_real))
    starts, limits, strides, out_shape = [], [], [], []
    dim = 0
    for k in full:
        if k is None:
            out_shape.append(1)
            continue
        size_ = v.shape[dim]
        if isinstance(k, builtins.slice):
            s, e, st = k.indices(size_)
            e = max(e, s)
            starts.append(s)
            limits.append(e)
            strides.append(st)
            out_shape.append(len(builtins.range(s, e, st)))
        else:
            i = int(k) + size_ if k < 0 else int(k)
            if not 0 <= i < size_:
                raise KilnOpError(f"index {k} is out of bounds for axis {dim} of {v.type}")
            starts.append(i)
            limits.append(i + 1)
            strides.append(1)
        dim += 1
    y = v
    if starts != [0] * v.rank or limits != list(v.shape) or strides != [1] * v.rank:
        y = ctx.b.slice(v, starts=starts, limits=limits,
                        strides=None if all(s == 1 for s in strides) else strides)
    if y.shape != tuple(out_shape):
        y = ctx.b.reshape(y, shape=tuple(out_shape))
    return y


def strided_slice_item(tensor, key, name: str | None = None) -> Tensor:
    """``tensor[key]`` with ints, slices (positive steps), ``...`` and ``tf.newaxis``."""
    x = convert_to_tensor(tensor)
    key = _check_key(key)
    return make_tensor("StridedSlice", [x], lambda ctx, v: _lower_getitem(ctx, v, key),
                       name=name or "strided_slice")


def strided_slice(input_, begin, end, strides=None, name: str | None = None) -> Tensor:
    """``input_[begin:end:strides]`` per axis (static ints)."""
    b, e = _ints(begin, "strided_slice: begin"), _ints(end, "strided_slice: end")
    st = [1] * len(b) if strides is None else _ints(strides, "strided_slice: strides")
    return strided_slice_item(input_, tuple(builtins.slice(x, y, z) for x, y, z in zip(b, e, st)),
                              name=name)


def slice(input_, begin, size, name: str | None = None) -> Tensor:  # noqa: A001
    """``size[i]`` elements from ``begin[i]`` on each axis (-1: to the end)."""
    b, s = _ints(begin, "slice: begin"), _ints(size, "slice: size")
    return strided_slice_item(input_, tuple(builtins.slice(x, None if n == -1 else x + n)
                                            for x, n in zip(b, s)), name=name or "Slice")

