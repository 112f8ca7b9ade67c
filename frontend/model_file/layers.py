"""``[model]`` and ``[[model.layers]]``: checking each layer declaration and building the
Sequential or functional model from them.

Layer types are looked up in :data:`LAYER_TYPES` (Keras class names); a layer's keys are
that class's Keras keyword arguments, each checked by the rule for its name in
:data:`ARGUMENTS` (a constructor parameter without a rule there is reported as not
supported in model files). Initializers, regularizers and activations are names or
``{type = ...}`` tables resolved through fixed registries.
"""
from __future__ import annotations

from typing import Any

from frontend import activations as activations_mod
from frontend import initializers as initializers_mod
from frontend import layers as L
from frontend import regularizers as regularizers_mod
from frontend.layers.base import snake_case
from frontend.model_file.checks import (Checker, Table, boolean, choice,
                                        constructor_params, int_or_pair, integer, list_of,
                                        non_negative_int, number, positive_int, shape, string,
                                        suggest, typed_object)
from frontend.model_file.errors import KeyPath, Where

__all__ = ["LAYER_TYPES", "ARGUMENTS", "build_model", "MODEL_KEYS"]

#: ``type`` -> layer class
LAYER_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    L.Dense, L.Activation, L.Flatten, L.Reshape, L.Dropout, L.Embedding, L.Conv2D,
    L.MaxPooling2D, L.AveragePooling2D, L.GlobalAveragePooling2D, L.GlobalMaxPooling2D,
    L.BatchNormalization, L.SimpleRNN, L.LSTM, L.GRU,
    L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate)}
LAYER_TYPES.update(MaxPool2D=L.MaxPooling2D, AvgPool2D=L.AveragePooling2D)


def _activation(where: Where, path: KeyPath, v):
    names = sorted(activations_mod._BY_NAME)  # the library's registry: names only, no code
    if not isinstance(v, str) or v.lower() not in activations_mod._BY_NAME:
        hint = suggest(v, names) if isinstance(v, str) else ""
        raise where.error(path, f"unknown activation {where.describe(v)}{hint}; expected one "
                                f"of: {', '.join(names)}")
    return v.lower()


def _init_key(name: str) -> str:
    return name if name in initializers_mod._BY_NAME else snake_case(name)


_initializer = typed_object("initializer", initializers_mod._BY_NAME, normalize=_init_key,
                            from_string=initializers_mod.get)
_REGULARIZERS = {"l1": regularizers_mod.L1, "l2": regularizers_mod.L2,
                 "l1_l2": regularizers_mod.L1L2, "l1l2": regularizers_mod.L1L2}
_regularizer = typed_object("regularizer", _REGULARIZERS, from_string=regularizers_mod.get)


def _target_shape(where: Where, path: KeyPath, v):
    dims = list_of(integer(), "an array of dimensions (positive integers, one may be -1)", 1)(
        where, path, v)
    bad = [i for i, d in enumerate(dims) if d == 0 or d < -1]
    if bad or dims.count(-1) > 1:
        i = bad[0] if bad else len(dims) - 1 - dims[::-1].index(-1)
        raise where.error(path + (i,), f"expected a positive integer (or one -1), got "
                                       f"{where.describe(dims[i])}")
    return tuple(dims)


#: keyword argument -> rule; the arguments a layer accepts are those of its constructor
#: that have a rule here
ARGUMENTS: dict[str, Checker] = {
    "name": string, "trainable": boolean,
    "units": positive_int, "filters": positive_int, "input_dim": positive_int,
    "output_dim": positive_int,
    "activation": _activation, "recurrent_activation": _activation,
    "use_bias": boolean, "return_sequences": boolean, "return_state": boolean,
    "go_backwards": boolean, "unit_forget_bias": boolean, "reset_after": boolean,
    "center": boolean, "scale": boolean, "keepdims": boolean, "mask_zero": boolean,
    "kernel_size": int_or_pair, "strides": int_or_pair, "pool_size": int_or_pair,
    "dilation_rate": int_or_pair, "padding": choice("valid", "same"),
    "data_format": choice("channels_last"),
    "rate": number(0.0, 1.0, hi_open=True), "dropout": number(0.0, 1.0, hi_open=True),
    "recurrent_dropout": number(0.0, 1.0, hi_open=True),
    "target_shape": _target_shape, "axis": integer(),
    "momentum": number(0.0, 1.0), "epsilon": number(0.0, lo_open=True),
    "seed": non_negative_int,
    **{f"{w}_initializer": _initializer for w in (
        "kernel", "recurrent", "bias", "embeddings", "beta", "gamma", "moving_mean",
        "moving_variance")},
    **{f"{w}_regularizer": _regularizer for w in (
        "kernel", "recurrent", "bias", "embeddings", "beta", "gamma", "activity")},
}

