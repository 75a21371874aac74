"""An independent renderer of crystal-violet well photos (and of images that are not).

It shares nothing with ``napari_il6assay.synthetic``: its own optics (Beer-Lambert per RGB
channel with a crystal-violet absorbance spectrum, a plastic wall ring, a meniscus that darkens
the floor next to the wall, vignetting, a linear light gradient, blur, Gaussian noise, 8-bit
quantisation), its own colonies (irregular harmonic outlines, denser centres, texture), and
its own conditions of issue 9:

- `cv_well`: one well per photo, off-centre, 0-60 % cover, wall shading (class 3);
- `flask`, `cropped_dish`, `well_off_frame`: not one round well in the frame (class 7);
- `fluorescence_livedead`, `brightfield_spheroid`: images of other assays (class 6).

Every function is seeded and returns the image and its truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: relative absorbance of crystal violet in R, G, B (absorbs orange-green, passes blue)
CV_SPECTRUM = np.array([0.80, 1.00, 0.32])


@dataclass
class Rendered:
    image: np.ndarray
    stain: np.ndarray  # truth stain mask (inside the floor)
    floor: np.ndarray  # truth measured area (well floor, or the whole frame)

    @property
    def area_fraction(self) -> float:
        return float((self.stain & self.floor).sum() / max(self.floor.sum(), 1))


def _colonies(rng, shape, floor, cover, r_mean):
    """Irregular colonies inside ``floor`` until ``cover`` of it is stained: (mask, OD)."""
    h, w = shape
    od = np.zeros(shape, np.float64)
    mask = np.zeros(shape, bool)
    if cover <= 0:
        return mask, od
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    fy, fx = np.nonzero(floor)
    n_floor = floor.sum()
    for _ in range(4000):
        if (mask & floor).sum() >= cover * n_floor:
            break
        i = rng.integers(fy.size)
        cy, cx = fy[i] + rng.normal(0, 3), fx[i] + rng.normal(0, 3)
        r = float(np.clip(rng.lognormal(np.log(r_mean), 0.45), 2.5, 6 * r_mean))
        y0, y1 = int(max(cy - 1.6 * r - 2, 0)), int(min(cy + 1.6 * r + 3, h))
        x0, x1 = int(max(cx - 1.6 * r - 2, 0)), int(min(cx + 1.6 * r + 3, w))
        if y1 <= y0 or x1 <= x0:
            continue
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        th = np.arctan2(dy, dx)
        rad = np.full(th.shape, r)
        for k in range(2, 6):
            rad += rng.normal(0, 0.12 / k) * r * np.cos(k * th + rng.uniform(0, 6.3))
        rn = np.hypot(dy, dx) / np.maximum(rad, 1e-6)
        m = rn <= 1.0
        peak = rng.uniform(0.35, 1.1)
        prof = peak * (0.55 + 0.45 * np.clip(1 - rn, 0, 1) ** 0.5)
        sub = od[y0:y1, x0:x1]
        sub[m] = np.maximum(sub[m], prof[m])
        mask[y0:y1, x0:x1] |= m
    tex = ndi.gaussian_filter(rng.normal(0, 1, shape), 1.5)
    tex /= tex.std() + 1e-12
    od = np.where(mask, od * (1 + 0.12 * tex), 0.0)
    return mask, np.clip(od, 0, None)


def _optics(rng, trans_rgb, *, vignette, gradient, noise, blur, rgb, level=235.0):
    """Illumination, blur, noise and 8-bit quantisation of a transmission image."""
    h, w = trans_rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    rr = np.hypot(yy - h / 2 + rng.uniform(-0.1, 0.1) * h, xx - w / 2) / (0.75 * max(h, w))
    illum = 1 - vignette * rr**2
    ang = rng.uniform(0, 2 * np.pi)
    illum *= 1 + gradient * ((np.cos(ang) * (xx / w - 0.5)) + np.sin(ang) * (yy / h - 0.5))
    img = level * illum[..., None] * trans_rgb
    img = ndi.gaussian_filter(img, (blur, blur, 0))
    img = img + rng.normal(0, noise, img.shape)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if not rgb:
        img = np.round(img.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    return img


def _stain_transmission(od, tint=(1.0, 0.97, 0.99)):
    return np.asarray(tint)[None, None, :] * 10.0 ** (-od[..., None] * CV_SPECTRUM[None, None, :])


def cv_well(
    seed: int,
    size: int = 320,
    cover: float | None = None,
    *,
    r_frac: float | None = None,
    offset: float = 0.06,
    outside: str | None = None,
    rim_shade: float | None = None,
    rgb: bool = True,
    centre: tuple[float, float] | None = None,
) -> Rendered:
    """One crystal-violet well photo (class 3 and the base of class 7).

    Parameters
    ----------
    seed : int
    size : int
        Square frame side, pixels.
    cover : float, optional
        Stained fraction of the floor (random 0.4-0.6 when None).
    r_frac : float, optional
        Floor radius / frame side (random 0.36-0.45 when None).
    offset : float
        Largest centre offset, fraction of the side.
    outside : {"bright", "grey", "dark"}, optional
        The plastic around the well.
    rim_shade : float, optional
        Depth of the meniscus shading next to the wall (random 0.1-0.4 when None).
    rgb : bool
    centre : (y, x), optional
        Well centre in pixels (overrides ``offset``).
    """
    rng = np.random.default_rng(seed)
    h = w = size
    if cover is None:
        cover = rng.uniform(0.4, 0.6)
    if r_frac is None:
        r_frac = rng.uniform(0.36, 0.45)
    r = r_frac * size
    if centre is None:
        lim = max(0.0, min(offset * size, size / 2 - r - 0.03 * size))
        centre = (h / 2 + rng.uniform(-lim, lim), w / 2 + rng.uniform(-lim, lim))
    if outside is None:
        outside = rng.choice(["bright", "bright", "grey", "dark"])
    if rim_shade is None:
        rim_shade = rng.uniform(0.1, 0.4)
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    rho = np.hypot(yy - centre[0], xx - centre[1])
    floor = rho <= r
    wall_w = rng.uniform(0.025, 0.05) * r
    wall = (rho > r) & (rho <= r + wall_w)
    mask, od = _colonies(rng, (h, w), floor, cover, r_mean=rng.uniform(0.035, 0.07) * r)
    mask &= floor
    od = np.where(floor, od, 0.0)
    # faint stain haze of the floor and grey dust specks (not stain)
    haze = ndi.gaussian_filter(rng.normal(0, 1, (h, w)), size / 12)
    haze = 0.015 * haze / (haze.std() + 1e-12)
    trans = _stain_transmission(od + np.where(floor & ~mask, np.clip(haze, 0, None), 0.0))
    bottom = np.ones((h, w))
    # meniscus: the floor darkens towards the wall
    bottom *= np.where(
        floor, 1 - rim_shade * np.exp(-(r - rho) / (rng.uniform(0.03, 0.07) * r)), 1.0
    )
    out_level = {
        "bright": rng.uniform(0.85, 1.0),
        "grey": rng.uniform(0.5, 0.65),
        "dark": rng.uniform(0.08, 0.2),
    }[str(outside)]
    bottom = np.where(rho > r + wall_w, out_level, bottom)
    bottom = np.where(wall, rng.uniform(0.25, 0.45), bottom)
    trans = trans * bottom[..., None]
    for _ in range(rng.integers(0, 12)):
        dy, dx = rng.uniform(0, h), rng.uniform(0, w)
        spot = np.hypot(yy - dy, xx - dx) <= rng.uniform(1.0, 2.5)
        trans[spot] *= rng.uniform(0.6, 0.8)  # neutral grey dust
    img = _optics(
        rng,
        trans,
        vignette=rng.uniform(0.05, 0.3),
        gradient=rng.uniform(0, 0.15),
        noise=rng.uniform(1.0, 3.0),
        blur=rng.uniform(0.6, 1.2),
        rgb=rgb,
    )
    return Rendered(img, mask & floor, floor)


def flask(seed: int, size: int = 320, rgb: bool = True) -> Rendered:
    """A flask or dish floor filling the frame: no well wall anywhere (class 7)."""
    rng = np.random.default_rng(seed)
    h = w = size
    floor = np.ones((h, w), bool)
    mask, od = _colonies(
        rng, (h, w), floor, rng.uniform(0.05, 0.5), r_mean=rng.uniform(0.012, 0.03) * size
    )
    trans = _stain_transmission(od)
    img = _optics(
        rng,
        trans,
        vignette=rng.uniform(0.05, 0.4),
        gradient=rng.uniform(0, 0.2),
        noise=rng.uniform(1.0, 3.0),
        blur=rng.uniform(0.6, 1.2),
        rgb=rgb,
    )
    return Rendered(img, mask, floor)


def cropped_dish(seed: int, size: int = 320, rgb: bool = True) -> Rendered:
    """A dish much larger than the frame: only an arc of its wall crosses a corner."""
    rng = np.random.default_rng(seed)
    r_frac = rng.uniform(0.9, 1.6)
    ang = rng.uniform(0, 2 * np.pi)
    # the wall passes through the frame at 0.15-0.35 of the side from a corner
    d = r_frac * size - rng.uniform(0.15, 0.35) * size
    c = (size / 2 + d * np.sin(ang), size / 2 + d * np.cos(ang))
    return cv_well(seed, size, rng.uniform(0.1, 0.5), r_frac=r_frac, centre=c, rgb=rgb)


def well_off_frame(seed: int, size: int = 320, rgb: bool = True) -> Rendered:
    """A well whose 15-50 % of area lies outside the frame."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(0.36, 0.45) * size
    ang = rng.uniform(0, 2 * np.pi)
    # centre distance from the frame centre so that the well sticks out by 0.2-0.8 r
    out = rng.uniform(0.25, 0.8) * r
    d = size / 2 - r + out
    c = (size / 2 + d * np.sin(ang), size / 2 + d * np.cos(ang))
    # corners: keep the overhang along one side
    k = np.argmax(np.abs([np.sin(ang), np.cos(ang)]))
    c = (
        (size / 2 + d * np.sign(np.sin(ang)), size / 2)
        if k == 0
        else (size / 2, size / 2 + d * np.sign(np.cos(ang)))
    )
    c = (c[0] + rng.uniform(-0.1, 0.1) * size, c[1] + rng.uniform(-0.1, 0.1) * size)
    return cv_well(seed, size, rng.uniform(0.1, 0.5), r_frac=r / size, centre=c, rgb=rgb)


