"""2D spheroid mode against the generator's truth and against independent, degraded images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from segment_conditions import (
    brightfield_spheroid,
    debris,
    dice,
    fluorescence_spheroid,
    illumination_gradient,
    invert,
    low_contrast,
    scale_bar_and_text,
    to_rgb,
    to_uint16,
    well_edge_shadow,
)

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import MODES, segment_image
from napari_il6assay.synthetic.spheroid import make_spheroid_2d

GENERATOR_CASES = {
    "brightfield": {},
    "brightfield_rgb": {"rgb": True},
    "fluorescence": {"kind": "fluorescence"},
    "fluorescence_rgb": {"kind": "fluorescence", "rgb": True},
    "low_contrast": {"contrast": 0.35},
    "strong_illumination": {"illumination": 0.8},
    "small": {"diameter_um": 200},
    "large": {"diameter_um": 650},
    "low_contrast_uneven_noisy": {"contrast": 0.45, "illumination": 0.5, "noise": 0.02},
}


@pytest.mark.parametrize("case", sorted(GENERATOR_CASES))
def test_generator_dice(case):
    kw = GENERATOR_CASES[case]
    scores = []
    for seed in (0, 1):
        s = make_spheroid_2d(seed, **kw)  # debris, scale bar, well shadow on by default
        r = segment_image(s.image, "spheroid", pixel_size_um=s.pixel_size_um, rgb=s.rgb)
        assert r.qc_flag == ""
        scores.append(dice(r.labels > 0, s.truth["mask"]))
    assert min(scores) >= 0.97, scores


def test_measures_match_truth():
    s = make_spheroid_2d(3, diameter_um=400)
    r = segment_image(s.image, "spheroid", pixel_size_um=s.pixel_size_um)
    m = r.measures
    assert m["calibrated"] is True
    assert m["readout_name"] == "volume_um3" and m["n_objects"] == 1
    assert m["equivalent_diameter_um"] == pytest.approx(s.truth["equivalent_diameter_um"], rel=0.02)
    assert m["area_um2"] == pytest.approx(s.truth["area_um2"], rel=0.04)
    # the documented estimate: sphere of the equivalent diameter, as the truth
    assert m["readout"] == pytest.approx(math.pi / 6 * m["equivalent_diameter_um"] ** 3)
    assert m["volume_um3"] == pytest.approx(s.truth["volume_um3"], rel=0.06)
    assert 0.7 < m["circularity"] <= 1.0 and 0.9 < m["solidity"] <= 1.0
    assert m["major_axis_um"] >= m["minor_axis_um"] > 0
    row = r.objects.iloc[0]
    assert row["area_px"] == int((r.labels > 0).sum())
    assert row["integrated_intensity"] == pytest.approx(row["mean_intensity"] * row["area_px"])
    assert r.overlay.dtype == np.uint8 and r.overlay.shape[-1] == 3


def test_uncalibrated_is_in_pixels():
    s = make_spheroid_2d(4)
    r = segment_image(s.image, "spheroid")
    assert r.measures["calibrated"] is False
    assert r.measures["area_um2"] == pytest.approx(r.measures["area_px"])


CONDITIONS = {
    "plain": lambda i, m, k: i,
    "gradient": lambda i, m, k: illumination_gradient(i, 0.6, k),
    "well_shadow": lambda i, m, k: well_edge_shadow(i, k),
    "debris": lambda i, m, k: debris(i, m, k),
    "scale_bar_text": lambda i, m, k: scale_bar_and_text(i, k, white=bool(k % 2)),
    "rgb": lambda i, m, k: to_rgb(i),
    "low_contrast": lambda i, m, k: low_contrast(i, 0.12),
    "inverted": lambda i, m, k: invert(i),
    "everything": lambda i, m, k: scale_bar_and_text(
        debris(well_edge_shadow(illumination_gradient(i, 0.5, k), k), m, k), k
    ),
}


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_independent_renderer_under_degradations(condition):
    """A second renderer (irregular outline, halo hugging the edge) under real-photo faults."""
    for seed in (0, 1):
        img, truth = brightfield_spheroid(seed, shape=(384, 384))
        img = CONDITIONS[condition](img, truth, seed)
        if img.ndim == 2:
            img = to_uint16(img)
        r = segment_image(img, "spheroid", rgb=img.ndim == 3)
        d = dice(r.labels > 0, truth)
        assert d >= 0.97, (condition, seed, d)


def test_independent_fluorescence_and_polarity():
    img, truth = fluorescence_spheroid(2, shape=(384, 384))
    r = segment_image(img, "spheroid")
    assert r.measures["polarity"] == "bright"
    assert dice(r.labels > 0, truth) >= 0.97
    # forcing the wrong polarity must not silently return the spheroid's number
    bad = segment_image(img, "spheroid", polarity="dark")
    assert bad.qc_flag == "no_object" or dice(bad.labels > 0, truth) < 0.5


def test_large_image_works_at_reduced_scale():
    s = make_spheroid_2d(5, size=1024, pixel_size_um=1.0, diameter_um=450)
    r = segment_image(s.image, "spheroid", pixel_size_um=1.0)
    assert r.labels.shape == (1024, 1024)
    assert dice(r.labels > 0, s.truth["mask"]) >= 0.98
    assert max(r.overlay.shape[:2]) <= 1024


def test_dead_fraction_from_second_channel():
    img, truth = fluorescence_spheroid(1, shape=(256, 256))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    cy, cx = np.argwhere(truth).mean(axis=0)
    core = ((yy - cy) ** 2 + (xx - cx) ** 2 < 25**2) & truth
    dead = 100 + rng.normal(0, 5, truth.shape) + 800 * core
    stack = np.stack([img, dead], axis=-1).astype(np.float32)
    r = segment_image(stack, "spheroid", pixel_size_um=2.0)
    expected = core.sum() / truth.sum()
    assert r.measures["dead_fraction"] == pytest.approx(expected, abs=0.03)
    assert {"mean_intensity_ch0", "mean_intensity_ch1"} <= set(r.objects.columns)


def test_no_spheroid_is_flagged_not_measured():
    s = make_spheroid_2d(6, diameter_um=0, debris=False, well_shadow=False, scale_bar=False)
    r = segment_image(s.image, "spheroid", pixel_size_um=s.pixel_size_um)
    assert r.qc_flag == "no_object"
    assert math.isnan(r.measures["readout"]) and r.measures["n_objects"] == 0
    assert not r.labels.any() and len(r.objects) == 0


def test_constant_and_empty_and_stack_inputs():
    r = segment_image(np.full((64, 64), 7, np.uint16), "spheroid")
    assert r.qc_flag == "constant_image" and math.isnan(r.readout)
    with pytest.raises(SegmentationError, match="empty"):
        segment_image(np.zeros((0, 5)), "spheroid")
    with pytest.raises(SegmentationError, match="spheroid3d"):
        segment_image(np.zeros((20, 64, 64), np.uint16), "spheroid")
    with pytest.raises(SegmentationError, match="z-stack"):
        segment_image(np.zeros((3, 64, 64), np.uint16), "spheroid", axes="ZYX")
    with pytest.raises(SegmentationError, match="unknown mode"):
        segment_image(np.zeros((8, 8)), "nope")
    assert "spheroid" in MODES


def _vignette(img, k=0.7):
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    r2 = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (0.5 * max(h, w)) ** 2
    return img * (1 - k * r2.clip(0, 2) / 2)


RENDER_CASES = {
    # (renderer keywords, degradation, minimum Dice)
    "huge_with_shadow": ({"radius": 0.36 * 512}, lambda i, m, k: well_edge_shadow(i, k), 0.97),
    "off_centre": ({"offset": (90, -100)}, lambda i, m, k: i, 0.97),
    "out_of_focus": ({"blur": 5.0}, lambda i, m, k: i, 0.97),
    "noisy": ({"noise": 0.08}, lambda i, m, k: i, 0.97),
    "vignetting": ({}, lambda i, m, k: _vignette(i), 0.97),
    "faint_textured": ({"contrast": 0.25, "texture": 0.5}, lambda i, m, k: i, 0.96),
    # 50 px across: the outline's pixel error weighs more
    "tiny_with_debris": ({"radius": 0.05 * 512}, lambda i, m, k: debris(i, m, k), 0.95),
}


@pytest.mark.parametrize("case", sorted(RENDER_CASES))
def test_independent_renderer_shapes_and_optics(case):
    kw, fn, min_dice = RENDER_CASES[case]
    img, truth = brightfield_spheroid(0, **kw)
    r = segment_image(fn(img, truth, 0), "spheroid")
    assert dice(r.labels > 0, truth) >= min_dice
