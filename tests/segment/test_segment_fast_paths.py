"""The edge-measure shortcuts of ``segment._util`` equal the full-image operations they
replace, bit for bit, so that speeding them up cannot move a segmentation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_il6assay.segment import _util as U


def _signals(seed: int) -> list[np.ndarray]:
    """Float32 signals of odd shapes and scales: noise, ramps, blurred blobs, tiny arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in ((1, 7), (2, 2), (3, 5), (37, 61), (128, 97)):
        scale = 10 ** rng.uniform(-3, 4)
        noise = rng.standard_normal((h, w)) * scale
        out.append(noise.astype(np.float32))
        out.append(np.cumsum(noise, axis=0).astype(np.float32))
        out.append(ndi.gaussian_filter(noise, 1.5).astype(np.float32) + np.float32(scale))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_gradient2_at_equals_the_full_gradient(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for s in _signals(seed):
        full = U.gradient2(s).ravel()
        idx = np.flatnonzero(rng.random(s.size) < 0.4)
        np.testing.assert_array_equal(U.gradient2_at(s, idx), full[idx])
        np.testing.assert_array_equal(U.gradient2_at(s, np.arange(s.size)), full)
    # float64 input takes the full path and still answers at the indices
    s64 = _signals(seed)[3].astype(np.float64)
    idx = np.arange(0, s64.size, 3)
    np.testing.assert_array_equal(U.gradient2_at(s64, idx), U.gradient2(s64).ravel()[idx])


@pytest.mark.parametrize("seed", range(4))
def test_outline_max_filter_and_relabel_equal_ndimage(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for h, w in ((1, 1), (1, 9), (2, 3), (5, 5), (64, 80)):
        m = ndi.gaussian_filter(rng.random((h, w)), 1.0) > 0.5
        np.testing.assert_array_equal(U.outline(m), m & ~ndi.binary_erosion(m))
        lab, n = ndi.label(m)
        for r in (1, 2, 3):
            np.testing.assert_array_equal(
                U.max_filter_square(lab, r), ndi.maximum_filter(lab, size=2 * r + 1)
            )
        area = np.bincount(lab.ravel(), minlength=n + 1)
        keep = area >= 4
        keep[0] = False
        got, k = U.relabel_kept(lab, keep)
        want, kn = ndi.label(keep[lab])
        assert k == kn
        np.testing.assert_array_equal(got, want)


def test_edge_measures_without_a_gradient_image_are_unchanged() -> None:
    """`edge_widths` and `steepest_edge` give the same answer whether the caller passes
    the full gradient image or lets them evaluate it where they need it."""
    rng = np.random.default_rng(7)
    img = np.zeros((160, 160), np.float32)
    yy, xx = np.mgrid[:160, :160]
    for _ in range(25):
        cy, cx, r = rng.uniform(10, 150), rng.uniform(10, 150), rng.uniform(2, 9)
        img += np.float32(rng.uniform(50, 500)) * (np.hypot(yy - cy, xx - cx) < r)
    s = ndi.gaussian_filter(img + rng.normal(0, 3, img.shape).astype(np.float32), 1.2)
    peak = ndi.maximum_filter(s, size=15)
    m = (s > 15) & (s > 0.2 * peak)
    g2 = U.gradient2(s)
    a = U.steepest_edge(m, s, peak, 3.0, 15.0, g2=g2)
    b = U.steepest_edge(m, s, peak, 3.0, 15.0)
    np.testing.assert_array_equal(a, b)
    wa, na, la = U.edge_widths(a, s, peak, g2)
    wb, nb, lb = U.edge_widths(a, s, peak, labels=ndi.label(a))
    assert na == nb
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("seed", range(3))
def test_binary_morphology_by_shifts_equals_ndimage(seed: int) -> None:
    """Disk openings/closings by shifted array operations, including images smaller than
    the footprint and objects on the image border (scipy's erosion treats the outside as
    background)."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        m = ndi.gaussian_filter(rng.random((h, w)), rng.uniform(0.3, 2.0)) > rng.uniform(0.3, 0.7)
        for r in (1, 2, 3):
            st = U.disk(r)
            for name in ("binary_dilation", "binary_erosion", "binary_opening", "binary_closing"):
                np.testing.assert_array_equal(
                    getattr(U, name)(m, st), getattr(ndi, name)(m, structure=st)
                )
    # a footprint that is not point-symmetric goes to scipy unchanged
    st = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    m = rng.random((20, 20)) > 0.5
    np.testing.assert_array_equal(U.binary_dilation(m, st), ndi.binary_dilation(m, structure=st))


def test_blob_groups_refine_like_the_big_box() -> None:
    """Livedead's top-hat recovery of cells on blobs, run per group of blobs in boxes of
    their own, equals the one box around all blobs whenever it is used (random sets of
    objects taken as blobs, both channels, steepest-edge and fixed levels)."""
    from conditions_livedead import livedead_image

    from napari_il6assay.segment import livedead as L

    rng = np.random.default_rng(3)
    used = 0
    for seed in range(6):
        img, truth = livedead_image(seed, size=(256, 512)[seed % 2], haze=True)
        cell_px = 15.0 / truth["pixel_size_um"]
        min_area = max(3, int(0.1 * np.pi / 4 * cell_px**2))
        k = max(5, int(round(2.0 * cell_px)) | 1)
        for ch in (0, 1):
            res, noise = L._subtract_background(U.to_float(img[..., ch]))
            _m, s, peak, (lab, n, _area) = L._foreground(
                res,
                noise,
                k_noise=5.0,
                edge_fraction=None,
                cell_px=cell_px,
                min_area_px=min_area,
                return_fields=True,
            )
            for _ in range(3):
                if n == 0:
                    break
                ids = (
                    np.sort(
                        rng.choice(np.arange(1, n + 1), size=int(rng.integers(1, 7)), replace=False)
                    )
                    if n > 1
                    else np.array([1])
                )
                pick = np.zeros(n + 1, bool)
                pick[ids] = True
                region = pick[lab]
                for ef in (None, 0.3):
                    kw = {
                        "k_noise": 5.0,
                        "edge_fraction": ef,
                        "cell_px": cell_px,
                        "min_area_px": min_area,
                    }
                    whole, box = L._tophat_refine(s, region, noise, **kw)
                    groups = L._tophat_by_groups(s, region, box, (lab, ids), k, noise, **kw)
                    if groups is not None:
                        used += 1
                        np.testing.assert_array_equal(groups, whole)
    assert used >= 10  # the group path was exercised, not always declined


def test_erode_cross_equals_ndimage() -> None:
    rng = np.random.default_rng(11)
    for h, w in ((1, 1), (1, 6), (2, 2), (4, 7), (50, 41)):
        m = ndi.gaussian_filter(rng.random((h, w)), 1.0) > 0.45
        for it in (1, 2, 3):
            np.testing.assert_array_equal(
                U.erode_cross(m, it), ndi.binary_erosion(m, iterations=it)
            )
