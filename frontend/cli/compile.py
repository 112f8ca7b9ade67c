"""``kiln compile`` (compile a model's program, write stage dumps) and ``kiln ir`` (print one
stage).

The program is the one training (``train_step``) or inference (``predict``) runs, built for
one batch size exactly as ``fit``/``predict`` build it (the file's batch size, capped at its
training samples as ``fit`` caps it, or ``--batch-size``; so the ``graph`` stage of a training
step is its forward graph and loss, ``autodiff`` the graph with gradients and updates), on
the llvm backend with the requested stages recorded. The stage names are
:data:`compiler.pipeline.STAGES`, read at run time: the pipeline grows stages and the
command line follows without change.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from frontend.cli.errors import UsageError
from frontend.cli.loading import (DEFAULT_BATCH, PROGRAMS, LoadedModel, build_step, compiled_of,
                                  load, shrunk_batch_note)

if TYPE_CHECKING:   # imported when used: compiler.pipeline loads LLVM
    from compiler.pipeline import CompileOptions

__all__ = ["add_parsers", "parse_stages", "recording_options", "compile_stages", "run_compile",
           "run_ir"]

DEFAULT_PROGRAM = "train_step"


def stage_list() -> tuple[str, ...]:
    """The dumpable stages, in pipeline order (from the compiler, never a copy of it)."""
    from compiler.pipeline import STAGES
    return tuple(STAGES)


def parse_stages(text: str) -> list[str]:
    """``"all"`` or a comma-separated list of stage names, checked against the pipeline."""
    stages = stage_list()
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise UsageError(f"--dump: no stage named; stages are all, {', '.join(stages)}")
    if "all" in names:
        return list(stages)
    unknown = [s for s in names if s not in stages]
    if unknown:
        raise UsageError(f"unknown stage {unknown[0]!r}; stages are {', '.join(stages)}")
    return [s for s in stages if s in names]   # pipeline order, duplicates dropped


def _add_program_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--program", choices=list(PROGRAMS), default=DEFAULT_PROGRAM,
                   help=f"which program to compile (default {DEFAULT_PROGRAM}: forward, loss, "
                        f"backward and optimizer update)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help=f"batch size the program is specialized for (default: the one kiln train "
                        f"runs: the model file's, else {DEFAULT_BATCH}, at most the training "
                        f"samples)")


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
    """Register ``compile`` and ``ir`` on the subcommand set ``sub``."""
    stages = ", ".join(stage_list())
    p = sub.add_parser(
        "compile", parents=[common], help="compile a model's program; optionally dump stages",
        description="Compile one program of MODEL through the whole pipeline (warming the "
                    "compile cache) and write the chosen stages, one file per stage named "
                    "NN-stage.ext in pipeline order. Stages: " + stages + ".")
    p.add_argument("model", metavar="MODEL", help="model file (.toml, .json, or .py)")
    _add_program_options(p)
    p.add_argument("--dump", metavar="STAGES", default=None,
                   help="comma-separated stages to write, or 'all'")
    p.add_argument("--dump-dir", metavar="DIR", default=None,
                   help="where dumps go (default: kiln-dumps/<NAME>-<program>, NAME the MODEL "
                        "file's name without its extension)")
    p.set_defaults(run=run_compile)

    p = sub.add_parser(
        "ir", parents=[common], help="print one compile stage of a model's program",
        description="Print one stage of MODEL's compiled program to stdout. Stages: "
                    + stages + ".")
    p.add_argument("model", metavar="MODEL", help="model file (.toml, .json, or .py)")
    p.add_argument("--stage", required=True, metavar="STAGE", help="one of: " + stages)
    _add_program_options(p)
    p.set_defaults(run=run_ir)


def _batch(loaded: LoadedModel, args) -> tuple[int, str]:
    """The batch to compile for, and how to show it: ``--batch-size`` as given; else the one
    ``kiln train`` runs, the file's batch size (or the default) capped at its training samples
    (a 5-sample data set trains in batches of 5: a batch-32 program is one training never
    runs)."""
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        return args.batch_size, f"batch {args.batch_size}"
    asked = loaded.settings.batch_size or DEFAULT_BATCH
    batch = loaded.fit_batch(asked)
    if batch < asked:
        return batch, f"batch {batch}, {shrunk_batch_note(batch, asked)}"
    return batch, f"batch {batch}"


def recording_options(stages: list[str]) -> CompileOptions | None:
    """The compile options of the environment (``KILN_DEBUG``, ``KILN_DISABLE_PASSES`` ...)
    with ``stages`` recorded and no dump directory (the command writes the files itself,
    where it was told); None, the environment's options unchanged, when no stage is asked."""
    if not stages:
        return None
    from compiler.pipeline import CompileOptions
    return replace(CompileOptions.from_env(), dump=list(stages), dump_dir=None)


def compile_stages(loaded: LoadedModel, program: str, batch: int, stages: list[str]):
    """Build and compile ``program`` of ``loaded`` (on the llvm backend) for ``batch`` with
    ``stages`` recorded; returns the compiler's CompiledProgram."""
    return compiled_of(build_step(loaded, program, batch, recording_options(stages)))


def run_compile(args) -> int:
    stages = parse_stages(args.dump) if args.dump else []
    loaded = load(args.model, backend="llvm")
    batch, shown = _batch(loaded, args)
    dump_dir = args.dump_dir or f"kiln-dumps/{loaded.name}-{args.program}"
    compiled = compile_stages(loaded, args.program, batch, stages)
    kp = compiled.kernels
    seconds = sum(compiled.timings.values())
    event = compiled.cache_event
    cache = "cache off" if event is None else f"cache {event.kind}"
    print(f"{args.program} of {loaded.path} ({shown}): @{kp.name}, "
          f"{len(kp.kernels)} kernels, arena {_size(kp.arena_bytes)}, "
          f"compiled in {seconds:.2f} s ({cache})")
    if stages:
        written = compiled.dump(dump_dir, stages)
        print(f"wrote {len(written)} stage(s) to {dump_dir}:")
        for path in written:
            print(f"  {path}")
        done = {p.name.split("-", 1)[1].rsplit(".", 1)[0] for p in written}
        missing = [s for s in stages if s not in done]
        if missing:   # e.g. autodiff: a predict program has no gradients
            print(f"not available for this program: {', '.join(missing)}")
    return 0


def run_ir(args) -> int:
    stage = parse_stages(args.stage)
    if len(stage) != 1:
        raise UsageError(f"--stage takes one stage, got {args.stage!r}")
    loaded = load(args.model, backend="llvm")
    batch, shown = _batch(loaded, args)
    if shown != f"batch {batch}":   # not the file's batch size: say why (stdout is the IR)
        print(f"kiln ir: {shown}", file=sys.stderr)
    compiled = compile_stages(loaded, args.program, batch, stage)
    text = compiled.stage_text(stage[0])
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 ** 2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 ** 2:.1f} MiB"
