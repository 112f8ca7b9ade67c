"""The README's fusion table: each declared example model's training step compiled with and
without fusion (kernels, bytes moved per step, arena, eager peak, cold compile time).

    python benchmarks/fusion_table.py                  # print the table
    python benchmarks/fusion_table.py --update-readme  # and rewrite it in README.md

Figures are from :mod:`runtime.fusion_report`; the batch size is each model file's.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontend.model_file import load_dataset, load_model_file  # noqa: E402
from frontend.models.data import convert_inputs, convert_targets  # noqa: E402
from frontend.models.steps import get_step  # noqa: E402
from runtime.fusion_report import format_fusion_table, fusion_figures  # noqa: E402

MODELS = ["linear_regression.json", "mlp.toml", "mnist_cnn.toml", "text_lstm.toml"]
START, END = "<!-- fusion-table:start -->", "<!-- fusion-table:end -->"


def figures_for(path: Path):
    model = load_model_file(path)
    decl = model.declaration
    (x, y), _ = load_dataset(decl.dataset)
    batch = min(decl.training.batch_size, len(x))
    xs = convert_inputs(model, x[:batch])       # the conversions fit applies
    step = get_step(model, "train", xs, convert_targets(model, y[:batch], xs))
    return fusion_figures(f"{path.stem} (batch {batch})", step.program)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--update-readme", action="store_true")
    ap.add_argument("--models", nargs="*", default=MODELS)
    args = ap.parse_args(argv)
    rows = [figures_for(ROOT / "examples" / "models" / m) for m in args.models]
    table = format_fusion_table(rows)
    print(table)
    if args.update_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        block = f"{START}\n{table}\n{END}"
        new, n = re.subn(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text,
                         flags=re.S)
        if n != 1:
            raise SystemExit(f"{readme}: expected one {START} ... {END} block, found {n}")
        readme.write_text(new)
    return table


if __name__ == "__main__":
    os.environ.setdefault("KILN_CACHE_DIR", str(ROOT / ".kiln_cache"))
    main()
