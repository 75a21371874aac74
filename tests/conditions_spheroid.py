"""A small spheroid-photo renderer independent of `napari_il6assay.synthetic` (issue 9).

It draws the conditions of issue 9's spheroid classes with its own optics and statistics:
an irregular spheroid outline (random low-order Fourier radius), a textured dark body with a
darker core, a soft edge and a thin light rim, shot + read noise, a tilted and vignetted
illumination, dust, and optionally

- class 1: a dark region outside a round well (well centre off the frame) with a bright wall
  rim, covering 10-45 % of the frame;
- class 2: the spheroid running off the image border (0-40 % of its outline outside);
- class 6: images of other assays (crystal-violet colony well, two-channel live/dead field,
  empty wells) that spheroid mode must refuse;
- faint spheroids (contrast of a few noise sigmas).

Every function returns ``(image, truth)`` where ``truth`` holds ``mask`` (the visible
spheroid, bool) and ``cut_fraction`` (share of the outline outside the frame) when there
is a spheroid. Only numpy and scipy.ndimage are used.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def _outline_mask(
    rng: np.random.Generator,
    shape: tuple[int, int],
    cy: float,
    cx: float,
    r: float,
    irregular: float = 0.08,
) -> np.ndarray:
    """Star-shaped blob: radius r * (1 + sum of random harmonics 2..5)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    th = np.arctan2(yy - cy, xx - cx)
    rad = np.ones_like(th)
    for k in range(2, 6):
        amp = irregular * rng.uniform(0.2, 1.0) / k
        rad += amp * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    return np.hypot(yy - cy, xx - cx) < r * rad


def _outline_cut_fraction(mask_full: np.ndarray, pad: int) -> float:
    """Share of the outline of a blob drawn on a padded canvas that lies outside the frame."""
    edge = mask_full & ~ndi.binary_erosion(mask_full)
    inner = np.zeros_like(edge)
    inner[pad:-pad, pad:-pad] = True
    n = edge.sum()
    return float((edge & ~inner).sum() / n) if n else 0.0


def _illumination(rng: np.random.Generator, shape: tuple[int, int], vignette: float) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    gy, gx = rng.uniform(-0.15, 0.15, 2)
    tilt = 1 + gy * (yy / h - 0.5) + gx * (xx / w - 0.5)
    oy, ox = rng.uniform(0.35, 0.65, 2)
    rr = np.hypot(yy / h - oy, xx / w - ox) / 0.75
    return tilt * (1 - vignette * rr**2)


def _noise(rng: np.random.Generator, img: np.ndarray, level: float, read: float) -> np.ndarray:
    """Shot noise (photons per unit ``level``) plus Gaussian read noise."""
    photons = rng.poisson(np.clip(img, 0, None) * level) / level
    return photons + rng.normal(0, read, img.shape)


def _dust(rng: np.random.Generator, img: np.ndarray, n: int, base: float) -> None:
    h, w = img.shape
    yy, xx = np.mgrid[:h, :w]
    for _ in range(n):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.7, 2.5)
        img *= 1 - rng.uniform(0.2, 0.6) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * r * r))
    _ = base


