"""Crystal-violet colony-formation wells and whole plates (absorbing stain on a pale dish).

The image is formed by Beer-Lambert absorption: every pixel has a stain optical density
(OD) and a neutral OD (plastic, well wall); the camera sees ``I0 * 10**(-OD * eps)`` per
channel under an uneven (vignetted) illumination ``I0``. Crystal violet absorbs red and
green much more than blue, which is why stained colonies look blue-violet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_il6assay.io.plate import PLATE_FORMATS, row_letters, well_names

from ._common import (
    SyntheticImage,
    check_fraction,
    check_positive,
    fine_texture,
    random_shape,
    round_well,
    shape_patch,
    smooth_field,
    to_uint8,
)

__all__ = ["make_colony_well", "make_colony_plate", "PLATE_GEOMETRY"]

#: Relative absorption of crystal violet in the R, G, B channels of a colour camera.
CV_EPSILON_RGB = np.array([0.80, 0.95, 0.30], dtype=np.float32)
#: Absorption used for gray images (a monochrome camera, or a green filter).
CV_EPSILON_GRAY = 0.75

#: SBS plate geometry: (well pitch mm, well diameter mm); the grid is `PLATE_FORMATS`'.
PLATE_GEOMETRY: dict[int, tuple[float, float]] = {
    6: (39.12, 34.8),
    12: (26.01, 22.1),
    24: (19.30, 15.6),
    48: (13.08, 11.0),
    96: (9.00, 6.4),
}


def _draw_colonies(
    rng: np.random.Generator,
    od: np.ndarray,
    labels: np.ndarray,
    region: np.ndarray,
    target_fraction: float,
    radius_px: float,
    full_od: float,
    next_id: int,
    clustering: float = 0.8,
) -> int:
    """Paint colonies into ``od``/``labels`` inside ``region`` until they cover the target.

    Colonies are lobed discs of log-normal size whose centres follow a smooth random
    density (so some areas are dense and colonies touch). A new colony only takes pixels
    that are still free, so every stained pixel belongs to exactly one colony and the
    covered fraction is known exactly. The last colony is shrunk to land near the target.

    Returns
    -------
    int
        The next free label id.
    """
    ys, xs = np.nonzero(region)
    n_region = ys.size
    if n_region == 0 or target_fraction <= 0:
        return next_id
    target = target_fraction * n_region
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dens = smooth_field(rng, (int(y1 - y0), int(x1 - x0)), max(radius_px * 6, 8.0))
    w = np.exp(clustering * dens[ys - y0, xs - x0]).astype(np.float64)
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    covered = int(np.count_nonzero(labels[region]))
    max_colonies = int(20 * target / max(np.pi * radius_px**2, 1.0)) + 50
    batch = np.empty(0, dtype=np.int64)
    bi = 0
    for _ in range(max_colonies):
        remaining = target - covered
        if remaining <= 0.5:
            break
        if bi >= batch.size:
            batch = np.minimum(np.searchsorted(cdf, rng.random(512)), n_region - 1)
            bi = 0
        idx = batch[bi]
        bi += 1
        cy = ys[idx] + rng.uniform(-0.5, 0.5)
        cx = xs[idx] + rng.uniform(-0.5, 0.5)
        r = float(np.clip(rng.lognormal(np.log(radius_px), 0.45), 1.0, 6 * radius_px))
        area = min(np.pi * r * r, max(remaining * 1.05, 3.0))
        shp = random_shape(rng, area, roughness=0.12, aspect_range=(0.7, 1.0))
        sl, inside, rho = shape_patch(shp, cy, cx, labels.shape)
        if inside.size == 0:
            continue
        new = inside & (labels[sl] == 0) & region[sl]
        n_new = int(np.count_nonzero(new))
        if n_new == 0:
            continue
        # Dense centre, thinner edge; each colony its own stain intensity.
        peak = full_od * rng.uniform(0.55, 1.0)
        prof = peak * (0.55 + 0.45 * np.clip(1.0 - rho**2, 0.0, 1.0))
        labels[sl][new] = next_id
        od[sl][new] = prof[new]
        next_id += 1
        covered += n_new
    return next_id


def _illumination(
    rng: np.random.Generator, shape: tuple[int, int], vignetting: float
) -> np.ndarray:
    """Vignetted, slightly uneven illumination (max about 1)."""
    h, w = shape
    yy = (np.arange(h)[:, None] - h / 2 + rng.uniform(-0.1, 0.1) * h) / (h / 2)
    xx = (np.arange(w)[None, :] - w / 2 + rng.uniform(-0.1, 0.1) * w) / (w / 2)
    r2 = (yy * yy + xx * xx) / 2.0
    grad = rng.normal(0, 0.02) * yy + rng.normal(0, 0.02) * xx
    return (1.0 - vignetting * r2 + grad + 0.02 * smooth_field(rng, shape, max(h, w) / 4)).astype(
        np.float32
    )


def _render(
    rng: np.random.Generator,
    stain_od: np.ndarray,
    neutral_od: np.ndarray,
    illum: np.ndarray,
    rgb: bool,
    noise: float,
) -> np.ndarray:
    """Beer-Lambert image of stain + neutral OD under ``illum``, with camera noise."""
    from scipy import ndimage

    # The lens blurs a little; the stain sum (and so the truth) is unchanged by blurring.
    stain = ndimage.gaussian_filter(stain_od, 0.6)
    neutral = ndimage.gaussian_filter(neutral_od, 1.0)
    white = 246.0 * illum
    if rgb:
        tint = np.array([1.0, 0.985, 0.96], dtype=np.float32)  # a warm light box
        trans = np.power(10.0, -(stain[..., None] * CV_EPSILON_RGB + neutral[..., None])).astype(
            np.float32
        )
        img = white[..., None] * tint * trans
        img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    else:
        img = white * np.power(10.0, -(stain * CV_EPSILON_GRAY + neutral)).astype(np.float32)
        img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    return to_uint8(img)


def make_colony_well(
    seed: int = 0,
    *,
    area_fraction: float = 0.3,
    size: int = 512,
    rgb: bool = True,
    pixel_size_um: float = 20.0,
    colony_radius_um: float = 150.0,
    well_radius_fraction: float = 0.42,
    full_stain_od: float = 1.0,
    vignetting: float = 0.25,
    background_od: float = 0.03,
    noise: float = 1.5,
) -> SyntheticImage:
    """Photo of one crystal-violet stained well (colony formation / crystal violet assay).

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives identical arrays.
    area_fraction : float
        Target fraction of the well covered by colonies (the truth is what was drawn,
        within one small colony of the target).
    size : int
        Image height and width in pixels.
    rgb : bool
        RGB ``uint8`` photo (YXC) when True, gray ``uint8`` (YX) otherwise.
    pixel_size_um : float
        Pixel size (um); with the defaults the well is about 8.6 mm across.
    colony_radius_um : float
        Median colony radius (log-normal sizes).
    well_radius_fraction : float
        Well radius as a fraction of ``size``.
    full_stain_od : float
        Optical density of a fully stained, dense colony (reference of the intensity
        weighted area fraction).
    vignetting : float
        Relative fall-off of the illumination towards the corners.
    background_od : float
        Residual stain of the empty dish bottom (not counted as colony).
    noise : float
        SD of the camera noise in gray levels.

    Returns
    -------
    SyntheticImage
        ``labels`` are the colonies (touching colonies keep separate ids); ``truth`` has
        ``area_fraction`` (colony pixels in the well / well pixels), ``well_mask``,
        ``stain_mask``, ``colony_count``, ``intensity_weighted_area_fraction`` (sum of colony
        OD in the well / (well pixels * ``full_stain_od``)), ``well_center``, ``well_radius_px``.

    Examples
    --------
    >>> s = make_colony_well(1, area_fraction=0.2, size=256)
    >>> s.image.shape, s.image.dtype.name
    ((256, 256, 3), 'uint8')
    >>> abs(s.truth["area_fraction"] - 0.2) < 0.02
    True
    """
    rng = np.random.default_rng(seed)
    af = check_fraction("area_fraction", area_fraction)
    px = check_positive("pixel_size_um", pixel_size_um)
    size = int(size)
    shape = (size, size)
    cy, cx, radius, well = round_well(rng, size, well_radius_fraction, jitter=0.02)

    stain = np.zeros(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    _draw_colonies(rng, stain, labels, well, af, colony_radius_um / px, full_stain_od, next_id=1)
    colony_od_sum = float(stain[well].sum(dtype=np.float64))
    # Colonies are fibrous, not flat: texture the stain, keeping the truth from before.
    tex = fine_texture(rng, shape, 1.0)
    stain_img = stain * (1.0 + 0.12 * tex)
    stain_img += well * background_od * (1.0 + 0.5 * smooth_field(rng, shape, size / 8)).clip(0)

    neutral = _well_neutral_od(rng, shape, cy, cx, radius)
    img = _render(rng, stain_img, neutral, _illumination(rng, shape, vignetting), rgb, noise)

    colony_mask = labels > 0
    n_well = int(well.sum())
    ids = np.unique(labels[colony_mask])
    truth = {
        "area_fraction": float(np.count_nonzero(colony_mask & well) / n_well),
        "well_mask": well,
        "stain_mask": colony_mask,
        "colony_count": int(ids.size),
        "intensity_weighted_area_fraction": colony_od_sum / (n_well * full_stain_od),
        "full_stain_od": float(full_stain_od),
        "well_center": (float(cy), float(cx)),
        "well_radius_px": float(radius),
        "well_area_um2": float(n_well * px * px),
        "target_area_fraction": af,
    }
    return SyntheticImage(img, "YXC" if rgb else "YX", labels, px, None, truth)


def _well_neutral_od(
    rng: np.random.Generator,
    shape: tuple[int, int],
    cy: float,
    cx: float,
    radius: float,
    rim_width: float | None = None,
) -> np.ndarray:
    """Neutral OD of the dish: clear well bottom, dark wall rim, hazy plastic outside."""
    yy = np.arange(shape[0])[:, None] - cy
    xx = np.arange(shape[1])[None, :] - cx
    d = np.sqrt(yy * yy + xx * xx) - radius  # <0 inside the well
    rw = rim_width if rim_width is not None else max(radius * 0.06, 2.0)
    inside = np.clip(1.0 + d / radius, 0.0, 1.0)
    od = np.where(d < 0, 0.10 * inside**8, 0.0)  # meniscus darkens the edge of the bottom
    rim = np.exp(-0.5 * ((d - rw * 0.5) / (rw * 0.45)) ** 2)
    od = od + 0.55 * rim
    outside = (d > rw).astype(np.float32)
    od = od + outside * (0.16 + 0.03 * smooth_field(rng, shape, radius / 3))
    return od.astype(np.float32)


def _area_fractions(
    rng: np.random.Generator,
    area_fractions: Any,
    names: list[str],
    plate_format: int,
) -> np.ndarray:
    """Return the target stained fraction of every well, in ``names`` order (checked).

    None draws them from the plate's generator (uniform 0.05-0.6); a dict maps well names
    to fractions (0 for the others); anything else is one value per well.
    """
    from napari_il6assay.errors import InputError

    if area_fractions is None:
        afs = rng.uniform(0.05, 0.6, len(names))
    elif isinstance(area_fractions, dict):
        afs = np.array([float(area_fractions.get(n, 0.0)) for n in names])
    else:
        afs = np.asarray(area_fractions, dtype=float).reshape(-1)
        if afs.size != len(names):
            raise InputError(
                f"area_fractions has {afs.size} values, the {plate_format}-well plate needs "
                f"{len(names)}",
                column="area_fractions",
            )
    for n, a in zip(names, afs, strict=True):
        check_fraction(f"area_fractions[{n}]", a)
    return afs


def _well_row(
    name: str,
    r: int,
    c: int,
    cy: float,
    cx: float,
    radius: float,
    labels: np.ndarray,
    stain: np.ndarray,
    well: np.ndarray,
    n_colonies: int,
    full_stain_od: float,
    target: float,
) -> dict[str, Any]:
    """Build one well's truth row: its place and the stain drawn inside it."""
    n_well = int(well.sum())
    wl = labels[well]
    return {
        "well": name,
        "row": row_letters(r + 1),
        "column": c + 1,
        "center_y": float(cy),
        "center_x": float(cx),
        "radius_px": float(radius),
        "area_fraction": float(np.count_nonzero(wl) / n_well),
        "colony_count": int(n_colonies),
        "intensity_weighted_area_fraction": float(
            stain[well].sum(dtype=np.float64) / (n_well * full_stain_od)
        ),
        "target_area_fraction": float(target),
    }


