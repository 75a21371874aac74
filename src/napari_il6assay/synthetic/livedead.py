"""Two-channel live/dead fluorescence wells (calcein-AM live, propidium iodide dead)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import (
    SyntheticImage,
    check_fraction,
    check_positive,
    fine_texture,
    random_shape,
    shape_patch,
    smooth_field,
    to_uint16,
)

__all__ = ["make_livedead_well"]


def _cell_signal(
    rng: np.random.Generator,
    k: int,
    rho: np.ndarray,
    live_intensity: float,
    dead_intensity: float,
) -> np.ndarray:
    """Draw one cell's stain over its patch (``k`` 0 live, 1 dead; ``rho`` 0 centre, 1 rim).

    Calcein fills the cytoplasm (flat, brighter where thicker); PI fills a condensed
    nucleus (dome-shaped).
    """
    base = (live_intensity if k == 0 else dead_intensity) * rng.lognormal(0.0, 0.3)
    prof = (
        (0.75 + 0.25 * np.clip(1 - rho**2, 0, 1))
        if k == 0
        else (0.45 + 0.55 * np.clip(1 - rho**2, 0, 1))
    )
    return np.asarray(base * prof)


def _render_channels(
    rng: np.random.Generator,
    sig: np.ndarray,
    bleed_through: float,
    background: float,
    offset: float,
    read_noise: float,
) -> np.ndarray:
    """Image the two stains: texture, optics, bleed-through, background and noise (YXC u16)."""
    from scipy import ndimage

    shape = sig.shape[1:]
    size = shape[0]
    tex = 1.0 + 0.10 * fine_texture(rng, shape, 1.0)
    sig *= tex
    sig = ndimage.gaussian_filter(sig, (0, 1.0, 1.0))  # diffraction-limited optics
    sig[1] += bleed_through * sig[0]
    bg = background * (1.0 + 0.35 * smooth_field(rng, shape, size / 3)).clip(0.2)
    bg_dead = 0.6 * background * (1.0 + 0.35 * smooth_field(rng, shape, size / 3)).clip(0.2)
    photons = np.stack([sig[0] + bg, sig[1] + bg_dead])
    # Shot noise (gain 1 count per photo-electron) plus read noise.
    counts = rng.poisson(np.clip(photons, 0, None)).astype(np.float32)
    counts += offset + rng.normal(0.0, read_noise, counts.shape).astype(np.float32)
    return to_uint16(np.moveaxis(counts, 0, -1))


def _livedead_truth(cls: np.ndarray, px: float, n_cells: list[int], lf: float) -> dict[str, Any]:
    """Build the truth of a live/dead field from its class image (1 live, 2 dead)."""
    live_mask = cls == 1
    dead_mask = cls == 2
    live_area = float(live_mask.sum()) * px * px
    dead_area = float(dead_mask.sum()) * px * px
    total = live_area + dead_area
    return {
        "live_area_um2": live_area,
        "dead_area_um2": dead_area,
        "live_fraction": live_area / total if total > 0 else float("nan"),
        "n_live": n_cells[0],
        "n_dead": n_cells[1],
        "live_mask": live_mask,
        "dead_mask": dead_mask,
        "channel_names": ["live (calcein)", "dead (PI)"],
        "target_live_fraction": lf,
    }


def make_livedead_well(
    seed: int = 0,
    *,
    live_fraction: float = 0.7,
    size: int = 512,
    pixel_size_um: float = 1.3,
    coverage: float = 0.15,
    live_diameter_um: float = 16.0,
    dead_diameter_um: float = 10.0,
    offset: float = 100.0,
    background: float = 150.0,
    live_intensity: float = 2200.0,
    dead_intensity: float = 3000.0,
    bleed_through: float = 0.03,
    read_noise: float = 6.0,
) -> SyntheticImage:
    """Draw a live/dead stained field: calcein fills live cells, PI marks dead (smaller) cells.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    live_fraction : float
        Target live area / (live + dead area); the truth is what was drawn.
    size : int
        Image height and width (pixels).
    pixel_size_um : float
        Pixel size (um); 1.3 um is a 10x objective on a common sCMOS camera.
    coverage : float
        Fraction of the field covered by cells (live + dead).
    live_diameter_um, dead_diameter_um : float
        Median cell diameters (dead cells round up and shrink).
    offset : float
        Camera offset (counts) present in every pixel.
    background : float
        Mean medium/plastic fluorescence above the offset; uneven over the field.
    live_intensity, dead_intensity : float
        Median cell brightness above background (counts); each cell varies.
    bleed_through : float
        Fraction of the calcein signal that leaks into the PI channel.
    read_noise : float
        SD of the camera read noise (counts); shot noise is added too.

    Returns
    -------
    SyntheticImage
        ``axes="YXC"``, C = (live, dead), ``uint16``. ``labels`` numbers every cell;
        ``truth`` has ``live_area_um2``, ``dead_area_um2``, ``live_fraction``, ``n_live``,
        ``n_dead``, ``live_mask``, ``dead_mask``, ``channel_names``.

    Examples
    --------
    >>> s = make_livedead_well(3, live_fraction=0.25, size=256)
    >>> s.image.shape
    (256, 256, 2)
    >>> abs(s.truth["live_fraction"] - 0.25) < 0.05
    True
    """
    rng = np.random.default_rng(seed)
    lf = check_fraction("live_fraction", live_fraction)
    px = check_positive("pixel_size_um", pixel_size_um)
    cov = check_fraction("coverage", coverage)
    size = int(size)
    shape = (size, size)
    n_px = size * size
    targets = np.array([lf * cov * n_px, (1.0 - lf) * cov * n_px])
    radii = np.array([live_diameter_um, dead_diameter_um]) / 2.0 / px
    done = np.zeros(2)
    labels = np.zeros(shape, dtype=np.int32)
    cls = np.zeros(shape, dtype=np.int8)  # 1 live, 2 dead
    sig = np.zeros((2,) + shape, dtype=np.float32)
    dens = np.exp(0.7 * smooth_field(rng, shape, size / 5))
    cdf = np.cumsum(dens.ravel(), dtype=np.float64)
    cdf /= cdf[-1]
    next_id = 1
    n_cells = [0, 0]
    max_iter = int(6 * targets.sum() / max(np.pi * radii.min() ** 2, 1.0)) + 100
    for _ in range(max_iter):
        left = targets - done
        if (left <= 0.5).all():
            break
        # Interleave classes so neither is placed only into the gaps of the other.
        k = int(np.argmax(left / np.maximum(targets, 1e-9)))
        idx = min(int(np.searchsorted(cdf, rng.random())), n_px - 1)
        iy, ix = divmod(idx, size)
        cy = iy + rng.uniform(-0.5, 0.5)
        cx = ix + rng.uniform(-0.5, 0.5)
        r = float(np.clip(rng.lognormal(np.log(radii[k]), 0.2), 1.2, 3 * radii[k]))
        area = min(np.pi * r * r, max(left[k] * 1.05, 3.0))
        shp = random_shape(rng, area, roughness=0.10 if k == 0 else 0.04,
                           aspect_range=(0.65, 1.0) if k == 0 else (0.85, 1.0))  # fmt: skip
        sl, inside, rho = shape_patch(shp, cy, cx, shape)
        if inside.size == 0:
            continue
        new = inside & (labels[sl] == 0)
        n_new = int(np.count_nonzero(new))
        if n_new == 0:
            continue
        labels[sl][new] = next_id
        cls[sl][new] = k + 1
        sig[k][sl][new] = _cell_signal(rng, k, rho, live_intensity, dead_intensity)[new]
        next_id += 1
        n_cells[k] += 1
        done[k] += n_new

    image = _render_channels(rng, sig, bleed_through, background, offset, read_noise)
    truth = _livedead_truth(cls, px, n_cells, lf)
    return SyntheticImage(image, "YXC", labels, px, None, truth)
