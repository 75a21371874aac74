"""Mammosphere / tumoursphere wells: many spheres, single cells and debris, brightfield."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_il6assay.errors import InputError

from ._common import (
    SyntheticImage,
    check_positive,
    equivalent_diameter,
    fine_texture,
    random_shape,
    round_well,
    shape_patch,
    smooth_field,
    to_uint16,
)

__all__ = ["make_sphere_well"]


def _sphere_diameters(
    rng: np.random.Generator,
    n_spheres: int,
    n_small: int,
    median_diameter_um: float,
    mind: float,
    px: float,
) -> list[float]:
    """Draw the diameters (um) of the counted and the small spheres, largest first."""
    # Counted spheres get >= 1.12 x threshold, small ones <= 0.85 x, so pixelation of the
    # outline can never move one across the threshold; the truth is measured anyway.
    big: list[float] = []
    while len(big) < n_spheres:
        d = rng.lognormal(np.log(max(median_diameter_um, 1.2 * mind)), 0.35)
        if 1.12 * mind <= d <= 5 * mind:
            big.append(d)
    small = list(rng.uniform(min(max(0.35 * mind, 3 * px), 0.6 * mind), 0.85 * mind, n_small))
    diam_um = sorted(big + small, reverse=True)  # place large ones first: they need room
    return diam_um


def _place_spheres(
    rng: np.random.Generator,
    diam_um: list[float],
    px: float,
    shape: tuple[int, int],
    centre: tuple[float, float],
    well_r: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Place the spheres in the well, never touching (up to 200 tries each).

    Returns
    -------
    labels : ndarray of int32
        One label per placed sphere.
    rho_img : ndarray of float32
        Normalised radius inside each sphere (0 centre, 1 outline; inf outside).
    next_id : int
        One more than the last label.
    """
    from scipy import ndimage

    cy0, cx0 = centre
    labels = np.zeros(shape, dtype=np.int32)
    rho_img = np.full(shape, np.inf, dtype=np.float32)
    next_id = 1
    gap = 2
    for d in diam_um:
        shp = random_shape(rng, np.pi * (d / px / 2) ** 2, roughness=0.05, aspect_range=(0.85, 1.0))
        reach = well_r - shp.max_radius - 3
        for _ in range(200):
            ang = rng.uniform(0, 2 * np.pi)
            rad = reach * np.sqrt(rng.uniform(0, 1))
            cy, cx = cy0 + rad * np.sin(ang), cx0 + rad * np.cos(ang)
            sl, inside, rho = shape_patch(shp, cy, cx, shape, margin=gap)
            if inside.size == 0:
                continue
            grown = ndimage.binary_dilation(inside, iterations=gap)
            if np.any(labels[sl][grown]):
                continue
            labels[sl][inside] = next_id
            rho_img[sl] = np.where(inside, rho, rho_img[sl])
            next_id += 1
            break
    return labels, rho_img, next_id


def _draw_specks(
    rng: np.random.Generator,
    n_cells: int,
    n_deb: int,
    px: float,
    centre: tuple[float, float],
    well_r: float,
    dist_out: np.ndarray,
) -> np.ndarray:
    """Draw single cells and debris as dark dots (their darkening, 0 elsewhere)."""
    cy0, cx0 = centre
    shape = dist_out.shape
    # single cells (10-18 um) and debris (1-3 px): dark dots, never touching a sphere
    specks = np.zeros(shape, dtype=np.float32)
    for i in range(n_cells + n_deb):
        is_cell = i < n_cells
        r = rng.uniform(5.0, 9.0) / px if is_cell else rng.uniform(0.6, 1.6)
        r = max(r, 0.8)
        ang = rng.uniform(0, 2 * np.pi)
        rad = (well_r - 4) * np.sqrt(rng.uniform(0, 1))
        cy, cx = cy0 + rad * np.sin(ang), cx0 + rad * np.cos(ang)
        shp = random_shape(rng, np.pi * r * r, roughness=0.05 if is_cell else 0.3)
        sl, inside, rho = shape_patch(shp, cy, cx, shape, margin=1)
        if inside.size == 0 or (dist_out[sl] < 4).any():
            continue
        val = rng.uniform(0.25, 0.45) if is_cell else rng.uniform(0.2, 0.6)
        specks[sl] = np.maximum(specks[sl], np.where(inside, val, 0.0))
    return specks


def _sphere_truth(
    labels: np.ndarray,
    next_id: int,
    px: float,
    mind: float,
    well: np.ndarray,
    n_spheres: int,
) -> dict[str, Any]:
    """Build the truth of a sphere well: the count at ``mind`` and every diameter."""
    areas = np.bincount(labels.ravel(), minlength=next_id)[1:]
    diam = np.array([equivalent_diameter(a * px * px) for a in areas])
    truth = {
        "sphere_count": int(np.count_nonzero(diam >= mind)),
        "diameters_um": diam,
        "n_objects": int(diam.size),
        "well_mask": well,
        "min_diameter_um": mind,
        "target_n_spheres": n_spheres,
    }
    return truth


