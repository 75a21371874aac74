"""One home for circle fitting: wells, plate holes, spheroid outlines and sphere wells.

Every mode fits circles to edge points: the inner edge of a well's rim (`segment.well`), the
outline of each hole of a plate photo (`segment.plate_grid`), a spheroid or a U-bottom well's
outline (`segment.spheroid`), a spheres well (`segment.spheres`). They all use the algebraic
(Kasa) least-squares fit, which is linear, exact for points on a circle and unbiased enough
for the many points of a well's or an object's outline; `fit_circle_trimmed` refits it
without the points far from the circle (colonies or a spheroid touching a rim, a wall's
shadow joined to an outline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def fit_circle(y: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    """Fit an algebraic (Kasa) least-squares circle through points.

    Parameters
    ----------
    y, x : ndarray
        Point coordinates (at least three points, not on one line).

    Returns
    -------
    tuple of float
        ``(cy, cx, r)``; ``r`` is 0 when the points do not define a circle.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    >>> [round(v, 6) for v in fit_circle(3 + 2 * np.sin(t), 1 + 2 * np.cos(t))]
    [3.0, 1.0, 2.0]
    """
    A = np.column_stack([x, y, np.ones_like(x)])
    b = x * x + y * y
    c, *_ = np.linalg.lstsq(A, b, rcond=None)
    cx, cy = c[0] / 2, c[1] / 2
    r = math.sqrt(max(c[2] + cx * cx + cy * cy, 0.0))
    return float(cy), float(cx), float(r)


@dataclass(frozen=True)
class CircleFit:
    """A circle fitted to points, and how well the kept points follow it.

    Attributes
    ----------
    cy, cx, r : float
        Centre and radius.
    rms : float
        Root mean square distance of the kept points from the circle.
    keep : ndarray of bool
        The points the circle was fitted to.
    """

    cy: float
    cx: float
    r: float
    rms: float
    keep: np.ndarray


def fit_circle_trimmed(
    y: np.ndarray,
    x: np.ndarray,
    *,
    n_fits: int = 2,
    cut: float = 3.0,
    min_cut: float = 1.5,
    min_points: int = 10,
) -> CircleFit | None:
    """Fit a Kasa circle, then refit it without the points far from it.

    After each fit, the points whose distance from the circle is below
    ``max(cut * median distance of the kept points, min_cut)`` are kept for the next fit;
    the loop stops after ``n_fits`` fits, when the kept points no longer change, or when
    fewer than ``min_points`` would be kept (the last fit stands).

    Parameters
    ----------
    y, x : ndarray
        Point coordinates.
    n_fits : int
        Largest number of fits (1: no trimming).
    cut : float
        Points farther than ``cut`` median distances are left out (``3 * 1.4826``: three
        robust sigmas).
    min_cut : float
        The smallest cut distance, pixels (the median of pixel-quantised points on a clean
        outline is a fraction of a pixel).
    min_points : int
        Fewest points a refit needs.

    Returns
    -------
    CircleFit or None
        None when fewer than three points are given or the first fit has no real radius.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    >>> y, x = 10 + 5 * np.sin(t), 20 + 5 * np.cos(t)
    >>> x[:6] += 3  # a blob on the outline
    >>> fit = fit_circle_trimmed(y, x, n_fits=3)
    >>> round(fit.cy, 6), round(fit.cx, 6), round(fit.r, 6), int(fit.keep.sum())
    (10.0, 20.0, 5.0, 54)
    """
    if y.size < 3:
        return None
    keep = np.ones(y.size, bool)
    out: CircleFit | None = None
    for _ in range(n_fits):
        try:
            A = np.column_stack([x[keep], y[keep], np.ones(int(keep.sum()))])
            b = x[keep] ** 2 + y[keep] ** 2
            c, *_ = np.linalg.lstsq(A, b, rcond=None)
        except np.linalg.LinAlgError:
            return out
        cx, cy = c[0] / 2, c[1] / 2
        r2 = c[2] + cx * cx + cy * cy
        if r2 <= 0:
            return out
        r = math.sqrt(r2)
        res = np.abs(np.hypot(y - cy, x - cx) - r)
        out = CircleFit(
            float(cy), float(cx), float(r), float(np.sqrt(np.mean(res[keep] ** 2))), keep
        )
        new = res < max(cut * float(np.median(res[keep])), min_cut)
        if np.array_equal(new, keep) or new.sum() < min_points:
            break
        keep = new
    return out


def disc_mask(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    """Pixels of a frame of ``shape`` whose centre lies in the disc (boundary included).

    Examples
    --------
    >>> int(disc_mask((5, 5), 2, 2, 1).sum())
    5
    """
    yy = (np.arange(shape[0], dtype=np.float32) - cy)[:, None]
    xx = (np.arange(shape[1], dtype=np.float32) - cx)[None, :]
    return yy * yy + xx * xx <= r * r


def disc_in_frame(shape: tuple[int, int], cy: float, cx: float, r: float) -> float:
    """Return the fraction of the disc's area that lies inside a frame of ``shape`` (sampled).

    Examples
    --------
    >>> disc_in_frame((100, 100), 50, 50, 10), disc_in_frame((100, 100), 50, -0.5, 10)
    (1.0, 0.5)
    """
    n = 64
    t = (np.arange(n) + 0.5) / n * 2 - 1
    yy, xx = np.meshgrid(t, t, indexing="ij")
    inside = yy * yy + xx * xx <= 1
    py, px = cy + r * yy[inside], cx + r * xx[inside]
    ok = (py >= -0.5) & (py <= shape[0] - 0.5) & (px >= -0.5) & (px <= shape[1] - 0.5)
    return float(ok.mean())
