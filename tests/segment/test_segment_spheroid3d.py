"""spheroid3d mode against the generator's 3D truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from segment_conditions import dice

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import segment_image
from napari_il6assay.synthetic.spheroid import make_spheroid_3d

CASES = [
    (1, {}),
    (2, {"diameter_um": 200}),
    (3, {"voxel_size_um": (6.0, 1.5, 1.5)}),  # strongly anisotropic
    (4, {"shape": (48, 160, 160), "voxel_size_um": (5.0, 2.0, 2.0), "attenuation_um": 80.0}),
]


@pytest.mark.parametrize("seed,kw", CASES)
def test_dice_and_volume(seed, kw):
    s = make_spheroid_3d(seed, **kw)
    vs = (s.z_step_um, s.pixel_size_um, s.pixel_size_um)
    r = segment_image(s.image, "spheroid3d", voxel_size_um=vs)
    assert r.labels.shape == s.image.shape
    assert dice(r.labels > 0, s.truth["mask"]) >= 0.95
    m = r.measures
    assert m["readout_name"] == "volume_um3" and m["calibrated"] is True
    assert m["volume_um3"] == pytest.approx(s.truth["volume_um3"], rel=0.08)
    assert m["volume_um3"] == pytest.approx(int((r.labels > 0).sum()) * np.prod(vs))
    # a lumpy, slightly oblate ellipsoid: close to, not above, a sphere
    assert 0.85 < m["sphericity"] <= 1.0
    d = (6 * m["volume_um3"] / math.pi) ** (1 / 3)
    assert m["surface_um2"] >= 0.99 * math.pi * d * d  # a sphere has the least surface


def test_channels_and_uncalibrated():
    s = make_spheroid_3d(5, shape=(32, 128, 128), voxel_size_um=(6.0, 2.5, 2.5), diameter_um=180)
    two = np.stack([s.image, s.image // 2], axis=-1)
    r = segment_image(two, "spheroid3d", channel_names=["nuclei", "dead"])
    assert r.measures["calibrated"] is False
    assert r.measures["volume_um3"] == int((r.labels > 0).sum())  # voxels
    cols = set(r.objects.columns)
    assert {"mean_intensity_nuclei", "mean_intensity_dead", "surface_um2", "sphericity"} <= cols
    row = r.objects.iloc[0]
    assert row["mean_intensity_dead"] == pytest.approx(row["mean_intensity_nuclei"] / 2, rel=0.01)


def test_bad_inputs():
    with pytest.raises(SegmentationError, match="2D"):
        segment_image(np.zeros((64, 64), np.uint16), "spheroid3d")
    with pytest.raises(SegmentationError, match="z-stack"):
        segment_image(np.zeros((64, 64, 3), np.uint8), "spheroid3d", axes="YXC")
    r = segment_image(np.full((8, 32, 32), 100, np.uint16), "spheroid3d")
    assert r.qc_flag == "constant_image" and math.isnan(r.readout)
    empty = make_spheroid_3d(6, diameter_um=0, shape=(24, 96, 96))
    r = segment_image(empty.image, "spheroid3d", voxel_size_um=(4.0, 1.5, 1.5))
    assert r.qc_flag == "no_object" and math.isnan(r.readout) and not r.labels.any()
