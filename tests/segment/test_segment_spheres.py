"""spheres mode (sphere-formation assay) against the generator's truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_il6assay.segment import segment_image
from napari_il6assay.synthetic.spheres import make_sphere_well


@pytest.mark.parametrize("n,seed", [(10, 1), (40, 2), (80, 1)])
def test_sphere_count(n, seed):
    s = make_sphere_well(seed, n_spheres=n)
    r = segment_image(s.image, "spheres", pixel_size_um=s.pixel_size_um)
    true = s.truth["sphere_count"]
    assert abs(r.measures["sphere_count"] - true) <= max(1, 0.05 * true)
    assert r.measures["readout"] == r.measures["sphere_count"]
    # the size distribution: counted objects' diameters match the drawn ones
    d = np.sort(r.objects.loc[r.objects["counted"], "equivalent_diameter_um"].to_numpy())
    t = np.sort(s.truth["diameters_um"][s.truth["diameters_um"] >= 50])
    k = min(len(d), len(t))
    assert np.median(d[-k:]) == pytest.approx(np.median(t[-k:]), rel=0.08)


def test_min_diameter_threshold_moves_the_count():
    s = make_sphere_well(3, n_spheres=40, size=768)
    r50 = segment_image(s.image, "spheres", pixel_size_um=s.pixel_size_um)
    r90 = segment_image(s.image, "spheres", pixel_size_um=s.pixel_size_um, min_diameter_um=90)
    true90 = int((s.truth["diameters_um"] >= 90).sum())
    assert r90.measures["sphere_count"] < r50.measures["sphere_count"]
    assert abs(r90.measures["sphere_count"] - true90) <= max(2, 0.15 * true90)


def test_empty_well_counts_zero_and_constant_is_flagged():
    s = make_sphere_well(4, n_spheres=0, n_small=0, size=512)
    r = segment_image(s.image, "spheres", pixel_size_um=s.pixel_size_um)
    assert r.measures["sphere_count"] == 0 and r.qc_flag == ""
    r = segment_image(np.zeros((64, 64), np.uint16), "spheres")
    assert r.qc_flag == "constant_image" and math.isnan(r.readout)


def test_image_larger_than_the_working_size():
    """An image analysed at a reduced scale (here 1024 px at working size 512, as a
    2048 px camera image at the default 1024) keeps full-resolution labels and the same
    size cut: it used to raise (labels at the working scale) with the cut at twice the
    diameter."""
    s = make_sphere_well(1, n_spheres=20, size=1024, pixel_size_um=5.0)
    full = segment_image(s.image, "spheres", pixel_size_um=5.0)
    half = segment_image(s.image, "spheres", pixel_size_um=5.0, working_size=512)
    assert half.labels.shape == s.image.shape
    assert abs(half.measures["sphere_count"] - s.truth["sphere_count"]) <= 1
    assert abs(half.measures["sphere_count"] - full.measures["sphere_count"]) <= 1
    assert half.measures["median_diameter_um"] == pytest.approx(
        full.measures["median_diameter_um"], rel=0.1
    )