def brightfield_spheroid(
    seed: int,
    *,
    size: int = 256,
    radius_fraction: tuple[float, float] = (0.12, 0.28),
    contrast: tuple[float, float] = (0.45, 0.75),
    centre: tuple[float, float] | None = None,
    radius: float | None = None,
    well_edge: float = 0.0,
    noise_photons: float = 300.0,
) -> tuple[np.ndarray, dict]:
    """Dark textured spheroid on a bright well floor (uint16-like float image).

    Parameters
    ----------
    seed : int
        Random seed.
    size : int
        Image side in pixels.
    radius_fraction : (low, high)
        Spheroid radius as a fraction of ``size`` (uniform).
    contrast : (low, high)
        Darkening of the spheroid body (1 - body / floor).
    centre, radius : optional
        Fixed centre (y, x) and radius in pixels; may lie partly outside the frame.
    well_edge : float
        Target share of the frame covered by the dark region outside the well (0 = none).
    noise_photons : float
        Photons per unit brightness (lower = noisier).

    Returns
    -------
    image : ndarray
        float64 image, floor near 2000.
    truth : dict
        ``mask`` (visible spheroid) and ``cut_fraction``.
    """
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[:h, :w]
    r = radius if radius is not None else rng.uniform(*radius_fraction) * size
    rr = None
    if well_edge > 0:
        # a well circle whose centre lies off the frame so its outside covers ~well_edge
        ang = rng.uniform(0, 2 * np.pi)
        big = rng.uniform(1.2, 2.0) * size
        lo, hi = 0.0, 1.5 * size
        for _ in range(30):  # bisection on the well edge's distance from the frame centre
            d = 0.5 * (lo + hi)
            wcy = size / 2 - np.sin(ang) * (big - d)
            wcx = size / 2 - np.cos(ang) * (big - d)
            frac = (np.hypot(yy - wcy, xx - wcx) > big).mean()
            lo, hi = (lo, d) if frac < well_edge else (d, hi)
        rr = np.hypot(yy - wcy, xx - wcx)
    if centre is None:
        span = 0.5 * size - r - 0.04 * size
        for k in range(400):
            cy = size / 2 + rng.uniform(-0.6, 0.6) * max(span, 0)
            cx = size / 2 + rng.uniform(-0.6, 0.6) * max(span, 0)
            # the spheroid lies on the well floor, clear of the wall (smaller if need be)
            if rr is None or np.hypot(cy - wcy, cx - wcx) + 1.2 * r < big - 0.04 * size:
                break
            if k % 20 == 19:
                r *= 0.9
                span = 0.5 * size - r - 0.04 * size
    else:
        cy, cx = centre
    pad = int(np.ceil(r * 1.5)) + 2
    full = _outline_mask(rng, (h + 2 * pad, w + 2 * pad), cy + pad, cx + pad, r)
    cut = _outline_cut_fraction(full, pad)
    mask = full[pad:-pad, pad:-pad]
    floor = 1.0
    c = rng.uniform(*contrast)
    body = np.full((h, w), floor)
    dist = ndi.distance_transform_edt(mask)
    # darker core, granular texture (cells), light one-pixel rim and a soft halo outside
    tex = ndi.gaussian_filter(rng.normal(0, 1, (h, w)), 1.2)
    tex /= tex.std() + 1e-12
    core = np.clip(dist / max(r, 1), 0, 1)
    inside = floor * (1 - c * (0.8 + 0.2 * core)) * (1 + 0.06 * tex)
    body = np.where(mask, inside, body)
    outside_d = ndi.distance_transform_edt(~mask)
    body = body + 0.08 * np.exp(-outside_d / 2.5) * ~mask
    body = ndi.gaussian_filter(body, rng.uniform(0.6, 1.4))
    if rr is not None:
        out_level = rng.uniform(0.15, 0.45)
        step = 1 / (1 + np.exp(-(rr - big) / rng.uniform(1.0, 3.0)))
        rim = 0.25 * np.exp(-((rr - (big - 4)) ** 2) / 8.0)
        body = body * (1 - (1 - out_level) * step) + rim
        mask = mask & (rr < big)
    img = 2000 * body * _illumination(rng, (h, w), rng.uniform(0.05, 0.3))
    _dust(rng, img, int(rng.integers(5, 25)), 2000)
    img = _noise(rng, img, noise_photons / 2000, 10.0)
    return img, {"mask": mask, "cut_fraction": cut}


def border_spheroid(
    seed: int, *, size: int = 256, max_cut: float = 0.40
) -> tuple[np.ndarray, dict]:
    """A spheroid running off one or two image borders, 0-``max_cut`` of its outline outside."""
    rng = np.random.default_rng(10_000 + seed)
    r = rng.uniform(0.15, 0.3) * size
    target = rng.uniform(0.0, max_cut)
    # the centre distance to the border d sets the cut share ~ arccos(d / r) / pi
    d = r * np.cos(np.pi * target)
    side = int(rng.integers(4))
    other = rng.uniform(0.3, 0.7) * size
    pos = {0: (d, other), 1: (size - 1 - d, other), 2: (other, d), 3: (other, size - 1 - d)}[side]
    return brightfield_spheroid(seed, size=size, centre=pos, radius=r)


def colony_well_rgb(seed: int, size: int = 256) -> np.ndarray:
    """Crystal-violet stained well (purple colonies on a pale floor), RGB uint8."""
    rng = np.random.default_rng(20_000 + seed)
    h = w = size
    yy, xx = np.mgrid[:h, :w]
    wr = rng.uniform(0.38, 0.47) * size
    wc = size / 2 + rng.uniform(-0.05, 0.05, 2) * size
    well = np.hypot(yy - wc[0], xx - wc[1]) < wr
    stain = np.zeros((h, w))
    for _ in range(int(rng.integers(20, 120))):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(2, 10)
        stain = np.maximum(stain, np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * r * r)))
    stain *= well * rng.uniform(0.5, 1.0)
    od = np.stack([0.55, 0.95, 0.25]) * stain[..., None]  # violet absorbs green most
    plate = np.where(well, 0.92, rng.uniform(0.55, 0.8))[..., None]
    rgb = 255 * plate * np.exp(-2.0 * od) * _illumination(rng, (h, w), 0.1)[..., None]
    rgb += rng.normal(0, 3, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def livedead_field(seed: int, size: int = 256) -> np.ndarray:
    """Two-channel (live, dead) fluorescence field of many small cells, (Y, X, 2) uint16."""
    rng = np.random.default_rng(30_000 + seed)
    h = w = size
    out = np.zeros((h, w, 2))
    yy, xx = np.mgrid[:h, :w]
    for _ in range(int(rng.integers(30, 150))):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(2.5, 5)
        ch = int(rng.random() < 0.3)
        out[..., ch] += rng.uniform(500, 2000) * np.exp(
            -((yy - y) ** 2 + (xx - x) ** 2) / (2 * r * r)
        )
    out += 100 + rng.normal(0, 15, out.shape)
    return np.clip(out, 0, 65535).astype(np.uint16)


def empty_well(seed: int, size: int = 256) -> np.ndarray:
    """Brightfield well with no spheroid: vignetting, dust, sometimes the dark well edge."""
    rng = np.random.default_rng(40_000 + seed)
    edge = float(rng.choice([0.0, rng.uniform(0.1, 0.4)]))
    img, _ = brightfield_spheroid(40_000 + seed, size=size, radius=0.0, well_edge=edge)
    return img
