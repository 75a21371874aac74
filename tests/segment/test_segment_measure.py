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