def fluorescence_livedead(seed: int, size: int = 320) -> np.ndarray:
    """Calcein (live) / PI (dead) cells on a dark background: YXC, 2 channels uint16, or
    an RGB composite (green, red) uint8 for odd seeds."""
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    live = np.zeros((h, w))
    dead = np.zeros((h, w))
    n = rng.integers(40, 300)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        rad = rng.uniform(0.012, 0.03) * size
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rad**2))
        if rng.random() < 0.75:
            live += rng.uniform(0.5, 1.0) * blob
        else:
            dead += rng.uniform(0.5, 1.0) * ((yy - cy) ** 2 + (xx - cx) ** 2 < (0.6 * rad) ** 2)
    vig = 1 - rng.uniform(0.1, 0.3) * (np.hypot(yy - h / 2, xx - w / 2) / (0.7 * size)) ** 2
    if seed % 2:
        img = np.stack([dead, live, np.zeros((h, w))], -1) * vig[..., None]  # R dead, G live
        img = img * 200 + 6
        img = img + rng.normal(0, 3, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)
    img = np.stack([live, dead], -1) * vig[..., None] * rng.uniform(800, 3000) + 100
    img = rng.poisson(np.clip(img, 0, None)).astype(np.float64) + rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 65535).astype(np.uint16)


