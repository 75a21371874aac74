"""Plate formats and well names: the one place that knows ``A01`` and an 8 x 12 grid.

Wells are canonical zero-padded ids (``A01``, ``P24``); rows and columns are 1-based. A well
of a plate, as one text (GUI selections and exclusions, ``run.json`` lists, the wells behind a
figure's points), is its `well_key`: ``P1/A01``, or ``A01`` when there is no plate id. Plate ids
may hold ``/`` (photos in sub-folders), well ids never do: `split_well_key` splits at the last.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from napari_il6assay.io.cells import cell_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "PLATE_FORMATS",
    "canonical_well",
    "row_letters",
    "row_number",
    "split_well",
    "split_well_key",
    "well_key",
    "well_keys",
    "well_name",
    "well_names",
]

#: rows x columns of the plate formats
PLATE_FORMATS: dict[int, tuple[int, int]] = {
    6: (2, 3),
    12: (3, 4),
    24: (4, 6),
    48: (6, 8),
    96: (8, 12),
    384: (16, 24),
}

#: a well id: one or two row letters (AA.. for plates beyond 26 rows), a column number
_WELL = re.compile(r"\s*([A-Za-z]{1,2})\s*0*(\d{1,3})\s*")


def row_letters(row: int) -> str:
    """Letters of a 1-based plate row: ``A`` .. ``Z``, then ``AA``, ``AB`` ...

    Spreadsheets letter their columns the same way (column 28 is ``AB``).

    Examples
    --------
    >>> row_letters(1), row_letters(8), row_letters(27)
    ('A', 'H', 'AA')
    """
    letters = ""
    r = int(row)
    while r > 0:
        r, k = divmod(r - 1, 26)
        letters = chr(ord("A") + k) + letters
    return letters


def row_number(letters: str) -> int:
    """1-based plate row of its letters, in either case: the inverse of `row_letters`.

    Examples
    --------
    >>> row_number("A"), row_number("h"), row_number("AA")
    (1, 8, 27)
    """
    row = 0
    for ch in str(letters).strip().upper():
        row = row * 26 + (ord(ch) - ord("A") + 1)
    return row


def well_name(row: int, column: int) -> str:
    """Canonical well id from a 1-based row and column.

    Examples
    --------
    >>> well_name(2, 7), well_name(27, 1)
    ('B07', 'AA01')
    """
    return f"{row_letters(row)}{column:02d}"


def split_well(well: str) -> tuple[int, int]:
    """1-based ``(row, column)`` of a canonical or plain well id (``a1``, ``B07``, ``AA01``).

    Raises
    ------
    ValueError
        For text that is no well id.

    Examples
    --------
    >>> split_well("B07"), split_well(" c 3 ")
    ((2, 7), (3, 3))
    """
    m = _WELL.fullmatch(str(well))
    if not m:
        raise ValueError(f"not a well id: {well!r}")
    row, col = row_number(m.group(1)), int(m.group(2))
    # "ZZ9" or "A0" match the pattern but lie on no plate there is: a typo, not a well
    max_rows = max(r for r, _ in PLATE_FORMATS.values())
    max_cols = max(c for _, c in PLATE_FORMATS.values())
    if not (1 <= row <= max_rows and 1 <= col <= max_cols):
        raise ValueError(f"not a well id: {well!r} (no plate has it)")
    return row, col


def canonical_well(well: str) -> str:
    """Return the canonical id of a well id as people write it: ``"a1"`` -> ``"A01"``.

    Raises
    ------
    ValueError
        For text that is no well id.
    """
    return well_name(*split_well(well))


def well_names(plate_format: int) -> list[str]:
    """Canonical well ids of a plate format in A01, A02, ... order (row-major).

    Examples
    --------
    >>> well_names(6)
    ['A01', 'A02', 'A03', 'B01', 'B02', 'B03']
    """
    nr, nc = PLATE_FORMATS[plate_format]
    return [well_name(i, j) for i in range(1, nr + 1) for j in range(1, nc + 1)]


def well_key(plate: Any, well: Any) -> str:
    """Name a well of a plate in one text: ``"P1/A01"``, or ``"A01"`` for a blank plate id.

    Examples
    --------
    >>> well_key("P1", "A01"), well_key("", "A01"), well_key(float("nan"), "B02")
    ('P1/A01', 'A01', 'B02')
    """
    p = cell_text(plate)
    return f"{p}/{well}" if p else str(well)


def well_keys(plates: pd.Series | None, wells: pd.Series) -> pd.Series:
    """`well_key` of every row (``plates`` None: no plate ids), as a column of text."""
    from napari_il6assay.io.cells import text_column

    w = text_column(wells)
    if plates is None:
        return w
    p = text_column(plates)
    return (p + "/" + w).where(p != "", w)


def split_well_key(key: str) -> tuple[str, str]:
    """``(plate, well)`` of a `well_key`: ``"sub/P1/A01"`` -> ``("sub/P1", "A01")``.

    Examples
    --------
    >>> split_well_key("P1/A01"), split_well_key("A01")
    (('P1', 'A01'), ('', 'A01'))
    """
    plate, _, well = str(key).strip().rpartition("/")
    return plate, well
