"""``compile()``'s configuration: the optimizer, the loss and metrics per model output.

``loss`` may be one loss for every output, a list (one per output) or a dict by output
name; ``loss_weights`` likewise; ``metrics`` a list applied to every output, a list of lists
(one per output) or a dict. Names and objects are checked when ``compile`` is called; the
per-output objects are resolved when the first step program is built (``'accuracy'`` needs
the loss and the target and prediction shapes, see :func:`frontend.metrics.resolve`). With
several outputs, logs name each output's loss ``<output>_loss`` and its metrics
``<output>_<metric>``.
"""
from __future__ import annotations

from dataclasses import dataclass

from frontend import losses as losses_mod
from frontend import metrics as metrics_mod
from runtime.optimizers import get_optimizer

__all__ = ["compile_model", "resolve", "metric_names", "log_names", "per_output"]


def compile_model(model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                  weighted_metrics=None, backend: str | None = None, **kwargs) -> None:
    for k in ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"):
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"compile: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if weighted_metrics:
        raise NotImplementedError("compile: weighted_metrics are not supported (no sample "
                                  "weights)")
    if backend is not None:
        from runtime.program import check_backend
        check_backend(backend)
    model.optimizer = get_optimizer(optimizer)
    model.loss = loss
    model._compile_config = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                             "resolved": None}
    model._backend = backend
    model._programs.clear()
    model._opt_state = {}
    model.compiled = True
    # validate names now, so a typo fails at compile as in Keras
    for l in _flat_config(loss):
        if l is not None:
            losses_mod.get(l)
    for m in _flat_config(metrics):
        metrics_mod.get(m)


def _flat_config(cfg) -> list:
    if cfg is None:
        return []
    if isinstance(cfg, dict):
        return [x for v in cfg.values() for x in _flat_config(v)]
    if isinstance(cfg, (list, tuple)):
        return [x for v in cfg for x in _flat_config(v)]
    return [cfg]


@dataclass
class _Resolved:
    """compile()'s configuration made concrete for the model's outputs."""

    losses: list                 # Loss or None per output
    loss_weights: list[float]
    metrics: list[list]          # Metric objects per output
    output_names: list[str]


def per_output(cfg, names: list[str], what: str) -> list:
    n = len(names)
    if isinstance(cfg, dict):
        unknown = set(cfg) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} given for unknown output(s) "
                             f"{', '.join(sorted(unknown))}; outputs are {', '.join(names)}")
        return [cfg.get(nm) for nm in names]
    if isinstance(cfg, (list, tuple)) and what in ("loss", "loss_weights"):
        if len(cfg) != n:
            raise ValueError(f"compile: {len(cfg)} losses given for {n} output(s)")
        return list(cfg)
    return [cfg] * n


def resolve(model, y_shapes: list[tuple], pred_shapes: list[tuple]) -> _Resolved:
    cfg = model._compile_config
    if cfg.get("resolved") is not None:
        return cfg["resolved"]
    names = model.output_names
    if len(names) != len(pred_shapes):
        names = [f"output_{i}" for i in range(len(pred_shapes))] if len(pred_shapes) > 1 \
            else ["output"]
    losses = [None if l is None else losses_mod.get(l)
              for l in per_output(cfg["loss"], names, "loss")]
    lw = cfg.get("loss_weights")
    weights = [1.0] * len(names) if lw is None else [
        1.0 if w is None else float(w) for w in per_output(lw, names, "loss_weights")]
    if isinstance(lw, (list, tuple)) and len(lw) != len(names):
        raise ValueError(f"compile: {len(lw)} loss_weights given for {len(names)} output(s)")
    mcfg = cfg.get("metrics")
    if isinstance(mcfg, dict):
        per = per_output(mcfg, names, "metrics")
    elif isinstance(mcfg, (list, tuple)) and len(names) > 1 and mcfg and all(
            isinstance(m, (list, tuple)) or m is None for m in mcfg):
        if len(mcfg) != len(names):
            raise ValueError(f"compile: {len(mcfg)} metric lists given for {len(names)} outputs")
        per = list(mcfg)
    else:
        per = [mcfg] * len(names)
    metrics = []
    for i, m in enumerate(per):
        items = [] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m])
        if y_shapes[i] is None:  # an output without targets has no metrics
            items = []
        resolved = [metrics_mod.resolve(x, losses[i], y_shapes[i], pred_shapes[i]) for x in items]
        if len(names) > 1:
            for r in resolved:
                r.name = f"{names[i]}_{r.name}"
        metrics.append(resolved)
    res = _Resolved(losses, weights, metrics, names)
    cfg["resolved"] = res
    model._resolved_metrics = lambda: [m for ms in res.metrics for m in ms]
    return res


def metric_names(model) -> list[str]:
    """``["loss", <metric names>...]`` as evaluate() returns them."""
    res = model._compile_config.get("resolved") if model.compiled else None
    if res is None:
        out = ["loss"]
        for m in _flat_config(model._compile_config.get("metrics") if model.compiled else None):
            g = metrics_mod.get(m)
            out.append(g if isinstance(g, str) else g.name)
        return out
    return log_names(res)


def log_names(res: _Resolved) -> list[str]:
    names = ["loss"]
    if len(res.output_names) > 1:
        names += [f"{n}_loss" for n, l in zip(res.output_names, res.losses) if l is not None]
    return names + [m.name for ms in res.metrics for m in ms]
