"""Tumour spheroids: 2D brightfield/fluorescence photos and 3D z-stacks."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_il6assay.errors import InputError

from ._common import (
    SyntheticImage,
    check_nonnegative,
    check_positive,
    equivalent_diameter,
    fine_texture,
    random_shape,
    scale_bar_mask,
    shape_patch,
    smooth_field,
    sphere_volume,
    text_mask,
    to_uint8,
    to_uint16,
)

__all__ = ["make_spheroid_2d", "make_spheroid_3d"]


def _spheroid_mask(
    rng: np.random.Generator, shape: tuple[int, int], diameter_px: float, max_offset: float
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Lobed, slightly elliptical spheroid outline of the given equivalent diameter."""
    h, w = shape
    cy = h / 2 + rng.uniform(-max_offset, max_offset)
    cx = w / 2 + rng.uniform(-max_offset, max_offset)
    mask = np.zeros(shape, dtype=bool)
    rho_full = np.full(shape, np.inf, dtype=np.float32)
    if diameter_px <= 0:
        return mask, rho_full, (cy, cx)
    shp = random_shape(
        rng,
        np.pi * (diameter_px / 2) ** 2,
        roughness=0.07,
        n_harmonics=6,
        aspect_range=(0.8, 0.97),
    )
    sl, inside, rho = shape_patch(shp, cy, cx, shape, margin=int(diameter_px) // 4 + 4)
    mask[sl] = inside
    rho_full[sl] = rho
    return mask, rho_full, (cy, cx)


def _debris(
    rng: np.random.Generator, shape: tuple[int, int], n: int, exclude: np.ndarray, r_max: float
) -> np.ndarray:
    """Small irregular particles (dead cells, fibres of dust) away from ``exclude``."""
    out = np.zeros(shape, dtype=np.float32)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        r = rng.uniform(1.0, r_max)
        shp = random_shape(rng, np.pi * r * r, roughness=0.25, aspect_range=(0.4, 1.0))
        sl, inside, rho = shape_patch(shp, cy, cx, shape, margin=2)
        if inside.size == 0 or exclude[sl].any():
            continue
        out[sl] = np.maximum(out[sl], np.where(inside, rng.uniform(0.4, 1.0), 0.0))
    return out


def _burned_in_marks(
    shape: tuple[int, int], px: float, scale_bar: bool
) -> tuple[np.ndarray, float]:
    """Return the burned-in scale bar and objective label mask, and the bar's length (um).

    Without ``scale_bar``: an empty mask and NaN.
    """
    size = shape[0]
    bar = np.zeros(shape, dtype=bool)
    bar_um = float("nan")
    if scale_bar:
        bar, bar_um = scale_bar_mask(shape, px)
        # the objective, as camera software stamps it in a corner
        label = text_mask(f"{max(1, int(round(8.0 / px)))}X", max(1, size // 256))
        m = max(size // 32, 4)
        if label.shape[0] + m < size and label.shape[1] + m < size:
            bar[m : m + label.shape[0], m : m + label.shape[1]] |= label
    return bar, bar_um


def _illumination_2d(rng: np.random.Generator, size: int, illumination: float) -> np.ndarray:
    """Draw the lamp's field: a random tilt, smooth unevenness and vignetting."""
    shape = (size, size)
    yy = (np.arange(size)[:, None] - size / 2) / (size / 2)
    xx = (np.arange(size)[None, :] - size / 2) / (size / 2)
    ill = (
        1.0
        + illumination * (rng.normal(0, 0.35) * yy + rng.normal(0, 0.35) * xx)
        + illumination * 0.25 * smooth_field(rng, shape, size / 3)
        - illumination * 0.3 * (yy * yy + xx * xx) / 2
    )
    return ill


def _debris_parts(rng: np.random.Generator, dist_out: np.ndarray, d_px: float) -> np.ndarray:
    """Draw debris away from the spheroid and shed single cells in a ring around it."""
    shape = dist_out.shape
    parts = _debris(rng, shape, int(rng.integers(25, 60)), dist_out < 6, 3.5)
    # shed single cells around the spheroid
    ring = (dist_out > 4) & (dist_out < max(d_px * 0.3, 10))
    cells = _debris(rng, shape, int(rng.integers(10, 30)), ~ring, 2.5)
    return np.maximum(parts, cells)


def _well_shadow(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw the shadow of the well's edge: 0 inside, towards 1 beyond a large circle."""
    ang = rng.uniform(0, 2 * np.pi)
    dist_edge = rng.uniform(0.44, 0.52) * size
    big_r = 1.2 * size
    ccy = size / 2 + np.sin(ang) * (big_r - dist_edge)
    ccx = size / 2 + np.cos(ang) * (big_r - dist_edge)
    r = np.hypot(np.arange(size)[:, None] - ccy, np.arange(size)[None, :] - ccx)
    shadow = 1.0 / (1.0 + np.exp(-(r - big_r) / (0.015 * size)))
    return shadow


def _to_camera(img: np.ndarray, bar: np.ndarray, kind: str, rgb: bool) -> tuple[np.ndarray, str]:
    """Record the [0, 1] image with a colour (8-bit) or a 12-bit gray camera."""
    if rgb:
        if kind == "brightfield":  # halogen lamp: slightly warm
            tint = np.array([1.0, 0.96, 0.86], dtype=np.float32)
            image = to_uint8(255 * img[..., None] * tint)
            image[bar] = 255
        else:  # a green fluorescent protein on a colour camera
            image = to_uint8(255 * img[..., None] * np.array([0.25, 1.0, 0.15], np.float32))
            image[bar] = 255
        axes = "YXC"
    else:
        image = to_uint16(img * 4000.0 + 100.0)  # 12-bit camera with an offset
        axes = "YX"
    return image, axes


def _spheroid_truth(
    mask: np.ndarray,
    px: float,
    bar: np.ndarray,
    bar_um: float,
    center: tuple[float, float],
    kind: str,
    d_um: float,
) -> dict[str, Any]:
    """Build the truth of a 2D spheroid image from its mask."""
    cy, cx = center
    area_px = int(mask.sum())
    area = area_px * px * px
    eqd = equivalent_diameter(area)
    truth = {
        "area_um2": float(area),
        "equivalent_diameter_um": eqd,
        "volume_um3": sphere_volume(eqd),
        "mask": mask,
        "scale_bar_mask": bar,
        "scale_bar_um": bar_um,
        "center": (float(cy), float(cx)),
        "kind": kind,
        "target_diameter_um": d_um,
    }
    return truth


def make_spheroid_2d(
    seed: int = 0,
    *,
    kind: str = "brightfield",
    diameter_um: float = 400.0,
    rgb: bool = False,
    size: int = 512,
    pixel_size_um: float = 2.0,
    debris: bool = True,
    scale_bar: bool = True,
    illumination: float = 0.3,
    contrast: float = 1.0,
    well_shadow: bool = True,
    noise: float = 0.012,
) -> SyntheticImage:
    """One spheroid in a round-bottom well, as a 4x brightfield or fluorescence photo.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    kind : {"brightfield", "fluorescence"}
        Brightfield: dark textured object with a bright halo on a gray background, a dark
        well-edge arc and debris. Fluorescence: bright object (e.g. a GFP line) on a dark
        background.
    diameter_um : float
        Equivalent diameter of the outline (the area of the drawn mask matches a disc of
        this diameter up to pixelation). 0 draws an empty well.
    rgb : bool
        A colour camera photo (``uint8`` YXC) instead of a ``uint16`` gray image.
    size : int
        Image height and width (pixels).
    pixel_size_um : float
        Pixel size (um).
    debris : bool
        Scatter debris particles and shed single cells (not part of the truth).
    scale_bar : bool
        Burn a scale bar with its length written above it into the bottom-right corner,
        and the objective (e.g. ``4X``) into the top-left one.
    illumination : float
        Strength of the uneven illumination (0 = flat).
    contrast : float
        Object contrast relative to the default (lower is harder).
    well_shadow : bool
        Draw the dark arc of the well wall near one border (brightfield only).
    noise : float
        SD of the camera noise relative to full scale.

    Returns
    -------
    SyntheticImage
        ``labels`` has the spheroid as 1. ``truth``: ``area_um2``, ``equivalent_diameter_um``,
        ``volume_um3`` (sphere of the equivalent diameter), ``mask``, ``scale_bar_mask``,
        ``scale_bar_um``, ``center``.

    Examples
    --------
    >>> s = make_spheroid_2d(0, diameter_um=300, size=256, pixel_size_um=3.0)
    >>> round(s.truth["equivalent_diameter_um"] / 300, 1)
    1.0
    """
    from scipy import ndimage

    if kind not in ("brightfield", "fluorescence"):
        raise InputError(
            f"kind must be 'brightfield' or 'fluorescence', got {kind!r}", column="kind"
        )
    rng = np.random.default_rng(seed)
    px = check_positive("pixel_size_um", pixel_size_um)
    d_um = check_nonnegative("diameter_um", diameter_um)
    size = int(size)
    shape = (size, size)
    d_px = d_um / px
    mask, rho, (cy, cx) = _spheroid_mask(rng, shape, d_px, max_offset=0.04 * size)
    bar, bar_um = _burned_in_marks(shape, px, scale_bar)
    mask &= ~bar  # the burned-in bar hides whatever is under it

    ill = _illumination_2d(rng, size, illumination)
    inside = np.clip(1.0 - rho, 0.0, 1.0)  # 0 on the outline, 1 at the centre
    tex = fine_texture(rng, shape, 1.2)
    coarse = smooth_field(rng, shape, max(d_px / 10, 3.0))
    dist_out = ndimage.distance_transform_edt(~mask) if mask.any() else np.full(shape, 1e9)
    parts = _debris_parts(rng, dist_out, d_px) if debris else np.zeros(shape, np.float32)

    if kind == "brightfield":
        bgv = 0.72
        obj = 0.30 - 0.12 * inside**0.7 + 0.05 * tex + 0.04 * coarse  # dark core, lighter rim
        img = np.where(mask, bgv - contrast * (bgv - obj), bgv)
        halo = 0.18 * contrast * np.exp(-dist_out / 4.0) * (~mask)
        img = img + halo - 0.35 * parts * (~mask)
        if well_shadow:
            img = img * (1.0 - 0.7 * _well_shadow(rng, size))
        img = img * ill
        bar_value = 1.0
    else:
        bgv = 0.04
        obj = 0.55 + 0.25 * (1 - inside) ** 2 - 0.15 * inside**2 + 0.08 * tex + 0.06 * coarse
        img = np.where(mask, bgv + contrast * (obj - bgv), bgv) + 0.3 * parts * (~mask)
        img = img * ill
        bar_value = 1.0
    img = ndimage.gaussian_filter(img.astype(np.float32), 1.0)
    img = img + rng.normal(0.0, noise, shape).astype(np.float32)
    img[bar] = bar_value
    img = np.clip(img, 0.0, 1.0)

    image, axes = _to_camera(img, bar, kind, rgb)

    truth = _spheroid_truth(mask, px, bar, bar_um, (cy, cx), kind, d_um)
    return SyntheticImage(image, axes, mask.astype(np.int32), px, None, truth)


def _stack_signal(
    rng: np.random.Generator,
    mask: np.ndarray,
    rr: np.ndarray,
    psf: tuple[float, float, float],
    voxel: tuple[float, float, float],
    attenuation_um: float,
) -> np.ndarray:
    """Draw the spheroid's nuclear texture, attenuated with depth and blurred by the PSF.

    Only the object's box plus the PSF's reach is computed (zero elsewhere); ``rr`` is the
    normalised ellipsoid radius (the necrotic core is dimmer) and ``psf`` in voxels.
    """
    from scipy import ndimage

    nz, ny, nx = mask.shape
    vz, vy, vx = voxel
    sig = np.zeros((nz, ny, nx), dtype=np.float32)
    if mask.any():
        box = []
        for ax, n in enumerate((nz, ny, nx)):
            idx = np.flatnonzero(mask.any(axis=tuple(i for i in range(3) if i != ax)))
            pad = int(np.ceil(4 * psf[ax])) + 2
            box.append(slice(max(idx[0] - pad, 0), min(idx[-1] + pad + 1, n)))
        crop = tuple(box)
        m = mask[crop]
        # nuclei: a speckle of blobs a few um wide, dimmer in the necrotic core
        nuclei = fine_texture(rng, m.shape, (0.8, 2.5 / vy, 2.5 / vx))
        core = np.clip(1.0 - rr[crop], 0, 1)
        s = np.where(m, 1.0 + 0.3 * nuclei - 0.35 * core**2, 0.0).astype(np.float32)
        depth = np.cumsum(m, axis=0, dtype=np.float32) * vz  # tissue crossed from the bottom
        s *= np.exp(-depth / attenuation_um)
        sig[crop] = ndimage.gaussian_filter(s, psf)
    return sig


def make_spheroid_3d(
    seed: int = 0,
    *,
    diameter_um: float = 300.0,
    shape: tuple[int, int, int] = (64, 256, 256),
    voxel_size_um: tuple[float, float, float] = (4.0, 1.5, 1.5),
    flattening: float = 0.8,
    attenuation_um: float = 120.0,
    psf_sigma_um: tuple[float, float] = (5.0, 1.2),
    intensity: float = 2500.0,
    offset: float = 100.0,
    read_noise: float = 8.0,
) -> SyntheticImage:
    """Draw a z-stack of a nuclear-stained spheroid (confocal/light-sheet like), ZYX ``uint16``.

    The spheroid sags a little on the well bottom (it is an oblate, lumpy ellipsoid with
    z semi-axis ``flattening`` times the lateral one); signal falls off with depth into the
    tissue (scattering) and the PSF is longer in z than in x/y.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    diameter_um : float
        Lateral diameter (um); the mask holds as many voxels as the ellipsoid of this
        diameter and ``flattening`` fills (``pi/6 * d**3 * flattening``), to one voxel,
        as long as it fits in the stack. 0 draws an empty stack.
    shape : tuple of int
        (z, y, x) size of the stack.
    voxel_size_um : tuple of float
        (z, y, x) voxel size; anisotropic like most stacks.
    flattening : float
        z semi-axis / lateral semi-axis.
    attenuation_um : float
        Depth into the tissue over which the signal falls to 1/e.
    psf_sigma_um : tuple of float
        (axial, lateral) SD of the blur in um.

    Returns
    -------
    SyntheticImage
        ``labels`` (ZYX) has the spheroid as 1; ``truth``: ``volume_um3`` (voxel count *
        voxel volume), ``n_voxels``, ``equivalent_diameter_um`` (sphere of that volume),
        ``voxel_size_um``.

    Examples
    --------
    >>> s = make_spheroid_3d(0, diameter_um=150, shape=(24, 96, 96), voxel_size_um=(6, 2.5, 2.5))
    >>> s.image.shape, s.axes
    ((24, 96, 96), 'ZYX')
    """
    rng = np.random.default_rng(seed)
    vz, vy, vx = (check_positive("voxel_size_um", v) for v in voxel_size_um)
    d_um = check_nonnegative("diameter_um", diameter_um)
    nz, ny, nx = (int(s) for s in shape)
    a = d_um / 2 * rng.uniform(0.95, 1.05)
    b = d_um / 2 * rng.uniform(0.95, 1.05)
    # keep the volume of the requested sphere's ellipsoid: a*b*c = (d/2)^2 * flattening*d/2
    c = (d_um / 2) ** 3 * flattening / max(a * b, 1e-9)
    cz = nz * vz / 2 + rng.uniform(-0.03, 0.03) * nz * vz
    cy = ny * vy / 2 + rng.uniform(-0.04, 0.04) * ny * vy
    cx = nx * vx / 2 + rng.uniform(-0.04, 0.04) * nx * vx
    z = (np.arange(nz, dtype=np.float32)[:, None, None] + 0.5) * vz - cz
    y = (np.arange(ny, dtype=np.float32)[None, :, None] + 0.5) * vy - cy
    x = (np.arange(nx, dtype=np.float32)[None, None, :] + 0.5) * vx - cx
    if d_um > 0:
        rr = np.sqrt((z / c) ** 2 + (y / a) ** 2 + (x / b) ** 2)
        lumps = smooth_field(rng, (nz, ny, nx), max(d_um / 6 / vx, 2.0))
        eff = (rr - 0.04 * lumps).ravel()
        # Threshold the lumpy radius at the voxel count of the nominal ellipsoid, so the
        # volume matches the request to one voxel whatever the voxel size.
        n_target = min(int(round(np.pi / 6 * d_um**3 * flattening / (vz * vy * vx))), eff.size)
        mask = np.zeros((nz, ny, nx), dtype=bool)
        if n_target > 0:
            thr = np.partition(eff, n_target - 1)[n_target - 1]
            mask = (eff <= thr).reshape(nz, ny, nx)
    else:
        rr = np.full((nz, ny, nx), np.inf, dtype=np.float32)
        mask = np.zeros((nz, ny, nx), dtype=bool)

    # Texture and optics only where there is signal: the object's box plus the PSF's reach.
    psf = (psf_sigma_um[0] / vz, psf_sigma_um[1] / vy, psf_sigma_um[1] / vx)
    sig = _stack_signal(rng, mask, rr, psf, (vz, vy, vx), attenuation_um)
    bg = 40.0 * (1 + 0.2 * smooth_field(rng, (ny, nx), ny / 3))  # lateral illumination
    photons = intensity * np.clip(sig, 0, None) + bg
    # shot noise (Gaussian limit of Poisson, thousands of photons) and read noise in one draw
    photons = np.clip(photons, 0, None)
    sd = np.sqrt(photons + read_noise**2)
    counts = photons + offset + sd * rng.standard_normal(photons.shape, dtype=np.float32)
    image = to_uint16(counts)

    n = int(mask.sum())
    vol = n * vz * vy * vx
    truth = {
        "volume_um3": float(vol),
        "n_voxels": n,
        "equivalent_diameter_um": float((6 * vol / np.pi) ** (1 / 3)),
        "voxel_size_um": (vz, vy, vx),
        "mask": mask,
        "target_diameter_um": d_um,
    }
    return SyntheticImage(image, "ZYX", mask.astype(np.int32), vy, vz, truth)
