"""Well grid of a whole-plate photo (6/12/24/48/96 wells, SBS layout).

Method:

1. three intensity classes of the flat-fielded photo (multi-Otsu): dark (well walls,
   stain), middle (the plate top), bright (clear well bottoms). The plate top is one
   connected sheet with a hole per well; stain never reaches it, so the hole outlines
   are the outer edges of the well walls whatever the colonies inside do;
2. a circle fitted to each hole outline gives its centre; the holes' pitch (median
   nearest-neighbour distance) numbers them on the grid (rows x columns known from
   the format), and an affine grid is fitted to their centres by robust least
   squares, so a well that was not found or fitted badly still gets its place;
3. the radius is the inner edge of the wall: the steepest fall of the bright bottom
   into the dark wall on the 80th-percentile (over angles) radial profile, median
   over wells.
"""

from __future__ import annotations

import math

import numpy as np

from napari_il6assay.errors import SegmentationError
from napari_il6assay.io.plate import PLATE_FORMATS, well_names
from napari_il6assay.segment.geometry import fit_circle_trimmed

#: the plate formats whose wells are found on a photo of the whole plate (384 wells are
#: too small on a photo to measure one by one)
PHOTO_FORMATS = tuple(f for f in PLATE_FORMATS if f <= 96)


def _plate_top(q: np.ndarray) -> np.ndarray:
    """Find the plate top: the largest connected sheet of the middle intensity class."""
    from scipy import ndimage as ndi
    from skimage.filters import threshold_multiotsu

    from napari_il6assay.segment import _util as U

    # divide out vignetting so the classes hold over the photo; the scale (an eighth
    # of the photo) is larger than any well
    f = max(1, min(q.shape) // 64)
    low = ndi.gaussian_filter(U.block_mean(q, f), max(q.shape) / 8.0 / f)
    low = np.repeat(np.repeat(low, f, axis=0), f, axis=1)[: q.shape[0], : q.shape[1]]
    flat = q / np.maximum(low, 1e-6)
    try:
        t0, t1 = threshold_multiotsu(flat, classes=3)
    except ValueError as e:  # too few grey levels
        raise SegmentationError(f"colony: no plate found in the photo ({e})") from None
    mid = ndi.binary_opening((flat > t0) & (flat <= t1), structure=U.disk(1))
    lab, n = ndi.label(mid)
    if n == 0:
        raise SegmentationError("colony: no plate top found between the wells")
    return lab == (int(np.argmax(np.bincount(lab.ravel())[1:])) + 1)


def _inner_radius(qs: np.ndarray, cy: float, cx: float, r_out: float) -> float:
    """Find the inner edge of the wall.

    The steepest fall of the 80th-percentile radial profile just inside its darkest ring
    (colonies at the edge do not reach the 80th percentile over angles).
    """
    from scipy import ndimage as ndi

    step = 0.5
    rr = np.arange(0.7 * r_out, 1.02 * r_out, step)
    th = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    ys = cy + np.sin(th)[:, None] * rr[None, :]
    xs = cx + np.cos(th)[:, None] * rr[None, :]
    prof = ndi.map_coordinates(qs, [ys, xs], order=1, mode="nearest")
    p80 = np.percentile(prof, 80, axis=0)
    iwall = int(np.argmin(p80))
    if iwall < 2:
        return float(rr[iwall])
    k = int(np.argmin(np.diff(p80[: iwall + 1])))
    return float(rr[k] + 0.5 * step)


def _number_wells(
    cy: np.ndarray, cx: np.ndarray, nr: int, nc: int, shape: tuple[int, int], plate_format: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each well found, from the pitch of their centres."""
    d = np.hypot(cy[:, None] - cy[None, :], cx[:, None] - cx[None, :])
    np.fill_diagonal(d, np.inf)
    pitch = float(np.median(d.min(axis=1)))
    # a slightly rotated photo: index along the plate's own axes
    near = (d < 1.3 * pitch) & (np.abs(cx[None, :] - cx[:, None]) > 0.7 * pitch)
    ii, jj = np.nonzero(near & (cx[None, :] > cx[:, None]))
    ang = float(np.median(np.arctan2(cy[jj] - cy[ii], cx[jj] - cx[ii]))) if ii.size else 0.0
    ca, sa = math.cos(ang), math.sin(ang)
    u = ca * cx + sa * cy
    v = -sa * cx + ca * cy
    col = np.round((u - u.min()) / pitch).astype(int)
    row = np.round((v - v.min()) / pitch).astype(int)
    if col.max() >= nc or row.max() >= nr:
        raise SegmentationError(
            f"colony: the wells found do not fit a {plate_format}-well grid "
            f"({row.max() + 1} rows x {col.max() + 1} columns)"
        )
    # wells missing at the ends: place the grid so the plate is centred in the photo
    h, w = shape
    free_c, free_r = nc - 1 - int(col.max()), nr - 1 - int(row.max())
    if free_c or free_r:
        mid_u = u.min() + pitch * (nc - 1) / 2
        mid_v = v.min() + pitch * (nr - 1) / 2
        cu = ca * (w - 1) / 2 + sa * (h - 1) / 2
        cv = -sa * (w - 1) / 2 + ca * (h - 1) / 2
        col = col + min(range(free_c + 1), key=lambda k: abs(mid_u - k * pitch - cu))
        row = row + min(range(free_r + 1), key=lambda k: abs(mid_v - k * pitch - cv))
    return row, col


def _hole_circles(
    holes: np.ndarray, lab: np.ndarray, keep: np.ndarray, plate_format: int
) -> np.ndarray:
    """Fit a circle to each kept hole's outline: rows ``(cy, cx, r)`` of the round ones.

    Holes whose radius is more than 10 % off the median are left out.

    Raises
    ------
    SegmentationError
        When fewer than three round holes are left.
    """
    from scipy import ndimage as ndi

    edge = holes & ~ndi.binary_erosion(holes)
    ey, ex = np.nonzero(edge)
    el = lab[ey, ex]
    fits = []
    for k in keep:
        s = el == k + 1
        # pixel centres of the hole's edge: the wall's outer edge is half a pixel out
        fit = fit_circle_trimmed(
            ey[s].astype(np.float64), ex[s].astype(np.float64), cut=3.0 * 1.4826, min_cut=1.0
        )
        fits.append((np.nan,) * 3 if fit is None else (fit.cy, fit.cx, fit.r + 0.5))
    f_ = np.array(fits)
    ok = np.isfinite(f_).all(1)
    f_ = f_[ok]
    r_med = float(np.median(f_[:, 2]))
    round_ = np.abs(f_[:, 2] - r_med) < 0.1 * r_med
    f_ = f_[round_]
    if len(f_) < 3:
        raise SegmentationError(
            f"colony: only {len(f_)} round wells found ({plate_format}-well plate)"
        )
    return f_


def find_plate_wells(
    plane: np.ndarray, plate_format: int, grid_size: int = 1536
) -> list[tuple[str, float, float, float]]:
    """Wells of a whole-plate photo fitted to the plate grid.

    Parameters
    ----------
    plane : ndarray
        2D absorbing plane (bright clear bottoms, dark stain and well walls).
    plate_format : {6, 12, 24, 48, 96}
        Number of wells.
    grid_size : int
        The wells are found at about this many pixels on the long side.

    Returns
    -------
    list of tuple
        ``(well, cy, cx, r)`` in pixels of ``plane``, A01 first (top-left), row-major.

    Examples
    --------
    >>> from napari_il6assay.synthetic import make_colony_plate
    >>> s = make_colony_plate(0, plate_format=6, rgb=False, width_px=480)
    >>> wells = find_plate_wells(s.image.astype(float), 6)
    >>> [w[0] for w in wells][:3]
    ['A01', 'A02', 'A03']
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment import _util as U

    if plate_format not in PHOTO_FORMATS:
        raise SegmentationError(
            f"plate_format must be one of {list(PHOTO_FORMATS)}, got {plate_format!r}"
        )
    nr, nc = PLATE_FORMATS[plate_format]
    g = U.block_factor(plane.shape, grid_size)
    q = U.block_mean(plane, g)
    top = _plate_top(q)
    holes = U.fill_holes(top) & ~top
    lab, n = ndi.label(holes)
    if n == 0:
        raise SegmentationError(f"colony: no well found in the plate photo ({plate_format}-well)")
    area = np.bincount(lab.ravel())[1:]
    order = np.argsort(area)[::-1][: nr * nc]
    ref = float(np.median(area[order]))
    keep = order[(area[order] > 0.5 * ref) & (area[order] < 1.6 * ref)]
    if keep.size < max(3, (nr * nc) // 3):
        raise SegmentationError(
            f"colony: found {keep.size} well-like regions, expected {nr * nc} for a "
            f"{plate_format}-well plate"
        )
    f_ = _hole_circles(holes, lab, keep, plate_format)
    row, col = _number_wells(f_[:, 0], f_[:, 1], nr, nc, q.shape, plate_format)
    # the affine grid by robust least squares: y, x = a + b * row + c * col
    A = np.column_stack([np.ones(len(f_)), row, col]).astype(np.float64)
    good = np.ones(len(f_), bool)
    if np.ptp(row) == 0 or np.ptp(col) == 0:
        # one row or column found: the pitch is the same along both axes
        A = A[:, [0, 2]] if np.ptp(row) == 0 else A[:, [0, 1]]
    for _ in range(3):
        by, *_ = np.linalg.lstsq(A[good], f_[good, 0], rcond=None)
        bx, *_ = np.linalg.lstsq(A[good], f_[good, 1], rcond=None)
        res = np.hypot(f_[:, 0] - A @ by, f_[:, 1] - A @ bx)
        new = res < max(3.0 * 1.4826 * float(np.median(res[good])), 0.5)
        if new.sum() < 3 or (new == good).all():
            break
        good = new
    rows = np.repeat(np.arange(nr), nc).astype(np.float64)
    cols = np.tile(np.arange(nc), nr).astype(np.float64)
    if A.shape[1] == 3:
        Ag = np.column_stack([np.ones_like(rows), rows, cols])
        gy, gx = Ag @ by, Ag @ bx
    else:
        # a single row/column of wells: square pitch assumed for the other axis
        along_col = np.ptp(row) == 0
        step_y, step_x = (by[1], bx[1])
        if along_col:  # slope per column; rows step perpendicular
            gy = by[0] + cols * step_y + rows * step_x
            gx = bx[0] + cols * step_x - rows * step_y
        else:
            gy = by[0] + rows * step_y - cols * step_x
            gx = bx[0] + rows * step_x + cols * step_y
    # a well's own fit where it agrees with the grid (lens distortion, moulding):
    # the wall shading at the rim is steep, a pixel off shows as a crescent of stain
    pitch = float(np.hypot(*(np.linalg.lstsq(A[good], f_[good, :2], rcond=None)[0][-1])))
    idx = (row * nc + col).astype(int)
    own = good & (res < max(0.05 * pitch, 1.0))
    gy[idx[own]] = f_[own, 0]
    gx[idx[own]] = f_[own, 1]
    # to plane pixels; the radius is measured there
    gy, gx = (gy + 0.5) * g - 0.5, (gx + 0.5) * g - 0.5
    r_out = float(np.median(f_[good, 2])) * g
    qs = ndi.gaussian_filter(plane, 1.0)
    radii = [_inner_radius(qs, y, x, r_out) for y, x in zip(gy, gx, strict=True)]
    r = float(np.median(radii))
    if not math.isfinite(r) or r <= 1:
        raise SegmentationError(f"colony: no well radius found ({plate_format}-well plate)")
    return [
        (name, float(y), float(x), r)
        for name, y, x in zip(well_names(plate_format), gy, gx, strict=True)
    ]
