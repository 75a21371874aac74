"""Array helpers shared by the segmentation modes.

Gray conversion, fast block downsampling and smooth mask upsampling, component selection.
"""

from __future__ import annotations

import math

import numpy as np

from napari_il6assay.errors import SegmentationError


def is_multichannel_2d(image: np.ndarray, rgb: bool | None) -> bool:
    """Tell whether a 3-D array is a YXC plane (channels last; False for YX)."""
    if image.ndim == 2:
        return False
    if image.ndim == 3 and (rgb or image.shape[-1] <= 4):
        return True
    return False


def check_2d(image: np.ndarray, mode: str, rgb: bool | None, axes: str | None = None) -> None:
    """Raise `SegmentationError` unless ``image`` is one YX or YXC plane."""
    if image.size == 0:
        raise SegmentationError(f"mode '{mode}': the image is empty (shape {image.shape})")
    if axes is not None and "Z" in axes:
        raise SegmentationError(
            f"mode '{mode}' needs a 2D image but got a z-stack (axes {axes}, shape "
            f"{image.shape}); use mode 'spheroid3d' for stacks"
        )
    if image.ndim == 2:
        return
    if image.ndim == 3 and is_multichannel_2d(image, rgb):
        return
    raise SegmentationError(
        f"mode '{mode}' needs a 2D image (YX or YXC with <= 4 channels) but got shape "
        f"{image.shape}; a 3D stack needs mode 'spheroid3d'"
    )


def to_float(image: np.ndarray) -> np.ndarray:
    """float32 copy/view with NaN/inf replaced by the finite median."""
    a = np.asarray(image)
    if a.dtype == bool:
        a = a.astype(np.float32)
    a = a.astype(np.float32, copy=False)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        good = np.isfinite(a)
        if not good.any():
            raise SegmentationError("the image has no finite pixel values")
        a = np.where(good, a, np.median(a[good])).astype(np.float32)
    return a


def gray(image: np.ndarray, multichannel: bool, rgb: bool | None) -> np.ndarray:
    """One float32 plane: luminance of an RGB photo, the first channel otherwise."""
    if not multichannel:
        return to_float(image)
    c = image.shape[-1]
    if rgb or (rgb is None and c in (3, 4) and image.dtype == np.uint8):
        rgbv = to_float(image[..., :3]) if c >= 3 else to_float(image)
        if rgbv.shape[-1] == 3:
            return (0.299 * rgbv[..., 0] + 0.587 * rgbv[..., 1] + 0.114 * rgbv[..., 2]).astype(
                np.float32
            )
        return rgbv.mean(axis=-1)
    return to_float(image[..., 0])


def block_factor(shape: tuple[int, ...], target: int) -> int:
    """Integer factor that brings the largest side to about ``target`` pixels."""
    return max(1, int(math.floor(max(shape) / float(target))))


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Mean over ``f x f`` blocks of the last two axes (edge-padded), float32."""
    if f == 1:
        return a.astype(np.float32, copy=False)
    h, w = a.shape[-2:]
    ph, pw = (-h) % f, (-w) % f
    if ph or pw:
        pad = [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)]
        a = np.pad(a, pad, mode="edge")
    H, W = a.shape[-2] // f, a.shape[-1] // f
    lead = a.shape[:-2]
    r = a.reshape(*lead, H, f, W, f)
    out = r.sum(axis=(-3, -1), dtype=np.float32)
    out *= 1.0 / (f * f)
    return out


def _interp_matrix(n_out: int, n_in: int, f: int, start: int) -> np.ndarray:
    """Linear interpolation weights from block centres to full-resolution pixels."""
    pos = (np.arange(start, start + n_out, dtype=np.float64) - (f - 1) / 2.0) / f
    pos = np.clip(pos, 0, n_in - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    t = pos - i0
    m = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    # (row, i0) pairs are unique, and so are (row, i1): plain fancy assignment is safe
    m[rows, i0] = 1 - t
    m[rows, i1] += t
    return m


def upsample_field(
    field: np.ndarray, f: int, shape: tuple[int, int], bbox: tuple[int, int, int, int] | None
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Bilinear upsampling of a low-resolution field over a full-resolution box.

    Parameters
    ----------
    field : ndarray
        Low-resolution (block ``f``) 2D field.
    f : int
        Block factor.
    shape : tuple
        Full-resolution shape.
    bbox : tuple, optional
        Low-resolution box ``(r0, c0, r1, c1)``; the whole field when None.

    Returns
    -------
    up : ndarray
        The field at full resolution over the box.
    box : tuple
        The full-resolution box ``(R0, C0, R1, C1)``.
    """
    if bbox is None:
        bbox = (0, 0, field.shape[0], field.shape[1])
    r0, c0, r1, c1 = bbox
    R0, C0 = r0 * f, c0 * f
    R1, C1 = min(shape[0], r1 * f), min(shape[1], c1 * f)
    # interpolation needs one extra low-res sample each side
    lr0, lc0 = max(0, r0 - 1), max(0, c0 - 1)
    lr1, lc1 = min(field.shape[0], r1 + 1), min(field.shape[1], c1 + 1)
    sub = field[lr0:lr1, lc0:lc1].astype(np.float32)
    mr = _interp_matrix(R1 - R0, lr1 - lr0, f, R0 - lr0 * f)
    mc = _interp_matrix(C1 - C0, lc1 - lc0, f, C0 - lc0 * f)
    return mr @ sub @ mc.T, (R0, C0, R1, C1)


