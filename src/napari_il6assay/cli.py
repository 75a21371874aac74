"""The ``il6assay`` command line.

This module only parses arguments and dispatches. Each subcommand lives in
``napari_il6assay.commands.<name>`` with two functions, ``add_arguments(parser)`` and
``run(args) -> int``; the science is in the core modules those call.

Exit codes: 0 success; 1 finished but some inputs failed (see ``errors.csv``); 2 usage or
input error, reported as one ``error:`` line on stderr (traceback only with ``--debug``).

Every way out of `main` is one of those codes: argparse's own two-line usage message is
replaced by one ``error:`` line (``_Parser.error``); an `OSError` while writing (read-only
disk, permission denied, disk full) becomes one line naming the file and the cause; and any
other exception is reported as an internal error on one line (still exit 2) rather than a
traceback, so scripts can rely on the exit codes. ``--debug`` re-raises everything.
The shared argument checks (`positive_float`, `worker_count`, `pixel_budget`) live here so
every command rejects the same nonsense with the same words.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

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


#: upper bound of ``--workers``: more processes than this is a typo, not a machine
MAX_WORKERS = 1024


class _UsageError(Exception):
    """Raised by `_Parser.error` instead of printing usage and exiting."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one ``error:`` line (the contract).

    argparse prints the usage block and ``prog: error: ...`` and exits; scripts parsing
    stderr expect the first line to start with ``error:``, so the message is raised instead
    and `main` prints it.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _number(text: str, convert: type[int] | type[float], what: str) -> float:
    """Convert an option's value with ``convert``, or refuse it as not ``what``."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def positive_float(text: str) -> float:
    """Check a finite number above 0 (an argparse ``type``): ``inf``, ``nan``, ``0`` are refused.

    Parameters
    ----------
    text : str
        The option's value.

    Returns
    -------
    float
    """
    v = _number(text, float, "a number")
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return v


def worker_count(text: str) -> int:
    """Check a worker count between 1 and `MAX_WORKERS` (an argparse ``type``)."""
    v = int(_number(text, int, "a whole number"))
    if not 1 <= v <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}, got {text}")
    return v


def pixel_budget(text: str) -> int:
    """Check ``--max-pixels``: a whole pixel count >= 1, ``2e9`` allowed (an argparse ``type``)."""
    v = _number(text, float, "a number")
    if not (math.isfinite(v) and v >= 1):
        raise argparse.ArgumentTypeError(f"must be a pixel count of at least 1, got {text!r}")
    return int(v)


def parse_voxel_size(text: str | None) -> tuple[float, float, float] | None:
    """``--voxel-size Z,Y,X`` (segment and batch): ``"2,0.5,0.5"`` -> ``(2.0, 0.5, 0.5)``.

    Parameters
    ----------
    text : str or None
        The option's value; None when it was not given.

    Returns
    -------
    tuple of float or None
        Three finite positive sizes in µm, or None.

    Raises
    ------
    InputError
        Naming ``--voxel-size`` for anything but three finite positive numbers.
    """
    if text is None:
        return None
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(math.isfinite(v) and v > 0 for v in vals):
        from napari_il6assay.errors import InputError

        raise InputError(
            f"--voxel-size must be three positive numbers Z,Y,X in um, got {text!r}",
            column="--voxel-size",
        )
    return vals


def check_out_dir(out: str | Path, *, create: bool = False) -> Path:
    """Check that ``out`` is (or can become) a writable folder, before any work is done.

    Parameters
    ----------
    out : str or Path
        The ``--out`` folder.
    create : bool
        Create it (with parents) when missing. Commands whose core checks ``out`` against
        the input folder first (``batch``) leave the creation to it.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        Naming the folder and the cause: a file in the way, no permission, a read-only disk,
        a folder that cannot be created.
    """
    import os
    import tempfile

    from napari_il6assay.errors import InputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("--out exists and is not a folder", path=out)
    anc = out
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise InputError(f"cannot create the output folder: '{anc}' is not a folder", path=out)
    if not os.access(anc, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only(anc) else "permission denied"
        raise InputError(f"the output folder is not writable ({why})", path=out)
    try:
        if create:
            out.mkdir(parents=True, exist_ok=True)
        if out.is_dir():
            # the only sure test of "writable" (root, ACLs, read-only mounts, /proc)
            with tempfile.TemporaryFile(dir=out):
                pass
    except OSError as exc:
        raise InputError(
            f"the output folder is not writable ({exc.strerror or exc})", path=out
        ) from exc
    return out


def _read_only(path: Path) -> bool:
    import os

    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _os_error_line(exc: OSError, command: str | None = None, out: str | None = None) -> str:
    """One line for an OSError: the file, the cause, and what to do about it.

    Parameters
    ----------
    exc : OSError
        The error (``filename`` names the file when the OS said which).
    command : str, optional
        The subcommand; ``batch`` and ``demo`` keep finished images, so a full disk
        suggests ``--resume``.
    out : str, optional
        The command's ``--out``, named when the OS did not say which file failed (a write
        that fills the disk has no file name).

    Returns
    -------
    str
        The message without the ``error:`` prefix.
    """
    where = exc.filename if exc.filename is not None else (f"writing to {out}" if out else "")
    cause = exc.strerror or str(exc) or type(exc).__name__
    line = f"{where}: {cause}" if where else cause
    if exc.errno == errno.ENOSPC:
        line += "; free some space or choose another --out"
        if command == "batch":
            line += " (finished images are kept: the same command with --resume continues)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        line += "; choose a writable --out"
    return line


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    Only the subcommand named in ``argv`` (if any) imports its module, so ``--help`` and
    every command start fast.
    """
    parser = _Parser(
        prog="il6assay",
        description="Plate images of drug-resistance assays to IC50s, fold resistance and synergy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = None
    if argv:
        wanted = next((a for a in argv if a in COMMANDS), None)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        if name == wanted:
            module = importlib.import_module(f"napari_il6assay.commands.{name}")
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version exit 0
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 2
    if args.command is None:
        parser.print_help()
        return 2
    # build_parser gave the one subcommand named in argv its module's run function
    run = args._run
    debug = debug or bool(args.debug)
    try:
        with warnings.catch_warnings():
            if not debug:
                # numpy's overflow/divide chatter on odd data is noise before an error line;
                # the results say what went wrong (note, qc_flag, errors.csv)
                warnings.simplefilter("ignore", RuntimeWarning)
            return int(run(args) or 0)
    except Il6AssayError as exc:
        if debug:
            raise
        msg = str(exc).replace("\n", "\n  ")
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # read-only or full disk, permission denied, ...
        if debug:
            raise
        out = getattr(args, "out", None)
        print(f"error: {_os_error_line(exc, args.command, out)}", file=sys.stderr)
        return 2
    except MemoryError:
        if debug:
            raise
        print("error: not enough memory (try smaller images or fewer --workers)", file=sys.stderr)
        return 2
    except Exception as exc:  # the last resort: no traceback for users (--debug re-raises)
        if debug:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"error: internal error in '{args.command}': {type(exc).__name__}: {reason} "
            "(a bug: please report it; --debug shows the traceback)",
            file=sys.stderr,
        )
        return 2
