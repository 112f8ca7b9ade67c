"""The ``kiln`` command: argument parsing, dispatch to a subcommand, and error reporting.

Every subcommand module registers its parser (``add_parser``/``add_parsers``) and sets
``run``, a function of the parsed arguments returning the exit status. This module turns any
failure into one line on stderr (:mod:`frontend.cli.errors`), with the traceback only under
``--debug``, accepted before or after the subcommand.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from frontend.cli.errors import EXIT_ERROR, EXIT_USAGE, CliError, describe

__all__ = ["main", "build_parser"]

EPILOG = """\
MODEL is a declared model file (.toml or .json: parsed, never executed; sections [model],
[compile], [training], [dataset] and [smoke]) or a Python file that defines `model` (a
compiled kiln model) and optionally `data`, `training` and `smoke` (what --smoke changes).
A Python model file is EXECUTED, like `python file.py`: run only files you trust.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2), like every other kiln error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("kiln")
    except Exception:   # running from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, subcommands included."""
    from frontend.cli import bench, compile, predict, train

    # SUPPRESS: --debug after the subcommand must not be reset by the subparser's default.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = _Parser(prog="kiln", parents=[common], epilog=EPILOG,
                     description="kiln: train, run, inspect and benchmark models compiled "
                                 "through LLVM.")
    parser.add_argument("--version", action="version", version=f"kiln {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    train.add_parser(sub, common)
    predict.add_parser(sub, common)
    compile.add_parsers(sub, common)
    bench.add_parser(sub, common)
    for p in sub.choices.values():
        p.epilog = EPILOG
        p.set_defaults(command_parser=p)   # for usage errors found after parsing
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kiln`` command line; returns the exit status."""
    parser = build_parser()
    # parse_known_args: an unknown option after the subcommand is that subcommand's usage
    # error ("kiln train: error: ..."), which plain parse_args reports as the top level's
    args, extras = parser.parse_known_args(argv)
    if getattr(args, "run", None) is None:
        parser.error("a command is required: train, predict, compile, ir or bench")
    if extras:
        args.command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    # the arguments as given: `kiln bench --threads N` runs them again in a child process
    args.command_line = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    debug = getattr(args, "debug", False)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("kiln: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `kiln ir ... | head`: the reader left; Python must not complain at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as e:
        if debug:
            traceback.print_exc()
        status = e.status if isinstance(e, CliError) else EXIT_ERROR
        model = getattr(args, "model", None)
        user_file = model if isinstance(model, str) and model.endswith(".py") else None
        print(f"kiln {args.command}: error: {describe(e, user_file)}", file=sys.stderr)
        return status
