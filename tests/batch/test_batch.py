"""End-to-end batch runs on a small synthetic experiment: fault tolerance, resume after
SIGKILL, a dask.distributed cluster, the output-folder rules and the exports.

One experiment (spheroid mode, small gray TIFFs) is written once per module; a 32-image
subset of its plate (parental row A, resistant row D, combination row G and two blanks) keeps
each run to a few seconds. Every comparison is against the uninterrupted local run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

TABLES = ("wells", "conditions", "fits", "synergy", "potentiation", "images", "objects")
WELLS = [f"{r}{c:02d}" for r in "ADG" for c in range(1, 11)] + ["C12", "F12"]


def _hash_tree(folder: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from napari_il6assay.synthetic.experiment import make_experiment

    root = tmp_path_factory.mktemp("batch")
    full = root / "full"
    truth = make_experiment(full, mode="spheroid", seed=5, image_size=96, rgb=False)
    folder = root / "plate"
    folder.mkdir()
    for w in WELLS:
        shutil.copy2(full / f"{w}.tif", folder / f"{w}.tif")
    layout = root / "layout.csv"
    shutil.copy2(full / "layout.csv", layout)
    return {"root": root, "folder": folder, "layout": layout, "truth": truth}


@pytest.fixture(scope="module")
def reference(plate: dict) -> dict:
    """The uninterrupted local run (2 worker processes), and the input hashes around it."""
    from napari_il6assay.batch.run import run_batch

    before = _hash_tree(plate["folder"])
    out = plate["root"] / "ref"
    res = run_batch(plate["folder"], plate["layout"], "spheroid", out, workers=2, quiet=True)
    return {"out": out, "res": res, "before": before, "after": _hash_tree(plate["folder"])}


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "napari_il6assay", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def _assert_same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        pa, pb = a / f"{name}.csv", b / f"{name}.csv"
        assert pa.is_file() == pb.is_file(), name
        if pa.is_file():
            assert pa.read_bytes() == pb.read_bytes(), f"{name}.csv differs"


def test_reference_run_writes_every_output(plate: dict, reference: dict) -> None:
    out, res = reference["out"], reference["res"]
    assert res.exit_code == 0 and res.n_images == len(WELLS) and res.n_ok == len(WELLS)
    for name in (
        "wells",
        "conditions",
        "fits",
        "synergy",
        "potentiation",
        "images",
        "objects",
        "errors",
    ):
        assert (out / f"{name}.csv").is_file(), name
    for name in ("results.xlsx", "run.json", "report.html"):
        assert (out / name).is_file()
    assert pd.read_csv(out / "errors.csv").empty
    wells = pd.read_csv(out / "wells.csv")
    assert sorted(wells["well"]) == sorted(WELLS)
    assert list(wells.columns[:12]) == [
        "plate",
        "well",
        "image",
        "cell_line",
        "drug",
        "concentration_M",
        "drug_b",
        "concentration_b",
        "role",
        "readout",
        "viability",
        "qc_flag",
    ]
    # the readout per well is the segmenter's measure of that image
    images = pd.read_csv(out / "images.csv").set_index("well")
    w = wells.set_index("well")
    assert np.allclose(w["readout"], images.loc[w.index, "readout"], equal_nan=True)
    fits = pd.read_csv(out / "fits.csv")
    assert set(fits["cell_line"]) == {"MDA-MB-231", "MDA-MB-231E"}
    # one sheet per table
    sheets = pd.read_excel(out / "results.xlsx", sheet_name=None)
    assert {"wells", "conditions", "fits", "synergy", "images", "objects", "errors"} <= set(sheets)
    assert len(sheets["wells"]) == len(wells)
    # Prism: one row per dose, one column per replicate of each line
    prism = pd.read_csv(out / "prism" / "eribulin.csv")
    assert list(prism.columns) == ["concentration_M", "MDA-MB-231:1", "MDA-MB-231E:1"]
    single = wells[wells["drug_b"].isna() & wells["role"].isin(["sample", "vehicle"])]
    assert np.allclose(
        prism["concentration_M"], sorted(single["concentration_M"].unique()), rtol=1e-12, atol=0
    )
    a05 = w.loc["A05"]
    row = prism[np.isclose(prism["concentration_M"], a05["concentration_M"], rtol=1e-9, atol=0)]
    assert row["MDA-MB-231:1"].iloc[0] == pytest.approx(a05["viability"])
    # plots (PNG + SVG), one QC overlay per image
    assert (out / "plots" / "dose_response_eribulin.png").is_file()
    assert (out / "plots" / "dose_response_eribulin.svg").is_file()
    assert len(list((out / "qc").glob("*.png"))) == len(WELLS)
    # run.json: inputs with their sha256 (layout too), parameters, versions, times
    info = json.loads((out / "run.json").read_text())
    files = {Path(p).name: h for p, h in info["inputs_sha256"].items()}
    a01 = plate["folder"] / "A01.tif"
    assert files["A01.tif"] == hashlib.sha256(a01.read_bytes()).hexdigest()
    assert len(files) == len(WELLS)
    assert info["layout"]["sha256"] == hashlib.sha256(plate["layout"].read_bytes()).hexdigest()
    # calibration from the TIFF tags
    assert info["calibration"]["pixel_size_um"] == pytest.approx(plate["truth"].pixel_size_um)
    assert info["packages"]["numpy"] and info["started"] <= info["finished"]
    assert info["parameters"]["workers"] == 2


def test_input_folder_is_never_written(plate: dict, reference: dict) -> None:
    assert reference["before"] == reference["after"]
    assert reference["before"] == _hash_tree(plate["folder"])


def test_report_is_self_contained(plate: dict, reference: dict) -> None:
    html = (reference["out"] / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    for bad in ("http://", "https://", "src='/", 'src="/', "@import"):
        assert bad not in html
    assert html.count("data:image/jpeg;base64,") == len(WELLS)  # every well's thumbnail
    assert html.count("data:image/png;base64,") >= 1  # the curves
    # montage laid out by plate map, each thumbnail titled with well, line, dose, viability
    assert "<th>H</th>" in html and "<th>12</th>" in html
    wells = pd.read_csv(reference["out"] / "wells.csv").set_index("well")
    v = wells.loc["D05", "viability"]
    assert f"viability {v:.2g}" in html
    assert "MDA-MB-231E" in html and "fold" in html


def test_non_empty_output_is_refused(plate: dict, reference: dict) -> None:
    r = _cli(
        "batch",
        str(plate["folder"]),
        "--layout",
        str(plate["layout"]),
        "--mode",
        "spheroid",
        "--out",
        str(reference["out"]),
        "--quiet",
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(reference["out"]) in lines[0]
    assert "Traceback" not in r.stderr


def test_corrupt_files_are_listed_and_good_wells_kept(plate: dict, reference: dict) -> None:
    root = plate["root"]
    folder = root / "corrupt"
    shutil.copytree(plate["folder"], folder)
    # 2 of 32 files (~5 %): one truncated TIFF, one that is not a TIFF at all
    trunc, junk = folder / "A04.tif", folder / "D07.tif"
    trunc.write_bytes(trunc.read_bytes()[: trunc.stat().st_size // 3])
    junk.write_bytes(b"this is not an image " * 50)
    out = root / "corrupt_out"
    r = _cli(
        "batch",
        str(folder),
        "--layout",
        str(plate["layout"]),
        "--mode",
        "spheroid",
        "--out",
        str(out),
        "--workers",
        "2",
        "--quiet",
        "--save-labels",
    )
    assert r.returncode == 1, r.stderr
    errors = pd.read_csv(out / "errors.csv")
    assert sorted(Path(p).name for p in errors["path"]) == ["A04.tif", "D07.tif"]
    assert set(errors["stage"]) == {"read"}
    assert errors["error"].str.len().min() > 5
    wells = pd.read_csv(out / "wells.csv").set_index("well")
    ref = pd.read_csv(reference["out"] / "wells.csv").set_index("well")
    good = [w for w in WELLS if w not in ("A04", "D07")]
    assert sorted(wells.index) == sorted(good)
    # every good well measured exactly as in the clean run
    assert np.array_equal(
        wells.loc[good, "readout"].to_numpy(), ref.loc[good, "readout"].to_numpy(), equal_nan=True
    )
    assert json.loads((out / "run.json").read_text())["n_failed"] == 2
    # --save-labels: one label image per good image, the segmenter's objects
    import tifffile

    labels = sorted((out / "labels").glob("*.tif"))
    assert len(labels) == len(good)
    (a05,) = (out / "labels").glob("*A05_s1.tif")
    lab = tifffile.imread(a05)
    n_obj = pd.read_csv(out / "images.csv").set_index("well").loc["A05", "n_objects"]
    assert lab.dtype == np.int32 and len(np.unique(lab[lab > 0])) == n_obj


def test_sigkill_then_resume_gives_identical_tables(plate: dict, reference: dict) -> None:
    out = plate["root"] / "killed"
    cmd = [
        sys.executable,
        "-m",
        "napari_il6assay",
        "batch",
        str(plate["folder"]),
        "--layout",
        str(plate["layout"]),
        "--mode",
        "spheroid",
        "--out",
        str(out),
        "--workers",
        "1",
        "--quiet",
    ]
    # own session: the kill reaches the run and the worker processes it started
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    half = len(WELLS) // 2
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "_parts").glob("*_s1.json"))) >= half:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done = len(list((out / "_parts").glob("*_s1.json")))
    assert half <= done < len(WELLS)
    assert not (out / "wells.csv").exists()
    r = _cli(
        "batch",
        str(plate["folder"]),
        "--layout",
        str(plate["layout"]),
        "--mode",
        "spheroid",
        "--out",
        str(out),
        "--workers",
        "2",
        "--resume",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["n_reused_from_previous_run"] == done
    _assert_same_tables(reference["out"], out)
    assert not list(out.rglob(".*.tmp"))
    # --save-labels was not given: none written
    assert not (out / "labels").exists()


def test_ctrl_c_stops_the_run_and_its_workers_without_tracebacks(plate: dict) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the command says "interrupted"
    (exit 130), no worker prints a traceback, nothing of the group outlives it, and the
    images finished so far stay for --resume."""
    out = plate["root"] / "interrupted"
    cmd = [sys.executable, "-m", "napari_il6assay", "batch", str(plate["folder"]), "--layout",
           str(plate["layout"]), "--mode", "spheroid", "--out", str(out), "--workers", "2",
           "--quiet"]  # fmt: skip

    def ctrl_c_default() -> None:  # a background process may start with Ctrl-C ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=ctrl_c_default)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "_parts").glob("*_s1.json"))) >= 4:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # the workers and the fork server are gone too
    done = len(list((out / "_parts").glob("*_s1.json")))
    assert 4 <= done < len(WELLS)
    assert not (out / "wells.csv").exists()


