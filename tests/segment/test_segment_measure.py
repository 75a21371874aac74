"""Per-object measurements against shapes with known geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_il6assay.segment.measure import measure_objects, measure_objects_3d


def test_2d_disk_and_rectangle():
    yy, xx = np.mgrid[:200, :200]
    lab = np.zeros((200, 200), np.int32)
    lab[(yy - 100) ** 2 + (xx - 60) ** 2 <= 40**2] = 1
    lab[20:40, 130:190] = 2
    img = np.where(lab == 1, 10.0, 0.0) + np.where(lab == 2, 3.0, 0.0)
    t = measure_objects(lab, img, pixel_size_um=2.0)
    disk, rect = t.iloc[0], t.iloc[1]
    assert disk["area_um2"] == pytest.approx(math.pi * 80**2, rel=0.01)
    assert disk["equivalent_diameter_um"] == pytest.approx(160, rel=0.01)
    assert disk["perimeter_um"] == pytest.approx(2 * math.pi * 80, rel=0.03)
    assert disk["circularity"] == pytest.approx(1.0, abs=0.06)
    assert disk["solidity"] > 0.97
    assert disk["major_axis_um"] == pytest.approx(160, rel=0.02)
    assert rect["area_px"] == 1200
    assert rect["major_axis_um"] / rect["minor_axis_um"] == pytest.approx(3.0, rel=0.03)
    assert rect["mean_intensity"] == 3.0 and rect["integrated_intensity"] == 3600.0
    assert rect["solidity"] == pytest.approx(1.0)


def test_2d_concave_solidity_and_channels():
    lab = np.zeros((60, 60), np.int32)
    lab[10:50, 10:20] = 1
    lab[40:50, 10:50] = 1  # an L: hull area 40*40 - 30*30/2
    ch = np.stack([lab * 2.0, lab * 5.0], axis=-1)
    t = measure_objects(lab, None, channels=ch, channel_names=["live", "dead (PI)"])
    assert t.loc[0, "solidity"] == pytest.approx(700 / (1600 - 450), rel=0.03)
    assert t.loc[0, "mean_intensity_live"] == 2.0 and t.loc[0, "mean_intensity_dead_pi"] == 5.0
    assert t.loc[0, "area_um2"] == 700  # uncalibrated: pixels


def test_3d_sphere_volume_surface_sphericity():
    vz, vy, vx = 2.0, 1.0, 1.0
    z, y, x = np.mgrid[:40, :80, :80]
    r = 30.0
    ball = ((z * vz - 40) ** 2 + (y - 40) ** 2 + (x - 40) ** 2) <= r * r
    t = measure_objects_3d(ball.astype(np.int32), ball * 7.0, voxel_size_um=(vz, vy, vx))
    row = t.iloc[0]
    assert row["volume_um3"] == pytest.approx(4 / 3 * math.pi * r**3, rel=0.02)
    assert row["surface_um2"] == pytest.approx(4 * math.pi * r * r, rel=0.08)
    assert 0.9 < row["sphericity"] <= 1.0
    assert row["mean_intensity"] == 7.0
    assert row["area_um2"] == pytest.approx(math.pi * r * r, rel=0.03)  # largest section


def test_empty_labels_give_empty_tables_with_columns():
    t = measure_objects(np.zeros((10, 10), np.int32))
    assert len(t) == 0 and "circularity" in t.columns
    t3 = measure_objects_3d(np.zeros((3, 10, 10), np.int32))
    assert len(t3) == 0 and "sphericity" in t3.columns


def _touching_labels(seed: int) -> np.ndarray:
    """A label image of random, touching, concave objects (some split in two pieces)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    shape = (40 + seed % 17, 50 + seed % 13)
    lab = (rng.random(shape) < 0.6) * rng.integers(1, 9, shape)
    if seed % 3:
        lab = ndi.median_filter(lab, 3)
    if seed % 5 == 0:
        lab = ndi.label(lab > 0)[0]
    return lab.astype(np.int32)


@pytest.mark.parametrize("seed", range(30))
def test_perimeter_and_solidity_equal_scikit_image_per_label(seed):
    """The all-labels-at-once perimeter and hull equal scikit-image / Qhull on each mask."""
    from scipy.spatial import ConvexHull
    from skimage.measure import perimeter_crofton

    lab = _touching_labels(seed)
    t = measure_objects(lab)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    for _, row in t.iterrows():
        m = lab == row["label"]
        # exactly perimeter_crofton's value (same codes, same dot product)
        assert row["perimeter_um"] == perimeter_crofton(np.pad(m, 1), 4)
        if row["area_px"] < 3:
            assert row["solidity"] == 1.0
            continue
        yy, xx = np.nonzero(m)
        pts = (np.stack([yy, xx], axis=1)[:, None, :] + corners[None]).reshape(-1, 2)
        hull = ConvexHull(pts.astype(float)).volume
        # Qhull's area to its rounding; ours is exact
        assert row["solidity"] == pytest.approx(min(1.0, row["area_px"] / hull), rel=1e-12)


def test_hull_area_of_known_shapes():
    """Exact convex-hull areas over pixel corners: a square, a triangle, an L and a ring."""
    from napari_il6assay.segment.measure import _hull_areas

    lab = np.zeros((30, 40), np.int32)
    lab[2:7, 3:8] = 1  # 5 x 5 square: hull 25
    for i in range(6):  # a staircase: rows of 1..6 pixels
        lab[10 + i, 3 : 4 + i] = 2
    lab[20:28, 3:5] = 3  # an L: vertical 8 x 2 plus foot 2 x 6
    lab[26:28, 5:11] = 3
    yy, xx = np.mgrid[:30, :40]
    ring = ((yy - 12) ** 2 + (xx - 28) ** 2 <= 64) & ((yy - 12) ** 2 + (xx - 28) ** 2 >= 16)
    lab[ring] = 4
    areas = _hull_areas(lab)
    assert areas[1] == 25.0
    # hull (y, x): (10,3) (10,4) (15,9) (16,9) (16,3): widths 1..6 over y 10-15, then 6
    assert areas[2] == 17.5 + 6.0
    # hull (20,3) (20,5) (26,11) (28,11) (28,3): widths 2..8 over y 20-26, then 8
    assert areas[3] == 30.0 + 16.0
    # the ring's hull is its outer disc's (the hole does not count)
    assert areas[4] == pytest.approx(math.pi * 8.5**2, rel=0.05)
    assert areas[0] == 0.0 and areas.size == 5
