"""Functional models: ``Model(inputs, outputs)`` over the nodes recorded by layer calls on
``Input`` placeholders.

Construction walks back from the outputs to the inputs, collecting the recorded layer
calls (nodes) in an order where every node comes after the nodes it reads; building a
program replays those nodes on graph tensors. Layers are listed in first-use order, with
the InputLayers first (as Keras 3 lists them).
"""
from __future__ import annotations

from frontend.layers.base import Layer, LayerError
from frontend.layers.tracing import KerasTensor, Node, Tensor, flatten, map_structure
from frontend.models.model import Model

__all__ = ["Functional"]


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


class InputSpec:
    """One model input: its name, shape (``None`` = any size), dtype, and the value range an
    Embedding reading it directly requires (with that layer's name)."""

    def __init__(self, name: str, shape: tuple, dtype: str, value_range=None, range_layer=None):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = dtype
        self.value_range = value_range
        self.range_layer = range_layer

    def __repr__(self) -> str:
        return f"InputSpec({self.name!r}, shape={self.shape}, dtype={self.dtype})"


def input_specs_for(inputs: list[KerasTensor], nodes: list[Node]) -> list[InputSpec]:
    specs = []
    for kt in inputs:
        rng = layer_name = None
        for node in nodes:
            if any(t is kt for t in flatten(node.args[:1])) and \
                    hasattr(node.layer, "input_value_range"):
                rng = node.layer.input_value_range()
                layer_name = node.layer.name
                break
        specs.append(InputSpec(kt.name or "input", kt.shape, kt._ir_dtype, rng, layer_name))
    return specs


class Functional(Model):
    """A model defined by its input placeholders and the outputs computed from them."""

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs): both inputs and outputs are required")
        Layer.__init__(self, name=name, **kwargs)
        self._init_training_state()
        self._setup(_as_list(inputs) if not isinstance(inputs, dict) else list(inputs.values()),
                    outputs)

    def _setup(self, inputs: list, outputs) -> None:
        for t in inputs:
            if not isinstance(t, KerasTensor) or t.node is not None:
                raise ValueError(f"model '{self.name}': inputs must be Input(...) placeholders, "
                                 f"got {t!r}")
        for t in flatten(outputs):
            if not isinstance(t, KerasTensor):
                raise ValueError(f"model '{self.name}': outputs must be results of layer calls on "
                                 f"the inputs, got {t!r}")
        self._model_inputs = inputs
        self._model_outputs = outputs
        self._nodes = self._collect_nodes(inputs, flatten(outputs))
        layers: list[Layer] = []
        for t in inputs:
            src = _input_layer_of(t)
            if src is not None:
                layers.append(src)
        for node in self._nodes:
            if all(node.layer is not l for l in layers):
                layers.append(node.layer)
        object.__setattr__(self, "_layers", layers)
        self._n_outputs = len(flatten(outputs))
        self._output_shapes = map_structure(lambda kt: kt.shape, outputs)
        self.built = True
        _check_unique_layer_names(self)

    def _collect_nodes(self, inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Node]:
        input_ids = {id(t) for t in inputs}
        order: list[Node] = []
        state: dict[int, str] = {}

        def visit_tensor(t: KerasTensor):
            if id(t) in input_ids:
                return
            if t.node is None:
                raise ValueError(f"model '{self.name}': output depends on {t!r}, which is not "
                                 f"among the model's inputs")
            visit_node(t.node)

        def visit_node(node: Node):
            s = state.get(id(node))
            if s == "done":
                return
            if s == "active":
                raise ValueError(f"model '{self.name}': the layer graph has a cycle")
            state[id(node)] = "active"
            for t in node.input_tensors():
                visit_tensor(t)
            state[id(node)] = "done"
            order.append(node)

        for t in outputs:
            visit_tensor(t)
        return order

    # -- structure -----------------------------------------------------------------------------
    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._model_inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return flatten(self._model_outputs)

    @property
    def input(self):
        return self._model_inputs[0] if len(self._model_inputs) == 1 else self.inputs

    @property
    def output(self):
        return self._model_outputs

    @property
    def output_names(self) -> list[str]:
        names = []
        for t in self.outputs:
            names.append(t.node.layer.name if t.node is not None else "output")
        return names

    def input_specs(self):
        return input_specs_for(self._model_inputs, self._nodes)

    def call(self, inputs, training=None):
        given = _as_list(inputs)
        if len(given) != len(self._model_inputs):
            raise LayerError(f"model '{self.name}' takes {len(self._model_inputs)} input(s), got "
                             f"{len(given)}")
        env: dict[int, Tensor] = {id(kt): t for kt, t in zip(self._model_inputs, given)}

        def look(x):
            if isinstance(x, KerasTensor):
                if id(x) not in env:
                    raise LayerError(f"model '{self.name}': {x!r} was not computed")
                return env[id(x)]
            return x

        for node in self._nodes:
            args = map_structure(look, node.args)
            kwargs = map_structure(look, node.kwargs)
            out = node.layer(*args, **kwargs)
            for kt, t in zip(flatten(node.outputs), flatten(out)):
                env[id(kt)] = t
        return map_structure(look, self._model_outputs)


def _input_layer_of(t: KerasTensor):
    return getattr(t, "_input_layer", None)


def _check_unique_layer_names(model: Model) -> None:
    seen: dict[str, Layer] = {}
    for layer in model.layers:
        other = seen.get(layer.name)
        if other is not None and other is not layer:
            raise ValueError(f"model '{model.name}': two layers are named {layer.name!r}; layer "
                             f"names must be unique within a model")
        seen[layer.name] = layer
