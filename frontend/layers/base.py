"""The Layer base class and Weight, a layer variable held as a numpy array.

A :class:`Layer` owns :class:`Weight` s (created in ``build`` from the first input shape)
and builds graph ops in ``call``. Calling a layer dispatches on what it is given:

* graph :class:`~frontend.layers.tracing.Tensor` s: builds ops into that graph (how models
  build their programs);
* functional :class:`~frontend.layers.tracing.KerasTensor` s: records a node of the
  functional API and infers the output shapes by building the layer into a scratch graph
  (twice, with two probe sizes for unknown dimensions: an output dimension that changes
  with the probe is unknown too), so no layer needs a hand-written shape rule;
* numpy arrays (or lists/numbers): runs the layer once, in inference mode unless
  ``training=True``, through a runtime Program on the eager backend, and returns arrays.

Weights are numpy arrays that every program built from the layer shares as state (see
:class:`runtime.program.Program`): they are never replaced, only written in place
(``assign``, ``set_weights``), so a program specialized for another batch size sees the
same values. Each weight becomes a graph param named ``<layer name>.<weight name>``.

Names: layers without a ``name`` get Keras's automatic one, the snake-cased class name
with a per-process counter suffix (``dense``, ``dense_1``, ...). Sublayers assigned as
attributes (or in lists, tuples or dicts of layers) are tracked in assignment order, which
fixes the order of ``weights`` (Keras 3's: a layer's own trainable weights, its own
non-trainable ones, then each sublayer's).
"""
from __future__ import annotations

import inspect
import re
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from compiler.builder import GraphBuilder
from compiler.errors import KilnError, OpError
from frontend import initializers as initializers_mod
from frontend import regularizers as regularizers_mod
from frontend.layers.tracing import (KerasTensor, Node, Tensor, TraceContext, flatten,
                                     format_shape, ir_dtype, keras_dtype, map_structure,
                                     numpy_dtype)

__all__ = ["Layer", "Weight", "LayerError", "unique_name", "snake_case"]

_ALIGNMENT = 64  # bytes; vector-friendly for native code, and numpy-aligned in any case


class LayerError(KilnError, ValueError):
    """A layer was built or called with inputs it cannot take; names the layer."""


_UIDS: dict[str, int] = defaultdict(int)
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.]")


def snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """Keras's automatic names: ``base``, then ``base_1``, ``base_2``, ..."""
    n = _UIDS[base]
    _UIDS[base] += 1
    return base if n == 0 else f"{base}_{n}"


def clear_session() -> None:
    """Restart automatic names (``dense``, ``dense_1``, ...) from the beginning, as Keras's
    ``clear_session`` does; models built before keep their names."""
    _UIDS.clear()


def graph_name(name: str) -> str:
    """``name`` with characters the IR does not allow in value names replaced by '_'."""
    return _BAD_CHARS.sub("_", name) or "_"


