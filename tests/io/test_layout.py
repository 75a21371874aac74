"""Plate layouts: formats, units, roles, every bad input with its row/column, grid workbooks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from napari_il6assay.cli import main as cli_main
from napari_il6assay.errors import InputError, LayoutError
from napari_il6assay.io.layout import (
    LAYOUT_COLUMNS,
    Layout,
    layout_from_frame,
    read_layout,
    to_molar,
    write_layout,
)

HEADER = "well,cell_line,drug,concentration,unit,role"


def _csv(tmp_path: Path, text: str, name: str = "layout.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _problems(path: Path, plate_format: int = 96) -> list[InputError]:
    with pytest.raises(LayoutError) as ei:
        read_layout(path, plate_format=plate_format)
    err = ei.value
    assert str(path) in str(err)
    return err.problems


def _one_problem(path: Path, plate_format: int = 96) -> InputError:
    probs = _problems(path, plate_format)
    assert len(probs) == 1, [str(p) for p in probs]
    return probs[0]


# ---- a realistic layout --------------------------------------------------------------------

DOSES_NM = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]


def _experiment_rows() -> list[dict[str, object]]:
    """Parental (rows A-C) and resistant (rows D-F) lines, 6 doses + vehicle + blank; row G a
    combination block; H01 excluded."""
    rows: list[dict[str, object]] = []
    for ri, line in enumerate(["MDA-MB-231"] * 3 + ["MDA-MB-231E"] * 3):
        letter = "ABCDEF"[ri]
        rows.append(
            {
                "well": f"{letter}1",
                "cell_line": line,
                "drug": "eribulin",
                "concentration": 0,
                "unit": "nM",
                "role": "vehicle",
                "replicate": ri % 3 + 1,
                "parental": "MDA-MB-231" if line.endswith("E") else "",
            }
        )
        for ci, d in enumerate(DOSES_NM, start=2):
            rows.append(
                {
                    "well": f"{letter}{ci}",
                    "cell_line": line,
                    "drug": "eribulin",
                    "concentration": d,
                    "unit": "nM",
                    "role": "",
                    "replicate": ri % 3 + 1,
                    "parental": "MDA-MB-231" if line.endswith("E") else "",
                }
            )
        rows.append(
            {
                "well": f"{letter}12",
                "cell_line": "",
                "drug": "",
                "concentration": "",
                "unit": "",
                "role": "blank",
                "replicate": "",
                "parental": "",
            }
        )
    for ci, d in enumerate(DOSES_NM, start=1):
        rows.append(
            {
                "well": f"G{ci}",
                "cell_line": "MDA-MB-231E",
                "drug": "eribulin",
                "concentration": d,
                "unit": "nM",
                "drug_b": "tocilizumab",
                "concentration_b": 10,
                "unit_b": "ug/mL",
                "role": "sample",
                "replicate": 1,
                "parental": "MDA-MB-231",
            }
        )
    rows.append(
        {
            "well": "H1",
            "cell_line": "MDA-MB-231",
            "drug": "eribulin",
            "concentration": "oops",
            "unit": "nM",
            "role": "exclude",
        }
    )
    return rows


def _write_long_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    df = pd.DataFrame(rows).astype(object).fillna("")
    df.to_csv(path, index=False)
    return path


def test_read_long_csv_experiment(tmp_path: Path) -> None:
    p = _write_long_csv(tmp_path / "exp.csv", _experiment_rows())
    lay = read_layout(p)
    t = lay.table
    assert isinstance(lay, Layout)
    assert list(t.columns) == LAYOUT_COLUMNS
    assert len(t) == 6 * 8 + 6 + 1
    assert t["well"].is_unique
    a2 = t.set_index("well").loc["A02"]
    assert a2["concentration"] == 0.01 and a2["unit"] == "nM"
    assert a2["concentration_M"] == pytest.approx(1e-11)
    assert a2["role"] == "sample"
    assert (a2["row"], a2["column"]) == (1, 2)
    roles = t["role"].value_counts().to_dict()
    assert roles == {"sample": 42, "vehicle": 6, "blank": 6, "exclude": 1}
    d1 = t.set_index("well").loc["D01"]
    assert d1["parental"] == "MDA-MB-231" and d1["concentration_M"] == 0.0
    g = t[t["drug_b"] == "tocilizumab"]
    assert len(g) == 6
    assert (g["concentration_b"] == 10).all() and (g["unit_b"] == "ug/mL").all()
    assert g["concentration_b_M"].isna().all()  # mass unit: no molar value
    assert t["plate"].isna().all()
    # sorted by row then column
    assert t["well"].tolist()[:3] == ["A01", "A02", "A03"]


def test_summary(tmp_path: Path) -> None:
    lay = read_layout(_write_long_csv(tmp_path / "exp.csv", _experiment_rows()))
    s = lay.summary()
    assert "96-well plate, 55 wells (42 sample, 6 vehicle, 6 blank, 1 exclude)" in s
    assert "MDA-MB-231: 22 wells (18 sample, 3 vehicle, 1 exclude)" in s
    assert "MDA-MB-231E: 27 wells (24 sample, 3 vehicle); parental: MDA-MB-231" in s
    assert "eribulin: 6 concentrations, 10 pM to 1 uM, 42 wells" in s
    assert "tocilizumab: 10 ug/mL (6 wells)" in s


@pytest.mark.parametrize(
    ("value", "unit", "molar"),
    [
        ("1", "M", 1.0),
        ("2.5", "mM", 2.5e-3),
        ("3", "uM", 3e-6),
        ("3", "µM", 3e-6),  # micro sign U+00B5
        ("3", "μM", 3e-6),  # Greek mu U+03BC
        ("3", "UM", 3e-6),
        ("40", "nM", 4e-8),
        ("500", "pM", 5e-10),
        ("1e-3", "uM", 1e-9),
    ],
)
def test_units_to_molar(tmp_path: Path, value: str, unit: str, molar: float) -> None:
    p = _csv(tmp_path, f"{HEADER}\nA1,L1,d,{value},{unit},\n")
    t = read_layout(p).table
    assert t.loc[0, "concentration_M"] == pytest.approx(molar, rel=1e-12)
    assert t.loc[0, "concentration"] == pytest.approx(float(value))


def test_unit_in_the_concentration_cell(tmp_path: Path) -> None:
    p = _csv(tmp_path, f"{HEADER}\nA1,L1,d,10 nM,,\nA2,L1,d,0,,\n")
    t = read_layout(p).table
    assert t.loc[0, "concentration_M"] == pytest.approx(1e-8)
    assert t.loc[1, "role"] == "vehicle"


@pytest.mark.parametrize(
    ("unit", "canon"),
    [("ug/mL", "ug/mL"), ("µg/ml", "ug/mL"), ("ng/mL", "ng/mL"), ("mg/mL", "mg/mL")],
)
def test_mass_units_for_second_agent(tmp_path: Path, unit: str, canon: str) -> None:
    p = _csv(
        tmp_path,
        "well,cell_line,drug,concentration,unit,drug_b,concentration_b,unit_b\n"
        f"A1,L1,eribulin,1,nM,tocilizumab,25,{unit}\n"
        "A2,L1,eribulin,1,nM,other,5,uM\n",
    )
    t = read_layout(p).table
    assert t.loc[0, "concentration_b"] == 25.0
    assert t.loc[0, "unit_b"] == canon
    assert math.isnan(t.loc[0, "concentration_b_M"])
    assert t.loc[1, "concentration_b_M"] == pytest.approx(5e-6)


def test_to_molar() -> None:
    assert to_molar(10, "nM") == pytest.approx(1e-8)
    assert to_molar(1, "ug/mL") is None
    with pytest.raises(ValueError):
        to_molar(1, "furlong")


def test_sample_at_zero_is_vehicle_and_vehicle_defaults_to_zero(tmp_path: Path) -> None:
    p = _csv(tmp_path, f"{HEADER}\nA1,L1,d,0,nM,\nA2,L1,,,,vehicle\nA3,,,,,blank\n")
    t = read_layout(p).table.set_index("well")
    assert t.loc["A01", "role"] == "vehicle"
    assert t.loc["A02", "role"] == "vehicle" and t.loc["A02", "concentration_M"] == 0.0
    assert t.loc["A03", "role"] == "blank" and pd.isna(t.loc["A03", "cell_line"])


def test_role_aliases_and_comments(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        "# made by hand\n"
        f"{HEADER}\n"
        "A1,L1,d,1,nM,Sample\n"
        "\n"
        "A2,L1,d,0,nM,Control\n"
        "A3,,,,,empty\n"
        "# A4 was contaminated\n"
        "A4,L1,d,1,nM,Excluded\n",
    )
    t = read_layout(p).table
    assert t["role"].tolist() == ["sample", "vehicle", "blank", "exclude"]


@pytest.mark.parametrize(
    ("name", "sep"), [("layout.tsv", "\t"), ("layout.csv", ";"), ("layout.txt", "\t")]
)
def test_tsv_and_semicolon(tmp_path: Path, name: str, sep: str) -> None:
    text = f"{HEADER}\nA1,L1,d,1,nM,\nB2,L2,d,2,uM,\n".replace(",", sep)
    t = read_layout(_csv(tmp_path, text, name)).table
    assert t["well"].tolist() == ["A01", "B02"]
    assert t["concentration_M"].tolist() == pytest.approx([1e-9, 2e-6])


def test_plates_and_384(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        "plate,well,cell_line,drug,concentration,unit\n"
        "P1,A1,L1,d,1,nM\nP2,A1,L1,d,1,nM\nP2,P24,L1,d,1,nM\n",
    )
    t = read_layout(p, plate_format=384).table
    assert list(zip(t["plate"], t["well"], strict=True)) == [
        ("P1", "A01"),
        ("P2", "A01"),
        ("P2", "P24"),
    ]
    prob = _one_problem(p, plate_format=96)
    assert (prob.location.row, prob.location.column, prob.location.well) == (4, "well", "P24")


def test_ignored_columns_reported(tmp_path: Path) -> None:
    lay = read_layout(
        _csv(tmp_path, "well,cell_line,drug,concentration,unit,comment\nA1,L1,d,1,nM,looks fine\n")
    )
    assert lay.ignored_columns == ["comment"]
    assert "ignored columns: comment" in lay.summary()


# ---- every bad input: file, row and column named -------------------------------------------

BAD_CASES = [
    # (body lines after the header, expected row, column, well, text in the message)
    (["A1,L1,d,1,nM,", "I13,L1,d,1,nM,"], 3, "well", "I13", "outside a 96-well plate"),
    (["A1,L1,d,1,nM,", "A01,L1,d,2,nM,"], 3, "well", "A01", "duplicate well A01 (also on row 2)"),
    (["A1,L1,d,ten,nM,"], 2, "concentration", "A01", "not a number"),
    (["A1,L1,d,1,nM,", "A2,L1,d,-5,nM,"], 3, "concentration", "A02", "negative"),
    (["A1,L1,d,nan,nM,"], 2, "concentration", "A01", "not a finite number"),
    (["A1,L1,d,1,furlongs,"], 2, "unit", "A01", "unknown unit 'furlongs'"),
    (["A1,L1,d,1,,"], 2, "unit", "A01", "without a unit"),
    (["A1,L1,d,1,ug/mL,"], 2, "unit", "A01", "mass unit"),
    (
        ["A1,L1,d,0,nM,", "A2,L1,d,10,nM,vehicle"],
        3,
        "concentration",
        "A02",
        "vehicle well with a non-zero concentration",
    ),
    (["A1,,d,1,nM,"], 2, "cell_line", "A01", "without a cell line"),
    (["A1,L1,,1,nM,"], 2, "drug", "A01", "without a drug"),
    (["A1,L1,d,,nM,"], 2, "concentration", "A01", "without a concentration"),
    (["A1,L1,d,1,nM,treated-ish"], 2, "role", "A01", "unknown role"),
    (["A1,L1,d,1,nM,", "11,L1,d,1,nM,"], 3, "well", None, "not a well id"),
    (["A1,L1,d,1,nM,", ",L1,d,1,nM,"], 3, "well", None, "missing well id"),
]


@pytest.mark.parametrize(("lines", "row", "column", "well", "text"), BAD_CASES)
def test_bad_input_names_row_and_column(
    tmp_path: Path, lines: list[str], row: int, column: str, well: str | None, text: str
) -> None:
    p = _csv(tmp_path, HEADER + "\n" + "\n".join(lines) + "\n")
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column, prob.location.well) == (row, column, well)
    msg = str(prob)
    assert text in msg
    assert f"row {row}" in msg and f"column '{column}'" in msg and str(p) in msg


def test_all_problems_collected(tmp_path: Path) -> None:
    lines = [ln for case in BAD_CASES for ln in case[0][-1:]]
    # give every bad line its own well so they do not collide, except the intended ones
    body, wells = [], iter(f"{r}{c}" for r in "BCDEFGH" for c in range(1, 13))
    for ln in lines:
        w, rest = ln.split(",", 1)
        body.append(ln if w in ("I13", "11", "") else f"{next(wells)},{rest}")
    p = _csv(tmp_path, HEADER + "\nA1,L1,d,1,nM,\n" + "\n".join(body) + "\n")
    probs = _problems(p)
    assert len(probs) == len(BAD_CASES) - 1  # the duplicate case has no duplicate now
    assert [pr.location.row for pr in probs] == sorted(pr.location.row for pr in probs)
    with pytest.raises(LayoutError) as ei:
        read_layout(p)
    assert f"{len(probs)} problems in the layout" in str(ei.value)


def test_second_agent_problems(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        "well,cell_line,drug,concentration,unit,drug_b,concentration_b,unit_b\n"
        "A1,L1,d,1,nM,toci,,\n"
        "A2,L1,d,1,nM,,5,ug/mL\n"
        "A3,L1,d,1,nM,toci,5,parsecs\n",
    )
    probs = _problems(p)
    got = [(pr.location.row, pr.location.column) for pr in probs]
    assert got == [(2, "concentration_b"), (3, "drug_b"), (4, "unit_b")]


@pytest.mark.parametrize("missing", ["well", "cell_line", "drug", "concentration"])
def test_missing_required_column(tmp_path: Path, missing: str) -> None:
    cols = ["well", "cell_line", "drug", "concentration", "unit"]
    vals = ["A1", "L1", "d", "0", "nM"]
    keep = [i for i, c in enumerate(cols) if c != missing]
    p = _csv(tmp_path, ",".join(cols[i] for i in keep) + "\n" + ",".join(vals[i] for i in keep))
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column) == (1, missing)
    assert f"missing required column '{missing}'" in str(prob)


def test_missing_unit_column(tmp_path: Path) -> None:
    p = _csv(tmp_path, "well,cell_line,drug,concentration\nA1,L1,d,5\n")
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column) == (1, "unit")


def test_duplicate_column(tmp_path: Path) -> None:
    p = _csv(tmp_path, "well,cell_line,drug,concentration,unit,Well\nA1,L1,d,1,nM,A2\n")
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column) == (1, "Well")


@pytest.mark.parametrize(
    ("name", "content", "text"),
    [
        ("layout.xlsx", b"PK\x03\x04 this is no workbook", "not a readable XLSX"),
        ("layout.csv", b"\x00\x01\x02\x89PNG\x00\x00", "binary"),
        ("layout.csv", b"", "empty"),
        ("layout.xls", b"\xd0\xcf\x11\xe0", ".xls"),
        ("layout.json", b"{}", "unknown layout file type"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, text: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    prob = _one_problem(p)
    assert text in str(prob)
    assert prob.location.path == p


def test_missing_file_and_bad_format(tmp_path: Path) -> None:
    assert "not found" in str(_one_problem(tmp_path / "nope.csv"))
    with pytest.raises(InputError, match="plate format"):
        read_layout(_csv(tmp_path, f"{HEADER}\nA1,L1,d,1,nM,\n"), plate_format=100)


# ---- XLSX: long form and grid --------------------------------------------------------------


def _grid_workbook(
    path: Path,
    rows: list[dict[str, object]],
    n_rows: int = 8,
    n_cols: int = 12,
    cols: tuple[str, ...] | None = None,
) -> Path:
    cols = cols or (
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
    )
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    notes = wb.create_sheet("notes")
    notes["A1"] = "made for the test"
    for col in cols:
        ws = wb.create_sheet(col)
        ws["A1"] = f"{col} map"  # a title above the grid, as people do
        for c in range(1, n_cols + 1):
            ws.cell(row=3, column=c + 1, value=c)
        for r in range(1, n_rows + 1):
            ws.cell(row=3 + r, column=1, value=chr(64 + r))
        for rec in rows:
            v = rec.get(col, "")
            if v == "" or v is None:
                continue
            w = str(rec["well"])
            r, c = ord(w[0]) - 64, int(w[1:])
            ws.cell(row=3 + r, column=c + 1, value=v)
    wb.save(path)
    return path


def test_grid_xlsx_equals_long_csv(tmp_path: Path) -> None:
    rows = _experiment_rows()
    long = read_layout(_write_long_csv(tmp_path / "long.csv", rows))
    grid = read_layout(_grid_workbook(tmp_path / "grid.xlsx", rows))
    pd.testing.assert_frame_equal(long.table, grid.table)
    assert grid.ignored_columns == ["sheet 'notes'"]
    assert grid.summary().splitlines()[1:-1] == long.summary().splitlines()[1:]


def test_grid_384(tmp_path: Path) -> None:
    rows = [
        {"well": f"{r}{c}", "cell_line": "L1", "drug": "d", "concentration": c, "unit": "nM"}
        for r in "ABCDEFGHIJKLMNOP"
        for c in range(1, 25)
    ]
    p = _grid_workbook(
        tmp_path / "g384.xlsx", rows, 16, 24, cols=("cell_line", "drug", "concentration", "unit")
    )
    t = read_layout(p, plate_format=384).table
    assert len(t) == 384
    assert t.set_index("well").loc["P24", "concentration_M"] == pytest.approx(24e-9)
    # the same workbook on a 96-well plate: every value outside A-H/1-12 is a problem
    probs = _problems(p, plate_format=96)
    assert len(probs) == 384 - 96
    i13 = next(pr for pr in probs if pr.location.well == "I13")
    assert (i13.location.row, i13.location.column) == (3 + 9, "cell_line")
    assert "cell N12" in str(i13)


def test_grid_bad_value_names_sheet_cell(tmp_path: Path) -> None:
    rows = [{"well": "B3", "cell_line": "L1", "drug": "d", "concentration": "lots", "unit": "nM"}]
    p = _grid_workbook(
        tmp_path / "g.xlsx", rows, cols=("cell_line", "drug", "concentration", "unit")
    )
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column, prob.location.well) == (
        5,
        "concentration",
        "B03",
    )
    assert "sheet 'concentration' cell D5" in str(prob)


def test_grid_sheet_without_grid(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "cell_line"
    wb.active["A1"] = "nothing here"
    p = tmp_path / "nogrid.xlsx"
    wb.save(p)
    probs = _problems(p)
    assert any("holds no plate grid" in str(pr) for pr in probs)


def test_long_xlsx_rows_and_numbers(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "layout"
    ws.append(["Well", "Cell line", "Drug", "Concentration", "Unit", "Replicate"])
    ws.append(["A1", "L1", "eribulin", 0.1, "nM", 1])
    ws.append(["A2", "L1", "eribulin", 1e-7, "M", 2.0])
    ws.append(["A3", "L1", "eribulin", -3, "nM", 3])
    p = tmp_path / "long.xlsx"
    wb.save(p)
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column) == (4, "concentration")
    ws.delete_rows(4)
    wb.save(p)
    t = read_layout(p).table
    assert t["concentration_M"].tolist() == pytest.approx([1e-10, 1e-7])
    assert t["replicate"].tolist() == ["1", "2"]


# ---- writing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".tsv"])
def test_write_layout_round_trip(tmp_path: Path, suffix: str) -> None:
    lay = read_layout(_write_long_csv(tmp_path / "exp.csv", _experiment_rows()))
    out = tmp_path / f"saved{suffix}"
    write_layout(lay, out)
    pd.testing.assert_frame_equal(read_layout(out).table, lay.table)


def test_to_csv_and_layout_from_frame(tmp_path: Path) -> None:
    lay = read_layout(_write_long_csv(tmp_path / "exp.csv", _experiment_rows()))
    lay.to_csv(tmp_path / "again.csv")
    pd.testing.assert_frame_equal(read_layout(tmp_path / "again.csv").table, lay.table)
    edited = lay.table.copy()
    pd.testing.assert_frame_equal(layout_from_frame(edited).table, lay.table)
    edited.loc[3, "concentration"] = -1.0
    with pytest.raises(LayoutError) as ei:
        layout_from_frame(edited, path="gui")
    assert (ei.value.problems[0].location.row, ei.value.problems[0].location.column) == (
        5,
        "concentration",
    )
    assert np.isfinite(lay.table["concentration_M"].dropna()).all()


def test_layout_from_frame_reads_pandas_na_as_empty() -> None:
    # nullable dtypes hold pd.NA, not NaN: an empty cell all the same, not the text "<NA>"
    frame = pd.DataFrame({
        "well": ["A01", "A02", "A03"],
        "cell_line": pd.array(["P", "P", pd.NA], dtype="string"),
        "drug": pd.array(["eribulin", "eribulin", pd.NA], dtype="string"),
        "concentration": pd.array([0.0, 10.0, pd.NA], dtype="Float64"),
        "unit": "nM",
        "role": ["sample", "sample", "blank"],
    })  # fmt: skip
    t = layout_from_frame(frame).table
    assert t["role"].tolist() == ["vehicle", "sample", "blank"]
    assert t["concentration_M"].iloc[1] == pytest.approx(1e-8, rel=1e-12)
    assert t["concentration_M"].iloc[0] == 0.0
    assert math.isnan(t["concentration_M"].iloc[2])


# ---- the command -----------------------------------------------------------------------------


def test_layout_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write_long_csv(tmp_path / "exp.csv", _experiment_rows())
    assert cli_main(["layout", str(good)]) == 0
    out = capsys.readouterr().out
    assert "55 wells" in out and "eribulin" in out
    bad = _csv(tmp_path, f"{HEADER}\nI13,L1,d,1,nM,\n", "bad.csv")
    assert cli_main(["layout", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "row 2" in err and "column 'well'" in err
    assert "Traceback" not in err
    assert cli_main(["layout", str(good), "--plate-format", "384"]) == 0
    assert "384-well plate" in capsys.readouterr().out


def test_title_lines_above_the_header(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        f"Eribulin dose response,,,,,\nplate 7,,,,,\n{HEADER}\nA1,L1,d,1,nM,\nA1,L1,d,1,nM,\n",
    )
    prob = _one_problem(p)
    assert (prob.location.row, prob.location.column) == (5, "well")


def test_excel_separator_hint(tmp_path: Path) -> None:
    p = _csv(tmp_path, f"sep=;\n{HEADER.replace(',', ';')}\nA1;L1;d;1,5;nM;\nA1;L1;d;1;nM;\n")
    probs = _problems(p)
    # row numbers count the hint line, as a spreadsheet shows the file
    assert [(pr.location.row, pr.location.column) for pr in probs] == [
        (3, "concentration"),
        (4, "well"),
    ]


def test_a_bad_well_does_not_hide_the_other_problems_of_its_row(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "well,cell_line,drug,concentration,unit\n"
        "A01,MCF-7,eribulin,1,nM\n"
        "I13,MCF-7,eribulin,abc,nM\n"
        "A01,MCF-7,eribulin,2,xM\n",
    )
    found = {(p.location.row, p.location.column) for p in _problems(path)}
    assert found == {(3, "well"), (3, "concentration"), (4, "well"), (4, "unit")}
