"""``il6assay layout FILE [--plate-format 96]``: check a plate layout and print its summary."""

from __future__ import annotations

import argparse

from napari_il6assay.io.plate import PLATE_FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``layout`` command's arguments."""
    parser.add_argument("file", metavar="FILE", help="layout file (.csv, .tsv or .xlsx)")
    parser.add_argument(
        "--plate-format",
        type=int,
        default=96,
        choices=tuple(PLATE_FORMATS),
        help="wells per plate (default 96)",
    )


def run(args: argparse.Namespace) -> int:
    """Read and check the layout; print its summary. Errors raise `LayoutError` (exit 2)."""
    import sys

    from napari_il6assay.io.layout import read_layout

    layout = read_layout(args.file, plate_format=args.plate_format)
    for w in layout.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(layout.summary())
    return 0
