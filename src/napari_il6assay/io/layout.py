"""Plate layouts: which cell line, drug and dose is in each well.

`read_layout` reads a long-form CSV/TSV/XLSX table (one row per well) or an XLSX grid
workbook (one 8x12 or 16x24 sheet per column name), converts concentrations to molar, checks
everything, and returns a `Layout`. Every problem in the file is collected and reported at
once in a `LayoutError`, each with its file, spreadsheet row (header = row 1), column and well.

Rules that the public interface leaves open, decided here:

- ``role`` defaults to ``sample``; a sample at concentration 0 is a vehicle well (its role
  becomes ``vehicle``); a vehicle's empty concentration means 0.
- Blank and excluded wells need no cell line, drug or concentration.
- Concentrations may also be written with their unit in the cell (``10 nM``).
- Mass units (``ug/mL``, ``ng/mL``, ``mg/mL``) are accepted for the second agent only
  (``drug_b``, e.g. an antibody); its ``concentration_b_M`` is then NaN and the value is kept as
  given. The first drug needs a molar unit, since IC50s are reported in molar.
- Rows whose first cell starts with ``#`` and blank rows are skipped; columns not in the
  layout format are ignored (the summary names them).
- A row with more fields than the header (a stray separator, a comma inside an unquoted
  name) keeps its first fields and gets a warning (`Layout.warnings`), not an error.
- ``parental`` must name a cell line of the same layout (any plate), and not the row's own
  line: otherwise fold resistance would silently be missing or 1.
- Without a ``plate`` column the layout applies to every plate (``plate`` is empty).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_il6assay.errors import InputError, LayoutError
from napari_il6assay.io.cells import cell_int, is_missing
from napari_il6assay.io.plate import (
    PLATE_FORMATS,
    row_letters,
    row_number,
    split_well,
    well_name,
)
from napari_il6assay.io.units import (
    MASS_UNITS,
    MOLAR_FACTORS,
    canon_unit,
    format_molar,
    to_molar,
    unit_key,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Layout",
    "read_layout",
    "write_layout",
    "layout_from_frame",
    "to_molar",
    "PLATE_FORMATS",
    "LAYOUT_COLUMNS",
    "INPUT_COLUMNS",
    "OPTIONAL_COLUMNS",
    "TEXT_COLUMNS",
]


#: optional columns of a layout: left out of a written layout (and of ``wells.csv``) when no
#: well uses them
OPTIONAL_COLUMNS = ("cells_seeded", "passage", "dilution", "sample")

#: columns of a layout file (what `write_layout` writes and `read_layout` reads)
INPUT_COLUMNS = [
    "plate",
    "well",
    "cell_line",
    "drug",
    "concentration",
    "unit",
    "drug_b",
    "concentration_b",
    "unit_b",
    "role",
    "replicate",
    "parental",
    *OPTIONAL_COLUMNS,
]

#: what `read_layout` derives, placed after the file column it comes from: the well's row and
#: column, and the doses in molar
_DERIVED = {"well": ("row", "column"), "unit": ("concentration_M",),
            "unit_b": ("concentration_b_M",)}  # fmt: skip

#: columns of `Layout.table`, in order
LAYOUT_COLUMNS = [c for col in INPUT_COLUMNS for c in (col, *_DERIVED.get(col, ()))]

#: columns of `Layout.table` that hold text (``str``), also where they look like numbers: a
#: replicate or passage ``1`` stays "1" (a number column with an empty cell would read 1.0)
TEXT_COLUMNS = ("plate", "well", "cell_line", "drug", "unit", "drug_b", "unit_b", "role",
                "replicate", "parental", "passage", "sample")  # fmt: skip

ROLES = ("sample", "vehicle", "blank", "exclude")


_ALIASES = {
    "well": "well",
    "well_id": "well",
    "wellid": "well",
    "position": "well",
    "cell_line": "cell_line",
    "cellline": "cell_line",
    "cell": "cell_line",
    "cells": "cell_line",
    "line": "cell_line",
    "drug": "drug",
    "compound": "drug",
    "treatment": "drug",
    "drug_a": "drug",
    "concentration": "concentration",
    "conc": "concentration",
    "dose": "concentration",
    "concentration_a": "concentration",
    "unit": "unit",
    "units": "unit",
    "concentration_unit": "unit",
    "unit_a": "unit",
    "drug_b": "drug_b",
    "drug2": "drug_b",
    "drug_2": "drug_b",
    "agent_b": "drug_b",
    "concentration_b": "concentration_b",
    "conc_b": "concentration_b",
    "concentration2": "concentration_b",
    "concentration_2": "concentration_b",
    "unit_b": "unit_b",
    "units_b": "unit_b",
    "unit2": "unit_b",
    "unit_2": "unit_b",
    "role": "role",
    "type": "role",
    "well_type": "role",
    "replicate": "replicate",
    "rep": "replicate",
    "plate": "plate",
    "plate_id": "plate",
    "parental": "parental",
    "parent": "parental",
    "parental_line": "parental",
    "cells_seeded": "cells_seeded",
    "seeded": "cells_seeded",
    "cells_per_well": "cells_seeded",
    "seeding_density": "cells_seeded",
    "passage": "passage",
    "generation": "passage",
    "dilution": "dilution",
    "dilution_factor": "dilution",
    "sample": "sample",
    "sample_name": "sample",
}
_ROLE_ALIASES = {
    "": "sample",
    "sample": "sample",
    "treated": "sample",
    "treatment": "sample",
    "vehicle": "vehicle",
    "control": "vehicle",
    "ctrl": "vehicle",
    "untreated": "vehicle",
    "dmso": "vehicle",
    "blank": "blank",
    "empty": "blank",
    "background": "blank",
    "medium": "blank",
    "no_cells": "blank",
    "exclude": "exclude",
    "excluded": "exclude",
    "skip": "exclude",
    "ignore": "exclude",
}
_NUM_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*)$")


def _canon_col(name: Any) -> str:
    s = str(name if name is not None else "").strip().lower()
    s = re.sub(r"[\s\-./]+", "_", s).strip("_")
    return _ALIASES.get(s, s)


# --------------------------------------------------------------------------------------------
# the Layout object
# --------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """A checked plate layout.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per well, columns `LAYOUT_COLUMNS`, sorted by plate, row and column. ``row``
        and ``column`` are 1-based integers; ``concentration_M`` and ``concentration_b_M``
        are molar (NaN for mass units or when not given).
    path : Path or None
        The file it was read from.
    plate_format : int
        Wells per plate (6, 12, 24, 48, 96 or 384).
    ignored_columns : list of str
        Columns of the file that are not part of the layout format.
    warnings : list of str
        Things that were read but look wrong (e.g. rows with more fields than the header);
        ``il6assay layout`` prints them.
    """

    table: pd.DataFrame
    path: Path | None = None
    plate_format: int = 96
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        """Return the number of wells."""
        return len(self.table)

    def summary(self) -> str:
        """Describe the layout in a few lines: wells per role and cell line, drugs, doses."""
        return _summary(self)

    def to_csv(self, path: str | Path) -> None:
        """Write the layout as a long-form CSV that `read_layout` reads back."""
        write_layout(self, path)


def _summary(layout: Layout) -> str:
    t = layout.table
    name = layout.path.name if layout.path is not None else "layout"
    roles = t["role"].value_counts()
    role_txt = ", ".join(f"{int(roles[r])} {r}" for r in ROLES if r in roles.index)
    lines = [f"{name}: {layout.plate_format}-well plate, {len(t)} wells ({role_txt})"]
    plates = [p for p in t["plate"].dropna().unique().tolist() if p]
    if plates:
        lines.append(f"plates: {', '.join(map(str, plates))}")
    lines.append("cell lines:")
    for line, g in t.dropna(subset=["cell_line"]).groupby("cell_line", sort=True):
        par = g["parental"].dropna().unique().tolist()
        extra = f"; parental: {', '.join(map(str, par))}" if par else ""
        per_role = g["role"].value_counts()
        txt = ", ".join(f"{int(per_role[r])} {r}" for r in ROLES if r in per_role.index)
        lines.append(f"  {line}: {len(g)} wells ({txt}){extra}")
    samples = t[t["role"] == "sample"]
    if len(samples):
        lines.append("drugs:")
        for drug, g in samples.groupby("drug", sort=True):
            c = g["concentration_M"].dropna()
            lines_used = ", ".join(sorted(g["cell_line"].dropna().unique().tolist()))
            if len(c):
                rng = (
                    f"{format_molar(c.min(), digits=4, micro='u')} to "
                    f"{format_molar(c.max(), digits=4, micro='u')}"
                )
            else:
                rng = "no molar concentration"
            lines.append(
                f"  {drug}: {c.nunique()} concentrations, {rng}, {len(g)} wells ({lines_used})"
            )
    combo = t[t["drug_b"].notna() & (t["role"] != "exclude")]
    if len(combo):
        lines.append("second agents:")
        for drug_b, g in combo.groupby("drug_b", sort=True):
            vals = sorted(
                {
                    f"{v:g} {u}"
                    for v, u in zip(g["concentration_b"], g["unit_b"], strict=True)
                    if v == v
                },  # v == v: not NaN
                key=lambda s: float(s.split()[0]),
            )
            lines.append(f"  {drug_b}: {', '.join(vals)} ({len(g)} wells)")
    if layout.ignored_columns:
        lines.append(f"ignored columns: {', '.join(layout.ignored_columns)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# reading files into records
# --------------------------------------------------------------------------------------------


@dataclass
class _Record:
    values: dict[str, str]
    rows: dict[str, int]  # spreadsheet row of each value (grid sheets differ per column)
    default_row: int
    where: dict[str, str] = field(default_factory=dict)  # e.g. "sheet 'drug' cell E4"

    def row(self, col: str) -> int:
        return self.rows.get(col, self.default_row)


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v).strip()


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _read_delimited(path: Path, sep: str | None) -> tuple[list[list[str]], list[int]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LayoutError(
            [InputError(f"cannot read the file ({exc.strerror or exc})", path=path)], path=path
        ) from exc
    if b"\x00" in raw[:4096]:
        raise LayoutError([InputError("not a text table (binary content)", path=path)], path=path)
    text = _decode(raw)
    skip_first = False
    m = re.match(r"\s*sep=(.)\s*(\r?\n|$)", text)
    if m:  # Excel's separator hint line
        sep, skip_first = m.group(1), True
    if sep is None:
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        counts = {d: first.count(d) for d in (",", ";", "\t")}
        sep = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    rows: list[list[str]] = []
    numbers: list[int] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        for i, r in enumerate(reader, start=1):
            if skip_first and i == 1:
                continue
            rows.append([c.strip() for c in r])
            numbers.append(i)
    except csv.Error as exc:
        raise LayoutError(
            [
                InputError(
                    f"not a readable {'TSV' if sep == chr(9) else 'CSV'} table: {exc}", path=path
                )
            ],
            path=path,
        ) from exc
    return rows, numbers


def _long_records(
    rows: list[list[str]],
    numbers: list[int],
    path: Path | None,
    problems: list[InputError],
    sheet: str | None = None,
    warnings: list[str] | None = None,
) -> tuple[list[_Record], list[str]]:
    """Read the records of a long-form table (header row first; comments, blank rows skipped)."""
    body = [
        (n, r)
        for n, r in zip(numbers, rows, strict=True)
        if any(c for c in r) and not (r and r[0].startswith("#"))
    ]
    if not body:
        problems.append(InputError("the layout is empty (no header row)", path=path))
        return [], []
    # the header is the first row naming a 'well' column (title lines above it are skipped)
    start = next(
        (i for i, (_, r) in enumerate(body[:20]) if "well" in {_canon_col(c) for c in r}), 0
    )
    body = body[start:]
    hdr_row, header = body[0]
    cols = [_canon_col(h) for h in header]
    ignored = []
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        if not c:
            continue
        if c in seen:
            problems.append(
                InputError(
                    f"column '{header[i]}' appears twice", path=path, row=hdr_row, column=header[i]
                )
            )
        seen.setdefault(c, i)
        if c not in INPUT_COLUMNS:
            ignored.append(header[i])
    records = []
    long_rows = [n for n, r in body[1:] if any(c.strip() for c in r[len(header) :])]
    if long_rows and warnings is not None:
        shown = ", ".join(map(str, long_rows[:10])) + (" ..." if len(long_rows) > 10 else "")
        warnings.append(
            f"{path}: {len(long_rows)} row(s) have more fields than the header's "
            f"{len(header)} columns; the extra values are ignored (rows {shown}; a stray "
            "separator or an unquoted comma?)"
        )
    for n, r in body[1:]:
        vals = {}
        for c, i in seen.items():
            if c in INPUT_COLUMNS:
                vals[c] = r[i].strip() if i < len(r) else ""
        rec = _Record(values=vals, rows={}, default_row=n)
        if sheet:
            rec.where["*"] = f"sheet '{sheet}'"
        records.append(rec)
    present = set(seen)
    for req in ("well", "cell_line", "drug", "concentration"):
        if req not in present:
            problems.append(
                InputError(f"missing required column '{req}'", path=path, row=hdr_row, column=req)
            )
    if "unit" not in present and "concentration" in present:
        needs = any(
            (rec.values.get("concentration") or "0").strip() not in ("0", "0.0", "")
            and not _NUM_UNIT.match(rec.values.get("concentration", ""))
            for rec in records
        )
        if needs:
            problems.append(
                InputError(
                    "missing column 'unit' (needed for non-zero concentrations)",
                    path=path,
                    row=hdr_row,
                    column="unit",
                )
            )
    return records, ignored


def _load_workbook(path: Path) -> Any:
    """Open an XLSX workbook (values, not formulas); a damaged file is a `LayoutError`."""
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # zip/xml errors of all kinds, re-raised as ours
        raise LayoutError(
            [InputError(f"not a readable XLSX workbook: {exc}", path=path)], path=path
        ) from exc


def _sheet_rows(ws: Any) -> tuple[list[list[Any]], list[int]]:
    rows, numbers = [], []
    for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
        rows.append(list(r))
        numbers.append(i)
    return rows, numbers


def _grid_records(
    wb: Any, path: Path, plate_format: int, problems: list[InputError]
) -> tuple[list[_Record], list[str]]:
    """Read a grid workbook: one sheet per layout column, each a plate map of that column."""
    by_well: dict[str, _Record] = {}
    ignored: list[str] = []
    outside: set[str] = set()
    used_any = False
    for ws in wb.worksheets:
        col = _canon_col(ws.title)
        if col not in INPUT_COLUMNS or col == "well":
            ignored.append(f"sheet '{ws.title}'")
            continue
        used_any = True
        rows, _ = _sheet_rows(ws)
        hdr = _grid_header(rows)
        if hdr is None or hdr[1] == 0:
            problems.append(
                InputError(
                    f"sheet '{ws.title}' holds no plate grid (column numbers 1, 2, ... in one "
                    "row and row letters A, B, ... left of them)",
                    path=path,
                    column=col,
                )
            )
            continue
        for well, rj, cj, v in _grid_cells(rows, *hdr):
            # spreadsheet columns are lettered like plate rows (A .. Z, AA ...)
            where = f"sheet '{ws.title}' cell {row_letters(cj + 1)}{rj + 1}"
            if not _on_plate(well, plate_format):
                if well not in outside:  # one problem per well, not one per sheet
                    outside.add(well)
                    problems.append(InputError(
                        f"well {well} ({where}) is outside a {plate_format}-well plate "
                        f"({_extent(plate_format)})", path=path, row=rj + 1, column=col,
                        well=well))  # fmt: skip
                continue
            rec = by_well.get(well)
            if rec is None:
                rec = by_well[well] = _Record(values={"well": well}, rows={}, default_row=rj + 1)
            rec.values[col] = v
            rec.rows[col] = rj + 1
            rec.where[col] = where
    if not used_any:
        problems.append(
            InputError(
                "no long-form sheet (a header row with a 'well' column) and no grid sheet "
                f"named after a layout column ({', '.join(INPUT_COLUMNS[2:])})",
                path=path,
            )
        )
        return [], ignored
    names = {_canon_col(ws.title) for ws in wb.worksheets}
    for req in ("cell_line", "drug", "concentration"):
        if req not in names:
            problems.append(InputError(f"missing required sheet '{req}'", path=path, column=req))
    return list(by_well.values()), ignored


def _grid_header(rows: list[list[Any]]) -> tuple[int, int] | None:
    """Return (row, column) of the first ``1, 2`` pair of column numbers, or None."""
    for ri, r in enumerate(rows):
        for ci in range(len(r) - 1):
            if cell_int(r[ci]) == 1 and cell_int(r[ci + 1]) == 2:
                return ri, ci
    return None


def _grid_cells(rows: list[list[Any]], ri: int, ci: int) -> Iterator[tuple[str, int, int, str]]:
    """Yield (well, sheet row, sheet column, text) of each filled cell of a plate grid.

    The column numbers run right from (``ri``, ``ci``); the row letters stand left of them, one
    per sheet row below, until the first row without a letter that is empty (rows with text
    and no letter are notes under the grid, skipped).
    """
    colmap: dict[int, int] = {}
    k = 1
    for cj in range(ci, len(rows[ri])):
        if cell_int(rows[ri][cj]) != k:
            break
        colmap[cj] = k
        k += 1
    for rj in range(ri + 1, len(rows)):
        r = rows[rj]
        label = _cell_text(r[ci - 1]) if ci - 1 < len(r) else ""
        if not re.fullmatch(r"[A-Za-z]", label):
            if any(_cell_text(v) for v in r):
                continue  # notes under the grid
            break
        for cj, number in colmap.items():
            v = _cell_text(r[cj]) if cj < len(r) else ""
            if v:
                yield well_name(row_number(label), number), rj, cj, v


def _on_plate(well: str, plate_format: int) -> bool:
    """Tell whether a canonical well id lies on a plate of ``plate_format`` wells."""
    n_rows, n_cols = PLATE_FORMATS[plate_format]
    r, c = split_well(well)
    return 1 <= r <= n_rows and 1 <= c <= n_cols


def _extent(plate_format: int) -> str:
    r, c = PLATE_FORMATS[plate_format]
    return f"rows A-{row_letters(r)}, columns 1-{c}"


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _parse_number(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v


def _validate(
    records: list[_Record], path: Path | None, plate_format: int, problems: list[InputError]
) -> list[dict[str, Any]]:
    """Check every record; return the rows of the valid ones (problems go to ``problems``)."""
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    lines = {rec.values.get("cell_line", "") for rec in records} - {""}
    for rec in records:
        err = _RecordErrors(rec, path, problems)
        row = _validate_record(rec, err, plate_format, lines, seen)
        if row is not None and not err.found:
            out.append(row)
    return out


class _RecordErrors:
    """Collects the problems of one layout record, each naming its row, column and well."""

    def __init__(self, rec: _Record, path: Path | None, problems: list[InputError]) -> None:
        self.rec, self.path, self.problems = rec, path, problems
        self.before = len(problems)

    def __call__(self, msg: str, col: str, well: str | None = None) -> None:
        """Add a problem about column ``col`` (with the cell it came from, when known)."""
        where = self.rec.where.get(col) or self.rec.where.get("*")
        text = f"{msg} ({where})" if where else msg
        self.problems.append(
            InputError(text, path=self.path, row=self.rec.row(col), column=col, well=well)
        )

    @property
    def found(self) -> bool:
        """Whether the record has a problem."""
        return len(self.problems) > self.before


def _validate_record(
    rec: _Record,
    err: _RecordErrors,
    plate_format: int,
    lines: set[str],
    seen: dict[tuple[str, str], int],
) -> dict[str, Any] | None:
    """Check one record; return its layout row (None when it cannot be read further).

    Every problem of the row is reported at once where the row can still be read.
    """
    v = rec.values
    well_txt = v.get("well", "")
    if not well_txt:
        err("missing well id", "well")
        return None
    try:
        r, c = split_well(well_txt)
    except ValueError:
        err(f"'{well_txt}' is not a well id (expected e.g. A1 or A01)", "well")
        return None
    well = well_name(r, c) if 1 <= r <= 26 else well_txt
    n_rows, n_cols = PLATE_FORMATS[plate_format]
    if not (1 <= r <= n_rows and 1 <= c <= n_cols):
        err(f"well {well_txt} is outside a {plate_format}-well plate ({_extent(plate_format)})",
            "well", well_txt)  # fmt: skip
    plate = v.get("plate", "") or None
    key = (plate or "", well)
    if key in seen:
        err(f"duplicate well {well} (also on row {seen[key]})", "well", well)
    else:
        seen[key] = rec.row("well")
    role = _ROLE_ALIASES.get(v.get("role", "").strip().lower().replace(" ", "_"))
    if role is None:
        err(f"unknown role '{v.get('role')}' (use {', '.join(ROLES)})", "role", well)
        return None
    cell_line = v.get("cell_line", "") or None
    drug = v.get("drug", "") or None
    # an excluded well is kept for the record, but its contents are not checked
    cerr: Any = (lambda m, col: err(m, col, well)) if role != "exclude" else (lambda m, col: None)
    conc, unit, conc_m = _concentration(
        v.get("concentration", ""), v.get("unit", ""), "concentration", "unit", molar_only=True,
        err=cerr,
    )  # fmt: skip
    drug_b = v.get("drug_b", "") or None
    conc_b, unit_b, conc_b_m = _concentration(v.get("concentration_b", ""), v.get("unit_b", ""),
                                              "concentration_b", "unit_b", molar_only=False,
                                              err=cerr)  # fmt: skip
    role, conc, conc_m = _check_role(v, role, cell_line, drug, conc, conc_m, well, err)
    _check_parental(v.get("parental", "") or None, role, cell_line, lines, well, err)
    if drug_b is None and conc_b is not None and conc_b != 0:
        err("concentration_b given without drug_b", "drug_b", well)
    if drug_b is not None and not v.get("concentration_b", "").strip() and role in (
            "sample", "vehicle"):  # fmt: skip
        err(f"second agent {drug_b} without concentration_b", "concentration_b", well)
    return {
        "plate": plate, "well": well, "row": r, "column": c, "cell_line": cell_line,
        "drug": drug, "concentration": conc, "unit": unit, "concentration_M": conc_m,
        "drug_b": drug_b, "concentration_b": conc_b, "unit_b": unit_b,
        "concentration_b_M": conc_b_m, "role": role, "replicate": v.get("replicate", "") or None,
        "parental": v.get("parental", "") or None, **_optional_columns(v, well, err),
    }  # fmt: skip


def _check_role(
    v: dict[str, str],
    role: str,
    cell_line: str | None,
    drug: str | None,
    conc: float | None,
    conc_m: float | None,
    well: str,
    err: _RecordErrors,
) -> tuple[str, float | None, float | None]:
    """Check what the role needs; return the role and concentration (a sample at 0 is vehicle)."""
    if role in ("sample", "vehicle") and cell_line is None:
        err(f"{role} well without a cell line", "cell_line", well)
    if role == "sample":
        if conc is not None and conc == 0:
            role = "vehicle"  # documented: a sample at 0 is the vehicle control
        elif drug is None:
            err("sample well without a drug", "drug", well)
        if not v.get("concentration", "").strip():
            err("sample well without a concentration", "concentration", well)
    if role == "vehicle":
        if conc is None:
            conc, conc_m = 0.0, 0.0
        elif conc != 0:
            err(f"vehicle well with a non-zero concentration ({v.get('concentration')})",
                "concentration", well)  # fmt: skip
    return role, conc, conc_m


def _check_parental(
    parental: str | None,
    role: str,
    cell_line: str | None,
    lines: set[str],
    well: str,
    err: _RecordErrors,
) -> None:
    """Check that a parental line is another cell line of the layout."""
    if parental is None or role == "exclude":
        return
    if parental not in lines:
        err(f"parental line '{parental}' is not a cell line of this layout", "parental", well)
    elif parental == cell_line:
        err(f"cell line '{parental}' is named as its own parental", "parental", well)


def _optional_columns(v: dict[str, str], well: str, err: _RecordErrors) -> dict[str, Any]:
    """Read ``cells_seeded``, ``dilution`` (positive numbers), ``passage`` and ``sample``."""
    extra: dict[str, Any] = {}
    for col in ("cells_seeded", "dilution"):
        txt = v.get(col, "").strip()
        num = _parse_number(txt) if txt else None
        if txt and (num is None or not math.isfinite(num) or num <= 0):
            err(f"{col} '{txt}' is not a positive number", col, well)
        extra[col] = num
    extra["passage"] = v.get("passage", "") or None
    extra["sample"] = v.get("sample", "") or None
    return extra


def _concentration(
    value: str, unit: str, col: str, unit_col: str, *, molar_only: bool, err: Any
) -> tuple[float | None, str | None, float | None]:
    """(value as given, canonical unit, molar value) of one concentration cell."""
    value, unit = value.strip(), unit.strip()
    if not value:
        return None, (canon_unit(unit) if unit else None), None
    num = _parse_number(value)
    if num is None:
        m = _NUM_UNIT.match(value)
        if m and not unit:
            num, unit = float(m.group(1)), m.group(2).strip()
        else:
            err(f"concentration '{value}' is not a number", col)
            return None, None, None
    if not math.isfinite(num):
        err(f"concentration '{value}' is not a finite number", col)
        return None, None, None
    if num < 0:
        err(f"negative concentration {value}", col)
        return None, None, None
    if not unit:
        if num == 0:
            return 0.0, None, 0.0
        err(f"concentration {value} without a unit", unit_col)
        return None, None, None
    key = unit_key(unit)
    if key in MOLAR_FACTORS:
        return num, canon_unit(unit), num * MOLAR_FACTORS[key]
    if key in MASS_UNITS:
        if molar_only:
            err(
                f"unit '{unit}' is a mass unit; the drug needs a molar unit "
                "(M, mM, uM, nM, pM); mass units are allowed for drug_b",
                unit_col,
            )
            return None, None, None
        return num, MASS_UNITS[key], (0.0 if num == 0 else math.nan)
    err(
        f"unknown unit '{unit}' (use M, mM, uM, nM, pM"
        + ("" if molar_only else ", or ug/mL, ng/mL, mg/mL")
        + ")",
        unit_col,
    )
    return None, None, None


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows, columns=LAYOUT_COLUMNS)
    for c in (
        "concentration",
        "concentration_M",
        "concentration_b",
        "concentration_b_M",
        "cells_seeded",
        "dilution",
    ):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in ("row", "column"):
        df[c] = df[c].astype("int64")
    for c in TEXT_COLUMNS:
        # built from a list so that None becomes a missing value, not the text "nan"
        df[c] = pd.Series(
            [None if x is None or x != x else str(x) for x in df[c].tolist()],
            dtype="str",
            index=df.index,
        )
    df = df.sort_values(["plate", "row", "column"], na_position="first", kind="stable")
    return df.reset_index(drop=True)


def _build(
    records: list[_Record],
    ignored: list[str],
    path: Path | None,
    plate_format: int,
    problems: list[InputError],
    warnings: list[str] | None = None,
) -> Layout:
    rows = _validate(records, path, plate_format, problems)
    if problems:
        raise LayoutError(problems, path=path)
    if not rows:
        raise LayoutError([InputError("the layout holds no well", path=path)], path=path)
    return Layout(
        table=_frame(rows),
        path=path,
        plate_format=plate_format,
        ignored_columns=ignored,
        warnings=list(warnings or []),
    )


def _is_structural(p: InputError) -> bool:
    return p.reason.startswith(_STRUCTURAL)


_STRUCTURAL = (
    "missing required",
    "missing column",
    "column '",
    "the layout is empty",
    "no long-form sheet",
    "sheet '",
)


def _check_format(plate_format: int, path: Path | None) -> None:
    if plate_format not in PLATE_FORMATS:
        raise InputError(
            f"plate format must be one of {', '.join(map(str, PLATE_FORMATS))}, not {plate_format}",
            path=path,
        )


def read_layout(path: str | Path, plate_format: int = 96) -> Layout:
    r"""Read and check a plate layout.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (comma, semicolon or tab separated, detected from the header), ``.tsv`` /
        ``.txt`` (tab separated), or ``.xlsx``. A workbook is read in long form from its first
        sheet whose header has a ``well`` column; otherwise as a grid workbook: one sheet per
        layout column (``cell_line``, ``drug``, ``concentration``, ``unit``, ...), each a plate
        map with column numbers in a row and row letters in the column left of them.
    plate_format : int
        Wells per plate: 6, 12, 24, 48, 96 or 384.

    Returns
    -------
    Layout

    Raises
    ------
    LayoutError
        With every problem found (``.problems``), each naming the file, the spreadsheet row
        (header = row 1), the column and the well.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "layout.csv"
    >>> _ = p.write_text("well,cell_line,drug,concentration,unit\n"
    ...                  "A1,MDA-MB-231,eribulin,10,nM\nA2,MDA-MB-231,eribulin,0,nM\n")
    >>> t = read_layout(p).table
    >>> t[["well", "concentration_M", "role"]].values.tolist()
    [['A01', 1e-08, 'sample'], ['A02', 0.0, 'vehicle']]
    """
    path = Path(path)
    _check_format(plate_format, path)
    if not path.exists():
        raise LayoutError([InputError("file not found", path=path)], path=path)
    if path.is_dir():
        raise LayoutError([InputError("is a folder, not a layout file", path=path)], path=path)
    suffix = path.suffix.lower()
    problems: list[InputError] = []
    warnings: list[str] = []
    if suffix in (".xlsx", ".xlsm"):
        wb = _load_workbook(path)
        long_ws = None
        for ws in wb.worksheets:
            rows, numbers = _sheet_rows(ws)
            first = next((r for r in rows if any(_cell_text(v) for v in r)), None)
            if first and "well" in {_canon_col(_cell_text(v)) for v in first}:
                long_ws = (ws, rows, numbers)
                break
        if long_ws is not None:
            ws, rows, numbers = long_ws
            text_rows = [[_cell_text(v) for v in r] for r in rows]
            sheet = ws.title if len(wb.worksheets) > 1 else None
            records, ignored = _long_records(text_rows, numbers, path, problems, sheet, warnings)
        else:
            records, ignored = _grid_records(wb, path, plate_format, problems)
    elif suffix in (".csv", ".tsv", ".txt", ".tab"):
        rows, numbers = _read_delimited(path, "\t" if suffix in (".tsv", ".tab") else None)
        records, ignored = _long_records(rows, numbers, path, problems, warnings=warnings)
    elif suffix == ".xls":
        raise LayoutError(
            [InputError("old Excel .xls files are not read; save as .xlsx or .csv", path=path)],
            path=path,
        )
    else:
        raise LayoutError(
            [
                InputError(
                    f"unknown layout file type '{suffix}' (use .csv, .tsv or .xlsx)", path=path
                )
            ],
            path=path,
        )
    if any(_is_structural(p) for p in problems) or (problems and not records):
        # a missing column would make every row fail for the same reason: report it alone
        raise LayoutError(problems, path=path)
    return _build(records, ignored, path, plate_format, problems, warnings)


def layout_from_frame(
    frame: pd.DataFrame, plate_format: int = 96, *, path: str | Path | None = None
) -> Layout:
    """Check a long-form layout held in a DataFrame (e.g. edited in the GUI).

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns as in a layout file (`INPUT_COLUMNS`; ``well`` and ``cell_line`` required).
        A `Layout.table` works too. Row ``i`` is reported as spreadsheet row ``i + 2``.
    plate_format : int
        Wells per plate.
    path : str or Path, optional
        Named in error messages.

    Returns
    -------
    Layout

    Raises
    ------
    LayoutError
    """
    p = Path(path) if path is not None else None
    _check_format(plate_format, p)
    header = [str(c) for c in frame.columns]
    rows = [header] + [
        [_cell_text(None if is_missing(v) else v) for v in rec]
        for rec in frame.itertuples(index=False, name=None)
    ]
    problems: list[InputError] = []
    records, ignored = _long_records(rows, list(range(1, len(rows) + 1)), p, problems)
    if problems:
        raise LayoutError(problems, path=p)
    ignored = [c for c in ignored if _canon_col(c) not in LAYOUT_COLUMNS]
    return _build(records, ignored, p, plate_format, problems)


def _input_frame(layout: Layout | pd.DataFrame) -> pd.DataFrame:
    t = layout.table if isinstance(layout, Layout) else layout
    cols = [c for c in INPUT_COLUMNS if c in t.columns]
    out = t[cols].copy()
    if "plate" in out.columns and out["plate"].isna().all():
        out = out.drop(columns=["plate"])
    unused = [c for c in OPTIONAL_COLUMNS if c in out.columns and out[c].isna().all()]
    out = out.drop(columns=unused)
    return out


def write_layout(layout: Layout | pd.DataFrame, path: str | Path) -> None:
    """Write a layout in long form, as CSV (``.csv``/``.tsv``) or XLSX (``.xlsx``).

    The file holds `INPUT_COLUMNS` (without ``plate`` when no well has one); concentrations
    are written as given with their units, so `read_layout` gives the same `Layout.table`.

    Parameters
    ----------
    layout : Layout or pandas.DataFrame
        A layout, or a table with layout-file columns.
    path : str or Path
        Output file; the format follows its suffix.

    Raises
    ------
    InputError
        Unknown file type.
    """
    path = Path(path)
    df = _input_frame(layout)
    suffix = path.suffix.lower()
    text = df.astype(object).where(df.notna(), None)

    def cell(v: Any) -> Any:
        if v is None:
            return ""
        if isinstance(v, float):
            return repr(v) if not v.is_integer() else str(int(v))
        return v

    records = [[cell(v) for v in r] for r in text.itertuples(index=False, name=None)]
    if suffix in (".csv", ".tsv", ".txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            w.writerow(list(df.columns))
            w.writerows(records)
    elif suffix == ".xlsx":
        import openpyxl

        path.parent.mkdir(parents=True, exist_ok=True)
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "layout"
        ws.append(list(df.columns))
        for r in text.itertuples(index=False, name=None):
            ws.append([("" if v is None else v) for v in r])
        wb.save(path)
    else:
        raise InputError(
            f"unknown layout file type '{suffix}' (use .csv, .tsv or .xlsx)", path=path
        )
