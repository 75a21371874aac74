"""Unit tests of the batch pieces: work items, worker reading, parts/resume, aggregation,
Prism tables, output-folder rules. Fast, no dask cluster."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_il6assay.batch import parts
from napari_il6assay.batch.exports import prism_tables, write_xlsx
from napari_il6assay.batch.plan import plan_from_table
from napari_il6assay.batch.run import prepare_out
from napari_il6assay.batch.tables import join_layout
from napari_il6assay.batch.wells import aggregate_sites
from napari_il6assay.batch.worker import WorkerResult, process_item, read_item, thumbnail
from napari_il6assay.errors import InputError


def _files(rows: list[tuple[str, int, int | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"plate": "p", "well": w, "site": s, "channel": c, "plane": None, "path": p}
            for w, s, c, p in rows
        ]
    ).astype({"channel": "Int64", "plane": "Int64"})


def test_plan_combines_channels_for_livedead_only(tmp_path: Path) -> None:
    files = _files(
        [
            ("A01", 1, 2, str(tmp_path / "A01_s1_w2.tif")),
            ("A01", 1, 1, str(tmp_path / "A01_s1_w1.tif")),
            ("A01", 2, 1, str(tmp_path / "A01_s2_w1.tif")),
            ("A01", 2, 2, str(tmp_path / "A01_s2_w2.tif")),
        ]
    )
    ld = plan_from_table(files, tmp_path, "livedead")
    assert [it.site for it in ld.items] == [1, 2]
    first = ld.items[0]
    assert [Path(p).name for p in first.paths] == ["A01_s1_w1.tif", "A01_s1_w2.tif"]
    assert first.n_channels == 2 and first.image == "A01_s1_w1.tif+A01_s1_w2.tif"
    assert len({it.id for it in ld.items}) == 2
    col = plan_from_table(files, tmp_path, "colony")
    assert [len(it.paths) for it in col.items] == [1, 1]
    assert sorted(Path(p).name for p, _ in col.ignored) == ["A01_s1_w2.tif", "A01_s2_w2.tif"]


def test_read_item_stacks_channel_files_in_order(tmp_path: Path) -> None:
    live = np.full((8, 9), 7, np.uint16)
    dead = np.full((8, 9), 3, np.uint16)
    tifffile.imwrite(tmp_path / "w1.tif", live)
    tifffile.imwrite(tmp_path / "w2.tif", dead)
    img = read_item([str(tmp_path / "w1.tif"), str(tmp_path / "w2.tif")], 2, 1)
    assert img.axes == "YXC" and img.data.shape == (8, 9, 2)
    assert img.data[0, 0, 0] == 7 and img.data[0, 0, 1] == 3
    # one file per z plane (Operetta) -> ZYX
    for z in range(3):
        tifffile.imwrite(tmp_path / f"p{z}.tif", np.full((8, 9), z, np.uint16))
    st = read_item([str(tmp_path / f"p{z}.tif") for z in range(3)], 1, 3)
    assert st.axes == "ZYX" and st.data.shape == (3, 8, 9)
    assert [int(st.data[z, 0, 0]) for z in range(3)] == [0, 1, 2]


def test_worker_reports_a_corrupt_file_instead_of_raising(tmp_path: Path) -> None:
    good = tmp_path / "A01.tif"
    tifffile.imwrite(good, np.zeros((64, 64), np.uint16))
    bad = tmp_path / "A02.tif"
    bad.write_bytes(good.read_bytes()[:300])  # truncated
    item = {
        "id": "A02_s1",
        "plate": "",
        "well": "A02",
        "site": 1,
        "paths": [str(bad)],
        "image": "A02.tif",
    }
    res = process_item(item, "spheroid")
    assert res.status == "error" and not res.ok
    assert res.stage == "read"
    assert res.error_path == str(bad)
    assert res.inputs[str(bad)]["size"] == 300


def test_thumbnail_keeps_a_visible_outline() -> None:
    disp = np.zeros((1000, 1000, 3), np.uint8)
    labels = np.zeros((1000, 1000), np.int32)
    yy, xx = np.mgrid[:1000, :1000]
    labels[(yy - 500) ** 2 + (xx - 500) ** 2 < 300**2] = 1
    th = thumbnail(disp, labels, size=100)
    assert th.shape == (100, 100, 3)
    outline = np.all(th == (255, 220, 0), axis=-1)
    # a circle of radius 30 thumbnail pixels: about 2*pi*30 outline pixels
    assert 120 < outline.sum() < 260


def _ok_result(pid: str, path: Path) -> WorkerResult:
    from napari_il6assay.batch.worker import fingerprint, png_bytes

    return WorkerResult(
        id=pid,
        status="ok",
        inputs={str(path): fingerprint(path)},
        measures={"readout": 0.5, "n_objects": 1},
        qc_flag="",
        objects=pd.DataFrame({"label": [1], "area_px": [10]}),
        overlay_png=png_bytes(np.zeros((4, 4, 3), np.uint8)),
        thumb_jpg=png_bytes(np.zeros((4, 4, 3), np.uint8)),
        labels=None,
        pixel_size_um=1.0,
        voxel_size_um=None,
    )


def test_parts_resume_checks_the_inputs(tmp_path: Path) -> None:
    src = tmp_path / "in" / "A01.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, np.arange(100, dtype=np.uint16).reshape(10, 10))
    out = tmp_path / "out"
    item = {
        "id": "A01_s1",
        "plate": "",
        "well": "A01",
        "site": 1,
        "paths": [str(src)],
        "image": "A01.tif",
    }
    assert not parts.is_done(out, item)
    settings = parts.settings_key("spheroid", 2.0, None, {})
    rec = parts.write_part(out, item, _ok_result("A01_s1", src), settings=settings)
    assert rec.ok
    assert parts.is_done(out, item, settings=settings)
    # other settings (here the pixel size) -> measure again
    assert not parts.is_done(out, item, settings=parts.settings_key("spheroid", 3.0, None, {}))
    assert not parts.is_done(out, item, save_labels=True)  # labels were not saved
    # same bytes, new time (a copy): still done, by sha256
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert parts.is_done(out, item)
    # new content of the same size: redo
    tifffile.imwrite(src, np.arange(100, dtype=np.uint16).reshape(10, 10)[::-1].copy())
    assert src.stat().st_size == st.st_size
    assert not parts.is_done(out, item)
    # a failed image replaces the done marker
    parts.write_part(out, item, WorkerResult.failed("A01_s1", "read", "x", str(src)))
    assert not (out / "_parts" / "A01_s1.json").exists()
    assert json.loads((out / "_parts" / "A01_s1.error.json").read_text())["stage"] == "read"


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "t.bin"

    def boom(fh: io.BufferedWriter) -> None:
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        parts.atomic_write(target, boom)
    assert list(tmp_path.iterdir()) == []


def test_aggregate_sites_mean_sum_and_area_weighting() -> None:
    images = pd.DataFrame(
        {
            "image": ["a1", "a2", "b1"],
            "mode": "livedead",
            "readout": [0.8, 0.2, 0.5],
            "n_objects": [10, 30, 5],
            "live_fraction": [0.8, 0.2, 0.5],
            "live_area_um2": [80.0, 60.0, 5.0],
            "dead_area_um2": [20.0, 240.0, 5.0],
            "readout_name": "live_fraction",
            "plate": "p",
            "well": ["A01", "A01", "A02"],
            "site": [1, 2, 1],
            "qc_flag": ["", "x", ""],
            "pixel_size_um": 1.0,
            "id": ["i1", "i2", "i3"],
        }
    )
    w = aggregate_sites(images).set_index("well")
    # area-weighted: (80 + 60) / (100 + 300)
    assert w.loc["A01", "readout"] == pytest.approx(140 / 400)
    assert w.loc["A01", "n_objects"] == 40 and w.loc["A01", "n_sites"] == 2
    assert w.loc["A01", "image"] == "a1;a2" and w.loc["A01", "qc_flag"] == "x"
    assert w.loc["A02", "readout"] == pytest.approx(0.5)
    # without areas: plain mean
    w2 = aggregate_sites(images.drop(columns=["live_area_um2", "dead_area_um2"]))
    assert w2.set_index("well").loc["A01", "readout"] == pytest.approx(0.5)


def test_unmeasured_layout_wells_are_listed() -> None:
    from napari_il6assay.batch.tables import unmeasured_wells

    measured = pd.DataFrame({"plate": ["P1", "P2"], "well": ["A01", "A01"]})
    lay = pd.DataFrame(
        {
            "plate": [None, None, None],
            "well": ["A01", "B01", "C01"],
            "role": ["sample", "sample", "exclude"],
        }
    )
    assert unmeasured_wells(measured, lay) == ["P1/B01", "P2/B01"]


def test_join_layout_by_well_or_by_plate() -> None:
    measured = pd.DataFrame({"plate": ["P1", "P2"], "well": ["A01", "A01"], "readout": [1, 2]})
    lay = pd.DataFrame({"plate": [None, None], "well": ["A01", "B01"], "cell_line": ["x", "y"]})
    w, unlisted = join_layout(measured, lay)
    assert list(w["cell_line"]) == ["x", "x"] and unlisted == []
    lay2 = pd.DataFrame({"plate": ["P1", "P2"], "well": ["A01", "A01"], "cell_line": ["x", "y"]})
    w2, _ = join_layout(measured, lay2)
    assert list(w2["cell_line"]) == ["x", "y"]
    lay3 = pd.DataFrame({"plate": [None], "well": ["B01"], "cell_line": ["y"]})
    w3, unlisted3 = join_layout(measured, lay3)
    assert len(w3) == 0 and unlisted3 == ["P1/A01", "P2/A01"]


def test_prism_tables_rows_doses_columns_replicates() -> None:
    rows = []
    for line, base in (("par", 1.0), ("res", 2.0)):
        for rep in (1, 2):
            rows.append(
                dict(
                    cell_line=line,
                    drug="",
                    concentration_M=0.0,
                    role="vehicle",
                    replicate=rep,
                    viability=1.0,
                    drug_b=None,
                    concentration_b=None,
                )
            )
            for c in (1e-9, 1e-8):
                rows.append(
                    dict(
                        cell_line=line,
                        drug="eribulin",
                        concentration_M=c,
                        role="sample",
                        replicate=rep,
                        viability=base * c * 1e8 + rep / 100,
                        drug_b=None,
                        concentration_b=None,
                    )
                )
    t = prism_tables(pd.DataFrame(rows))["eribulin"]
    assert list(t.columns) == ["concentration_M", "par:1", "par:2", "res:1", "res:2"]
    assert list(t["concentration_M"]) == [0.0, 1e-9, 1e-8]
    assert t["res:2"].tolist() == pytest.approx([1.0, 0.2 + 0.02, 2.0 + 0.02])
    assert t["par:1"].tolist() == pytest.approx([1.0, 0.1 + 0.01, 1.0 + 0.01])


def test_xlsx_has_one_sheet_per_table(tmp_path: Path) -> None:
    a = pd.DataFrame({"x": [1.5, np.nan], "s": pd.array([None, "u"], dtype="string")})
    b = pd.DataFrame({"path": [], "stage": [], "error": []})
    write_xlsx(tmp_path / "r.xlsx", {"wells": a, "errors": b})
    back = pd.read_excel(tmp_path / "r.xlsx", sheet_name=None)
    assert list(back) == ["wells", "errors"]
    assert back["wells"]["x"].iloc[0] == 1.5 and np.isnan(back["wells"]["x"].iloc[1])
    assert pd.isna(back["wells"]["s"].iloc[0]) and back["wells"]["s"].iloc[1] == "u"
    assert list(back["errors"].columns) == ["path", "stage", "error"]


def test_xlsx_column_conversion_equals_cell_by_cell() -> None:
    """`_sheet_column` (a column at once) gives the cells `_cell`/`_text_cell` give one by one."""
    from openpyxl import Workbook

    from napari_il6assay.batch.exports import _cell, _sheet_column, _text_cell

    ws = Workbook(write_only=True).create_sheet("t")
    df = pd.DataFrame(
        {
            "f": [1.5, np.nan, -0.0, 1e-11, np.inf],
            "f32": np.array([0.1, np.nan, 2.0, 3.0, 4.0], dtype="float32"),
            "i": [1, -2, 3, 2**40, 0],
            "u": np.array([1, 2, 3, 4, 5], dtype="uint8"),
            "b": [True, False, True, True, False],
            "o": [1, "a", None, 2.5, "=1+1"],
            "s": pd.array(["x", None, "-3", "ok\x07", "y"], dtype="string"),
            "I": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        }
    )

    def value(c: object) -> object:
        return getattr(c, "value", c)  # a formula-like text is a text cell object

    for col in df.columns:
        one_by_one = []
        for v in df[col].to_numpy(dtype=object):
            c = _cell(v)
            one_by_one.append(_text_cell(ws, c) if isinstance(c, str) else c)
        got = _sheet_column(ws, df[col])
        assert [value(c) for c in got] == [value(c) for c in one_by_one], col
        assert [type(value(c)) for c in got] == [type(value(c)) for c in one_by_one], col
    assert _sheet_column(ws, df["f"])[1] is None and _sheet_column(ws, df["f32"])[1] is None


def test_write_all_workbook_from_side_process_equals_serial(tmp_path: Path) -> None:
    """The workbook a started side process writes is the one written in this process."""
    import zipfile

    from napari_il6assay.batch.exports import start_side_process, write_all

    tables = {
        "objects": pd.DataFrame(
            {"image": ["a.png"] * 3, "area_px": [1, 2, 3], "circularity": [0.5, np.nan, 1.0]}
        ),
        "images": pd.DataFrame({"image": ["a.png"], "well": ["=A01"]}),
    }
    errors = pd.DataFrame(columns=["path", "stage", "error"])
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "plots").mkdir(parents=True)
    write_all(a, tables, errors, jobs=1)
    side = start_side_process()
    try:
        write_all(b, tables, errors, jobs=2, side=side)
    finally:
        side.shutdown()

    def sheets(p: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(p / "results.xlsx") as z:
            return {n: z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")}

    assert sheets(a) == sheets(b) and len(sheets(a)) == 3
    back = pd.read_excel(b / "results.xlsx", sheet_name=None)
    assert list(back) == ["images", "objects", "errors"]
    assert back["images"]["well"].tolist() == ["=A01"]
    assert back["objects"]["area_px"].tolist() == [1, 2, 3]


def test_cli_option_parsing() -> None:
    from napari_il6assay.cli import parse_voxel_size

    assert parse_voxel_size("2,0.5,0.5") == (2.0, 0.5, 0.5)
    assert parse_voxel_size(None) is None
    for bad in ("2,0.5", "a,b,c", "2,-1,1"):
        with pytest.raises(InputError, match="--voxel-size"):
            parse_voxel_size(bad)


def test_prepare_out_rules(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    lay = tmp_path / "layout.csv"
    lay.write_text("well\n")
    with pytest.raises(InputError, match="inside the input folder"):
        prepare_out(src / "out", src, lay, resume=False, overwrite=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    (out / "wells.csv").write_text("old")
    with pytest.raises(InputError, match="not empty"):
        prepare_out(out, src, lay, resume=False, overwrite=False)
    prepare_out(out, src, lay, resume=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]  # only our products go


def test_report_says_when_a_synergy_score_is_undefined(tmp_path: Path) -> None:
    """Loewe is NaN when the second agent alone does nothing: the report says n/a, not blank."""
    from napari_il6assay.batch.report import build_report

    syn = pd.DataFrame(
        {
            "cell_line": ["MDA-MB-231E"] * 2,
            "bliss": [0.1, 0.3],
            "hsa": [0.0, 0.2],
            "loewe": [np.nan, np.nan],
            "zip": [0.05, 0.15],
        }
    )
    html = build_report(tmp_path, {"synergy": syn}, {"mode": "colony"})
    assert "bliss 0.2," in html
    # the reason itself, not a pointer to a note the report does not show (issue 14)
    assert "loewe n/a (undefined for every condition)" in html and "see note" not in html
    assert "zip 0.1" in html
