"""Fuzz ``il6assay batch`` and ``il6assay demo``: hostile folders, layouts, options, --out.

Plate folders are random subsets of one small synthetic spheroid experiment (48 px images),
with damaged files, strips, stray files and sub-folders mixed in; layouts are its layout with
hostile mutations (formula text, unknown parental lines, extra fields, dropped columns);
options and ``--out`` folders are drawn from the odd and the broken.

For speed the dask cluster is replaced by an in-process client that runs the same
`process_item` on each work item as it is submitted, and no figures are drawn (the same
figure functions are fuzzed through ``fit``/``synergy``); a few real subprocess runs with
the real cluster are in ``tests/batch/test_hostile.py``. ``demo`` cases run the demo command's own
logic (sample data lookup, --out rules, summary) on top of a stub ``run_batch`` that prepares
the output folder exactly as the real one does (`prepare_out`): a full demo takes minutes.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fuzz_support import FUZZ, HOSTILE_TEXT, in_process_cluster, run_cli
from hypothesis import given
from hypothesis import strategies as st

_CASE = itertools.count()
# parental (A) and resistant (D) wells interleaved, so that any first 8+ hold two curves
WELLS = [f"{r}{c:02d}" for c in range(1, 11) for r in "AD"] + ["G01", "G05", "G09", "C12"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from napari_il6assay.synthetic.experiment import make_experiment

    root = tmp_path_factory.mktemp("fuzzexp")
    make_experiment(root, mode="spheroid", seed=3, image_size=48, rgb=False, only_wells=WELLS)
    layout = pd.read_csv(root / "layout.csv", dtype=str, keep_default_na=False)
    return {"root": root, "layout": layout}


@pytest.fixture
def fast_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from napari_il6assay.batch import exports, parts

    in_process_cluster(monkeypatch)
    # figures are fuzzed through fit/synergy (same figure functions); here they cost seconds
    monkeypatch.setattr(exports, "figures", lambda tables, **kw: {})
    # durability is not what is fuzzed: ~60 fsyncs a run cost seconds of wall time
    monkeypatch.setattr(parts.os, "fsync", lambda fd: None)


@st.composite
def plate_folder(draw: st.DrawFn, exp: dict[str, Any], tmp: Path) -> Path:
    folder = tmp / "plate"
    folder.mkdir()
    wells = draw(st.lists(st.sampled_from(WELLS), min_size=0, max_size=10, unique=True))
    if draw(st.integers(0, 3)) < 3:  # mostly a folder with enough wells for curves
        wells = WELLS[: draw(st.integers(8, 12))]
    for w in wells:
        shutil.copy2(exp["root"] / f"{w}.tif", folder / f"{w}.tif")
    for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
        kind = draw(st.sampled_from(["junk", "strip", "txt", "subdir", "noid", "empty"]))
        w = draw(st.sampled_from(WELLS))
        if kind == "junk":
            (folder / f"{w}.tif").write_bytes(b"II*\x00" + draw(st.binary(max_size=64)))
        elif kind == "strip":
            import numpy as np
            import tifffile

            tifffile.imwrite(folder / f"{w}.tif", np.full((1, 200), 9, np.uint8))
        elif kind == "txt":
            (folder / "notes.txt").write_text('=HYPERLINK("x")')
        elif kind == "subdir":
            (folder / "sub").mkdir(exist_ok=True)
            shutil.copy2(exp["root"] / f"{WELLS[0]}.tif", folder / "sub" / f"{WELLS[0]}.tif")
        elif kind == "noid":
            shutil.copy2(exp["root"] / f"{WELLS[0]}.tif", folder / "picture.tif")
        else:
            (folder / f"{w}.tif").write_bytes(b"")
    return folder


@st.composite
def layout_file(draw: st.DrawFn, exp: dict[str, Any], tmp: Path) -> Path:
    df = exp["layout"].copy()
    p = tmp / f"layout.{draw(st.sampled_from(['csv'] * 5 + ['xlsx', 'tsv']))}"
    for _ in range(draw(st.integers(0, 3)) if draw(st.booleans()) else 0):
        op = draw(st.sampled_from(["text", "text", "rename", "drop", "parental", "number"]))
        if op in ("text", "rename") and "cell_line" not in df:
            op = "number"  # a column dropped earlier cannot be edited
        if op == "text":
            col = draw(
                st.sampled_from(
                    [c for c in ("cell_line", "drug", "drug_b", "replicate", "unit") if c in df]
                )
            )
            old = draw(st.sampled_from(sorted(set(df[col])) or [""]))
            df[col] = df[col].replace(old, draw(st.sampled_from(HOSTILE_TEXT)))
        elif op == "rename":
            # a whole line renamed to formula-like text (and its parental references)
            new = draw(
                st.sampled_from(
                    [
                        '=HYPERLINK("http://x","y")',
                        "@SUM(1)",
                        "+1",
                        "-2",
                        "../../x",
                        "=cmd|' /C calc'!A0",
                    ]
                )
            )
            old = draw(st.sampled_from(sorted(set(df["cell_line"]) - {""})))
            df = df.replace({"cell_line": {old: new}, "parental": {old: new}})
        elif op == "drop":
            df = df.drop(columns=[draw(st.sampled_from(list(df.columns)))])
        elif op == "parental" and "parental" in df:
            df.loc[df.index[: draw(st.integers(1, 5))], "parental"] = "ghost"
        elif op == "number" and "concentration" in df:
            i = draw(st.integers(0, len(df) - 1))
            df.loc[df.index[i], "concentration"] = draw(
                st.sampled_from(["-1", "1e400", "nan", "abc", "0", ""])
            )
    if p.suffix == ".xlsx":
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        df.map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v).to_excel(
            p, index=False
        )
    else:
        df.to_csv(p, index=False, sep="\t" if p.suffix == ".tsv" else ",")
    return p


VALID_OPTIONS = [
    ["--workers", "1"],
    ["--pixel-size", "1.3"],
    ["--format", "parquet"],
    ["--plate-format", "384"],
    ["--model", "3pl"],
    ["--save-labels"],
    ["--resume"],
    ["--overwrite"],
    ["--max-pixels", "1e9"],
]
BAD_OPTIONS = [
    ["--workers", "0"],
    ["--workers", "999999999999"],
    ["--workers", "x"],
    ["--pixel-size", "inf"],
    ["--pixel-size", "-1"],
    ["--voxel-size", "1,1"],
    ["--min-diameter", "nan"],
    ["--max-pixels", "0"],
    ["--model", "7pl"],
    ["--mode", "nonsense"],
    ["--plate-format", "7"],
]


def _options(draw: st.DrawFn) -> list[str]:
    opts = ["--quiet"]
    if draw(st.integers(0, 9)) < 9:
        opts.append("--no-report")
    if draw(st.booleans()):
        for o in draw(st.lists(st.sampled_from(VALID_OPTIONS), max_size=3)):
            opts += o
    return opts


@FUZZ
@given(data=st.data())
def test_fuzz_batch(experiment, fast_batch, tmp_path_factory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("batch", numbered=True)
    folder = data.draw(plate_folder(experiment, tmp))
    layout = data.draw(layout_file(experiment, tmp))
    mode = data.draw(
        st.sampled_from(["spheroid"] * 6 + ["colony", "livedead", "spheres", "spheroid3d"])
    )
    out, folder_arg, opts = tmp / "out", str(folder), _options(data.draw)
    # a full run costs ~1 s of CPU: one case in four runs through (with its hostile layout
    # text, junk files, valid options); the others also carry one thing refused up front
    if data.draw(st.integers(0, 3)) < 3:
        kind = data.draw(st.sampled_from(["option", "out", "folder", "layout"]))
        if kind == "option":
            opts += data.draw(st.sampled_from(BAD_OPTIONS))
        elif kind == "out":
            out = data.draw(
                st.sampled_from([folder / "out", layout, tmp / "full", Path("/proc/il6assay/out")])
            )
            if out == tmp / "full":
                out.mkdir()
                (out / "mine.txt").write_text("not a run")
        elif kind == "folder":
            folder_arg = str(data.draw(st.sampled_from([tmp / "missing", layout])))
        else:
            broken = experiment["layout"].copy()
            if data.draw(st.booleans()):
                broken = broken.drop(
                    columns=[
                        data.draw(st.sampled_from(["well", "cell_line", "drug", "concentration"]))
                    ]
                )
            else:
                broken.loc[broken.index[0], "parental"] = "ghost line"
            layout = tmp / "broken.csv"
            broken.to_csv(layout, index=False)
    argv = ["batch", folder_arg, "--layout", str(layout), "--mode", mode, "--out", str(out), *opts]
    before = sorted(p.name for p in folder.rglob("*"))
    code, _, _ = run_cli(argv, "batch")
    assert sorted(p.name for p in folder.rglob("*")) == before  # the input is never written
    if code in (0, 1):
        wells = pd.read_csv(out / "wells.csv")
        assert len(wells) > 0 or code == 1
        from openpyxl import load_workbook

        wb = load_workbook(out / "results.xlsx")
        assert not [c for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]
        assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def _stub_run_batch(folder: Any, layout: Any, mode: str, out: Any, **kw: Any) -> Any:
    """`run_batch` without the images: the real output-folder rules, an empty result."""
    from napari_il6assay.batch.run import BatchResult, prepare_out

    prepare_out(
        Path(out),
        Path(folder),
        Path(layout),
        resume=kw.get("resume", False),
        overwrite=kw.get("overwrite", False),
    )
    return BatchResult(out=Path(out), errors=pd.DataFrame(columns=["path", "stage", "error"]))


@FUZZ
@given(data=st.data())
def test_fuzz_demo(monkeypatch: pytest.MonkeyPatch, tmp_path_factory, data: st.DataObject) -> None:
    from napari_il6assay.batch import run

    monkeypatch.setattr(run, "run_batch", _stub_run_batch)
    tmp = tmp_path_factory.mktemp("demo", numbered=True)
    kind = data.draw(
        st.sampled_from(["new", "new", "file", "proc", "foreign", "previous", "nested", "sample"])
    )
    # folder names with spaces, unicode, dots, option-like dashes, up to 255 bytes
    name = data.draw(
        st.text(
            st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x00"),
            min_size=1,
            max_size=60,
        ).filter(lambda t: t not in (".", ".."))
    )
    name = name if len(name.encode()) <= 255 else "long"
    out = {
        "new": tmp / name,
        "file": tmp / "f.txt",
        "proc": Path("/proc/x") / name,
        "foreign": tmp / "foreign",
        "previous": tmp / "prev",
        "nested": tmp / "a" / name / "c",
        "sample": Path(__file__).resolve().parents[2] / "sample_data" / "out",
    }[kind]
    if kind == "file":
        out.write_text("x")
    elif kind == "foreign":
        out.mkdir()
        (out / "thesis.docx").write_text("keep me")
    elif kind == "previous":
        out.mkdir()
        (out / "run.json").write_text('{"tool": "napari-il6assay"}')
    argv = ["demo", "--out", str(out), "--quiet"]
    if data.draw(st.booleans()):
        argv += [
            "--workers",
            str(
                data.draw(
                    st.one_of(
                        st.integers(-10, 2000), st.sampled_from(["1e3", "x", "999999999999", ""])
                    )
                )
            ),
        ]
    if data.draw(st.integers(0, 9)) == 9:
        argv.append("--bogus")
    code, _, err = run_cli(argv, "demo")
    if kind == "foreign":
        assert (out / "thesis.docx").read_text() == "keep me"
        assert code == 2
    if kind == "sample":
        assert code == 2 and not out.exists()  # never writes into the input folder
