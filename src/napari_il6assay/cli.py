"""The ``il6assay`` command line.

This module only parses arguments and dispatches. Each subcommand lives in
``napari_il6assay.commands.<name>`` with two functions, ``add_arguments(parser)`` and
``run(args) -> int``; the science is in the core modules those call.

Exit codes: 0 success; 1 finished but some inputs failed (see ``errors.csv``); 2 usage or
input error, reported as one ``error:`` line on stderr (traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from napari_il6assay import __version__
from napari_il6assay.errors import Il6AssayError

COMMANDS: dict[str, str] = {
    "demo": "run the whole pipeline on the example experiment in sample_data/",
    "layout": "check a plate layout and print a summary, or its errors",
    "segment": "segment and measure single images",
    "batch": "a plate folder end to end: segment, join the layout, fit, export",
    "fit": "dose-response fits from a tidy table",
    "synergy": "combination scores (Bliss, HSA, Loewe, ZIP) from a tidy table",
    "train": "train a pixel classifier from scribbles (for --classifier)",
    "quantify": "standard curve (ELISA) and back-interpolated sample concentrations",
}


def _load(name: str):  # noqa: ANN202 - a module or None
    try:
        return importlib.import_module(f"napari_il6assay.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"napari_il6assay.commands.{name}":
            return None
        raise


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    Only the subcommand named in ``argv`` (if any) imports its module, so ``--help`` and
    every command start fast.
    """
    parser = argparse.ArgumentParser(
        prog="il6assay",
        description="Plate images of drug-resistance assays to IC50s, fold resistance and synergy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if a in COMMANDS), None)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        if name == wanted:
            module = _load(name)
            if module is not None:
                module.add_arguments(p)
                p.set_defaults(_run=module.run)
            else:
                p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    run = getattr(args, "_run", None)
    if run is None:
        print(f"error: '{args.command}' is not available yet in this version", file=sys.stderr)
        return 2
    try:
        return int(run(args) or 0)
    except Il6AssayError as exc:
        if args.debug:
            raise
        msg = str(exc).replace("\n", "\n  ")
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