def aligned_empty(shape, dtype) -> np.ndarray:
    """A C-contiguous array whose data starts on a 64-byte boundary."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) * dt.itemsize
    raw = np.empty(n + _ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % _ALIGNMENT
    return raw[offset:offset + n].view(dt).reshape(shape)


class Weight:
    """A layer variable: a persistent numpy array plus its name and training properties."""

    def __init__(self, layer_name: str, name: str, value: np.ndarray, trainable: bool = True,
                 regularizer=None):
        self.name = name
        self.path = f"{layer_name}/{name}"
        self.param_name = graph_name(f"{layer_name}.{name}")
        value = np.asarray(value)
        self._array = aligned_empty(value.shape, value.dtype)
        self._array[...] = value
        self._trainable = bool(trainable)
        self.regularizer = regularizer

    @property
    def array(self) -> np.ndarray:
        """The live array (shared with every program as state; write it only in place)."""
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape

    @property
    def dtype(self) -> str:
        return keras_dtype(self._array.dtype)

    @property
    def ir_dtype(self) -> str:
        return ir_dtype(self._array.dtype)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    @property
    def size(self) -> int:
        return int(self._array.size)

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return self._array.copy()

    def assign(self, value) -> None:
        """Overwrite the value in place; shape must match, floats are converted."""
        arr = np.asarray(value)
        if arr.shape != self.shape:
            raise ValueError(f"weight {self.path}: expected shape {format_shape(self.shape)}, "
                             f"got {format_shape(arr.shape)}")
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"weight {self.path}: expected numbers, got dtype {arr.dtype}")
        np.copyto(self._array, arr, casting="unsafe")

    def __repr__(self) -> str:
        return (f"<Weight path={self.path} shape={format_shape(self.shape)} dtype={self.dtype}"
                f"{'' if self.trainable else ' non-trainable'}>")


def _call_accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


class Layer:
    """Base class of layers (and of models). Subclasses implement ``build`` and ``call``.

    Keyword arguments every layer accepts (Keras's): ``name``, ``trainable``, ``dtype``
    (only float32 is supported for weights), ``input_shape``/``input_dim``/``batch_size``
    (the model's input when this is the first layer of a Sequential), and
    ``activity_regularizer`` (added to the loss for each output).
    """

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None,
                 input_shape: Sequence[int | None] | None = None,
                 batch_input_shape: Sequence[int | None] | None = None,
                 batch_size: int | None = None, input_dim: int | None = None,
                 activity_regularizer=None, **kwargs):
        cls = type(self).__name__
        # input_length: Keras 2's Embedding argument, accepted for old programs
        input_length = kwargs.pop("input_length", None)
        kwargs.pop("autocast", None)
        if kwargs:
            raise TypeError(f"{cls}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{cls}: name must be a non-empty string, got {name!r}")
        object.__setattr__(self, "_layers", [])
        self.name = name if name is not None else unique_name(snake_case(cls))
        self._explicit_name = name is not None
        self._trainable = bool(trainable)
        self.built = False
        self._own_weights: list[Weight] = []
        dt = "float32" if dtype is None else keras_dtype(dtype)
        if dt != "float32":
            raise ValueError(f"{cls} '{self.name}': dtype {dt} is not supported; layers compute "
                             f"in float32")
        self.dtype = dt
        self.activity_regularizer = regularizers_mod.get(activity_regularizer)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is None and input_length is not None:
            input_shape = (input_length,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            self._batch_input_shape = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape = None
        self._build_input_shape = None
        self._output_shapes = None  # last known output shape(s), batch dim None (summary)
        self._inbound_nodes: list[Node] = []

    # -- attribute tracking ----------------------------------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        if "_layers" not in self.__dict__ and isinstance(value, Layer):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"layers as attributes")
        if not key.startswith("_") and "_layers" in self.__dict__:
            for sub in _layers_in(value):
                if sub is not self and all(sub is not l for l in self._layers):
                    self._layers.append(sub)
        object.__setattr__(self, key, value)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for sub in self._layers:
            sub.trainable = value

    # -- weights ---------------------------------------------------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True,
                   regularizer=None, constraint=None, name: str | None = None, **kwargs) -> Weight:
        """Create a weight (Keras 3's argument order; Keras 2's ``add_weight(name, shape,
        ...)`` works when the first argument is a string)."""
        if isinstance(shape, str):  # Keras 2 order: add_weight(name, shape, ...)
            name, shape = shape, initializer
            initializer = kwargs.pop("initializer", None) if "initializer" in kwargs else None
        kwargs.pop("aggregation", None)
        kwargs.pop("use_resource", None)
        if kwargs:
            raise TypeError(f"add_weight: unexpected keyword argument(s) {', '.join(kwargs)}")
        if constraint is not None:
            raise NotImplementedError(f"layer '{self.name}': weight constraints are not "
                                      f"supported")
        shape = tuple(int(d) for d in (shape or ()))
        name = name or f"weight_{len(self._own_weights)}"
        if any(w.name == name for w in self._own_weights):
            raise ValueError(f"layer '{self.name}' already has a weight named {name!r}")
        init = initializers_mod.get(initializer if initializer is not None else
                                    ("glorot_uniform" if len(shape) >= 2 else "zeros"))
        dt = numpy_dtype(dtype or self.dtype)
        value = np.asarray(init(shape, dtype=dt), dtype=dt)
        if value.shape != shape:
            raise ValueError(f"layer '{self.name}': initializer of {name!r} returned shape "
                             f"{format_shape(value.shape)}, expected {format_shape(shape)}")
        w = Weight(self.name, name, value, trainable=trainable,
                   regularizer=regularizers_mod.get(regularizer))
        self._own_weights.append(w)
        return w

    def _own_split(self) -> tuple[list[Weight], list[Weight]]:
        tr = [w for w in self._own_weights if w.trainable and self._trainable]
        ntr = [w for w in self._own_weights if not (w.trainable and self._trainable)]
        return tr, ntr

    @property
    def weights(self) -> list[Weight]:
        """All weights: own trainable, own non-trainable, then sublayers' (Keras 3 order)."""
        tr, ntr = self._own_split()
        out, seen = [], set()
        for w in tr + ntr + [w for sub in self._layers for w in sub.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Weight]:
        if not self._trainable:
            return []
        tr, _ = self._own_split()
        out, seen = [], set()
        for w in tr + [w for sub in self._layers for w in sub.trainable_weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def non_trainable_weights(self) -> list[Weight]:
        ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in ids]

    # Keras 3 also calls them variables
    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def layers(self) -> list["Layer"]:
        return list(self._layers)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, in :attr:`weights` order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite all weights in :attr:`weights` order (in place; shapes must match)."""
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"layer '{self.name}' has {len(mine)} weight(s) "
                             f"({', '.join(w.name for w in mine) or 'none'}), got {len(weights)} "
                             f"array(s)")
        for i, (w, v) in enumerate(zip(mine, weights)):
            v = np.asarray(v)
            if v.shape != w.shape:
                raise ValueError(f"layer '{self.name}': weight {i} ({w.path}) expects shape "
                                 f"{format_shape(w.shape)}, got {format_shape(v.shape)}")
        for w, v in zip(mine, weights):
            w.assign(v)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"layer '{self.name}' is not built yet, so it has no weights to "
                             f"count; call it on an input (or build it) first")
        return sum(w.size for w in self.weights)

    def _build_for_call(self, input_shape) -> None:
        """The build done on first call (models override it: their layers build lazily)."""
        self.build(input_shape)

    # -- to implement ------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create weights for inputs of ``input_shape`` (batch dimension ``None``)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """Build the layer's ops on graph Tensors; return Tensor(s)."""
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def check_input_shape(self, input_shape) -> None:
        """Raise LayerError when a built layer is called on an incompatible shape."""

    def compute_output_shape(self, input_shape):
        """Output shape(s) for ``input_shape`` (``None`` dims allowed), by tracing."""
        shapes = _as_shape_structure(input_shape)
        kts = ([KerasTensor(s, "f32") for s in shapes] if isinstance(shapes, list)
               else KerasTensor(shapes, "f32"))
        out = self._infer_outputs((kts,), {})
        return map_structure(lambda kt: kt.shape, out)

    # -- calling ---------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if not args:
            raise TypeError(f"layer '{self.name}' must be called on an input")
        leaves = flatten([args, kwargs])
        if any(isinstance(t, KerasTensor) for t in leaves):
            return self._functional_call(args, kwargs)
        if any(isinstance(t, Tensor) for t in leaves):
            return self._graph_call(args, kwargs)
        return self._eager_call(args, kwargs)

    def _maybe_build(self, inputs) -> None:
        if not self.built:
            self._maybe_build_from(map_structure(lambda t: (None,) + tuple(t.shape[1:]), inputs))

    def _maybe_build_from(self, shapes) -> None:
        try:
            self._build_for_call(shapes)
        except (OpError, ValueError) as e:
            if isinstance(e, LayerError):
                raise
            raise LayerError(f"layer '{self.name}' ({type(self).__name__}) cannot be built for "
                             f"input shape {_fmt_shapes(shapes)}: {e}") from None
        self.built = True
        self._build_input_shape = shapes

    def _graph_call(self, args, kwargs):
        tensors = [t for t in flatten([args, kwargs]) if isinstance(t, Tensor)]
        ctx = tensors[0].ctx
        inputs = args[0]
        for t in flatten(inputs):
            if not isinstance(t, Tensor):
                raise LayerError(f"layer '{self.name}': inputs must be tensors, got "
                                 f"{type(t).__name__}")
        self._maybe_build(inputs)
        self.check_input_shape(map_structure(lambda t: (None,) + tuple(t.shape[1:]), inputs))
        kwargs = dict(kwargs)
        training = kwargs.pop("training", None)
        if _call_accepts(self.call, "training"):
            # an explicit training= wins; otherwise the mode of the graph being built
            kwargs["training"] = ctx.training if training is None else bool(training)
        # An explicit training= also holds for the layers called inside (Keras's call
        # context); the graph's own mode is restored afterwards.
        outer_training = ctx.training
        if training is not None:
            ctx.training = bool(training)
        with ctx.b.location(self.name):
            try:
                outputs = self.call(inputs, *args[1:], **kwargs)
            except OpError as e:
                raise LayerError(f"layer '{self.name}' ({type(self).__name__}) called on "
                                 f"{_fmt_shapes(map_structure(lambda t: t.shape, inputs))}: "
                                 f"{e}") from None
            finally:
                ctx.training = outer_training
            for t in flatten(outputs):
                if not isinstance(t, Tensor):
                    raise LayerError(f"layer '{self.name}': call() must return tensors, got "
                                     f"{type(t).__name__}")
            if self.activity_regularizer is not None:
                for t in flatten(outputs):
                    ctx.add_loss(self.activity_regularizer(t))
        shapes = map_structure(lambda t: tuple(t.shape), outputs)
        ctx.output_shapes.setdefault(id(self), (self, shapes))
        if not ctx.probe and self._output_shapes is None:
            self._output_shapes = map_structure(lambda t: (None,) + tuple(t.shape[1:]), outputs)
        return outputs

    def _infer_outputs(self, args, kwargs):
        """Trace into scratch graphs to find output shapes/dtypes of a functional call."""
        kts = [t for t in flatten([args, kwargs]) if isinstance(t, KerasTensor)]
        if not self.built and all(isinstance(t, KerasTensor) for t in flatten(args[0])):
            # build from the placeholders' own shapes (unknown dimensions stay None), not
            # from a probe's sizes
            self._maybe_build_from(map_structure(lambda t: (None,) + tuple(t.shape[1:]),
                                                 args[0]))
        probes = (32, 33) if any(d is None for t in kts for d in t.shape) else (32,)
        results, contexts = [], []
        for p in probes:
            b = GraphBuilder(name="shape_probe")
            ctx = TraceContext(b, training=False)
            ctx.probe = True
            contexts.append(ctx)
            env = {id(t): Tensor(b.input(f"in{i}", tuple(p if d is None else d for d in t.shape),
                                         t._ir_dtype), ctx) for i, t in enumerate(kts)}
            a2 = map_structure(lambda x: env.get(id(x), x) if isinstance(x, KerasTensor) else x,
                               args)
            k2 = map_structure(lambda x: env.get(id(x), x) if isinstance(x, KerasTensor) else x,
                               kwargs)
            results.append(self._graph_call(a2, k2))
        # every layer called in the probes learns its output shapes (summaries of nested
        # and subclassed models); dimensions that follow the probe size are unknown
        for key, (layer, shapes0) in contexts[0].output_shapes.items():
            others = [c.output_shapes[key][1] for c in contexts[1:] if key in c.output_shapes]
            layer._output_shapes = _merge_probe_shapes(shapes0, others, batch_unknown=True)
        first = results[0]
        flat = [flatten(r) for r in results]
        shapes = [(_merge_dims(t.shape, [f[i].shape for f in flat[1:]]), t.value.dtype)
                  for i, t in enumerate(flat[0])]
        it = iter(shapes)
        return map_structure(lambda t: KerasTensor(*next(it)), first)

    def _functional_call(self, args, kwargs):
        outputs = self._infer_outputs(args, kwargs)
        node = Node(self, args, kwargs, outputs)
        for i, kt in enumerate(flatten(outputs)):
            kt.node, kt.index = node, i
        # batch dimension of the outputs is unknown whenever the inputs' is
        self._output_shapes = map_structure(lambda kt: kt.shape, outputs)
        self._inbound_nodes.append(node)
        return outputs

    def _eager_call(self, args, kwargs):
        from frontend.layers.eager import run_eagerly
        return run_eagerly(self, args, kwargs)

    # -- misc ------------------------------------------------------------------------------
    @property
    def output_shape(self):
        if self._output_shapes is None:
            raise AttributeError(f"layer '{self.name}' has no defined output shape yet (call it "
                                 f"on an input first)")
        return self._output_shapes

    @property
    def input_shape(self):
        if self._build_input_shape is not None:
            return self._build_input_shape
        if self._batch_input_shape is not None:
            return self._batch_input_shape
        raise AttributeError(f"layer '{self.name}' has no defined input shape yet")

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _merge_dims(shape, others) -> tuple:
    """``shape`` with ``None`` wherever another probe gave a different size."""
    return tuple(None if any(len(o) != len(shape) or o[j] != d for o in others) else d
                 for j, d in enumerate(shape))


def _merge_probe_shapes(shapes0, others, batch_unknown: bool):
    flat0 = flatten_shapes(shapes0)
    flats = [flatten_shapes(o) for o in others]
    merged = [_merge_dims(s, [f[i] for f in flats if i < len(f)]) for i, s in enumerate(flat0)]
    if batch_unknown:
        merged = [(None,) + s[1:] if s else s for s in merged]
    if isinstance(shapes0, list):
        return merged
    return merged[0] if len(merged) == 1 and not isinstance(shapes0, list) else merged


def flatten_shapes(shapes) -> list[tuple]:
    """A shape or nested list of shapes as a flat list of shape tuples."""
    if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
        return [shapes]
    out = []
    for s in shapes:
        out.extend(flatten_shapes(s))
    return out


def _layers_in(value) -> list[Layer]:
    if isinstance(value, Layer):
        return [value]
    if isinstance(value, (list, tuple)):
        return [l for v in value for l in _layers_in(v)]
    if isinstance(value, dict):
        return [l for v in value.values() for l in _layers_in(v)]
    return []


def _as_shape_structure(shape):
    """A shape (tuple of ints/None) or a list of shapes, as given to compute_output_shape."""
    if isinstance(shape, (list, tuple)) and shape and all(
            isinstance(s, (list, tuple)) for s in shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _fmt_shapes(shapes) -> str:
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
        return "[" + ", ".join(format_shape(s) for s in shapes) + "]"
    if isinstance(shapes, dict):
        return "{" + ", ".join(f"{k}: {format_shape(v)}" for k, v in shapes.items()) + "}"
    return format_shape(shapes)
