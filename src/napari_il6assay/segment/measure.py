"""Per-object measurements (the ``objects.csv`` table) in 2D and 3D.

Physical columns (``*_um``, ``*_um2``, ``*_um3``) are in micrometres when a pixel/voxel
size is given, else in pixels/voxels (the caller records ``calibrated=False``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: objects.csv columns of INTERFACE.md that every mode fills, in order
OBJECT_COLUMNS = [
    "label",
    "area_px",
    "area_um2",
    "equivalent_diameter_um",
    "mean_intensity",
    "integrated_intensity",
    "circularity",
    "solidity",
]
BASE_COLUMNS_2D = [*OBJECT_COLUMNS, "perimeter_um", "major_axis_um", "minor_axis_um"]
BASE_COLUMNS_3D = [*OBJECT_COLUMNS, "volume_um3", "surface_um2", "sphericity"]


def _channel_names(n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None and len(names) == n:
        out = []
        for i, nm in enumerate(names):
            s = "".join(ch if ch.isalnum() else " " for ch in str(nm)).lower()
            s = "_".join(s.split())
            out.append(s or f"ch{i}")
        if len(set(out)) == n:
            return out
    return [f"ch{i}" for i in range(n)]


def _empty(columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    df["label"] = df["label"].astype("int64")
    df["area_px"] = df["area_px"].astype("int64")
    return df


def _solidity(lab: np.ndarray, labels: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Area / convex-hull area, the hull taken over the corners of the object's pixels.

    Same definition as scikit-image's ``solidity`` but without rasterising the hull; the
    hull areas of all labels come from `_hull_areas` at once (exact, half-integers).
    Objects of fewer than 3 pixels get 1.
    """
    out = np.ones(len(labels), dtype=np.float64)
    if len(labels) == 0:
        return out
    hull = _hull_areas(lab)
    for i, (lb, a) in enumerate(zip(labels, area, strict=True)):
        lb = int(lb)
        if a < 3 or lb >= hull.size or hull[lb] <= 0:
            continue
        out[i] = min(1.0, a / hull[lb])
    return out


def _row_extents(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Leftmost and rightmost pixel of every label in every row it occupies.

    Returns ``(label, row, x_left, x_right)``, sorted by label then row. Computed from the
    horizontal runs of equal labels (a few per object and row), not from every pixel.
    """
    h, w = lab.shape
    p = np.zeros((h, w + 2), lab.dtype)
    p[:, 1:-1] = lab
    change = p[:, 1:] != p[:, :-1]
    # run starts: a label differing from its left neighbour; ends: from its right one
    sy, sx = np.nonzero(change[:, :-1] & (lab != 0))
    ey, ex = np.nonzero(change[:, 1:] & (lab != 0))
    lb = lab[sy, sx].astype(np.int64)
    # starts and ends pair up in raster order (one start and one end per run)
    key = lb * h + sy
    order = np.argsort(key, kind="stable")
    key, xs, xe = key[order], sx[order], ex[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    # runs of one key are in increasing x: its first start and its last end
    last = np.r_[first[1:], key.size] - 1
    k = key[first]
    return k // h, k % h, xs[first], xe[last]


def _hull_areas(lab: np.ndarray) -> np.ndarray:
    """Convex-hull area of every label of a 2D label image, over the corners of its pixels.

    Index ``i`` holds label ``i``'s area (0 for absent labels). The hull of the pixel
    corners is bounded by each row's extreme corners: the left chain (lower envelope of
    ``x`` over ``y``) and the right chain (upper envelope) are made convex by dropping
    every point that does not turn the right way (such a point is never a hull vertex),
    all labels at once, until none is dropped. The area is integrated between the two
    chains in integers (exact; ``scipy.spatial.ConvexHull(...).volume`` to rounding).
    """
    n = int(lab.max()) if lab.size else 0
    out = np.zeros(n + 1, np.float64)
    if n == 0:
        return out
    lbl, row, xl, xr = _row_extents(lab)
    twice = np.zeros(n + 1, np.int64)
    # each row y spans the corners y and y + 1: the left chain takes the smaller x of the
    # rows above and below a corner line, the right chain the larger
    for sign, x in ((-1, xl), (1, xr + 1)):
        cl = np.concatenate([lbl, lbl])
        cy = np.concatenate([row, row + 1])
        cx = np.concatenate([x, x]).astype(np.int64)
        order = np.lexsort((sign * cx, cy, cl))
        cl, cy, cx = cl[order], cy[order], cx[order]
        # per (label, corner line) the outermost x: the last after sorting by sign * x
        last = np.r_[(cl[1:] != cl[:-1]) | (cy[1:] != cy[:-1]), True]
        cl, cy, cx = cl[last], cy[last], cx[last]
        cl, cy, cx = _convex_chain(cl, cy, cx, sign)
        same = cl[1:] == cl[:-1]
        seg = (cy[1:] - cy[:-1]) * (cx[1:] + cx[:-1])
        twice += sign * np.bincount(cl[1:][same], weights=seg[same], minlength=n + 1).astype(
            np.int64
        )
    out[:] = twice / 2.0
    return out


def _convex_chain(
    cl: np.ndarray, cy: np.ndarray, cx: np.ndarray, sign: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the hull vertices of each label's chain of points (rows ``cy`` increasing).

    ``sign`` -1: the left chain (a vertex lies strictly left of the line through its
    neighbours); +1: the right chain (strictly right). A point failing the test cannot be
    a hull vertex whatever its neighbours are, so all such points are dropped at once and
    the test repeated. Integer arithmetic (exact).
    """
    while cl.size >= 3:
        inner = (cl[1:-1] == cl[:-2]) & (cl[1:-1] == cl[2:])
        y0, y1, y2 = cy[:-2], cy[1:-1], cy[2:]
        x0, x1, x2 = cx[:-2], cx[1:-1], cx[2:]
        # x1 against the chord's x at y1, times (y2 - y0) > 0
        lhs = x1 * (y2 - y0)
        rhs = x0 * (y2 - y1) + x2 * (y1 - y0)
        vertex = sign * (lhs - rhs) > 0
        drop = inner & ~vertex
        if not drop.any():
            break
        keep = np.r_[True, ~drop, True]
        cl, cy, cx = cl[keep], cy[keep], cx[keep]
    return cl, cy, cx


