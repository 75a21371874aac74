"""Plate-reader exports: an 8x12 or 16x24 grid of readings, as CSV/TSV or XLSX.

Readers (BioTek Gen5, Tecan Magellan/Spark, BMG, Molecular Devices) export the plate as a grid
with the column numbers across the top and the row letters down the side, usually below a
header block (instrument, protocol, wavelength, date). `read_plate_grid` finds the grid itself
instead of relying on a fixed offset: the first row holding the run ``1, 2, ..., 12`` (or
``24``) with the letters ``A..H`` (``A..P``) in the column left of the ``1`` on the rows below.
Everything above and beside it is ignored; a second grid (another wavelength) is picked with
``grid=1``.

Rules decided here:

- a grid row with fewer cells than the header (a ragged row) is an error, and so is one with
  more values unless every row has the same extra cells (a label column some readers add);
- a cell that is not a number (``OVRFLW``, ``*``, ``n/a``) is an error naming its row and
  column: an overflowed well has no reading, and silently dropping it would hide that;
- an empty cell is a well that was not read (NaN);
- with ``;`` or tab separators a decimal comma (``0,123``) is read as a decimal point.

`join_layout` pairs the readings with a quantify layout (``well, role, concentration, unit,
sample, dilution``) and returns the tidy table `doseresponse.quantify.quantify` takes.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from napari_il6assay.errors import InputError
from napari_il6assay.io.cells import cell_int, cell_text
from napari_il6assay.io.plate import PLATE_FORMATS, canonical_well, row_letters, well_name

__all__ = ["read_plate_grid", "join_layout", "is_grid_file"]

#: plate columns -> plate rows of the plates readers export as a grid (96 and 384 wells)
_SHAPES = {nc: nr for nr, nc in (PLATE_FORMATS[96], PLATE_FORMATS[384])}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")


def _rows_from_text(path: Path) -> tuple[list[list[Any]], str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=path) from exc
    if b"\x00" in raw[:4096]:
        raise InputError("not a text table (binary content)", path=path)
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    lines = [ln for ln in text.splitlines() if ln.strip()]
    counts = {d: sum(ln.count(d) for ln in lines[:200]) for d in ("\t", ";", ",")}
    sep = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep)]
    return rows, sep


def _rows_from_xlsx(path: Path, sheet: str | None) -> list[list[Any]]:
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, data_only=True, read_only=True)
    except Exception as exc:  # zip/xml errors of all kinds, re-raised as ours
        raise InputError(f"not a readable XLSX workbook: {exc}", path=path) from exc
    if sheet is not None and sheet not in wb.sheetnames:
        raise InputError(f"no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})", path=path)
    ws = wb[sheet] if sheet is not None else wb.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def _trimmed_len(r: list[Any]) -> int:
    n = len(r)
    while n and cell_text(r[n - 1]) == "":
        n -= 1
    return n


def _find_grids(rows: list[list[Any]]) -> list[tuple[int, int, int]]:
    """``(header row index, column index of '1', n columns)`` of every grid in the rows."""
    found = []
    i = 0
    while i < len(rows):
        r = rows[i]
        hit = None
        for j, v in enumerate(r):
            if cell_int(v) != 1 or j == 0:
                continue
            n = 0
            while j + n < len(r) and cell_int(r[j + n]) == n + 1:
                n += 1
            if n in _SHAPES and i + 1 < len(rows):
                nxt = rows[i + 1]
                if j - 1 < len(nxt) and cell_text(nxt[j - 1]).upper() == "A":
                    hit = (i, j, n)
                    break
        if hit:
            found.append(hit)
            i += _SHAPES[hit[2]] + 1
        else:
            i += 1
    return found


def _number(v: Any, decimal_comma: bool) -> float | None:
    """Return the cell as a float; None when it is text that is not a number."""
    if v is None:
        return float("nan")
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    if s == "":
        return float("nan")
    if decimal_comma and _DECIMAL_COMMA.match(s):
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


def read_plate_grid(path: str | Path, *, grid: int = 0, sheet: str | None = None) -> Any:
    """Read the readings of a plate reader's grid export.

    Parameters
    ----------
    path : str or Path
        CSV/TSV/TXT or XLSX.
    grid : int
        Which grid, when the file holds several (e.g. two wavelengths); 0 = the first.
    sheet : str, optional
        XLSX sheet (default: the first).

    Returns
    -------
    DataFrame
        One row per well: ``well`` (canonical ``A01``), ``response``, and ``_row`` / ``_column``
        (the file row, 1-based, and the plate column) for messages.

    Raises
    ------
    InputError
        No grid found, or a ragged row / text cell / missing row (naming the row and column).
    """
    import numpy as np
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", path=p)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        rows, decimal_comma = _rows_from_xlsx(p, sheet), False
    else:
        rows, sep = _rows_from_text(p)
        decimal_comma = sep in (";", "\t")
    grids = _find_grids(rows)
    if not grids:
        raise InputError("no plate grid found: expected a row 1..12 (or 1..24) with the row "
                         "letters A..H (A..P) below it, left of the '1'", path=p)  # fmt: skip
    if grid >= len(grids):
        raise InputError(f"grid {grid} asked for, but the file holds {len(grids)}", path=p)
    hi, j0, n_cols = grids[grid]
    n_rows = _SHAPES[n_cols]
    body = rows[hi + 1 : hi + 1 + n_rows]
    want = j0 + n_cols
    lengths = [_trimmed_len(r) for r in body]
    uniform_extra = len(set(lengths)) == 1 and lengths[0] > want
    out = []
    for k in range(n_rows):
        file_row = hi + 2 + k
        letter = row_letters(k + 1)
        if k >= len(body) or j0 - 1 >= len(body[k]) or cell_text(body[k][j0 - 1]).upper() != letter:
            raise InputError(f"the grid stops before plate row {letter}: {n_rows} rows "
                             f"A..{row_letters(n_rows)} expected",
                             path=p, row=file_row, column="row letter")  # fmt: skip
        r = body[k]
        if lengths[k] < want and len(r) < want:
            raise InputError(f"ragged row {letter}: {n_cols} values expected, found "
                             f"{max(len(r) - j0, 0)}", path=p, row=file_row,
                             column=str(max(len(r) - j0, 0) + 1))  # fmt: skip
        if lengths[k] > want and not uniform_extra:
            raise InputError(f"ragged row {letter}: more than {n_cols} values",
                             path=p, row=file_row, column=str(n_cols + 1))  # fmt: skip
        for c in range(n_cols):
            v = r[j0 + c] if j0 + c < len(r) else None
            x = _number(v, decimal_comma)
            if x is None:
                raise InputError(f"not a number: {cell_text(v)!r}", path=p, row=file_row,
                                 column=str(c + 1), well=well_name(k + 1, c + 1))  # fmt: skip
            out.append((well_name(k + 1, c + 1), x, file_row, c + 1))
    df = pd.DataFrame(out, columns=["well", "response", "_row", "_column"])
    df["response"] = df["response"].astype(float)
    if not np.isfinite(df["response"]).any():
        raise InputError("the plate grid holds no readings", path=p, row=hi + 1)
    return df


def is_grid_file(path: str | Path) -> bool:
    """Tell whether the file is a grid export, not a tidy table.

    A tidy table has a header row with ``well`` and ``role`` or ``response``.
    """
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _rows_from_xlsx(p, None)[:30]
    else:
        rows = _rows_from_text(p)[0][:30]
    for r in rows:
        cols = {cell_text(v).lower() for v in r}
        if "well" in cols and ({"response", "role"} & cols):
            return False
    return True


def join_layout(readings: Any, layout: Any, layout_path: str | Path | None = None) -> Any:
    """Join a grid export to its layout: the tidy quantify table, each well with its reading.

    Parameters
    ----------
    readings : DataFrame
        From `read_plate_grid`.
    layout : DataFrame
        ``well, role`` and, as needed, ``concentration, unit, sample, dilution`` (rows as read
        from the file; the header is spreadsheet row 1).
    layout_path : str or Path, optional
        For messages.

    Returns
    -------
    DataFrame
        ``well, role, concentration, unit, sample, dilution, response`` plus ``_row`` (the
        layout row, so later checks name the layout file's row).

    Raises
    ------
    InputError
        A layout without ``well``/``role`` columns, a well id that cannot be read, or a well
        outside the grid.
    """
    import numpy as np

    lay = layout.reset_index(drop=True).copy()
    lay.columns = [str(c).strip().lower() for c in lay.columns]
    for col in ("well", "role"):
        if col not in lay.columns:
            raise InputError(f"missing column '{col}'", path=layout_path, column=col)
    wells = []
    for i, w in enumerate(lay["well"]):
        try:
            wells.append(canonical_well(str(w)))
        except ValueError:
            raise InputError(f"not a well id: {w!r}", path=layout_path, row=i + 2,
                             column="well") from None  # fmt: skip
    lay["well"] = wells
    lay["_row"] = np.arange(len(lay)) + 2
    by_well = readings.set_index("well")["response"]
    missing = [i for i, w in enumerate(wells) if w not in by_well.index]
    if missing:
        i = missing[0]
        raise InputError("well not on the plate grid", path=layout_path, row=i + 2,
                         column="well", well=wells[i])  # fmt: skip
    if "response" in lay.columns:
        lay = lay.drop(columns="response")
    lay["response"] = by_well.reindex(lay["well"]).to_numpy()
    return lay