def mask_to_full(
    mask_low: np.ndarray,
    field_low: np.ndarray | None,
    f: int,
    shape: tuple[int, int],
) -> np.ndarray:
    """Full-resolution boolean mask from a low-resolution mask, with a smooth outline.

    The signed ``field_low`` (positive inside) is forced to agree in sign with
    ``mask_low`` and interpolated bilinearly, so the outline falls between block
    centres where the underlying score crosses zero instead of on block edges.
    """
    if f == 1:
        return mask_low.astype(bool, copy=True)
    out = np.zeros(shape, dtype=bool)
    if not mask_low.any():
        return out
    if field_low is None:
        fl = np.where(mask_low, 1.0, -1.0).astype(np.float32)
    else:
        fl = np.clip(field_low.astype(np.float32), -4.0, 4.0)
        fl = np.where(mask_low, np.maximum(fl, 0.05), np.minimum(fl, -0.05))
    rows = np.flatnonzero(mask_low.any(axis=1))
    cols = np.flatnonzero(mask_low.any(axis=0))
    bbox = (
        max(0, rows[0] - 1),
        max(0, cols[0] - 1),
        min(mask_low.shape[0], rows[-1] + 2),
        min(mask_low.shape[1], cols[-1] + 2),
    )
    up, (R0, C0, R1, C1) = upsample_field(fl, f, shape, bbox)
    out[R0:R1, C0:C1] = up > 0
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill holes (background not connected to the array border), in 2D or 3D.

    Same result as ``scipy.ndimage.binary_fill_holes`` but by one labelling of the
    background instead of an iterative propagation, which is much faster on large
    arrays.
    """
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    if not m.any():
        return m.copy()
    lab, n = ndi.label(~m)
    if n == 0:
        return m.copy()
    faces = []
    for ax in range(m.ndim):
        faces.append(np.take(lab, 0, axis=ax).ravel())
        faces.append(np.take(lab, -1, axis=ax).ravel())
    outside = np.zeros(n + 1, bool)
    outside[np.concatenate(faces)] = True
    outside[0] = True
    return m | ~outside[lab]


def crop_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """Bounding box of ``mask`` grown by ``margin`` (clipped to the array)."""
    idx = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        nz = np.flatnonzero(mask.any(axis=other))
        if nz.size == 0:
            return tuple(slice(0, 0) for _ in range(mask.ndim))
        idx.append(slice(max(0, nz[0] - margin), min(mask.shape[ax], nz[-1] + 1 + margin)))
    return tuple(idx)


def disk(radius: int) -> np.ndarray:
    """Boolean disk footprint."""
    r = int(max(0, radius))
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y) <= r * r + 0.5 * r


def _offsets(structure: np.ndarray) -> list[tuple[int, int]] | None:
    """Offsets of a small, odd-sized, point-symmetric 2-D footprint (None otherwise)."""
    st = np.asarray(structure, bool)
    if st.ndim != 2 or st.shape[0] % 2 == 0 or st.shape[1] % 2 == 0:
        return None
    if not np.array_equal(st, st[::-1, ::-1]) or not st[st.shape[0] // 2, st.shape[1] // 2]:
        return None
    cy, cx = st.shape[0] // 2, st.shape[1] // 2
    return [(int(y - cy), int(x - cx)) for y, x in zip(*np.nonzero(st), strict=True)]


def _shifted(a: np.ndarray, dy: int, dx: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices (target, source) so that ``target[p] = a[p + (dy, dx)]`` where in range."""
    h, w = a.shape
    # stops kept >= 0: a negative stop would count from the end (a shift beyond the array)
    ty = slice(max(0, -dy), max(0, min(h, h - dy)))
    tx = slice(max(0, -dx), max(0, min(w, w - dx)))
    sy = slice(max(0, dy), max(0, min(h, h + dy)))
    sx = slice(max(0, dx), max(0, min(w, w + dx)))
    return (ty, tx), (sy, sx)