#: keys of [model]
MODEL_KEYS = ("name", "kind", "description", "input_shape", "dtype", "inputs", "outputs",
              "layers")
_DTYPES = ("float32", "int32")


def _layer_kwargs(where: Where, path: KeyPath, table: Table, cls: type,
                  extra: tuple[str, ...]) -> dict[str, Any]:
    params = constructor_params(cls)
    accepted = sorted(k for k in params if k in ARGUMENTS)
    kwargs = {}
    for key, value in table.rest().items():
        if key in extra:
            continue
        if key not in ARGUMENTS or key not in params:
            if key in params:
                why = (f"argument {key!r} of {cls.__name__} is not supported in model files"
                       + ("; declare the input as model.input_shape (or model.inputs)"
                          if key in ("input_shape", "input_dim", "batch_input_shape",
                                     "batch_size", "input_length") else ""))
            else:
                why = (f"unknown argument {key!r} for layer type {cls.__name__}"
                       f"{suggest(key, accepted)}")
            raise where.error(path + (key,), f"{why}; expected one of: type, "
                                             f"{', '.join(accepted + list(extra))}")
        kwargs[key] = ARGUMENTS[key](where, path + (key,), value)
    return kwargs


def _make_layer(where: Where, path: KeyPath, cls: type, kwargs: dict):
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, NotImplementedError) as e:
        raise where.error(path, f"invalid {cls.__name__} layer: {e}") from None


class LayerDecl:
    """One checked ``[[model.layers]]`` entry."""

    def __init__(self, path: KeyPath, cls: type, kwargs: dict, inputs: list[str] | None):
        self.path = path
        self.cls = cls
        self.kwargs = kwargs
        self.inputs = inputs


def _table_array(where: Where, model: Table, key: str, what: str) -> tuple[tuple, list]:
    """``model.<key>``: its path and a non-empty array (``what`` names an element's fields
    in the error)."""
    path = model.path + (key,)
    raw = model.take(key)
    if not isinstance(raw, list) or not raw:
        raise where.error(path, f"expected a non-empty array of {key[:-1]} "
                                f"{where.table_word}s {what}, got {where.describe(raw)}")
    return path, raw


def check_layers(where: Where, model: Table, functional: bool) -> list[LayerDecl]:
    path, raw = _table_array(where, model, "layers", "([[model.layers]])")
    decls = []
    for i, item in enumerate(raw):
        p = path + (i,)
        t = Table(where, p, item, f"layer {format_index(i)}")
        cls = LAYER_TYPES.get(t.take("type", _layer_type))
        inputs = None
        extra: tuple[str, ...] = ()
        if functional:
            extra = ("inputs",)
            if "inputs" in t:
                inputs = t.take("inputs", _names)
        kwargs = _layer_kwargs(where, p, t, cls, extra)
        decls.append(LayerDecl(p, cls, kwargs, inputs))
    return decls


def format_index(i: int) -> str:
    return f"#{i}"


def _layer_type(where: Where, path: KeyPath, v):
    names = sorted(LAYER_TYPES)
    if not isinstance(v, str) or v not in LAYER_TYPES:
        hint = suggest(v, names) if isinstance(v, str) else ""
        raise where.error(path, f"unknown layer type {where.describe(v)}{hint}; expected one "
                                f"of: {', '.join(names)}")
    return v


def _names(where: Where, path: KeyPath, v) -> list[str]:
    if isinstance(v, str):
        return [string(where, path, v)]
    return list_of(string, "a name or an array of names", 1)(where, path, v)


def build_model(where: Where, model: Table, seed_fn=None):
    """Check ``[model]`` and build the model (layers built, weights created).

    ``seed_fn`` is called after every check passed and before the first layer is
    constructed (it seeds the global stream, so weights follow the declared seed).
    """
    from frontend.models import Model, Sequential
    name = model.take("name", string, None)
    model.take("description", _any_string, None)
    kind = model.take("kind", choice("sequential", "functional"), "sequential")
    functional = kind == "functional"
    # inputs/outputs are the functional form's; a Sequential lists only what it accepts
    model.allowed = [k for k in MODEL_KEYS if functional or k not in ("inputs", "outputs")]
    dtype_check = choice(*_DTYPES)
    if functional:
        inputs = _check_inputs(where, model)
        outputs = model.take("outputs", _names, None)
    else:
        input_shape = model.take("input_shape", shape)
        dtype = model.take("dtype", dtype_check, None)
    decls = check_layers(where, model, functional)
    model.finish()
    if not functional:
        return lambda: _build_sequential(where, model.path, name, input_shape, dtype, decls,
                                         Sequential, seed_fn)
    return lambda: _build_functional(where, model.path, name, inputs, outputs, decls, Model,
                                     seed_fn)


