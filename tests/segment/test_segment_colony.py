"""colony mode (crystal violet wells) against the generator's truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import segment_image
from napari_il6assay.synthetic.colony import make_colony_well


@pytest.mark.parametrize("rgb", [True, False], ids=["rgb", "gray"])
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6])
def test_area_fraction(rgb, fraction):
    s = make_colony_well(1, area_fraction=fraction, rgb=rgb)
    r = segment_image(s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=s.rgb)
    t = s.truth
    m = r.measures
    assert r.qc_flag == ""
    assert abs(m["area_fraction"] - t["area_fraction"]) <= 0.02
    assert m["readout"] == m["area_fraction"]
    iwaf = "intensity_weighted_area_fraction"
    assert abs(m[iwaf] - t[iwaf]) <= 0.03
    # the well is found: centre within 2 px, radius within 3 %
    cy, cx = t["well_center"]
    assert math.hypot(m["well_center_y"] - cy, m["well_center_x"] - cx) < 2.0
    assert m["well_radius_um"] / s.pixel_size_um == pytest.approx(t["well_radius_px"], rel=0.03)
    assert m["well_area_um2"] == pytest.approx(t["well_area_um2"], rel=0.06)
    assert m["colony_count"] == m["n_objects"] == len(r.objects) > 0
    assert r.labels.shape == s.image.shape[:2] and r.labels.dtype == np.int32


def test_sparse_colonies_are_counted_and_split():
    s = make_colony_well(2, area_fraction=0.05)
    r = segment_image(s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=True)
    true = s.truth["colony_count"]
    assert abs(r.measures["colony_count"] - true) <= max(3, 0.2 * true)


def test_second_seed_and_large_image_at_reduced_scale():
    s = make_colony_well(3, area_fraction=0.4, size=1024, pixel_size_um=10.0)
    r = segment_image(s.image, "colony", pixel_size_um=10.0, rgb=True)
    assert abs(r.measures["area_fraction"] - s.truth["area_fraction"]) <= 0.02
    assert r.labels.shape == (1024, 1024)


def test_empty_well_and_bad_inputs():
    s = make_colony_well(4, area_fraction=0.0)
    r = segment_image(s.image, "colony", pixel_size_um=s.pixel_size_um, rgb=True)
    assert r.measures["area_fraction"] <= 0.02  # the accuracy budget of the readout
    r = segment_image(np.full((64, 64), 200, np.uint8), "colony")
    assert r.qc_flag == "constant_image" and math.isnan(r.readout)
    with pytest.raises(SegmentationError):
        segment_image(np.zeros((30, 64, 64), np.uint16), "colony")
    with pytest.raises(SegmentationError, match="plate_format"):
        segment_image(s.image, "colony", rgb=True, plate_format=7)
