"""colony mode on whole plates (6/12/24/48/96 grid) and the colony count, against the
generator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import segment_image
from napari_il6assay.segment.plate_grid import find_plate_wells, well_names
from napari_il6assay.synthetic.colony import make_colony_plate, make_colony_well

# (format, seed, rgb, per-well max |error|): the 96-well plate's wells are ~34 px in
# radius with ~5 px colonies, where one pixel of rim or colony edge is a sizeable part
# of the well; its mean error stays within the 0.02 budget (asserted below).
PLATES = [
    (6, 0, True, 0.02),
    (12, 1, False, 0.02),
    (24, 2, True, 0.03),
    (48, 0, False, 0.03),
    (96, 1, True, 0.05),
]


@pytest.mark.parametrize(
    ("fmt", "seed", "rgb", "max_err"), PLATES, ids=[f"{p[0]}-well" for p in PLATES]
)
def test_plate_per_well_area_fraction(fmt, seed, rgb, max_err):
    s = make_colony_plate(seed, plate_format=fmt, rgb=rgb)
    r = segment_image(s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=rgb, plate_format=fmt)
    truth = s.truth["wells"]
    pw = r.per_well
    # every well, in A01, A02, ... order (A01 top-left)
    assert pw["well"].tolist() == truth["well"].tolist() == well_names(fmt)
    assert r.measures["n_wells"] == fmt and r.measures["plate_format"] == fmt
    err = (pw["area_fraction"] - truth["area_fraction"]).abs()
    assert err.max() <= max_err, pw.loc[err.idxmax(), "well"]
    assert err.mean() <= 0.015
    # centres within a pixel of the truth, radius within 4 %
    d = np.hypot(pw["well_center_y"] - truth["center_y"], pw["well_center_x"] - truth["center_x"])
    assert d.max() < 1.0
    r_px = pw["well_radius_um"] / s.pixel_size_um
    assert np.allclose(r_px, truth["radius_px"], rtol=0.04)
    assert r.measures["readout"] == pytest.approx(pw["area_fraction"].mean())
    # every colony is assigned to a well of the plate
    assert set(r.objects["plate_well"]) <= set(truth["well"])
    assert r.labels.shape == s.image.shape[:2]


@pytest.mark.parametrize("fmt", [6, 12, 24, 48, 96])
def test_grid_on_small_plate_photos(fmt):
    """The grid alone, on small photos of every format (a 96-well well ~20 px wide)."""
    s = make_colony_plate(5, plate_format=fmt, rgb=False, width_px=600)
    t = s.truth["wells"]
    wells = find_plate_wells(s.image.astype(np.float32), fmt)
    got = np.array([w[1:3] for w in wells])
    assert [w[0] for w in wells] == t["well"].tolist()
    assert np.hypot(got[:, 0] - t["center_y"], got[:, 1] - t["center_x"]).max() < 1.0
    assert wells[0][3] == pytest.approx(t["radius_px"].iloc[0], rel=0.06)


def test_empty_and_full_wells_keep_the_grid():
    afs = np.zeros((4, 6))
    afs[0, 0], afs[3, 5], afs[1, 2] = 0.0, 0.7, 0.5
    s = make_colony_plate(7, plate_format=24, rgb=True, area_fractions=afs, width_px=900)
    r = segment_image(s.image, "colony", rgb=True, plate_format=24)
    pw = r.per_well.set_index("well")
    t = s.truth["wells"].set_index("well")
    err = (pw["area_fraction"] - t["area_fraction"]).abs()
    assert err.max() <= 0.03
    assert pw.loc["A01", "area_fraction"] <= 0.02
    assert pw.loc["D06", "area_fraction"] == pytest.approx(t.loc["D06", "area_fraction"], abs=0.03)


def test_plate_errors():
    s = make_colony_plate(0, plate_format=6, rgb=False, width_px=300)
    with pytest.raises(SegmentationError, match="plate_format"):
        segment_image(s.image, "colony", plate_format=8)
    # a single well photo is not a 96-well plate
    w = make_colony_well(1, size=256, rgb=False)
    with pytest.raises(SegmentationError):
        segment_image(w.image, "colony", plate_format=96)


# colony count: touching colonies split. The truth counts every colony drawn, also
# those almost hidden under later ones (at 30 % coverage ~5 % of them show fewer than
# 20 pixels), so dense wells stay below it.
@pytest.mark.parametrize(("fraction", "tol"), [(0.05, 0.15), (0.15, 0.15), (0.30, 0.35)])
def test_colony_count_against_truth(fraction, tol):
    errs = []
    for seed in (1, 2):
        s = make_colony_well(seed, area_fraction=fraction)
        r = segment_image(s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=True)
        true = s.truth["colony_count"]
        errs.append((r.measures["colony_count"] - true) / true)
        assert abs(r.measures["area_fraction"] - s.truth["area_fraction"]) <= 0.02
    assert max(abs(e) for e in errs) <= tol, errs
    if fraction == 0.30:
        # the split finds most touching colonies (the old distance-transform split
        # found ~55 % of them)
        assert np.mean(errs) >= -0.26, errs