def _any_string(where: Where, path: KeyPath, v):
    if not isinstance(v, str):
        raise where.error(path, f"expected a string, got {where.describe(v)}")
    return v


def _check_inputs(where: Where, model: Table) -> list[tuple[KeyPath, str, tuple, str | None]]:
    """``model.inputs`` (an array of {name, shape, dtype}) or ``model.input_shape``."""
    if "inputs" in model and "input_shape" in model:
        raise where.error(model.path + ("input_shape",),
                          "give either model.inputs or model.input_shape, not both")
    if "input_shape" in model:
        shp = model.take("input_shape", shape)
        return [(model.path + ("input_shape",), "input", shp,
                 model.take("dtype", choice(*_DTYPES), None))]
    model.take("dtype", None, None)
    if "dtype" in model.data:
        raise where.error(model.path + ("dtype",), "expected no model.dtype with model.inputs "
                                                   "(give each input its own dtype)")
    path, raw = _table_array(where, model, "inputs", "{name, shape, dtype}")
    out = []
    for i, item in enumerate(raw):
        t = Table(where, path + (i,), item, f"input {format_index(i)}")
        out.append((path + (i,), t.take("name", string), t.take("shape", shape),
                    t.take("dtype", choice(*_DTYPES), None)))
        t.finish()
    return out


def _add_error(where: Where, path: KeyPath, layer, e: Exception):
    return where.error(path, f"cannot build layer '{layer.name}' ({type(layer).__name__}) on "
                             f"its input: {e}")


_BUILD_ERRORS = (ValueError, TypeError, NotImplementedError)


def _build_sequential(where, path, name, input_shape, dtype, decls, Sequential, seed_fn):
    if seed_fn:
        seed_fn()
    model = Sequential(name=name) if name else Sequential()
    if dtype is not None:
        model.add(L.Input(shape=input_shape, dtype=dtype))
    for k, d in enumerate(decls):
        kwargs = dict(d.kwargs)
        if k == 0 and dtype is None:
            # Keras's first-layer input_shape: the model's input dtype then follows the
            # layer (int32 ids for an Embedding), as in the Python API
            kwargs["input_shape"] = input_shape
        layer = _make_layer(where, d.path, d.cls, kwargs)
        try:
            model.add(layer)
        except _BUILD_ERRORS as e:
            raise _add_error(where, d.path, layer, e) from None
    return model


def _build_functional(where, path, name, inputs, outputs, decls, Model, seed_fn):
    if seed_fn:
        seed_fn()
    tensors: dict[str, Any] = {}
    order: list[str] = []
    for p, nm, shp, dt in inputs:
        if nm in tensors:
            raise where.error(p + ("name",), f"duplicate input name {nm!r}")
        tensors[nm] = L.Input(shape=shp, dtype=dt, name=nm)
        order.append(nm)
    last = order[-1] if len(order) == 1 else None
    for d in decls:
        layer = _make_layer(where, d.path, d.cls, d.kwargs)
        if d.inputs is None:
            if last is None:
                raise where.error(d.path, "missing key 'inputs': the model has several inputs, "
                                          "so the first layer must name the one(s) it reads")
            srcs = [last]
        else:
            srcs = d.inputs
        for j, s in enumerate(srcs):
            if s not in tensors:
                # an element's line when inputs is an array, else the key's own line
                key = d.path + ("inputs", j)
                raise where.error(key, f"unknown input or layer name {s!r}"
                                       f"{suggest(s, list(tensors))}; expected one of: "
                                       f"{', '.join(tensors)} (a layer can only read inputs and "
                                       f"layers declared before it)")
        arg = tensors[srcs[0]] if len(srcs) == 1 else [tensors[s] for s in srcs]
        try:
            out = layer(arg)
        except _BUILD_ERRORS as e:
            raise _add_error(where, d.path, layer, e) from None
        if layer.name in tensors:
            raise where.error(d.path + ("name",), f"duplicate name {layer.name!r} (inputs and "
                                                  f"layers need distinct names)")
        tensors[layer.name] = out
        last = layer.name
    out_names = outputs or [last]
    for j, s in enumerate(out_names):
        if s not in tensors:
            raise where.error(path + ("outputs", j), f"unknown layer name {s!r}"
                                                     f"{suggest(s, list(tensors))}")
    outs = [tensors[s] for s in out_names]
    ins = [tensors[s] for s in order]
    kwargs = {"name": name} if name else {}
    try:
        return Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0],
                     **kwargs)
    except _BUILD_ERRORS as e:
        raise where.error(path, f"cannot build the functional model: {e}") from None