def make_colony_plate(
    seed: int = 0,
    *,
    plate_format: int = 24,
    area_fractions: Any = None,
    rgb: bool = True,
    width_px: int = 1152,
    colony_radius_um: float = 500.0,
    full_stain_od: float = 1.0,
    vignetting: float = 0.2,
    noise: float = 1.5,
) -> SyntheticImage:
    """Photo of a whole crystal-violet plate (a grid of wells seen from above).

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    plate_format : {6, 12, 24, 48, 96}
        Number of wells; geometry (pitch, well diameter) follows the SBS standard.
    area_fractions : array-like or dict, optional
        Target colony area fraction per well: an array of shape (rows, columns), a flat
        sequence in A01, A02, ... order, or a dict ``{"A01": 0.3, ...}`` (missing wells
        get 0). By default random values in [0.05, 0.6].
    rgb : bool
        RGB photo (YXC) or gray (YX), ``uint8``.
    width_px : int
        Width of the well grid in pixels (the image has a margin around it).
    colony_radius_um : float
        Median colony radius.

    Returns
    -------
    SyntheticImage
        ``labels`` are colonies (ids unique over the plate); ``truth["wells"]`` is a table
        (``pandas.DataFrame``) with ``well, row, column, center_y, center_x, radius_px,
        area_fraction, colony_count, intensity_weighted_area_fraction``; ``truth["well_labels"]``
        numbers the wells 1..n in A01, A02, ... order.
    """
    import pandas as pd

    from napari_il6assay.errors import InputError

    if plate_format not in PLATE_GEOMETRY:
        raise InputError(
            f"plate_format must be one of {sorted(PLATE_GEOMETRY)}, got {plate_format!r}",
            column="plate_format",
        )
    rng = np.random.default_rng(seed)
    nr, nc = PLATE_FORMATS[plate_format]
    pitch_mm, diam_mm = PLATE_GEOMETRY[plate_format]
    pitch_px = int(width_px) // nc
    px = pitch_mm * 1000.0 / pitch_px
    radius = diam_mm * 1000.0 / 2 / px
    margin = int(round(pitch_px * 0.6))
    shape = (nr * pitch_px + 2 * margin, nc * pitch_px + 2 * margin)
    names = well_names(plate_format)

    afs = _area_fractions(rng, area_fractions, names, plate_format)

    stain = np.zeros(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    well_labels = np.zeros(shape, dtype=np.int32)
    neutral = np.full(shape, 0.16, dtype=np.float32)
    neutral += 0.03 * smooth_field(rng, shape, pitch_px)
    yy = np.arange(shape[0])[:, None]
    xx = np.arange(shape[1])[None, :]
    rows = []
    next_id = 1
    for i, name in enumerate(names):
        r, c = divmod(i, nc)
        cy = margin + (r + 0.5) * pitch_px + rng.uniform(-0.5, 0.5)
        cx = margin + (c + 0.5) * pitch_px + rng.uniform(-0.5, 0.5)
        rw = max(radius * 0.06, 1.5)
        half = int(np.ceil(radius + 4 * rw)) + 2
        win = (
            slice(max(int(cy) - half, 0), min(int(cy) + half + 1, shape[0])),
            slice(max(int(cx) - half, 0), min(int(cx) + half + 1, shape[1])),
        )
        d = np.sqrt((yy[win[0]] - cy) ** 2 + (xx[:, win[1]] - cx) ** 2) - radius
        well = np.zeros(shape, dtype=bool)
        well[win] = d <= 0
        well_labels[win][d <= 0] = i + 1
        nw = neutral[win]
        nw[d <= rw] -= 0.16  # well bottoms are clear, unlike the plate top
        nw += (np.where(d <= 0, 0.10 * np.clip(1 + d / radius, 0, 1) ** 8, 0.0)).astype(np.float32)
        nw += (0.55 * np.exp(-0.5 * ((d - rw * 0.5) / (rw * 0.45)) ** 2)).astype(np.float32)
        first = next_id
        next_id = _draw_colonies(
            rng, stain, labels, well, float(afs[i]), colony_radius_um / px, full_stain_od, next_id
        )
        rows.append(_well_row(name, r, c, cy, cx, radius, labels, stain, well,
                              next_id - first, full_stain_od, float(afs[i])))  # fmt: skip
    tex = fine_texture(rng, shape, 1.0)
    stain_img = stain * (1.0 + 0.12 * tex) + (well_labels > 0) * 0.03
    img = _render(
        rng, stain_img, np.clip(neutral, 0, None), _illumination(rng, shape, vignetting), rgb, noise
    )
    truth = {
        "wells": pd.DataFrame(rows),
        "well_labels": well_labels,
        "well_mask": well_labels > 0,
        "stain_mask": labels > 0,
        "plate_format": int(plate_format),
        "well_radius_px": float(radius),
        "full_stain_od": float(full_stain_od),
    }
    return SyntheticImage(img, "YXC" if rgb else "YX", labels, float(px), None, truth)