def brightfield_spheroid(seed: int, size: int = 320) -> np.ndarray:
    """One dark textured spheroid with a light halo on a grey brightfield background,
    sometimes with a dark well-edge shadow in a corner: gray uint8/uint16 or neutral RGB."""
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    r = rng.uniform(0.12, 0.3) * size
    cy, cx = h / 2 + rng.uniform(-0.1, 0.1) * h, w / 2 + rng.uniform(-0.1, 0.1) * w
    th = np.arctan2(yy - cy, xx - cx)
    rad = np.full(th.shape, r)
    for k in range(2, 6):
        rad += rng.normal(0, 0.06 / k) * r * np.cos(k * th + rng.uniform(0, 6.3))
    rn = np.hypot(yy - cy, xx - cx) / rad
    body = rn <= 1
    tex = ndi.gaussian_filter(rng.normal(0, 1, (h, w)), 2.0)
    tex /= tex.std() + 1e-12
    trans = np.where(body, rng.uniform(0.2, 0.5) * (1 + 0.15 * tex), 1.0)
    trans = trans + 0.25 * np.exp(-((rn - 1.05) ** 2) / (2 * 0.03**2))
    if rng.random() < 0.5:  # dark well edge in a corner
        ccy, ccx = rng.choice([-0.4, 1.4]) * h, rng.choice([-0.4, 1.4]) * w
        edge = np.hypot(yy - ccy, xx - ccx) < rng.uniform(0.5, 0.75) * size
        trans = np.where(edge, trans * 0.25, trans)
    img = 170 * trans * (1 - 0.2 * (np.hypot(yy - h / 2, xx - w / 2) / (0.7 * size)) ** 2)
    img = ndi.gaussian_filter(img, 1.2) + rng.normal(0, 3, (h, w))
    kind = seed % 3
    if kind == 0:
        return np.clip(img, 0, 255).astype(np.uint8)
    if kind == 1:
        return np.clip(img * 16, 0, 4095).astype(np.uint16)
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
