"""Issue 13: table paths, plots and QC overlays that scale, checked against constructed truth."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from napari_il6assay.doseresponse._table import split_curves
from napari_il6assay.segment.qc import OUTLINE_COLOR, overlay, png_bytes

DOSES = 1e-9 * 3.0 ** np.arange(6)


def _screen(n_lines: int, n_drugs: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Rows in shuffled order; truth: per (line, drug) the dosed rows and the line's vehicles."""
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for i in range(n_lines):
        line = f"L{i:02d}"
        veh = [(line, "", 0.0, rng.normal(1, 0.05), f"V{i}_{k}") for k in range(2)]
        rows += veh
        for j in range(n_drugs):
            drug = f"d{j}"
            ic50 = 10 ** rng.uniform(-8.5, -7.0)
            pts = [
                (
                    line,
                    drug,
                    x,
                    0.1 + 0.9 / (1 + x / ic50) + rng.normal(0, 0.02),
                    f"{line}{drug}_{k}_{r}",
                )
                for k, x in enumerate(DOSES)
                for r in range(2)
            ]
            rows += pts
            truth[(line, drug)] = (pts, veh, ic50)
    df = pd.DataFrame(rows, columns=["cell_line", "drug", "concentration_M", "viability", "well"])
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True), truth


def test_split_curves_groups_and_shares_vehicles() -> None:
    df, truth = _screen(5, 4)
    # a combination block: drug_b only on line L00/d0, its own vehicle (drug_b alone)
    combo = pd.DataFrame({"cell_line": ["L00"] * 3, "drug": ["d0", "d0", ""],
                          "concentration_M": [1e-9, 3e-9, 0.0], "viability": [0.9, 0.8, 0.95],
                          "well": ["C1", "C2", "C3"], "drug_b": ["t", "t", "t"],
                          "concentration_b": [10.0, 10.0, 10.0]})  # fmt: skip
    df = pd.concat([df.assign(drug_b="", concentration_b=0.0), combo], ignore_index=True)
    curves = split_curves(df)
    keys = [(c.key["cell_line"], c.key["drug"], c.key["drug_b"], c.key["concentration_b"])
            for c in curves]  # fmt: skip
    assert keys == sorted(keys) and len(curves) == 5 * 4 + 1
    order = {w: i for i, w in enumerate(df["well"])}  # table order inside a curve
    for c in curves:
        if c.key["drug_b"]:
            assert c.wells == ["C1", "C2", "C3"]
            assert np.allclose(c.conc, [1e-9, 3e-9, 0.0])
            continue
        pts, veh, _ = truth[(c.key["cell_line"], c.key["drug"])]
        want = sorted(pts, key=lambda p: order[p[4]]) + sorted(veh, key=lambda p: order[p[4]])
        assert c.wells == [p[4] for p in want]
        assert np.array_equal(c.conc, [p[2] for p in want])
        assert np.array_equal(c.response, [p[3] for p in want])


def test_fit_plots_are_capped_paged_and_summarised(tmp_path: Path, capsys) -> None:
    from napari_il6assay.cli import main

    df, truth = _screen(20, 2, seed=3)
    src = tmp_path / "in"
    src.mkdir()
    df.to_csv(src / "screen.csv", index=False)
    out = tmp_path / "out"
    assert main(["fit", str(src / "screen.csv"), "--out", str(out), "--ci", "delta",
                 "--max-plots", "3"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    # 20 lines = pages of 8, 8, 4 per drug; the first 3 pages (all of d0) are drawn
    assert pngs == ["d0_p1.png", "d0_p2.png", "d0_p3.png", "ic50_summary.png"]
    assert "3 dose-response figure(s) with 20 of 40 curves" in said
    assert "3 more figure(s) not drawn" in said and "--max-plots 0" in said
    fits = pd.read_csv(out / "fits.csv")
    err = [abs(np.log10(r.ic50_rel_M / truth[(r.cell_line, r.drug)][2])) for r in fits.itertuples()]
    assert np.median(err) < 0.15
    out2 = tmp_path / "all"
    assert main(["fit", str(src / "screen.csv"), "--out", str(out2), "--ci", "delta",
                 "--max-plots", "0"]) == 0  # fmt: skip
    assert len(list((out2 / "plots").glob("d*_p*.png"))) == 6
    assert "6 dose-response figure(s) with 40 of 40 curves" in capsys.readouterr().out


def test_overlay_png_is_lossless_where_it_matters() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, (300, 400)).astype(np.uint16)
    lab = np.zeros((300, 400), np.int32)
    lab[100:200, 150:260] = 1
    ov = overlay(img, lab)
    data = png_bytes(ov)
    back = Image.open(io.BytesIO(data))
    assert back.mode == "P"  # gray picture + outline colour: palette PNG
    rgb = np.asarray(back.convert("RGB")).astype(int)
    is_outline = (ov == OUTLINE_COLOR).all(axis=-1)
    # inner ring 2(h + w) - 4 plus outer ring without its 4 corners 2(h + w)
    assert is_outline.sum() == 4 * (100 + 110) - 4
    assert (rgb[is_outline] == OUTLINE_COLOR).all()
    assert np.abs(rgb - ov).max() <= 1  # 252 gray levels
    colour = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)  # a photo: stays RGB, exact
    back = Image.open(io.BytesIO(png_bytes(colour)))
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), colour)


def test_write_csv_is_to_csv_text(tmp_path: Path) -> None:
    """fits.csv's fast writer gives to_csv's bytes: floats of every magnitude, NaN, inf, -0.0,
    ints, bools, text with commas, quotes, line breaks and missing values."""
    from napari_il6assay.io.csv_out import write_csv

    rng = np.random.default_rng(0)
    f = rng.normal(size=495) * 10.0 ** rng.integers(-300, 300, 495)
    df = pd.DataFrame({
        "f": np.r_[f, [np.nan, np.inf, -np.inf, -0.0, 1e16]], "i": np.arange(500),
        "b": rng.random(500) > 0.5,
        "s": pd.Series(['a,"b"', "x\ny", "", None, "ok"] * 100, dtype="str"),
        "o": pd.Series(["p", np.nan, "q", "r,s", ""] * 100, dtype=object),
    })  # fmt: skip
    for frame in (df, df.iloc[:0], df.assign(f32=np.float32(0.1))):  # float32: to_csv itself
        for workers in (1, 3):  # 3 processes of at least 100 rows each (below)
            write_csv(frame, tmp_path / "a.csv", workers=workers)
            frame.to_csv(tmp_path / "b.csv", index=False)
            assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_write_csv_in_processes_is_to_csv_text(tmp_path: Path, monkeypatch) -> None:
    """Rows turned into text by 3 worker processes give to_csv's bytes, in row order, also
    when one part holds a value only to_csv can write (the whole file falls back to it)."""
    from napari_il6assay.io import csv_out

    monkeypatch.setattr(csv_out, "MIN_ROWS_PER_PROCESS", 100)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=1000) * 1e-7, "k": np.arange(1000),
                       "t": [f"c{i}, q" for i in range(1000)]})  # fmt: skip
    mixed = df.assign(t=df["t"].astype(object))
    mixed.loc[900, "t"] = 3.5  # a number in a text column: pandas' own formatting
    for frame in (df, mixed):
        csv_out.write_csv(frame, tmp_path / "a.csv", workers=3)
        assert (tmp_path / "a.csv").read_bytes() == frame.to_csv(index=False).encode()
