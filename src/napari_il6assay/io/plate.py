"""Plate formats and well names: the one place that knows ``A01`` and an 8 x 12 grid.

Wells are canonical zero-padded ids (``A01``, ``P24``); rows and columns are 1-based.
"""

from __future__ import annotations

import re

__all__ = [
    "PLATE_FORMATS",
    "canonical_well",
    "split_well",
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


def well_name(row: int, column: int) -> str:
    """Canonical well id from a 1-based row and column.

    Examples
    --------
    >>> well_name(2, 7), well_name(27, 1)
    ('B07', 'AA01')
    """
    letters = ""
    r = int(row)
    while r > 0:
        r, k = divmod(r - 1, 26)
        letters = chr(ord("A") + k) + letters
    return f"{letters}{column:02d}"


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
    row = 0
    for ch in m.group(1).upper():
        row = row * 26 + (ord(ch) - ord("A") + 1)
    return row, int(m.group(2))


def canonical_well(well: str) -> str:
    """The canonical id of a well id as people write it: ``"a1"`` -> ``"A01"``.

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