def binary_dilation(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """``ndimage.binary_dilation(mask, structure)`` (one iteration) by shifted ORs.

    For the small disks used here (5-21 offsets) a few whole-array ORs are several times
    cheaper than scipy's generic pass over every pixel's footprint; the result is the
    same. Other footprints go to scipy.
    """
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    offs = _offsets(structure)
    if offs is None or m.ndim != 2:
        return ndi.binary_dilation(m, structure=structure)
    out = m.copy()
    for dy, dx in offs:
        if dy or dx:
            t, src = _shifted(m, dy, dx)
            out[t] |= m[src]
    return out


def dilate_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a mask by `disk` ``(radius)``: ``ndimage.binary_dilation(mask, disk(radius))``.

    By a Euclidean distance transform instead of a pass over every pixel's footprint
    (several times cheaper for radii of 5 or more): a pixel is in the dilation when its
    squared distance to the mask, an integer, is at most ``r^2 + r / 2`` (the disk's rule).

    Examples
    --------
    >>> m = np.zeros((9, 9), bool); m[4, 4] = True
    >>> bool((dilate_disk(m, 3) == binary_dilation(m, disk(3))).all())
    True
    """
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    r = int(max(0, radius))
    if r == 0 or not m.any():
        return m.copy()
    limit = math.floor(r * r + 0.5 * r)
    # integer squared distances: half a unit of slack cannot admit the next integer
    return ndi.distance_transform_edt(~m) <= math.sqrt(limit + 0.5)


def binary_erosion(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Erode a mask by shifted ANDs: ``ndimage.binary_erosion(mask, structure)``.

    One iteration, outside = False; see `binary_dilation`.
    """
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    offs = _offsets(structure)
    if offs is None or m.ndim != 2:
        return ndi.binary_erosion(m, structure=structure)
    out = m.copy()
    h, w = m.shape
    for dy, dx in offs:
        if dy or dx:
            t, src = _shifted(m, dy, dx)
            keep = np.zeros((h, w), bool)
            keep[t] = m[src]  # a neighbour outside the image counts as background
            out &= keep
    return out


def binary_opening(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """``ndimage.binary_opening(mask, structure)``: `binary_erosion` then `binary_dilation`."""
    return binary_dilation(binary_erosion(mask, structure), structure)


def binary_closing(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Close a mask: ``ndimage.binary_closing(mask, structure)``.

    `binary_dilation` then `binary_erosion` (the image border counts as background for the
    erosion, as in scipy).
    """
    return binary_erosion(binary_dilation(mask, structure), structure)


def border_touch_fraction(mask: np.ndarray) -> float:
    """Fraction of the image border covered by ``mask``."""
    edge = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
    return float(edge.mean()) if edge.size else 0.0


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x median absolute deviation."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 0.0
    med = np.median(v)
    return float(1.4826 * np.median(np.abs(v - med)))


def smooth_outline(mask: np.ndarray, radius: int) -> np.ndarray:
    """Smooth an outline: closing then opening with a disk, holes filled (no spurs)."""
    from scipy import ndimage as ndi

    if radius <= 0 or not mask.any():
        return fill_holes(mask)
    fp = disk(radius)
    pad = radius + 1
    # work on the object's bounding box only
    box = crop_box(mask, pad)
    m = np.pad(mask[box], pad)
    m = ndi.binary_closing(m, structure=fp)
    m = fill_holes(m)
    m = ndi.binary_opening(m, structure=fp)
    out = np.zeros(mask.shape, bool)
    out[box] = m[pad:-pad, pad:-pad]
    return out


def is_constant(a: np.ndarray) -> bool:
    """Tell whether every finite value of ``a`` is the same."""
    v = np.asarray(a)
    if v.dtype.kind == "f":
        fin = np.isfinite(v)
        if not fin.any():
            return True
        if not fin.all():
            v = v[fin]
    return bool(v.min() == v.max())


def otsu(values: np.ndarray, nbins: int = 256) -> float:
    """Otsu threshold of a 1-D sample (numpy only)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=nbins, range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2
    w1 = np.cumsum(hist)
    w2 = np.cumsum(hist[::-1])[::-1]
    m1 = np.cumsum(hist * centers) / np.maximum(w1, 1)
    m2 = (np.cumsum((hist * centers)[::-1]) / np.maximum(w2[::-1], 1))[::-1]
    var = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
    return float(centers[:-1][np.argmax(var)])


def component_stats(lab: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Area, centroid and border-pixel count of labels 1..n (vectorised)."""
    flat = lab.ravel()
    h, w = lab.shape
    area = np.bincount(flat, minlength=n + 1).astype(np.float64)
    yy = np.repeat(np.arange(h, dtype=np.float64), w)
    xx = np.tile(np.arange(w, dtype=np.float64), h)
    cy = np.bincount(flat, weights=yy, minlength=n + 1) / np.maximum(area, 1)
    cx = np.bincount(flat, weights=xx, minlength=n + 1) / np.maximum(area, 1)
    edge = np.concatenate([lab[0], lab[-1], lab[1:-1, 0], lab[1:-1, -1]])
    border = np.bincount(edge, minlength=n + 1).astype(np.float64)
    return {"area": area, "cy": cy, "cx": cx, "border": border}


def select_central(
    mask: np.ndarray, min_area: float, *, centre: tuple[float, float] | None = None
) -> np.ndarray:
    """Select the main object: large, near the centre, not mostly on the image border.

    Components smaller than ``min_area`` are ignored. A component whose outline runs
    along the border for more than 15 % of its length (a well-edge shadow, a vignetted
    corner) is only chosen when nothing else is there.
    """
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)
    if n == 0:
        return np.zeros(mask.shape, bool)
    st = component_stats(lab, n)
    h, w = mask.shape
    cy0, cx0 = centre if centre is not None else ((h - 1) / 2, (w - 1) / 2)
    diag = float(np.hypot(h, w))
    d = np.hypot(st["cy"] - cy0, st["cx"] - cx0)
    perim = np.pi * np.sqrt(4 * st["area"] / np.pi) + 1
    on_border = st["border"] / perim
    score = st["area"] * np.exp(-((d / (0.3 * diag)) ** 2))
    score = np.where(on_border > 0.15, score * 0.05, score)
    score[0] = -1
    score[st["area"] < min_area] = -1
    best = int(np.argmax(score))
    if score[best] <= 0:
        return np.zeros(mask.shape, bool)
    return lab == best


def detach_from_border(mask: np.ndarray, min_area: float, max_radius: int) -> np.ndarray:
    """Cut a central object free from border-touching shadows joined by a neck.

    Opens by reconstruction with growing radii until the central part no longer
    touches the border; returns ``mask`` unchanged when that never happens.
    """
    from scipy import ndimage as ndi

    if border_touch_fraction(mask) == 0:
        return mask
    dist = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    r = 2
    while r <= max_radius:
        core = dist > r
        piece = select_central(core, min_area / 4)
        if piece.any():
            back = ndi.distance_transform_edt(~piece) <= r + 0.5
            cand = back & mask
            if border_touch_fraction(cand) == 0:
                return cand
        r *= 2
    return mask


def mask_to_full_stack(
    mask_low: np.ndarray, field_low: np.ndarray, f: int, shape: tuple[int, int]
) -> np.ndarray:
    """`mask_to_full` for every plane of a (Z, y, x) stack in one batched product."""
    nz = mask_low.shape[0]
    out = np.zeros((nz,) + tuple(shape), dtype=bool)
    if not mask_low.any():
        return out
    if f == 1:
        return mask_low.astype(bool, copy=True)
    fl = np.clip(field_low.astype(np.float32), -4.0, 4.0)
    fl = np.where(mask_low, np.maximum(fl, 0.05), np.minimum(fl, -0.05))
    any_yx = np.asarray(mask_low.any(axis=0))
    rows = np.flatnonzero(any_yx.any(axis=1))
    cols = np.flatnonzero(any_yx.any(axis=0))
    r0, c0 = max(0, rows[0] - 1), max(0, cols[0] - 1)
    r1, c1 = min(any_yx.shape[0], rows[-1] + 2), min(any_yx.shape[1], cols[-1] + 2)
    R0, C0 = r0 * f, c0 * f
    R1, C1 = min(shape[0], r1 * f), min(shape[1], c1 * f)
    lr0, lc0 = max(0, r0 - 1), max(0, c0 - 1)
    lr1, lc1 = min(fl.shape[1], r1 + 1), min(fl.shape[2], c1 + 1)
    mr = _interp_matrix(R1 - R0, lr1 - lr0, f, R0 - lr0 * f)
    mc = _interp_matrix(C1 - C0, lc1 - lc0, f, C0 - lc0 * f)
    zs = np.flatnonzero(mask_low.any(axis=(1, 2)))
    sub = np.ascontiguousarray(fl[zs, lr0:lr1, lc0:lc1])
    # two plain 2-D products (BLAS) instead of a broadcast stack of small ones
    tmp = (sub.reshape(-1, sub.shape[2]) @ mc.T).reshape(sub.shape[0], sub.shape[1], -1)
    up = np.tensordot(mr, tmp, axes=([1], [1]))  # (Y, Z, X)
    out[zs, R0:R1, C0:C1] = np.moveaxis(up, 0, 1) > 0
    return out


def gradient2(s: np.ndarray) -> np.ndarray:
    """Squared gradient magnitude (Sobel, per pixel) of a 2-D signal, float32."""
    from scipy import ndimage as ndi

    gy = ndi.sobel(s, 0) / 8.0
    gx = ndi.sobel(s, 1) / 8.0
    return (gy * gy + gx * gx).astype(np.float32)


def gradient2_at(s: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`gradient2` of a float32 ``s`` at the flat indices ``idx`` only, bit for bit.

    The edge measures need the gradient on object outlines and bands (5-30 % of the
    pixels), and two full-image Sobel passes were the largest part of their cost. This
    repeats scipy's arithmetic at the given pixels: the derivative pass rounded to float32
    (scipy's intermediate array has the input's type), the [1, 2, 1] pass summed in
    float64 and rounded to float32, and the 'reflect' border (index -1 reads index 0).

    Parameters
    ----------
    s : ndarray
        2-D float32 signal.
    idx : ndarray of int
        Flat (C-order) pixel indices.

    Returns
    -------
    ndarray of float32
        ``gradient2(s).ravel()[idx]``.
    """
    s = np.asarray(s)
    if s.dtype != np.float32:  # the bit-for-bit argument holds for float32 input
        return gradient2(s).ravel()[idx]
    h, w = s.shape
    flat = s.ravel()
    idx = np.asarray(idx, dtype=np.intp)
    y, x = np.divmod(idx, w)
    # steps to the neighbours, 0 on the image border ('reflect': index -1 reads index 0)
    left = (x > 0).astype(np.intp)
    right = (x < w - 1).astype(np.intp)
    up = idx - (y > 0) * w
    down = idx + (y < h - 1) * w
    del x, y
    # the eight neighbours, each read once
    nw, n_, ne = flat[up - left], flat[up], flat[up + right]
    w_, e_ = flat[idx - left], flat[idx + right]
    sw, s_, se = flat[down - left], flat[down], flat[down + right]
    eighth = np.float32(0.125)
    # sobel(s, 0): d/dy rounded to float32 (scipy's intermediate array), then [1, 2, 1]
    # along x summed in float64 and rounded once
    gy = (
        (sw - nw).astype(np.float64)
        + (se - ne).astype(np.float64)
        + 2.0 * (s_ - n_).astype(np.float64)
    ).astype(np.float32) * eighth
    # sobel(s, 1): d/dx, then [1, 2, 1] along y
    gx = (
        (ne - nw).astype(np.float64)
        + (se - sw).astype(np.float64)
        + 2.0 * (e_ - w_).astype(np.float64)
    ).astype(np.float32) * eighth
    return gy * gy + gx * gx


def _g2_at(s: np.ndarray, g2: np.ndarray | None, idx: np.ndarray) -> np.ndarray:
    """Squared gradient at flat indices: from ``g2`` when given, else `gradient2_at`."""
    return g2.ravel()[idx] if g2 is not None else gradient2_at(s, idx)


def erode_cross(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Erode with a 4-neighbour cross by array shifts: ``binary_erosion(mask, iterations=n)``.

    The image border counts as outside; a few cheap whole-array ANDs instead of a filter
    pass per iteration.
    """
    m = np.asarray(mask, bool)
    for _ in range(iterations):
        inner = m.copy()
        inner[0] = inner[-1] = False
        inner[:, 0] = inner[:, -1] = False
        inner[1:] &= m[:-1]
        inner[:-1] &= m[1:]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        m = inner
    return m


def outline(mask: np.ndarray) -> np.ndarray:
    """Find the pixels of ``mask`` with a 4-neighbour outside it.

    The image border counts as outside: ``mask & ~binary_erosion(mask)``, by array shifts
    (no filter pass).
    """
    m = np.asarray(mask, bool)
    return m & ~erode_cross(m)


def max_filter_square(a: np.ndarray, r: int) -> np.ndarray:
    """``ndimage.maximum_filter(a, size=2 * r + 1)`` by shifted maxima, exactly.

    For a maximum the 'reflect' border adds no value that is not already in the
    window, so each pass is a running maximum of in-range shifts.
    """
    out = a.copy()
    for ax in (0, 1):
        src = out.copy()
        n = a.shape[ax]
        for d in range(1, min(r, n - 1) + 1):
            lo = [slice(None)] * 2
            hi = [slice(None)] * 2
            lo[ax], hi[ax] = slice(0, n - d), slice(d, n)
            np.maximum(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
            np.maximum(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


def relabel_kept(lab: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber the kept components 1..n in their old order.

    What ``ndimage.label`` gives on ``keep[lab]`` (same components, same raster order).
    """
    keep = keep.copy()
    keep[0] = False
    new_id = np.cumsum(keep).astype(lab.dtype)
    new_id[~keep] = 0
    return new_id[lab], int(keep.sum())


def edge_widths(
    mask: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    g2: np.ndarray | None = None,
    labels: tuple[np.ndarray, int] | None = None,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Edge width (pixels) of every connected object of ``mask``.

    At each pixel of an object's outline the local peak (the brightest pixel within one
    cell diameter) divided by the gradient magnitude is the distance over which the
    signal would rise from nothing to that peak: about 2-4 pixels for a cell in focus
    (its edge is the point-spread function), several times more for an out-of-focus
    blob, whose whole profile is blur. The object's width is the median over its
    outline; scale of brightness cancels, and it does not depend on the object's size.

    ``g2`` (optional) is `gradient2` of ``s`` when the caller has it; otherwise the
    gradient is evaluated on the outline pixels only (`gradient2_at`, the same values).
    ``labels`` (optional) is ``ndimage.label(mask)`` when the caller has it.

    Returns
    -------
    widths : ndarray
        ``widths[k]`` for object ``k`` (index 0 unused, NaN).
    n : int
        Number of objects.
    lab : ndarray
        The objects' labels.
    """
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask) if labels is None else labels
    widths = np.full(n + 1, np.nan)
    if n == 0:
        return widths, 0, lab
    idx = np.flatnonzero(outline(mask))
    ids = lab.ravel()[idx]
    w = peak.ravel()[idx] / np.maximum(np.sqrt(_g2_at(s, g2, idx)), 1e-6)
    # per-object median in one pass: sort by (object, width), take each run's middle;
    # by width, then stably by object (a radix sort of integers): lexsort's order, faster
    order = np.argsort(w, kind="stable")
    order = order[np.argsort(ids[order], kind="stable")]
    ids, w = ids[order], w[order]
    counts = np.bincount(ids, minlength=n + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    lo = starts + (counts - 1) // 2
    hi = starts + counts // 2
    med = 0.5 * (w[np.minimum(lo, w.size - 1)] + w[np.minimum(hi, w.size - 1)])
    widths[has] = med[has]
    widths[0] = np.nan
    return widths, n, lab


def steepest_edge(
    m: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    noise: float,
    floor: float,
    lo: float = 0.2,
    hi: float = 0.6,
    band: int = 2,
    g2: np.ndarray | None = None,
) -> np.ndarray:
    """Re-threshold every object of ``m`` at the level of its steepest edge.

    The level (a fraction of the local ``peak``) is the gradient-weighted mean of
    ``s / peak`` over a band of ``band`` pixels either side of the object's outline:
    the midpoint of its blurred step, whatever the object's size, profile or texture.
    A fixed fraction of the local peak puts small objects' outlines outside their edge
    and textured objects' (whose peak is their darkest/brightest speck) inside it.

    Parameters
    ----------
    m : ndarray of bool
        Objects found with a low fixed fraction (``lo``) of the peak.
    s, peak : ndarray
        Smoothed signal and its local maximum.
    noise : float
        Noise SD of ``s`` (gradients below the noise's are not edges).
    floor : float
        Absolute floor on ``s`` (e.g. k noise sigmas).
    lo, hi : float
        Bounds of the per-object level.
    band : int
        Half-width of the band across the outline (pixels).
    g2 : ndarray, optional
        `gradient2` of ``s`` when the caller has it; otherwise the gradient is
        evaluated in the band only (`gradient2_at`, the same values).

    Returns
    -------
    ndarray of bool
    """
    from scipy import ndimage as ndi

    lab, n = ndi.label(m)
    if n == 0:
        return m.copy()
    # each object's label spread ``band`` pixels outwards (a max filter: much cheaper
    # than a nearest-label transform; where two bands meet the higher label wins),
    # read only at the pixels it reaches (the grown objects), not over the image
    spread = max_filter_square(lab, band).ravel()
    grown = np.flatnonzero(spread)
    own = lab.ravel()[grown]
    ex = np.where(own > 0, own, spread[grown])
    del spread, own
    core = erode_cross(m, band).ravel()
    in_band = ~core[grown]
    sel = grown[in_band]
    sf, pf = s.ravel(), peak.ravel()
    # the gradient of pure noise (after light smoothing) is well below this floor
    w = np.maximum(_g2_at(s, g2, sel) - 0.5 * noise * noise, 0.0)
    q = np.clip(sf[sel] / np.maximum(pf[sel], 1e-6), 0.0, 1.0)
    ids = ex[in_band]
    wsum = np.bincount(ids, w, n + 1)
    wq = np.bincount(ids, w * q, n + 1)
    lev = np.where(wsum > 0, wq / np.maximum(wsum, 1e-12), 0.5 * (lo + hi))
    lev = np.clip(lev, lo, hi)
    lev[0] = 0.0
    sg = sf[grown]
    keep = (sg >= lev[ex] * pf[grown]) & (sg > floor)
    out = np.zeros(m.size, bool)
    out[grown[keep]] = True
    return out.reshape(m.shape)