def _crofton_perimeters(lab: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Crofton perimeter (4 directions) of each of ``labels``, all labels at once.

    `skimage.measure.perimeter_crofton` of each label's mask, exactly: it counts, over
    every 2 x 2 window touching the object, the configuration code
    ``own(y, x) + 2 own(y - 1, x) + 4 own(y, x - 1) + 8 own(y - 1, x - 1)`` and sums
    a coefficient per code. Here each window contributes one code to each distinct label
    it holds (a label image, not a per-label mask), in one histogram.
    """
    p = np.pad(lab, 1)
    a, b, c, d = p[1:, 1:], p[:-1, 1:], p[1:, :-1], p[:-1, :-1]
    busy = (a != 0) | (b != 0) | (c != 0) | (d != 0)
    a, b, c, d = a[busy], b[busy], c[busy], d[busy]
    ab, ac, ad, bc, bd, cd = a == b, a == c, a == d, b == c, b == d, c == d
    keys = []
    # each distinct non-zero label of the window once, at its first position
    sel = a != 0
    keys.append(a[sel].astype(np.int64) * 16 + (1 + 2 * ab[sel] + 4 * ac[sel] + 8 * ad[sel]))
    sel = (b != 0) & ~ab
    keys.append(b[sel].astype(np.int64) * 16 + (2 + 4 * bc[sel] + 8 * bd[sel]))
    sel = (c != 0) & ~ac & ~bc
    keys.append(c[sel].astype(np.int64) * 16 + (4 + 8 * cd[sel]))
    sel = (d != 0) & ~ad & ~bd & ~cd
    keys.append(d[sel].astype(np.int64) * 16 + 8)
    n = int(lab.max())
    hist = np.bincount(np.concatenate(keys), minlength=(n + 1) * 16).reshape(n + 1, 16)
    # one dot product per label, as perimeter_crofton's ``coefs @ h`` (same rounding)
    return np.array([_CROFTON4 @ hist[int(lb)] for lb in labels], dtype=np.float64)


#: `skimage.measure.perimeter_crofton`'s coefficients per 2 x 2 code, 4 directions
_CROFTON4 = [
    0,
    np.pi / 4 * (1 + 1 / (np.sqrt(2))),
    np.pi / (4 * np.sqrt(2)),
    np.pi / (2 * np.sqrt(2)),
    0,
    np.pi / 4 * (1 + 1 / (np.sqrt(2))),
    0,
    np.pi / (4 * np.sqrt(2)),
    np.pi / 4,
    np.pi / 2,
    np.pi / (4 * np.sqrt(2)),
    np.pi / (4 * np.sqrt(2)),
    np.pi / 4,
    np.pi / 2,
    0,
    0,
]


def _nonzero_box(lab: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(lab.any(axis=1))
    cols = np.flatnonzero(lab.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _moments_table(lab: np.ndarray) -> dict:
    """Compute area and ellipse axes of every label from pixel moments.

    Scikit-image's ``axis_major_length``/``axis_minor_length`` definition, vectorised over
    labels.
    """
    flat = lab.ravel()
    n = int(flat.max())
    h, w = lab.shape
    if n == 1:
        # one object (a spheroid): coordinates of its pixels directly
        py, px = np.nonzero(lab)
        a1 = float(py.size)
        my1, mx1 = py.mean(), px.mean()
        dy, dx = py - my1, px - mx1
        vyy, vxx, vxy = (dy * dy).mean(), (dx * dx).mean(), (dx * dy).mean()
        d1 = math.sqrt(max(((vyy - vxx) / 2) ** 2 + vxy * vxy, 0.0))
        lam1 = max((vyy + vxx) / 2 + d1, 0.0)
        lam2 = max((vyy + vxx) / 2 - d1, 0.0)
        return {
            "n": 1,
            "label": np.array([1], dtype=np.int64),
            "area": np.array([a1]),
            "axis_major_length": np.array([4 * math.sqrt(lam1)]),
            "axis_minor_length": np.array([4 * math.sqrt(lam2)]),
        }
    yy = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None], (h, w)).ravel()
    xx = np.broadcast_to(np.arange(w, dtype=np.float64)[None, :], (h, w)).ravel()
    a = np.bincount(flat, minlength=n + 1).astype(np.float64)
    present = np.flatnonzero(a[1:] > 0) + 1
    sy = np.bincount(flat, weights=yy, minlength=n + 1)
    sx = np.bincount(flat, weights=xx, minlength=n + 1)
    syy = np.bincount(flat, weights=yy * yy, minlength=n + 1)
    sxx = np.bincount(flat, weights=xx * xx, minlength=n + 1)
    sxy = np.bincount(flat, weights=xx * yy, minlength=n + 1)
    A = a[present]
    my, mx = sy[present] / A, sx[present] / A
    cyy = syy[present] / A - my * my
    cxx = sxx[present] / A - mx * mx
    cxy = sxy[present] / A - mx * my
    tr = cyy + cxx
    det = np.sqrt(np.maximum(((cyy - cxx) / 2) ** 2 + cxy * cxy, 0))
    l1 = np.maximum(tr / 2 + det, 0)
    l2 = np.maximum(tr / 2 - det, 0)
    return {
        "n": n,
        "label": present.astype(np.int64),
        "area": A,
        "axis_major_length": 4 * np.sqrt(l1),
        "axis_minor_length": 4 * np.sqrt(l2),
    }


def measure_objects(
    labels: np.ndarray,
    intensity: np.ndarray | None = None,
    *,
    pixel_size_um: float | None = None,
    channels: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Measure every labelled object of a 2D label image.

    Parameters
    ----------
    labels : ndarray of int
        2D label image, 0 = background.
    intensity : ndarray, optional
        2D image whose mean/integrated intensity is reported (the segmented plane,
        e.g. the luminance of an RGB photo).
    pixel_size_um : float, optional
        Pixel size; physical columns are in pixels when None.
    channels : ndarray, optional
        YXC array; adds ``mean_intensity_<ch>`` and ``integrated_intensity_<ch>`` per channel.
    channel_names : sequence of str, optional
        Names for the channel columns (``ch0``, ``ch1``... otherwise).

    Returns
    -------
    DataFrame
        One row per object: ``label, area_px, area_um2, equivalent_diameter_um,
        mean_intensity, integrated_intensity, circularity, solidity, perimeter_um,
        major_axis_um, minor_axis_um`` (+ per-channel columns). The perimeter is
        the Crofton estimate (4 directions, within ~1 % for smooth outlines);
        ``circularity = 4 pi area / perimeter**2`` (capped at 1); ``solidity`` = area /
        convex-hull area; the axes are those of the ellipse with the same second
        moments.

    Examples
    --------
    >>> lab = np.zeros((50, 50), int); lab[10:30, 10:30] = 1
    >>> measure_objects(lab, pixel_size_um=2.0)["area_um2"].tolist()
    [1600.0]
    """
    lab = np.asarray(labels)
    n_ch = 0 if channels is None else channels.shape[-1]
    names = _channel_names(n_ch, channel_names)
    columns = list(BASE_COLUMNS_2D)
    for nm in names:
        columns += [f"mean_intensity_{nm}", f"integrated_intensity_{nm}"]
    if lab.max() == 0:
        return _empty(columns)
    s = 1.0 if pixel_size_um is None else float(pixel_size_um)
    box = _nonzero_box(lab)
    labc = lab[box]
    t = _moments_table(labc)
    t["perimeter"] = _crofton_perimeters(labc, t["label"])
    stack = []
    if intensity is not None:
        stack.append(np.asarray(intensity)[box])
    if channels is not None:
        stack.extend(np.asarray(channels[..., i])[box] for i in range(n_ch))
    flat = labc.ravel()
    for j, im in enumerate(stack):
        sums = np.bincount(flat, weights=im.ravel().astype(np.float64), minlength=t["n"] + 1)
        t[f"intensity_mean-{j}"] = sums[t["label"]] / t["area"]
    area = np.asarray(t["area"], dtype=np.float64)
    perim = np.asarray(t["perimeter"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        circ = np.where(perim > 0, 4 * math.pi * area / perim**2, np.nan)
    circ = np.minimum(circ, 1.0)
    out = {
        "label": np.asarray(t["label"], dtype=np.int64),
        "area_px": area.astype(np.int64),
        "area_um2": area * s * s,
        "equivalent_diameter_um": np.sqrt(4 * area / math.pi) * s,
        "mean_intensity": np.full(area.shape, np.nan),
        "integrated_intensity": np.full(area.shape, np.nan),
        "circularity": circ,
        "solidity": _solidity(labc, np.asarray(t["label"]), area),
        "perimeter_um": perim * s,
        "major_axis_um": np.asarray(t["axis_major_length"], dtype=np.float64) * s,
        "minor_axis_um": np.asarray(t["axis_minor_length"], dtype=np.float64) * s,
    }
    k = 0
    if intensity is not None:
        out["mean_intensity"] = np.asarray(t["intensity_mean-0"], dtype=np.float64)
        out["integrated_intensity"] = out["mean_intensity"] * area
        k = 1
    for i, nm in enumerate(names):
        m = np.asarray(t[f"intensity_mean-{k + i}"], dtype=np.float64)
        out[f"mean_intensity_{nm}"] = m
        out[f"integrated_intensity_{nm}"] = m * area
    if intensity is None and n_ch:
        out["mean_intensity"] = out[f"mean_intensity_{names[0]}"]
        out["integrated_intensity"] = out[f"integrated_intensity_{names[0]}"]
    return pd.DataFrame(out, columns=columns)


def U_crop(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of a mask (all axes)."""
    from napari_il6assay.segment._util import crop_box

    return crop_box(mask, 0)


def surface_area(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Surface area of a 3D binary mask by marching cubes (physical units of ``spacing``).

    The mask is blurred by about one voxel first so the voxel staircase does not
    inflate the area.
    """
    from scipy import ndimage as ndi
    from skimage.measure import marching_cubes, mesh_surface_area

    m = np.pad(np.asarray(mask, dtype=np.float32), 2)
    if m.max() <= 0:
        return 0.0
    sp = tuple(float(x) for x in spacing)
    # a light blur of about one (finest) voxel removes the staircase of the voxel
    # surface, which otherwise adds ~12 % to a sphere's area
    m = ndi.gaussian_filter(m, tuple(min(sp) / v for v in sp))
    verts, faces, _, _ = marching_cubes(m, level=0.5, spacing=sp)
    return float(mesh_surface_area(verts, faces))


def measure_objects_3d(
    labels: np.ndarray,
    intensity: np.ndarray | None = None,
    *,
    voxel_size_um: Sequence[float] | None = None,
    channels: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
    surface_step: int = 1,
) -> pd.DataFrame:
    """Measure every labelled object of a 3D (ZYX) label image.

    Parameters
    ----------
    labels : ndarray of int
        ZYX label image.
    intensity : ndarray, optional
        ZYX image for ``mean_intensity``/``integrated_intensity``.
    voxel_size_um : (z, y, x), optional
        Voxel size; voxel units when None.
    channels : ndarray, optional
        ZYXC array for per-channel intensity columns.
    channel_names : sequence of str, optional
        Names for the channel columns.
    surface_step : int
        Marching-cubes step (1 = full resolution; 0 = leave ``surface_um2`` NaN for
        the caller to fill).

    Returns
    -------
    DataFrame
        ``label, area_px`` (voxel count), ``area_um2`` (largest cross-section in the YX
        plane), ``equivalent_diameter_um`` (of the sphere of the same volume),
        ``mean_intensity, integrated_intensity``, ``circularity`` and ``solidity`` (of
        the largest cross-section), ``volume_um3``, ``surface_um2`` (marching cubes
        with the anisotropic spacing), ``sphericity`` (pi^(1/3) (6V)^(2/3) / A) and
        per-channel intensities.
    """
    from scipy import ndimage as ndi

    lab = np.asarray(labels)
    vz, vy, vx = (1.0, 1.0, 1.0) if voxel_size_um is None else map(float, voxel_size_um)
    n_ch = 0 if channels is None else channels.shape[-1]
    names = _channel_names(n_ch, channel_names)
    # no channel: an empty channel axis (no name to loop over)
    chan_arr = np.empty(lab.shape + (0,)) if channels is None else channels
    columns = list(BASE_COLUMNS_3D)
    for nm in names:
        columns += [f"mean_intensity_{nm}", f"integrated_intensity_{nm}"]
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return _empty(columns)
    rows = []
    slices = [U_crop(lab > 0)] if n == 1 else ndi.find_objects(lab)
    for i, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        m = lab[sl] == i
        nvox = int(m.sum())
        vol = nvox * vz * vy * vx
        step = int(surface_step)
        if step <= 0:
            surf = float("nan")  # the caller computes it (e.g. from a smooth field)
        else:
            surf = surface_area(m[:, ::step, ::step] if step > 1 else m, (vz, vy * step, vx * step))
        sph = (math.pi ** (1 / 3)) * (6 * vol) ** (2 / 3) / surf if surf > 0 else np.nan
        zarea = m.sum(axis=(1, 2))
        zmax = int(np.argmax(zarea))
        sec = m[zmax]
        from skimage.measure import perimeter_crofton as _crofton

        sec_area = float(sec.sum())
        per = float(_crofton(np.pad(sec, 1), 4))
        circ = min(1.0, 4 * math.pi * sec_area / per**2) if per > 0 else np.nan
        sol = float(_solidity(sec.astype(np.int32), np.array([1]), np.array([sec_area]))[0])
        row = {
            "label": i,
            "area_px": nvox,
            "area_um2": float(zarea[zmax]) * vy * vx,
            "equivalent_diameter_um": (6 * vol / math.pi) ** (1 / 3),
            "mean_intensity": np.nan,
            "integrated_intensity": np.nan,
            "circularity": circ,
            "solidity": sol,
            "volume_um3": vol,
            "surface_um2": surf,
            "sphericity": min(1.0, sph) if np.isfinite(sph) else np.nan,
        }
        if intensity is not None:
            v = np.asarray(intensity[sl], dtype=np.float64)[m]
            row["mean_intensity"] = float(v.mean())
            row["integrated_intensity"] = float(v.sum())
        for c, nm in enumerate(names):
            v = np.asarray(chan_arr[sl + (c,)], dtype=np.float64)[m]
            row[f"mean_intensity_{nm}"] = float(v.mean())
            row[f"integrated_intensity_{nm}"] = float(v.sum())
        if intensity is None and n_ch:
            row["mean_intensity"] = row[f"mean_intensity_{names[0]}"]
            row["integrated_intensity"] = row[f"integrated_intensity_{names[0]}"]
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
