"""``kiln bench --plot``: benchmark records as a grouped bar chart (matplotlib, optional).

matplotlib is the ``plot`` extra (``pip install 'kiln[plot]'``), imported only here and only
when a chart is asked for; :func:`require_matplotlib` is called before any benchmark runs,
so a missing install costs no benchmarking time.
"""
from __future__ import annotations

from typing import Sequence

from frontend.cli.errors import CliError

__all__ = ["require_matplotlib", "plot_records"]

#: (record field, legend label) of each bar in a group
SERIES = (("compiled_ms", "kiln compiled"), ("eager_ms", "kiln eager"), ("torch_ms", "PyTorch"))


def require_matplotlib():
    """The ``matplotlib.pyplot`` module on a non-interactive backend, or a CliError."""
    try:
        import matplotlib
        matplotlib.use("Agg")   # files only: no display needed (servers, CI)
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--plot needs matplotlib, which is not installed; install it with "
                       "pip install 'kiln[plot]' (or pip install matplotlib)") from None
    return plt


def plot_records(records: Sequence, path: str) -> None:
    """Draw one group of bars (step time per backend, log scale) per model and program."""
    plt = require_matplotlib()
    labels = [f"{r.model}\n{r.program} (b={r.batch})" for r in records]
    series = [(field, label) for field, label in SERIES
              if any(getattr(r, field) is not None for r in records)]
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(records) + 2), 4.5))
    for i, (field, label) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(records))]
        # a backend that was not measured for a record gets no bar (height 0 on a log axis
        # would be invalid), not a misleading zero
        ys = [getattr(r, field) or float("nan") for r in records]
        ax.bar(xs, ys, width, label=label)
    ax.set_xticks(range(len(records)), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("median step time (ms, log scale)")
    ax.set_title("kiln bench: time per step (lower is better)")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise CliError(f"{path}: cannot write the chart ({e.strerror or e})") from None
    finally:
        plt.close(fig)
