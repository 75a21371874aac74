"""livedead mode against the generator's truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import segment_image
from napari_il6assay.synthetic.livedead import make_livedead_well


@pytest.mark.parametrize("fraction,seed", [(0.1, 1), (0.5, 2), (0.9, 3)])
def test_live_fraction(fraction, seed):
    s = make_livedead_well(seed, live_fraction=fraction, size=384)
    r = segment_image(s.image, "livedead", pixel_size_um=s.pixel_size_um)
    t = s.truth
    m = r.measures
    assert abs(m["live_fraction"] - t["live_fraction"]) <= 0.03
    assert m["readout"] == m["live_fraction"] and m["readout_name"] == "live_fraction"
    assert m["live_area_um2"] == pytest.approx(t["live_area_um2"], rel=0.12)
    assert m["dead_area_um2"] == pytest.approx(t["dead_area_um2"], rel=0.12)
    # the calcein bleed-through into the PI channel is found and removed
    assert m["bleed_through"] == pytest.approx(0.03, abs=0.01)
    assert set(r.objects["class"]) <= {"live", "dead"}
    assert (r.objects["class"] == "live").sum() == m["n_live"]


def test_nuclei_channel_count():
    s = make_livedead_well(5, live_fraction=0.6, size=256)
    # a nuclear stain: every cell, live or dead, with its own blob
    nuc = s.image[..., 0].astype(np.float32) + s.image[..., 1].astype(np.float32)
    img = np.concatenate([s.image, nuc[..., None].astype(np.uint16)], axis=-1)
    r = segment_image(img, "livedead", pixel_size_um=s.pixel_size_um, nuclei_channel=2)
    n_true = s.truth["n_live"] + s.truth["n_dead"]
    assert abs(r.measures["n_nuclei"] - n_true) <= 0.35 * n_true


def test_bad_inputs():
    with pytest.raises(SegmentationError, match="2 channels"):
        segment_image(np.zeros((64, 64), np.uint16), "livedead")
    with pytest.raises(SegmentationError, match="channels"):
        segment_image(np.zeros((64, 64, 2), np.uint16), "livedead", dead_channel=3)
    r = segment_image(np.full((64, 64, 2), 5, np.uint16), "livedead")
    assert r.qc_flag == "constant_image" and math.isnan(r.readout)
    rng = np.random.default_rng(0)
    noise = rng.normal(200, 5, (128, 128, 2)).astype(np.float32)
    r = segment_image(noise, "livedead")
    assert r.qc_flag == "no_object" and math.isnan(r.readout)
