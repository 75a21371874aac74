"""Plate-reader grid exports and ``il6assay quantify`` end to end (CSV/XLSX, header block,
malformed grids naming row and column)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.models import evaluate
from napari_il6assay.errors import InputError
from napari_il6assay.io.plate_reader import join_layout, read_plate_grid

ROWS = "ABCDEFGH"
HEADER_BLOCK = [
    ["Software Version", "3.11.19"],
    ["Experiment File Path:", "C:\\ELISA\\IL6_2026-11-30.xpt"],
    ["Plate Number", "Plate 1"],
    ["Read", "Absorbance Endpoint"],
    ["Wavelengths:  450"],
    [],
    ["Results"],
]
TRUTH = np.array([1.3, 3.0, 0.05, np.log(400.0), 0.0])
STANDARDS = [2000, 1000, 500, 250, 125, 62.5, 31.25, 0]


def make_plate(seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, dict[str, float]]:
    """An 8x12 plate: standards in columns 1-2, samples in duplicate in columns 3-12."""
    rng = np.random.default_rng(seed)
    od = np.full((8, 12), np.nan)
    lay = []
    truth = {}
    for r, c in enumerate(STANDARDS):
        for col in (1, 2):
            y = evaluate(TRUTH, np.array([float(c)]))[0]
            od[r, col - 1] = y * (1 + 0.03 * rng.standard_normal())
            lay.append(
                dict(
                    well=f"{ROWS[r]}{col}",
                    role="standard" if c else "blank",
                    concentration=c if c else None,
                    unit="pg/mL",
                )
            )
    k = 0
    for col in range(3, 13, 2):
        for r in range(8):
            x = float(np.exp(rng.uniform(np.log(60), np.log(1500))))
            name = f"patient{k:02d}"
            truth[name] = x * 4
            k += 1
            for cc in (col, col + 1):
                y = evaluate(TRUTH, np.array([x]))[0]
                od[r, cc - 1] = y * (1 + 0.03 * rng.standard_normal())
                lay.append(dict(well=f"{ROWS[r]}{cc}", role="sample", sample=name, dilution=4))
    return od, pd.DataFrame(lay), truth


def grid_rows(od: np.ndarray, fmt: str = "{:.4f}") -> list[list[str]]:
    rows = [[""] + [str(i) for i in range(1, 13)]]
    for r in range(8):
        rows.append([ROWS[r]] + [fmt.format(v) for v in od[r]])
    return rows


def write_csv_rows(path: Path, rows: list[list[str]], sep: str = ",") -> Path:
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_grid_with_header_block_csv(tmp_path: Path) -> None:
    od, _, _ = make_plate()
    p = write_csv_rows(tmp_path / "reader.csv", HEADER_BLOCK + grid_rows(od))
    g = read_plate_grid(p)
    assert len(g) == 96 and g["well"].iloc[0] == "A01" and g["well"].iloc[-1] == "H12"
    np.testing.assert_allclose(g["response"].to_numpy().reshape(8, 12), od, atol=5e-5)
    assert g["_row"].iloc[0] == len(HEADER_BLOCK) + 2  # the row of grid row A in the file


def test_grid_semicolon_decimal_comma_and_second_wavelength(tmp_path: Path) -> None:
    od, _, _ = make_plate()
    rows = HEADER_BLOCK + grid_rows(od) + [[], ["Wavelength 570"]] + grid_rows(od * 0 + 0.04)
    rows = [[c.replace(".", ",") for c in r] for r in rows]
    p = write_csv_rows(tmp_path / "reader.txt", rows, sep=";")
    np.testing.assert_allclose(
        read_plate_grid(p)["response"].to_numpy().reshape(8, 12), od, atol=5e-5
    )
    assert (read_plate_grid(p, grid=1)["response"] == 0.04).all()


def test_grid_xlsx_with_header_block(tmp_path: Path) -> None:
    from openpyxl import Workbook

    od, _, _ = make_plate()
    wb = Workbook()
    ws = wb.active
    for r in HEADER_BLOCK:
        ws.append(r)
    ws.append([None] + list(range(1, 13)))
    for r in range(8):
        ws.append([ROWS[r]] + [float(v) for v in od[r]])
    wb.save(tmp_path / "reader.xlsx")
    g = read_plate_grid(tmp_path / "reader.xlsx")
    np.testing.assert_allclose(g["response"].to_numpy().reshape(8, 12), od, rtol=1e-12)


def test_malformed_grids_name_row_and_column(tmp_path: Path) -> None:
    od, _, _ = make_plate()
    rows = HEADER_BLOCK + grid_rows(od)
    ragged = [list(r) for r in rows]
    ragged[len(HEADER_BLOCK) + 3] = ragged[len(HEADER_BLOCK) + 3][:10]  # row C: 9 values
    with pytest.raises(InputError) as e:
        read_plate_grid(write_csv_rows(tmp_path / "ragged.csv", ragged))
    assert e.value.location.row == len(HEADER_BLOCK) + 4
    assert e.value.location.column == "10" and "ragged row C" in str(e.value)
    text = [list(r) for r in rows]
    text[len(HEADER_BLOCK) + 5][7] = "OVRFLW"  # row E, plate column 7
    with pytest.raises(InputError) as e:
        read_plate_grid(write_csv_rows(tmp_path / "text.csv", text))
    assert e.value.location.row == len(HEADER_BLOCK) + 6
    assert e.value.location.column == "7" and e.value.location.well == "E07"
    assert "OVRFLW" in str(e.value) and "text.csv" in str(e.value)
    short = rows[:-1]  # row H missing
    with pytest.raises(InputError, match="stops before plate row H"):
        read_plate_grid(write_csv_rows(tmp_path / "short.csv", short))
    with pytest.raises(InputError, match="no plate grid"):
        read_plate_grid(write_csv_rows(tmp_path / "none.csv", HEADER_BLOCK))


def test_layout_join_and_missing_standard_concentration(tmp_path: Path) -> None:
    od, lay, _ = make_plate()
    g = read_plate_grid(write_csv_rows(tmp_path / "r.csv", grid_rows(od)))
    t = join_layout(g, lay, "layout.csv")
    assert t.loc[t["well"] == "B02", "response"].item() == pytest.approx(od[1, 1], abs=5e-5)
    bad = lay.copy()
    bad.loc[5, "concentration"] = None  # a standard (C2) without its concentration
    from napari_il6assay.doseresponse.quantify import quantify

    with pytest.raises(InputError) as e:
        quantify(join_layout(g, bad, "layout.csv"), path="layout.csv")
    assert e.value.location.row == 7 and e.value.location.column == "concentration"
    assert e.value.location.well == "C02"
    off = pd.concat([lay, pd.DataFrame([dict(well="I1", role="sample")])], ignore_index=True)
    with pytest.raises(InputError, match="not on the plate grid"):
        join_layout(g, off, "layout.csv")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "napari_il6assay", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_grid_and_layout_end_to_end(tmp_path: Path) -> None:
    od, lay, truth = make_plate(seed=1)
    src = tmp_path / "in"
    src.mkdir()
    write_csv_rows(src / "reader.csv", HEADER_BLOCK + grid_rows(od))
    lay.to_csv(src / "layout.csv", index=False)
    before = sorted(p.name for p in src.iterdir())
    r = _cli(
        "quantify",
        str(src / "reader.csv"),
        "--layout",
        str(src / "layout.csv"),
        "--out",
        str(tmp_path / "out"),
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in src.iterdir()) == before  # input folder untouched
    out = tmp_path / "out"
    conc = pd.read_csv(out / "concentrations.csv")
    assert list(conc.columns[:9]) == [
        "sample",
        "n",
        "response_mean",
        "concentration",
        "ci_low",
        "ci_high",
        "unit",
        "cv_pct",
        "flag",
    ]
    std = pd.read_csv(out / "standards.csv")
    assert list(std.columns[:8]) == [
        "concentration",
        "unit",
        "n",
        "response_mean",
        "back_calculated",
        "recovery_pct",
        "cv_pct",
        "in_range",
    ]
    run = json.loads((out / "run.json").read_text())
    for k in ("lloq", "uloq", "lod"):
        assert run[k] is not None and run[k] > 0
    assert run["curve"]["model"] == "4pl" and run["curve"]["r2"] > 0.99
    assert run["curve"]["loq_cv_pct"] == 6.08 and run["curve"]["loq_replicates"] == 2
    assert run["parameters"]["loq_cv_pct"] == 6.08
    ok = conc[conc["flag"].isna()]
    assert len(ok) >= 30
    err = np.abs(ok["concentration"] / ok["sample"].map(truth) - 1)
    assert (err <= 0.10).mean() >= 0.9, err.describe()
    assert (ok["unit"] == "pg/mL").all()
    assert (out / "plots" / "standard_curve.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    assert "patient00" in html and "LLOQ" in html
    from openpyxl import load_workbook

    assert {"concentrations", "standards"} <= set(load_workbook(out / "results.xlsx").sheetnames)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    od, lay, _ = make_plate()
    rows = HEADER_BLOCK + grid_rows(od)
    rows[len(HEADER_BLOCK) + 2][4] = "n/a"  # row B, column 4
    write_csv_rows(tmp_path / "reader.csv", rows)
    lay.to_csv(tmp_path / "layout.csv", index=False)
    r = _cli(
        "quantify",
        str(tmp_path / "reader.csv"),
        "--layout",
        str(tmp_path / "layout.csv"),
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "reader.csv" in lines[0] and f"row {len(HEADER_BLOCK) + 3}" in lines[0]
    assert "column '4'" in lines[0] and "B04" in lines[0]
    r = _cli("quantify", str(tmp_path / "reader.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "--layout" in r.stderr
