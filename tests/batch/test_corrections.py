"""Corrected labels (no Qt): every mode measures a well again from labels a person drew, the
numbers follow the labels exactly, the files round-trip, and bad files are named, not raised.

Truth comes from the synthetic generators: their label images are what a perfect correction
would draw, so measuring them again must give the generator's own numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.segment import segment_image
from napari_il6assay.segment.remeasure import relabel_regions, remeasure


def _well_measures(s) -> dict:
    """The automatic measures of a synthetic colony well, its well set to the true circle."""
    cy, cx = s.truth["well_center"]
    return {"well_center_y": cy, "well_center_x": cx, "well_radius_px": s.truth["well_radius_px"]}


def test_colony_truth_and_erase_one_colony():
    """The true colonies give the true area fraction; erasing one lowers it by exactly that
    colony's area / the well's area, and the count by one."""
    from napari_il6assay.synthetic.colony import make_colony_well

    s = make_colony_well(3, size=320, area_fraction=0.25)
    px = s.pixel_size_um
    res = remeasure(s.labels, s.image, "colony", pixel_size_um=px, rgb=True,
                    auto_measures=_well_measures(s))  # fmt: skip
    n_well = int(s.truth["well_mask"].sum())
    assert res.measures["well_area_um2"] == pytest.approx(n_well * px * px, rel=2e-3)
    assert res.measures["area_fraction"] == pytest.approx(s.truth["area_fraction"], abs=2e-3)
    assert res.measures["readout"] == res.measures["area_fraction"]
    assert res.measures["colony_count"] == int(res.labels.max()) > 10

    # erase the largest colony, as napari's eraser would
    lab = res.labels.copy()
    areas = np.bincount(lab.ravel())
    k = int(np.argmax(areas[1:])) + 1
    lab[lab == k] = 0
    after = remeasure(lab, s.image, "colony", pixel_size_um=px, rgb=True,
                      auto_measures=_well_measures(s))  # fmt: skip
    n_well_px = after.measures["well_area_um2"] / px**2
    drop = res.measures["area_fraction"] - after.measures["area_fraction"]
    assert drop == pytest.approx(areas[k] / n_well_px, rel=1e-12)
    assert after.measures["colony_count"] == res.measures["colony_count"] - 1
    assert after.measures["stained_area_um2"] == pytest.approx(
        res.measures["stained_area_um2"] - areas[k] * px * px, rel=1e-12
    )
    # the objects table is the corrected one
    assert len(after.objects) == after.measures["colony_count"]
    # stain painted outside the well does not count
    out = lab.copy()
    out[:4, :4] = 99
    again = remeasure(out, s.image, "colony", pixel_size_um=px, rgb=True,
                      auto_measures=_well_measures(s))  # fmt: skip
    assert again.measures["area_fraction"] == after.measures["area_fraction"]
    assert not again.labels[:4, :4].any()


def test_colony_against_the_automatic_segmentation():
    """Re-measuring the automatic colonies changes the area fraction only by the stain specks
    the colony labels leave out (smaller than a colony): < 1 % of the readout."""
    from napari_il6assay.synthetic.colony import make_colony_well

    s = make_colony_well(1, size=384)
    seg = segment_image(s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=True)
    res = remeasure(seg.labels, s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=True,
                    auto_measures=seg.measures, auto_flag=seg.qc_flag)  # fmt: skip
    assert res.measures["area_fraction"] == pytest.approx(seg.measures["area_fraction"], rel=0.01)
    assert res.measures["colony_count"] == seg.measures["colony_count"]
    # measures of the automatic stain threshold are left empty, image diagnostics kept
    assert math.isnan(res.measures["intensity_weighted_area_fraction"])
    assert res.measures["background_level"] == seg.measures["background_level"]


@pytest.mark.parametrize("mode", ["livedead", "spheres", "spheroid", "spheroid3d"])
def test_automatic_labels_measure_the_same(mode):
    """Measured again from its own labels, each mode gives its own readout back exactly."""
    from napari_il6assay.synthetic.livedead import make_livedead_well
    from napari_il6assay.synthetic.spheres import make_sphere_well
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d, make_spheroid_3d

    s = {"livedead": lambda: make_livedead_well(2, size=320),
         "spheres": lambda: make_sphere_well(3, size=512),
         "spheroid": lambda: make_spheroid_2d(4, size=384),
         "spheroid3d": lambda: make_spheroid_3d(5, shape=(32, 128, 128))}[mode]()  # fmt: skip
    vox = (s.z_step_um, s.pixel_size_um, s.pixel_size_um) if s.z_step_um else None
    seg = segment_image(s.image, mode, pixel_size_um=s.pixel_size_um, voxel_size_um=vox,
                        axes=s.axes)  # fmt: skip
    res = remeasure(seg.labels, s.image, mode, pixel_size_um=s.pixel_size_um, voxel_size_um=vox,
                    auto_measures=seg.measures, auto_flag=seg.qc_flag)  # fmt: skip
    assert np.isfinite(seg.measures["readout"])
    assert res.measures["n_objects"] == seg.measures["n_objects"]
    if mode == "livedead":
        # live or dead is decided again from the stains: a small cell beside one of the other
        # stain may change sides (here 1 of 158)
        assert res.measures["readout"] == pytest.approx(seg.measures["readout"], rel=2e-3)
        assert abs(res.measures["n_live"] - seg.measures["n_live"]) <= 2
    else:
        assert res.measures["readout"] == seg.measures["readout"]


def test_livedead_truth_and_erase_a_dead_cell():
    """The true cells are sorted into live and dead by their stains: the true live fraction;
    erasing one dead cell removes exactly its area from the dead area."""
    from napari_il6assay.synthetic.livedead import make_livedead_well

    s = make_livedead_well(7, size=320, live_fraction=0.6)
    px = s.pixel_size_um
    res = remeasure(s.labels, s.image, "livedead", pixel_size_um=px)
    total = s.truth["live_area_um2"] + s.truth["dead_area_um2"]
    assert res.measures["live_area_um2"] + res.measures["dead_area_um2"] == pytest.approx(total)
    # a few fragments of a few pixels (13 of 15361) beside a cell of the other stain change
    # sides
    assert abs(res.measures["live_area_um2"] - s.truth["live_area_um2"]) < 0.002 * total
    assert res.measures["live_fraction"] == pytest.approx(s.truth["live_fraction"], abs=1e-3)
    dead = res.objects[res.objects["class"] == "dead"].iloc[0]
    lab = res.labels.copy()
    lab[lab == int(dead["label"])] = 0
    after = remeasure(lab, s.image, "livedead", pixel_size_um=px)
    assert after.measures["n_dead"] == res.measures["n_dead"] - 1
    assert after.measures["dead_area_um2"] == pytest.approx(
        res.measures["dead_area_um2"] - dead["area_px"] * px * px, rel=1e-12
    )
    assert after.measures["live_area_um2"] == res.measures["live_area_um2"]


def test_spheroid_and_spheres_from_painted_labels():
    """Spheroid: the volume of the sphere with the labelled area; spheres: every painted
    region of at least the counting size is one sphere, whatever value the brush had."""
    from napari_il6assay.synthetic.spheres import make_sphere_well
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    s = make_spheroid_2d(4, size=320)
    px = s.pixel_size_um
    res = remeasure(s.labels, s.image, "spheroid", pixel_size_um=px)
    area = int(s.truth["mask"].sum())
    d = math.sqrt(4 * area / math.pi) * px
    assert res.measures["readout"] == pytest.approx(math.pi / 6 * d**3, rel=1e-12)
    assert res.measures["readout"] == pytest.approx(s.truth["volume_um3"], rel=1e-9)
    assert res.qc_flag == ""
    empty = remeasure(np.zeros_like(s.labels), s.image, "spheroid", pixel_size_um=px,
                      auto_flag="low_contrast")  # fmt: skip
    assert math.isnan(empty.measures["readout"]) and empty.qc_flag == "no_object"

    sp = make_sphere_well(3, size=512)
    res = remeasure(sp.labels, sp.image, "spheres", pixel_size_um=sp.pixel_size_um)
    assert res.measures["sphere_count"] == sp.truth["sphere_count"]
    # paint a new 100 um sphere where there is room, with the value of an existing label
    from scipy import ndimage as ndi

    lab = res.labels.copy()
    r = 50 / sp.pixel_size_um
    room = ndi.distance_transform_edt(np.pad(lab == 0, 1, constant_values=False))[1:-1, 1:-1]
    cy, cx = np.unravel_index(int(np.argmax(room)), lab.shape)
    assert room[cy, cx] > r + 2
    yy, xx = np.mgrid[: lab.shape[0], : lab.shape[1]]
    lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    more = remeasure(lab, sp.image, "spheres", pixel_size_um=sp.pixel_size_um)
    assert more.measures["sphere_count"] == res.measures["sphere_count"] + 1


def test_relabel_and_flags():
    lab = np.zeros((20, 20), np.int32)
    lab[2:5, 2:5] = 3
    lab[10:14, 10:14] = 3  # same value, apart: two objects
    lab[2:5, 5:8] = 4  # touching a different value: stays apart
    out = relabel_regions(lab)
    assert out.max() == 3 and len(np.unique(out[lab > 0])) == 3
    img = np.full((64, 64), 100.0)
    L = np.zeros((64, 64), np.int32)
    L[20:40, 20:40] = 1
    res = remeasure(
        L,
        img,
        "spheres",
        pixel_size_um=1.0,
        min_diameter_um=5.0,
        auto_flag="merged_objects;well_implausible;mode_mismatch;plate_outlier",
    )
    # object flags go, image/well flags stay (qc_flags.KEPT_BY_CORRECTION)
    assert res.qc_flag == "well_implausible;plate_outlier"
    assert res.measures["sphere_count"] == 1
    # the spheroid touching the frame is flagged again from the corrected labels
    L2 = np.zeros((64, 64), np.int32)
    L2[0:20, 10:30] = 1
    assert remeasure(L2, img, "spheroid", pixel_size_um=1.0).qc_flag == "touches_border"


def test_bad_labels_are_refused():
    from napari_il6assay.errors import SegmentationError

    img = np.full((64, 64), 100.0)
    with pytest.raises(SegmentationError, match="labels are 32 x 64 but the image is 64 x 64"):
        remeasure(np.zeros((32, 64), int), img, "spheroid")
    with pytest.raises(SegmentationError, match="whole numbers"):
        remeasure(np.full((64, 64), 0.5), img, "spheroid")
    with pytest.raises(SegmentationError, match="whole-plate photo"):
        remeasure(np.zeros((64, 64), int), img, "colony", auto_measures={"n_wells": 6})


def test_correction_files(tmp_path):
    """Saved losslessly with their record, into the results folder only; bad files are
    problems naming the file and the well."""
    from napari_il6assay.batch.corrections import (
        correction_path,
        find_corrections,
        read_correction,
        write_correction,
    )
    from napari_il6assay.errors import InputError

    out = tmp_path / "results"
    out.mkdir()
    lab = np.zeros((40, 50), np.int32)
    lab[5:9, 5:30] = 70000  # beyond uint16: int32 is kept
    with pytest.raises(InputError, match="no wells.csv"):
        write_correction(out, "P1", "B3", lab)
    (out / "wells.csv").write_text("well\nB03\n")
    with pytest.raises(InputError, match="input folder"):
        write_correction(out, "P1", "B3", lab, input_folder=tmp_path)
    c = write_correction(out, "../P 1", "B3", lab, site=2, image="x.tif", mode="colony",
                         time="2026-12-02T10:00:00+00:00")  # fmt: skip
    assert c.path == out / "corrections" / "P_1_B03_labels.tif"
    assert c.path == correction_path(out, "../P 1", "B03")
    back = read_correction(c.path)
    assert (back.plate, back.well, back.site, back.image, back.time) == (
        "../P 1",
        "B03",
        2,
        "x.tif",
        "2026-12-02T10:00:00+00:00",
    )
    assert back.labels.dtype == np.int32 and np.array_equal(back.labels, lab)
    assert c.record(out) == {"plate": "../P 1", "well": "B03", "site": 2,
                             "file": "corrections/P_1_B03_labels.tif",
                             "time": "2026-12-02T10:00:00+00:00"}  # fmt: skip
    (out / "corrections" / "P1_C04_labels.tif").write_bytes(b"not a tiff at all")
    found, problems = find_corrections(out)
    assert [f.well for f in found] == ["B03"]
    assert len(problems) == 1
    msg = str(problems[0])
    assert "P1_C04_labels.tif" in msg and "well C04" in msg and "cannot read" in msg
    assert not list((out / "corrections").glob(".*.tmp"))


def test_update_wells_and_images():
    """The panel's path: a corrected site's row, then its well aggregated again; the well keeps
    plate flags, drops object flags, and keeps the automatic ones in qc_flag_auto."""
    from types import SimpleNamespace

    from napari_il6assay.batch.corrections import Correction, correct_images, update_wells

    images = pd.DataFrame({"image": ["a.tif", "b1.tif", "b2.tif"], "mode": "spheres",
                           "readout": [4.0, 6.0, 2.0], "n_objects": [5, 7, 3],
                           "plate": "P", "well": ["A01", "B01", "B01"], "site": [1, 1, 2],
                           "qc_flag": ["", "merged_objects", ""],
                           "id": ["a", "b1", "b2"]})  # fmt: skip
    wells = pd.DataFrame({"plate": "P", "well": ["A01", "B01"], "role": ["blank", "sample"],
                          "readout": [4.0, 4.0], "qc_flag": ["blank_not_empty",
                          "merged_objects;plate_outlier"], "n_objects": [5, 10]})  # fmt: skip
    res = SimpleNamespace(measures={"readout": 1, "n_objects": 1, "sphere_count": 1},
                          qc_flag="", objects=pd.DataFrame())  # fmt: skip
    from pathlib import Path

    corr = Correction("P", "B01", Path("out/corrections/P_B01_labels.tif"), np.zeros((2, 2)))
    img = correct_images(images, {"b1": (res, corr)}, Path("out"))
    assert img.loc[1, "readout"] == 1 and img.loc[1, "qc_flag_auto"] == "merged_objects"
    assert list(img["corrected"]) == [False, True, False]
    w = update_wells(wells, img, {("P", "B01")})
    b = w[w["well"] == "B01"].iloc[0]
    assert b["readout"] == 1.5 and b["n_objects"] == 4  # mean of sites 1 and 2; sum of objects
    assert b["qc_flag"] == "plate_outlier" and b["qc_flag_auto"] == "merged_objects"
    assert bool(b["corrected"]) and b["label_source"] == "corrections/P_B01_labels.tif"
    a = w[w["well"] == "A01"].iloc[0]
    assert not a["corrected"] and a["label_source"] == "automatic" and a["qc_flag_auto"] == ""
    # correcting again from the corrected table keeps the automatic flag
    img2 = correct_images(img, {"b1": (res, corr)}, Path("out"))
    assert img2.loc[1, "qc_flag_auto"] == "merged_objects"


@pytest.fixture(scope="module")
def spheroid_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small spheroid plate (12 wells of the synthetic experiment) measured by the CLI."""
    import shutil

    from napari_il6assay.cli import main
    from napari_il6assay.synthetic.experiment import make_experiment

    root = tmp_path_factory.mktemp("corrections")
    full = root / "full"
    make_experiment(full, mode="spheroid", seed=5, image_size=96, rgb=False)
    folder = root / "plate"
    folder.mkdir()
    wells = [f"{r}{c:02d}" for r in "AD" for c in range(1, 7)]
    for w in wells:
        shutil.copy2(full / f"{w}.tif", folder / f"{w}.tif")
    layout = full / "layout.csv"
    lay = pd.read_csv(layout)
    lay[lay["well"].isin(wells)].to_csv(root / "layout.csv", index=False)
    out = root / "out"
    args = [str(folder), "--layout", str(root / "layout.csv"), "--mode", "spheroid",
            "--out", str(out), "--workers", "1", "--quiet", "--save-labels"]  # fmt: skip
    assert main(["batch", *args]) == 0
    return {"folder": folder, "out": out, "args": args, "wells": wells}