def test_distributed_cluster_gives_the_same_tables(plate: dict, reference: dict) -> None:
    from distributed import LocalCluster

    from napari_il6assay.batch.run import run_batch

    out = plate["root"] / "cluster"
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        res = run_batch(
            plate["folder"],
            plate["layout"],
            "spheroid",
            out,
            scheduler=cluster.scheduler_address,
            quiet=True,
            formats=("csv", "parquet"),
        )
    assert res.exit_code == 0
    assert json.loads((out / "run.json").read_text())["parameters"]["scheduler"] == (
        cluster.scheduler_address
    )
    _assert_same_tables(reference["out"], out)
    # --format parquet: the same tables as parquet
    for name in ("wells", "fits", "objects"):
        pq = pd.read_parquet(out / f"{name}.parquet")
        csv = pd.read_csv(out / f"{name}.csv")
        assert pq.shape == csv.shape and list(pq.columns) == list(csv.columns)
        num = [
            c for c in csv.select_dtypes("number").columns if pd.api.types.is_numeric_dtype(pq[c])
        ]
        assert "viability" in num or name != "wells"
        assert np.allclose(pq[num].astype(float), csv[num].astype(float), equal_nan=True)


def test_cancel_keeps_finished_images_for_resume(plate: dict) -> None:
    from napari_il6assay.batch.run import run_batch

    out = plate["root"] / "cancelled"
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    res = run_batch(
        plate["folder"],
        plate["layout"],
        "spheroid",
        out,
        workers=1,
        quiet=True,
        progress=progress,
        cancel=lambda: len(seen) >= 4,
    )
    assert res.cancelled and res.exit_code == 1
    assert res.n_ok == seen[-1][0]
    assert seen[0] == (0, len(WELLS)) and seen[-1][0] < len(WELLS)
    kept = list((out / "_parts").glob("*_s1.json"))
    assert 3 <= len(kept) < len(WELLS)
    assert not (out / "wells.csv").exists()
    # what resume reuses: finished images with unchanged inputs
    from napari_il6assay.batch.parts import is_done
    from napari_il6assay.batch.plan import plan_folder

    items = [it.to_dict() for it in plan_folder(plate["folder"], "spheroid").items]
    assert sum(is_done(out, it) for it in items) == len(kept)


