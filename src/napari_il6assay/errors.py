"""The package's own error types.

Every error that bad input can cause is one of these, so the command line can print one
``error:`` line (exit code 2) and the GUI a notification, instead of a traceback. Each
carries where the problem is: the file, and the row, column or well where it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class Il6AssayError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True)
class Location:
    """Where in an input a problem is.

    Parameters
    ----------
    path : str or Path, optional
        The input file.
    row : int, optional
        1-based row as a spreadsheet shows it (the header is row 1).
    column : str, optional
        Column name.
    well : str, optional
        Well id such as ``A01``.
    """

    path: str | Path | None = None
    row: int | None = None
    column: str | None = None
    well: str | None = None

    def __str__(self) -> str:
        """Name the place, e.g. ``"plate.csv, row 3, column 'dose'"``."""
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.well is not None:
            parts.append(f"well {self.well}")
        return ", ".join(parts)


class InputError(Il6AssayError):
    """Bad input: a file, value or argument that cannot be used.

    Parameters
    ----------
    message : str
        What is wrong, and what was expected.
    path, row, column, well : optional
        Where it is (see `Location`).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        well: str | None = None,
    ) -> None:
        self.location = Location(path=path, row=row, column=column, well=well)
        self.reason = message
        where = str(self.location)
        super().__init__(f"{where}: {message}" if where else message)


class ImageReadError(InputError):
    """An image file that cannot be read or has an unsupported shape."""


class LayoutError(InputError):
    """A plate layout with one or more problems.

    Parameters
    ----------
    problems : list of InputError
        Every problem found, each with its own location; the message lists them all.
    path : str or Path, optional
        The layout file.
    """

    def __init__(self, problems: list[InputError], *, path: str | Path | None = None) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            p = self.problems[0]
            super().__init__(
                p.reason,
                path=p.location.path or path,
                row=p.location.row,
                column=p.location.column,
                well=p.location.well,
            )
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(f"{len(self.problems)} problems in the layout:\n{lines}", path=path)


class SegmentationError(Il6AssayError):
    """Segmentation could not produce a result for an image (e.g. wrong channel count)."""


class FitError(Il6AssayError):
    """A dose-response table that cannot be fitted at all (per-curve problems go in ``note``)."""