@pytest.mark.slow
def test_batch_resume_uses_corrections(spheroid_run, capsys):
    """``batch --resume`` measures a corrected well from its saved labels: its readout is the
    re-measured value, it is marked corrected, run.json and the report list it; a corrections
    file of the wrong shape or not a TIFF is a warning naming file and well, and its well keeps
    its automatic readout."""
    import json

    import tifffile

    from napari_il6assay.batch.corrections import write_correction
    from napari_il6assay.cli import main
    from napari_il6assay.io.images import read_image

    out, folder = spheroid_run["out"], spheroid_run["folder"]
    before = pd.read_csv(out / "wells.csv")
    images = pd.read_csv(out / "images.csv")
    row = images[images["well"] == "A03"].iloc[0]
    auto = tifffile.imread(out / "labels" / f"{row['id']}.tif")
    assert auto.any()
    # the person erases the lower half of the spheroid
    lab = auto.copy()
    ys = np.flatnonzero(lab.any(axis=1))
    lab[(ys[0] + ys[-1]) // 2 :] = 0
    area = int((lab > 0).sum())
    plate = "" if pd.isna(row["plate"]) else str(row["plate"])
    c = write_correction(out, plate, "A03", lab, image=row["image"], mode="spheroid")
    img = read_image(folder / "A03.tif")
    px = float(row["pixel_size_um"]) if not pd.isna(row["pixel_size_um"]) else img.pixel_size_um
    d = math.sqrt(4 * area / math.pi) * (px or 1.0)
    expected = math.pi / 6 * d**3
    # two bad files: wrong shape, and not a TIFF
    write_correction(out, plate, "A04", np.ones((10, 10), np.int32))
    (out / "corrections" / f"{plate + '_' if plate else ''}D02_labels.tif").write_bytes(b"GIF89a")
    inputs = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())

    capsys.readouterr()
    code = main(["batch", *spheroid_run["args"], "--resume"])
    err = capsys.readouterr().err
    assert code == 1  # two corrections could not be used (errors.csv)
    assert "Traceback" not in err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 2
    assert any("A04_labels.tif" in w and "well A04" in w and "labels are 10 x 10" in w
               for w in warnings)  # fmt: skip
    assert any("D02_labels.tif" in w and "well D02" in w and "cannot read" in w for w in warnings)

    wells = pd.read_csv(out / "wells.csv")
    a03 = wells[wells["well"] == "A03"].iloc[0]
    assert a03["readout"] == pytest.approx(expected, rel=1e-12)
    assert a03["area_px"] == area
    assert bool(a03["corrected"]) and a03["label_source"] == c.relative(out)
    assert wells.loc[wells["well"] != "A03", "corrected"].eq(False).all()
    for w in ("A04", "D02"):  # bad files: the automatic readout stays
        assert wells.loc[wells["well"] == w, "readout"].iloc[0] == pytest.approx(
            before.loc[before["well"] == w, "readout"].iloc[0], rel=1e-12
        )
    objects = pd.read_csv(out / "objects.csv")
    assert objects.loc[objects["well"] == "A03", "area_px"].tolist() == [area]
    info = json.loads((out / "run.json").read_text())
    assert info["corrections"] == [c.record(out)]
    assert len(info["corrections_not_used"]) == 2
    report = (out / "report.html").read_text()
    assert "Excluded and corrected wells" in report and c.relative(out) in report
    assert "corrected by hand" in report
    errors = pd.read_csv(out / "errors.csv")
    assert sorted(errors["stage"]) == ["correction", "correction"]
    # the input folder is never written
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == inputs