def test_whole_plate_colony_photos(tmp_path: Path) -> None:
    """Photos of whole 24-well plates: every well found on the grid, joined to the layout."""
    from PIL import Image

    from napari_il6assay.batch.run import run_batch
    from napari_il6assay.synthetic import make_colony_plate

    folder = tmp_path / "photos"
    folder.mkdir()
    conc = [0, 1, 3, 10, 30, 100]
    lines = ["well,cell_line,drug,concentration,unit,parental"]
    fractions = {}
    for r, line, ic50 in (("A", "P", 5), ("B", "P", 5), ("C", "R", 50), ("D", "R", 50)):
        for j, c in enumerate(conc, start=1):
            fractions[f"{r}{j:02d}"] = 0.45 / (1 + c / ic50)
            lines.append(f"{r}{j},{line},eribulin,{c},nM,{'P' if line == 'R' else ''}")
    layout = tmp_path / "layout.csv"
    layout.write_text("\n".join(lines) + "\n")
    truth = {}
    for k in (1, 2):
        s = make_colony_plate(k, plate_format=24, area_fractions=fractions)
        Image.fromarray(s.image).save(folder / f"plate{k}.png")
        truth[f"plate{k}"] = s.truth["wells"].set_index("well")["area_fraction"]
    out = tmp_path / "out"
    res = run_batch(folder, layout, "colony", out, workers=1, plate_format=24, quiet=True)
    assert res.exit_code == 0 and res.n_images == 2
    wells = pd.read_csv(out / "wells.csv")
    assert len(wells) == 48 and set(wells["plate"]) == {"plate1", "plate2"}
    got = wells["readout"].to_numpy()
    want = np.array([truth[r.plate][r.well] for r in wells.itertuples()])
    # each well's number is that well's (a mix-up of wells would break the correlation);
    # the segmenter's own bias at ~150 px per well is a few hundredths
    assert np.corrcoef(got, want)[0, 1] > 0.97
    assert np.median(np.abs(got - want)) < 0.06
    objects = pd.read_csv(out / "objects.csv")
    assert set(objects["well"]) == set(fractions)
    assert len(objects[["plate", "well"]].drop_duplicates()) == 48
    assert len(list((out / "_parts").glob("plate1.*.thumb.jpg"))) == 24
    html = (out / "report.html").read_text()
    assert html.count("<th>D</th>") == 2 and "<th>E</th>" not in html  # 4 x 6 plate maps
