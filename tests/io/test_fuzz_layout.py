"""Fuzz ``il6assay layout``: damaged, hostile and odd layout files through the CLI.

Layouts are mostly near-valid long-form tables (so the checks past the header run), with
cells drawn from hostile text, rows with extra fields, unknown parental lines, odd separators
and encodings, a few XLSX workbooks and raw bytes; plus odd options. `fuzz_support` holds the
contract each case is checked against.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from fuzz_support import FUZZ, HOSTILE_TEXT, run_cli
from hypothesis import given
from hypothesis import strategies as st

_CASE = itertools.count()

COLUMNS = [
    "well",
    "cell_line",
    "drug",
    "concentration",
    "unit",
    "role",
    "drug_b",
    "concentration_b",
    "unit_b",
    "plate",
    "replicate",
    "parental",
    "extra",
    "",
]
VALUES = {
    "well": ["A1", "A01", "H12", "P24", "I1", "A0", "Z99", "AA1", "A-1", ""],
    "cell_line": ["MDA-MB-231", "MDA-MB-231E", "MCF-7", ""],
    "drug": ["eribulin", "paclitaxel", ""],
    "concentration": ["1", "0", "10", "-1", "1e400", "nan", "inf", "1,5", "10 nM", "", "abc"],
    "unit": ["nM", "uM", "µM", "M", "pM", "ug/mL", "furlong", ""],
    "role": ["sample", "vehicle", "blank", "exclude", "control", ""],
    "parental": ["MDA-MB-231", "MDA-MB-231E", "ghost line", ""],
}
CELL = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12))


@st.composite
def layout_file(draw: st.DrawFn, tmp: Path) -> Path:
    kind = "table" if draw(st.integers(0, 4)) < 4 else draw(st.sampled_from(["xlsx", "bytes"]))
    if kind == "xlsx":
        suffix = ".xlsx"
    elif kind == "bytes":
        suffix = draw(st.sampled_from([".csv", ".xlsx", ".tsv"]))
    elif draw(st.integers(0, 5)) < 5:
        suffix = ".csv"
    else:
        suffix = draw(st.sampled_from([".tsv", ".txt", ".dat", ".xls"]))
    p = tmp / f"layout{next(_CASE)}{suffix}"
    if kind == "bytes":
        p.write_bytes(draw(st.binary(max_size=400)))
        return p
    base = ["well", "cell_line", "drug", "concentration", "unit"]
    header = base + draw(st.lists(st.sampled_from(COLUMNS[5:]), max_size=4, unique=True))
    if draw(st.integers(0, 4)) == 4:
        header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=8))
    rows = []
    limit = 10 if draw(st.booleans()) else 9  # half the tables: only plausible cell values
    for i in range(draw(st.integers(1, 12)) if draw(st.integers(0, 9)) < 9 else 0):
        row = []
        for c in header:
            if c == "well" and draw(st.integers(0, 9)) < 9:  # mostly distinct, valid wells
                row.append(f"{'ABCDEFGH'[i // 12]}{i % 12 + 1}")
                continue
            pool = VALUES.get(c)
            row.append(
                draw(st.sampled_from(pool))
                if pool and draw(st.integers(0, 9)) < limit
                else draw(CELL)
            )
        if draw(st.integers(0, 7)) == 7:
            row += draw(st.lists(CELL, min_size=1, max_size=3))  # extra fields
        rows.append(row)
    if kind == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        wb = Workbook()
        ws = wb.active
        for r in [header, *rows]:
            ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) for v in r])
        wb.save(p)
        return p
    sep = "\t" if suffix == ".tsv" else draw(st.sampled_from([",", ",", ";", "\t"]))
    text = "\n".join(sep.join(r) for r in [header, *rows])
    enc = "utf-8" if draw(st.integers(0, 5)) < 5 else draw(st.sampled_from(["utf-16", "cp1252"]))
    p.write_bytes(text.encode(enc, errors="replace"))
    return p


@FUZZ
@given(data=st.data())
def test_fuzz_layout(tmp_path_factory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("lay", numbered=True)
    path = data.draw(layout_file(tmp))
    extra = (
        []
        if data.draw(st.integers(0, 5)) < 5
        else data.draw(
            st.sampled_from(
                [["--plate-format", "384"], ["--plate-format", "7"], ["--plate-format", "x"]]
            )
        )
    )
    if data.draw(st.integers(0, 20)) == 20:
        path = tmp / "missing.csv"
    code, out, err = run_cli(["layout", str(path), *extra], "layout")
    assert code in (0, 2)
    if code == 2 and "--plate-format" not in " ".join(extra):
        # the error names the file (argparse errors name the option instead)
        assert str(path) in err.splitlines()[0], err
    if code == 0:
        assert "wells" in out or out.strip()
