"""Test images with known masks and the imaging conditions the segmentation must survive.

These complement the package's synthetic generator: an independent brightfield
spheroid renderer (irregular outline, dark textured body, bright halo) and functions
that degrade any image the way real photos are degraded (illumination gradients,
vignetting / well-edge shadow, debris, burned-in scale bar and text, RGB, low contrast,
inverted contrast). All are seeded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    s = a.sum() + b.sum()
    return float(2 * (a & b).sum() / s) if s else 1.0


def irregular_disk(shape, centre, radius, seed, roughness=0.08):
    """Star-shaped mask: radius modulated by a few random harmonics."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    dy, dx = yy - centre[0], xx - centre[1]
    th = np.arctan2(dy, dx)
    rr = np.hypot(dy, dx)
    rad = np.full_like(th, radius)
    for k in range(2, 7):
        amp = rng.normal(0, roughness / k) * radius
        rad += amp * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    return rr <= rad, rr / np.maximum(rad, 1e-9)


def brightfield_spheroid(
    seed,
    shape=(512, 512),
    radius=None,
    offset=(0, 0),
    halo=0.25,
    contrast=0.55,
    noise=0.02,
    texture=0.15,
    blur=1.5,
    background=180.0,
):
    """Dark textured spheroid with a bright halo on a flat background (float, 0-255-ish).

    Returns (image, truth_mask).
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    if radius is None:
        radius = rng.uniform(0.15, 0.28) * min(shape)
    c = (
        h / 2 + offset[0] + rng.uniform(-0.05, 0.05) * h,
        w / 2 + offset[1] + rng.uniform(-0.05, 0.05) * w,
    )
    mask, rn = irregular_disk(shape, c, radius, seed)
    # darker towards the centre, with cell-scale texture
    depth = contrast * (0.55 + 0.45 * np.clip(1 - rn, 0, 1) ** 0.5)
    tex = ndi.gaussian_filter(rng.normal(0, 1, shape), 2.0)
    tex /= tex.std() + 1e-12
    trans = np.where(mask, 1 - depth * (1 + texture * tex), 1.0)
    # halo: bright ring just outside the outline
    d_out = ndi.distance_transform_edt(~mask)
    ring = np.exp(-((d_out - 0.02 * radius) ** 2) / (2 * (0.03 * radius) ** 2))
    trans = trans + halo * ring * (~mask)
    img = background * trans
    img = ndi.gaussian_filter(img, blur)
    img = img + rng.normal(0, noise * background, shape)
    return img, mask


def fluorescence_spheroid(seed, shape=(512, 512), radius=None, snr=20.0):
    rng = np.random.default_rng(seed)
    h, w = shape
    if radius is None:
        radius = rng.uniform(0.15, 0.28) * min(shape)
    mask, rn = irregular_disk(shape, (h / 2, w / 2), radius, seed)
    tex = ndi.gaussian_filter(rng.normal(0, 1, shape), 2.0)
    tex /= tex.std() + 1e-12
    sig = np.where(mask, 1000 * (0.6 + 0.4 * np.clip(1 - rn, 0, 1)) * (1 + 0.15 * tex), 0.0)
    img = 100 + ndi.gaussian_filter(sig, 1.5)
    img = img + rng.normal(0, 1000 / snr, shape)
    return img, mask


# --- degradations ---------------------------------------------------------------


def illumination_gradient(img, strength=0.5, seed=0, bright_bg=True):
    """Multiplicative linear+radial illumination falloff (strength = max relative drop)."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    ang = rng.uniform(0, 2 * np.pi)
    lin = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) + 0.5
    rad = (yy - 0.5) ** 2 + (xx - 0.5) ** 2
    field = 1 - strength * (0.6 * lin + 0.8 * rad)
    field = field / field.max()
    if img.ndim == 3:
        field = field[..., None]
    return img * field


def well_edge_shadow(img, seed=0, depth=0.6):
    """Dark curved shadow of the well wall entering from one side/corner."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    ang = rng.uniform(0, 2 * np.pi)
    R = 1.35 * max(h, w) / 2
    cy, cx = h / 2 + 0.25 * h * np.sin(ang), w / 2 + 0.25 * w * np.cos(ang)
    r = np.hypot(yy - cy, xx - cx)
    shade = 1 - depth / (1 + np.exp(-(r - R) / (0.02 * max(h, w))))
    if img.ndim == 3:
        shade = shade[..., None]
    return img * shade


def debris(img, truth, seed=0, n=25, dark=True, max_r=None):
    """Small dark (or bright) particles away from the object."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = img.copy()
    level = np.percentile(img, 50)
    max_r = max_r or max(3, 0.015 * min(h, w))
    far = ndi.distance_transform_edt(~truth) > 3 * max_r
    yy, xx = np.mgrid[:h, :w]
    for _ in range(n):
        for _try in range(20):
            y, x = rng.integers(0, h), rng.integers(0, w)
            if far[y, x]:
                break
        r = rng.uniform(1.5, max_r)
        m = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        f = rng.uniform(0.3, 0.7)
        val = level * (1 - f) if dark else level * (1 + f)
        if out.ndim == 3:
            out[m] = val
        else:
            out[m] = val
    return out


def scale_bar_and_text(img, seed=0, white=True):
    """A burned-in scale bar and a line of block 'text' in the lower right / upper left."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = img.copy()
    v = float(np.max(img)) * 1.0 if white else float(np.min(img))
    t = max(2, h // 128)
    y0, x0 = int(0.92 * h), int(0.68 * w)
    out[y0 : y0 + t, x0 : x0 + int(0.22 * w)] = v
    # "text": thin strokes, glyph-like
    ty, tx = int(0.04 * h), int(0.04 * w)
    gh = max(6, h // 40)
    for k in range(8):
        gx = tx + k * int(gh * 0.9)
        for _ in range(3):
            if rng.random() < 0.5:
                yy0 = ty + rng.integers(0, gh)
                out[yy0 : yy0 + max(1, t // 2), gx : gx + int(gh * 0.6)] = v
            else:
                xx0 = gx + rng.integers(0, int(gh * 0.6))
                out[ty : ty + gh, xx0 : xx0 + max(1, t // 2)] = v
    return out


def to_rgb(img, tint=(1.0, 0.93, 0.85)):
    """Gray -> uint8 RGB photo with a colour cast."""
    a = np.clip(img / max(np.percentile(img, 99.9), 1e-9) * 230, 0, 255)
    rgb = np.stack([a * t for t in tint], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def low_contrast(img, factor=0.15):
    m = np.median(img)
    return m + (img - m) * factor


def invert(img):
    return float(np.max(img)) + float(np.min(img)) - img


def to_uint16(img):
    a = img - img.min()
    a = a / max(a.max(), 1e-9) * 60000
    return a.astype(np.uint16)
