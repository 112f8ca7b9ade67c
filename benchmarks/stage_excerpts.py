"""The README's stage excerpts: the first lines of every compiler stage of one small training
step (the declared linear regression), from a real compile.

    python benchmarks/stage_excerpts.py                  # print them
    python benchmarks/stage_excerpts.py --update-readme  # and rewrite them in README.md
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.pipeline import STAGES, CompileOptions, compile_graph  # noqa: E402
from frontend.layers.base import clear_session  # noqa: E402
from frontend.model_file import load_dataset, load_model_file  # noqa: E402
from frontend.models.data import convert_inputs, convert_targets  # noqa: E402
from frontend.models.steps import get_step  # noqa: E402

MODEL = ROOT / "examples" / "models" / "linear_regression.json"
START, END = "<!-- stage-excerpts:start -->", "<!-- stage-excerpts:end -->"
LINES = 8   # per stage
#: where each stage's own part begins (the graph stages share their forward lines, LLVM IR and
#: assembly open with boilerplate)
_FROM = {"autodiff": "grad", "simplify": "/grad", "fuse": "fused kernels", "dot": "cluster",
         "llvm": "define", "llvm-opt": "define", "asm": "kiln_main:"}


def excerpts(lines: int = LINES) -> str:
    clear_session()   # layer names as in a fresh process, whatever was built before
    model = load_model_file(MODEL)
    (x, y), _ = load_dataset(model.declaration.dataset)
    xs = convert_inputs(model, x[:5])
    program = get_step(model, "train", xs, convert_targets(model, y[:5], xs)).program
    # the graph passes keep their text only when asked: compile once more, dumping all
    compiled = compile_graph(program.graph, program.updates, CompileOptions(dump="all"),
                             source=program.compiled.stage_text("graph"))
    out = []
    for stage in STAGES:
        text = compiled.stage_text(stage).splitlines()
        start = next((i for i, t in enumerate(text) if _FROM.get(stage, "") in t), 0)
        body = [t[:110] for t in text[start:start + lines]]
        out.append(f"`{stage}`:\n```\n" + "\n".join(body) + "\n...\n```")
    return "\n".join(out)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--update-readme", action="store_true")
    args = ap.parse_args(argv)
    text = excerpts()
    print(text)
    if args.update_readme:
        readme = ROOT / "README.md"
        old = readme.read_text()
        new, n = re.subn(re.escape(START) + r".*?" + re.escape(END),
                         lambda _: f"{START}\n{text}\n{END}", old, flags=re.S)
        if n != 1:
            raise SystemExit(f"{readme}: expected one {START} ... {END} block, found {n}")
        readme.write_text(new)
    return text


if __name__ == "__main__":
    main()
