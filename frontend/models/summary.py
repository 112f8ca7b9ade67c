"""``model.summary()``: a table of layers with their output shapes and parameter counts,
then the totals, in Keras's layout (plain ASCII rules instead of box drawing so it reads
the same in any terminal or log)::

    Model: "sequential"
    ... one row per layer: "name (Type)", output shape, parameter count ...
    Total params: 2,762 (10.79 KB)
    Trainable params: 2,762 (10.79 KB)
    Non-trainable params: 0 (0.00 B)

Shapes are ``(None, 64)`` with ``None`` for the batch (and any unknown) dimension, ``?``
when a layer has not been called yet (a subclassed model before it saw data).
Sizes count 4 bytes per float32 parameter, in 1024-based units as Keras prints them.
"""
from __future__ import annotations

from frontend.layers.base import Layer
from frontend.layers.tracing import format_shape

__all__ = ["summary_text", "readable_size"]


def readable_size(nbytes: float) -> str:
    """``10.79 KB``: Keras's format (2 decimals, B/KB/MB/GB/TB, base 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024.0
    return f"{nbytes:.2f} TB"  # pragma: no cover


def _shape_text(layer: Layer) -> str:
    shapes = layer._output_shapes
    if shapes is None:
        return "?"
    if isinstance(shapes, list):
        return "[" + ", ".join(format_shape(s) for s in shapes) + "]"
    return format_shape(shapes)


def _count(layer: Layer) -> int:
    return sum(w.size for w in layer.weights)


def summary_text(model, line_length: int | None = None, show_trainable: bool = False) -> str:
    """The summary of ``model`` as a string (what ``model.summary()`` prints)."""
    layers = model.layers
    if not model.built and not any(l.built for l in layers):
        raise ValueError(f"model '{model.name}' has not been built yet: build it by calling "
                         f"build(input_shape), by calling it on data, or by giving the first "
                         f"layer an input_shape")
    rows = [(f"{l.name} ({type(l).__name__})", _shape_text(l), f"{_count(l):,}",
             ("Y" if l.trainable else "N")) for l in layers]
    width = line_length or 65
    # Keras's proportions for a 65-column table; wider when a name or shape needs it
    c1 = max([29] + [len(r[0]) + 2 for r in rows])
    c2 = max([24] + [len(r[1]) + 2 for r in rows])
    c3 = max([10] + [len(r[2]) for r in rows])
    width = max(width, c1 + c2 + c3 + 2 + (12 if show_trainable else 0))

    def line(a, b, c, d=""):
        text = f" {a:<{c1}}{b:<{c2}}{c:>{c3}}"
        return text + (f"  {d:>9}" if show_trainable else "")

    out = [f'Model: "{model.name}"', "_" * width,
           line("Layer (type)", "Output Shape", "Param #", "Trainable"), "=" * width]
    for i, r in enumerate(rows):
        out.append(line(*r))
        if i != len(rows) - 1:
            out.append("")
    ws = model.weights
    total = sum(w.size for w in ws)
    trainable = sum(w.size for w in model.trainable_weights)
    nbytes = {id(w): w.size * w.array.itemsize for w in ws}
    tr_bytes = sum(nbytes[id(w)] for w in model.trainable_weights)
    all_bytes = sum(nbytes.values())
    out += ["=" * width,
            f" Total params: {total:,} ({readable_size(all_bytes)})",
            f" Trainable params: {trainable:,} ({readable_size(tr_bytes)})",
            f" Non-trainable params: {total - trainable:,} ({readable_size(all_bytes - tr_bytes)})",
            "_" * width]
    return "\n".join(out)