def make_sphere_well(
    seed: int = 0,
    *,
    n_spheres: int = 40,
    size: int = 1024,
    pixel_size_um: float = 5.0,
    min_diameter_um: float = 50.0,
    median_diameter_um: float = 80.0,
    n_small: int | None = None,
    n_single_cells: int | None = None,
    n_debris: int | None = None,
    well_radius_fraction: float = 0.48,
    illumination: float = 0.25,
    noise: float = 0.012,
) -> SyntheticImage:
    """Draw a brightfield well of a sphere-formation assay.

    ``n_spheres`` spheres are at least ``min_diameter_um`` (log-normal sizes); ``n_small``
    more are smaller than that (they are objects, but not counted); single cells and
    debris are scattered around and are not objects. Spheres do not overlap.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    n_spheres : int
        Number of spheres with diameter >= ``min_diameter_um`` (the truth counts the
        drawn masks, which normally equals this).
    size : int
        Image height and width (pixels).
    pixel_size_um : float
        Pixel size (um).
    min_diameter_um : float
        Counting threshold on the equivalent diameter.
    median_diameter_um : float
        Median diameter of the counted spheres.
    n_small, n_single_cells, n_debris : int, optional
        Sub-threshold spheres, single cells and debris (random by default).
    well_radius_fraction : float
        Radius of the visible well as a fraction of ``size``.

    Returns
    -------
    SyntheticImage
        ``uint16`` YX. ``labels``: one id per sphere (counted and small). ``truth``:
        ``sphere_count`` (objects with equivalent diameter >= ``min_diameter_um``),
        ``diameters_um`` (per label, in label order), ``n_objects``, ``well_mask``,
        ``min_diameter_um``.

    Examples
    --------
    >>> s = make_sphere_well(2, n_spheres=12, size=384)
    >>> s.truth["sphere_count"]
    12
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    px = check_positive("pixel_size_um", pixel_size_um)
    mind = check_positive("min_diameter_um", min_diameter_um)
    n_spheres = int(n_spheres)
    if n_spheres < 0:
        raise InputError(f"n_spheres must be >= 0, got {n_spheres}", column="n_spheres")
    size = int(size)
    shape = (size, size)
    n_small = int(rng.poisson(0.4 * n_spheres) + 3) if n_small is None else int(n_small)
    n_cells = (
        int(rng.poisson(120 * (size / 1024) ** 2))
        if n_single_cells is None
        else int(n_single_cells)
    )
    n_deb = int(rng.poisson(60 * (size / 1024) ** 2)) if n_debris is None else int(n_debris)

    cy0, cx0, well_r, well = round_well(rng, size, well_radius_fraction, jitter=0.01)

    diam_um = _sphere_diameters(rng, n_spheres, n_small, median_diameter_um, mind, px)

    labels, rho_img, next_id = _place_spheres(rng, diam_um, px, shape, (cy0, cx0), well_r)

    objects = labels > 0
    dist_out = ndimage.distance_transform_edt(~objects) if objects.any() else np.full(shape, 1e9)
    specks = _draw_specks(rng, n_cells, n_deb, px, (cy0, cx0), well_r, dist_out)

    inside = np.clip(1.0 - rho_img, 0.0, 1.0)
    tex = fine_texture(rng, shape, 1.0)
    bgv = 0.7
    # a sphere: dark refractile border, grainy lighter inside (cells), bright halo outside
    obj = 0.22 + 0.28 * np.clip(inside * 3, 0, 1) - 0.1 * inside**2 + 0.06 * tex
    img = np.where(objects, obj, bgv)
    img = img + 0.10 * np.exp(-dist_out / 2.0) * (~objects) - specks
    yy = np.arange(size)[:, None] - cy0
    xx = np.arange(size)[None, :] - cx0
    dwell = np.sqrt(yy * yy + xx * xx) - well_r
    img = img * np.where(dwell > 0, 0.35, 1.0 - 0.25 * np.exp(dwell / (0.03 * size)))
    ill = (
        1.0
        + illumination * 0.3 * smooth_field(rng, shape, size / 3)
        - illumination * ((yy * yy + xx * xx) / (size * size / 2))
    )
    img = ndimage.gaussian_filter((img * ill).astype(np.float32), 0.8)
    img = np.clip(img + rng.normal(0, noise, shape).astype(np.float32), 0, 1)
    image = to_uint16(img * 4000.0 + 100.0)

    truth = _sphere_truth(labels, next_id, px, mind, well, n_spheres)
    return SyntheticImage(image, "YX", labels, px, None, truth)
