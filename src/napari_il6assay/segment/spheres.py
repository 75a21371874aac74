"""Sphere-formation assays (mammospheres, tumourspheres): count spheres in a well.

Method: the flat-fielded, noise-normalised score of `spheroid.flattened_score`
(spheres darker than the medium in brightfield, brighter in fluorescence); pixels
above the noise floor, each sphere cut at its own steepest edge (`_util.steepest_edge`;
a fixed half of the local peak, i.e. of a textured sphere's darkest speck, put small
spheres' outlines inside their edge and lost spheres just above the cut); channels
closed and holes filled (the lighter interior of a sphere); regions connected to the
image border (outside of the well, well wall) dropped. Touching spheres are split by
shape BEFORE the size cut: a watershed on the distance transform from its peaks, pieces
joined again only where the neck is wider than 0.75 of the smaller group's peak (a
dynamics merge). The old solidity gate (< 0.85) let tangent pairs through: two tangent
equal discs have solidity 0.88, so touching spheres were counted as one.
``sphere_count`` counts objects whose equivalent diameter is at least
``min_diameter_um`` (default 50 um; in pixels without calibration); the objects table
keeps every object (the size distribution), with a ``counted`` column.

Self-checks: ``merged_objects`` when a neck between two counting-size pieces is
ambiguous (0.6-0.75) or a counted object is 1.7x larger than its inscribed disc (a
cluster may remain); ``mode_mismatch`` for one solid disc over 4 % of the field (or over
1.5 % holding 40 % of all object area, or over 300 um across when calibrated: a
spheroid), objects over 25 % of the field (colonies), or strongly coloured objects on an
RGB photo (crystal violet). ``measures`` adds ``sharpness`` (median sphere diameter /
edge width), ``background_level`` and ``well_radius_px``. Override: ``split=False``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from napari_il6assay.qc_flags import join_flags
from napari_il6assay.segment import _util as U
from napari_il6assay.segment.result import SegmentationResult, empty_result

READOUT = "sphere_count"


def _find_well(g: np.ndarray) -> np.ndarray | None:
    """Return the well bottom when a dark outside (plastic, wall) surrounds it, else None."""
    from scipy import ndimage as ndi

    t = U.otsu(g)
    bright = g > t
    dark_border = 1.0 - U.border_touch_fraction(bright)
    if dark_border < 0.3 or bright.mean() > 0.97:
        return None
    bright = U.binary_opening(bright, U.disk(2))
    well = U.select_central(U.fill_holes(bright), 0.1 * g.size)
    if not well.any():
        return None
    well = U.fill_holes(well)
    # a circle fitted to the visible edge (the image may cut the well): its centre
    # is the centre of the wall's shading
    from napari_il6assay.segment.geometry import fit_circle as _fit_circle

    edge = well & ~ndi.binary_erosion(well)
    edge[:3] = edge[-3:] = False
    edge[:, :3] = edge[:, -3:] = False
    yy, xx = np.nonzero(edge)
    if yy.size < 50:
        return well
    cy, cx, r = _fit_circle(yy.astype(float), xx.astype(float))
    res = np.abs(np.hypot(yy - cy, xx - cx) - r)
    good = res < max(3 * np.median(res), 1.5)
    cy, cx, r = _fit_circle(yy[good].astype(float), xx[good].astype(float))
    gy = (np.arange(g.shape[0]) - cy)[:, None]
    gx = (np.arange(g.shape[1]) - cx)[None, :]
    return (gy * gy + gx * gx) <= r * r


def _well_step(
    g: np.ndarray,
    f: int,
    well: str,
    roi: object,
    well_diameter_um: float | None,
    pixel_size_um: float | None,
) -> tuple[np.ndarray | None, str, float]:
    """Find the counted region of the working plane ``g``, its qc flag and the well radius.

    The region is None for all of ``g``; the radius is in full-resolution pixels (NaN
    without a circle); see `segment`.
    """
    from napari_il6assay.errors import SegmentationError
    from napari_il6assay.segment.well import find_single_well, parse_roi

    w = {"image": "none", "": "auto"}.get(str(well).strip().lower(), str(well).strip().lower())
    if w not in ("auto", "circle", "none"):
        raise SegmentationError(f"spheres: well must be 'auto', 'circle' or 'none', got {well!r}")
    if roi not in (None, "") and w != "none":
        raise SegmentationError("spheres: a region of interest (roi) applies with well='none'")
    if w == "none":
        if roi in (None, ""):
            return None, "", float("nan")
        y0, x0, y1, x1 = parse_roi(roi, (g.shape[0] * f, g.shape[1] * f))
        m = np.zeros(g.shape, bool)
        m[y0 // f : -(-y1 // f), x0 // f : -(-x1 // f)] = True
        return m, "", float("nan")
    if w == "auto" and well_diameter_um is None:
        return _find_well(g), "", float("nan")
    exp_r = None
    if well_diameter_um is not None:
        if pixel_size_um is None:
            raise SegmentationError("spheres: well_diameter_um needs a pixel size")
        exp_r = 0.5 * float(well_diameter_um) / (pixel_size_um * f)
    fit = find_single_well(g, expected_radius_px=exp_r)
    if fit is None:
        return None, "well_implausible", float("nan")
    gy = (np.arange(g.shape[0]) - fit.cy)[:, None]
    gx = (np.arange(g.shape[1]) - fit.cx)[None, :]
    m = (gy * gy + gx * gx) <= fit.r * fit.r
    return m, ("" if fit.plausible else "well_implausible"), fit.r * f


def _well_centre(well: np.ndarray) -> tuple[float, float]:
    from scipy import ndimage as ndi

    from napari_il6assay.segment.geometry import fit_circle as _fit_circle

    edge = well & ~ndi.binary_erosion(well)
    edge[:3] = edge[-3:] = False
    edge[:, :3] = edge[:, -3:] = False
    yy, xx = np.nonzero(edge)
    if yy.size < 50:
        c = ndi.center_of_mass(well)
        return float(c[0]), float(c[1])
    cy, cx, _ = _fit_circle(yy.astype(float), xx.astype(float))
    return cy, cx


def _sector_radial_correction(
    s: np.ndarray, well: np.ndarray, cy: float, cx: float, q: float = 50.0, n: int = 8
) -> np.ndarray:
    """Estimate the wall shading of the well from ``s``.

    It is the ``q``-th percentile of ``s`` per one-pixel ring, in ``n`` angular sectors,
    interpolated between sector centres.

    One profile for the whole ring (radial symmetry) leaves the uneven illumination of
    the steep wall shading behind, and along the darker side of the rim that residue
    passes the threshold as a row of false spheres.
    """
    from scipy import ndimage as ndi

    yy, xx = np.nonzero(well)
    r = np.hypot(yy - cy, xx - cx).astype(np.int64)
    ang = np.arctan2(yy - cy, xx - cx)
    sec = np.floor((ang + np.pi) / (2 * np.pi) * n).astype(np.int64) % n
    nb = int(r.max()) + 1
    key = sec * nb + r
    v = s[yy, xx]
    order = np.lexsort((v, key))
    ks, vs = key[order], v[order]
    counts = np.bincount(ks, minlength=n * nb)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    idx = starts + np.floor((counts - 1).clip(0) * q / 100.0).astype(np.int64)
    prof = np.where(counts > 0, vs[np.minimum(idx, vs.size - 1)], np.nan).reshape(n, nb)
    # a sector without pixels at a radius (the image cuts the well): the other sectors'
    empty = np.asarray(np.isnan(prof).all(axis=0))
    ring = np.nanmedian(np.where(empty[None, :], 0.0, prof), axis=0)
    prof = np.where(np.isnan(prof), ring[None, :], prof)
    prof = ndi.median_filter(prof, size=(1, 3), mode="nearest")
    pos = (ang + np.pi) / (2 * np.pi) * n - 0.5  # sector centres at whole numbers
    k0 = np.floor(pos).astype(np.int64)
    w = pos - k0
    corr = np.zeros(s.shape, np.float32)
    corr[yy, xx] = (1 - w) * prof[k0 % n, r] + w * prof[(k0 + 1) % n, r]
    return corr


#: two distance-transform peaks stay one object when the neck between them is wider
#: than this fraction of the smaller peak (one lumpy or oval sphere); a touching pair's
#: neck is much narrower
SADDLE_MERGE = 0.75
#: necks between this and `SADDLE_MERGE` are ambiguous: ``merged_objects``
SADDLE_AMBIGUOUS = 0.6


def _neck_heights(ws: np.ndarray, dist: np.ndarray, npc: int) -> dict[tuple[int, int], float]:
    """Return the highest distance value on each boundary shared by two watershed pieces.

    Parameters
    ----------
    ws : ndarray of int
        Watershed pieces ``1..npc`` (0 outside).
    dist : ndarray of float
        Distance transform of the region.
    npc : int
        Number of pieces.

    Returns
    -------
    dict
        ``(i, j) -> neck`` for every pair ``i < j`` of 4-neighbouring pieces.
    """
    saddle: dict[tuple[int, int], float] = {}
    for a, b, da, db in (
        (ws[:, :-1], ws[:, 1:], dist[:, :-1], dist[:, 1:]),
        (ws[:-1, :], ws[1:, :], dist[:-1, :], dist[1:, :]),
    ):
        sel = (a != b) & (a > 0) & (b > 0)
        if not sel.any():
            continue
        lo = np.minimum(a[sel], b[sel])
        hi = np.maximum(a[sel], b[sel])
        v = np.minimum(da[sel], db[sel])
        key = lo.astype(np.int64) * (npc + 1) + hi
        uk, inv = np.unique(key, return_inverse=True)
        best = np.zeros(uk.size)
        np.maximum.at(best, inv, v)
        for kk, vv in zip(uk, best, strict=True):
            pair = (int(kk // (npc + 1)), int(kk % (npc + 1)))
            saddle[pair] = max(saddle.get(pair, 0.0), float(vv))
    return saddle


def _split_touching(
    mask: np.ndarray, min_radius_px: float, saddle_merge: float = SADDLE_MERGE
) -> tuple[np.ndarray, int]:
    """Split touching spheres by their shape, before any size cut.

    Each region's distance transform has one peak per sphere (its radius); a watershed
    from every local peak of at least ``0.5 * min_radius_px`` cuts the region along its
    necks,
    and neighbouring pieces are joined again when the neck (the highest distance value
    on their shared boundary) is wider than ``saddle_merge`` times the smaller peak.
    Solidity is not used as a gate: two tangent equal spheres still have solidity 0.88.

    Parameters
    ----------
    mask : ndarray of bool
        Foreground (holes filled).
    min_radius_px : float
        Radius of the smallest counted sphere (pixels).
    saddle_merge : float
        Neck / smaller-peak ratio above which two pieces are one sphere.

    Returns
    -------
    labels : ndarray of int32
        One label per sphere.
    n_ambiguous : int
        Necks whose ratio lies between `SADDLE_AMBIGUOUS` and ``saddle_merge`` between
        two pieces of counting size (a cluster may remain, or a sphere may have been
        cut in two).
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    lab, n = ndi.label(mask)
    if n == 0:
        return lab.astype(np.int32), 0
    out = lab.astype(np.int32)
    nxt = n + 1
    n_amb = 0
    min_peak = max(1.5, 0.5 * min_radius_px)
    area = np.bincount(lab.ravel())
    slices = ndi.find_objects(lab)
    for k, sl in enumerate(slices, start=1):
        if sl is None or area[k] < 2 * np.pi * min_peak**2:
            continue
        own = lab[sl] == k
        m = np.pad(own, 1)
        dist = ndi.distance_transform_edt(m)
        pk = peak_local_max(
            dist,
            min_distance=max(2, int(0.5 * min_peak)),
            threshold_abs=min_peak,
            exclude_border=False,
            labels=m.astype(np.int32),
        )
        if len(pk) < 2:
            continue
        mk = np.zeros(m.shape, np.int32)
        mk[tuple(pk.T)] = np.arange(1, len(pk) + 1)
        ws = watershed(-dist, mk, mask=m)
        npc = len(pk)
        peak = np.zeros(npc + 1)
        np.maximum.at(peak, ws.ravel(), dist.ravel())
        saddle = _neck_heights(ws, dist, npc)
        parent = list(range(npc + 1))

        def find(i: int, parent: list[int] = parent) -> int:  # this region's forest
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        # join the widest necks first (an oval sphere's two peaks, plateau peaks); a neck
        # is judged against the two groups' highest peaks, as in a dynamics / h-maxima
        # merge, so a chain of plateau peaks cannot walk from one sphere into the next
        gpeak = peak.copy()
        for (i, j), v in sorted(saddle.items(), key=lambda t: -t[1]):
            ri, rj = find(i), find(j)
            if ri == rj:
                continue
            ratio = v / max(min(gpeak[ri], gpeak[rj]), 1e-6)
            if ratio > saddle_merge:
                parent[ri] = rj
                gpeak[rj] = max(gpeak[ri], gpeak[rj])
            elif ratio > SADDLE_AMBIGUOUS and min(gpeak[ri], gpeak[rj]) >= 0.85 * min_radius_px:
                # only where the choice changes the count: both pieces of counting size
                n_amb += 1
        roots = sorted({find(i) for i in range(1, npc + 1)})
        if len(roots) < 2:
            continue
        ws = ws[1:-1, 1:-1]
        root_of = np.array([find(i) for i in range(npc + 1)])
        sub = out[sl]
        for r in roots[1:]:
            sub[own & (root_of[ws] == r)] = nxt
            nxt += 1
    return out, n_amb


#: one object larger than this share of the analysed field is no sphere (a spheroid);
#: so is one over 1.5 % that holds 40 % of all the objects' area
MAX_OBJECT_SHARE = 0.04
#: a solid disc wider than this (calibrated images) is a spheroid: mammospheres and
#: tumourspheres stay below about 250 um
MAX_SPHERE_DIAMETER_UM = 300.0
#: objects covering more than this share of the field (or over 8 % with ragged,
#: non-convex outlines): a colony or confluent well
MAX_COVER_SHARE = 0.25
#: mean colour saturation of the objects above which they are stained (crystal violet)
MAX_OBJECT_SATURATION = 0.2


#: a counted object whose area exceeds this multiple of its largest inscribed disc is
#: not one sphere (a lumpy or oval sphere stays below 1.5; two fused spheres reach 1.8+)
MAX_AREA_PER_INSCRIBED = 1.7


def _inscribed_radii(labels_w: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Largest inscribed disc radius of the objects ``ids`` (others 0; index 0 unused).

    Computed in each object's own box, so its cost follows the (few) counted spheres.
    """
    from scipy import ndimage as ndi

    n = int(labels_w.max())
    r = np.zeros(n + 1)
    if n == 0 or ids.size == 0:
        return r
    slices = ndi.find_objects(labels_w)
    for k in ids:
        sl = slices[k - 1]
        if sl is None:
            continue
        own = np.pad(labels_w[sl] == k, 1)
        r[k] = float(ndi.distance_transform_edt(own).max())
    return r


def _clustered(labels_w: np.ndarray, counted: np.ndarray, r_in: np.ndarray) -> bool:
    """Tell whether a counted object looks like several fused spheres.

    See `MAX_AREA_PER_INSCRIBED`: a cluster the shape split could not separate.
    """
    ids = np.flatnonzero(counted) + 1
    area = np.bincount(labels_w.ravel(), minlength=int(labels_w.max()) + 1)[ids]
    return bool(np.any(area > MAX_AREA_PER_INSCRIBED * np.pi * np.maximum(r_in[ids], 0.5) ** 2))


def _area_weighted_solidity(labels_w: np.ndarray) -> float:
    """Solidity of the objects, weighted by area (spheres ~0.95, colonies < 0.8)."""
    from skimage.measure import regionprops

    props = regionprops(labels_w)
    if not props:
        return 1.0
    a = np.array([p.area for p in props], float)
    sol = np.array([p.solidity for p in props], float)
    return float(np.sum(a * sol) / np.sum(a))


def _self_check(
    labels_w: np.ndarray,
    counted: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    well: np.ndarray | None,
    image: np.ndarray,
    labels: np.ndarray,
    is_rgb: bool,
    r_in: np.ndarray,
    um_per_px: float,
    raw_cover: float = 0.0,
    g2: np.ndarray | None = None,
) -> tuple[dict[str, float], str]:
    """Per-image diagnostics and whether the image looks like a sphere assay.

    A sphere well holds many small round objects on a plain medium: a single object
    over `MAX_OBJECT_SHARE` of the field, or over 1.5 % and dominating (a spheroid),
    objects over `MAX_COVER_SHARE` of it (colonies, a confluent layer) or strongly
    coloured objects on an RGB photo (crystal violet) say the image belongs to another
    mode.

    Returns
    -------
    diagnostics : dict
        ``well_radius_px`` (working pixels scaled to full resolution; NaN without a
        well), ``background_level`` (median of the medium), ``sharpness`` (median
        counted sphere diameter / edge width, scale-free; NaN without spheres).
    mismatch : str
        The reason, or "".
    """
    from napari_il6assay.segment import _util as U

    calibrated = um_per_px > 0
    f = labels.shape[0] / labels_w.shape[0]
    field = float(well.sum()) if well is not None and well.any() else float(labels_w.size)
    area = np.bincount(labels_w.ravel())
    area[0] = 0
    plane = U.gray(image, image.ndim == 3, is_rgb) if image.ndim == 3 else U.to_float(image)
    sub = plane[:: max(1, plane.shape[0] // 256), :: max(1, plane.shape[1] // 256)]
    lsub = labels[:: max(1, plane.shape[0] // 256), :: max(1, plane.shape[1] // 256)]
    medium = sub[lsub == 0]
    diag = {
        "well_radius_px": float(np.sqrt(field / np.pi) * f) if well is not None else float("nan"),
        "background_level": float(np.median(medium)) if medium.size else float("nan"),
        "sharpness": float("nan"),
    }
    if counted.any():
        big = np.concatenate([[False], counted])
        w, _n, _lab = U.edge_widths(big[labels_w], s, np.abs(peak), g2)
        w = w[1:][np.isfinite(w[1:])]
        d = np.sqrt(4 * area[1:][counted] / np.pi)
        if w.size:
            diag["sharpness"] = float(np.median(d) / max(np.median(w), 1e-6))
    reason = ""
    # judged on the largest inscribed disc, so that a cluster of touching spheres (large
    # area, small inscribed disc) is not taken for a spheroid
    k = int(np.argmax(r_in)) if r_in.size > 1 else 0
    disc = np.pi * r_in[k] ** 2
    big_one = k > 0 and (
        disc > MAX_OBJECT_SHARE * field
        or (disc > 0.015 * field and area[k] > 0.4 * area.sum())
        or (calibrated and 2 * r_in[k] * um_per_px > MAX_SPHERE_DIAMETER_UM)
    )
    if big_one:
        reason = (
            f"one object {2 * r_in[k] * (um_per_px or 1.0):.0f} "
            f"{'um' if calibrated else 'px'} across ({disc / field:.0%} of the field): "
            "a spheroid, not spheres"
        )
    elif max(area.sum() / field, raw_cover) > MAX_COVER_SHARE or (
        area.sum() > 0.08 * field and _area_weighted_solidity(labels_w) < 0.85
    ):
        reason = (
            f"objects cover {max(area.sum() / field, raw_cover):.0%} of the field: "
            "colonies or a confluent layer, not spheres"
        )
    elif is_rgb and image.ndim == 3 and image.shape[-1] >= 3 and (labels > 0).any():
        rgbv = image[..., :3][labels > 0].astype(np.float32)
        mx = rgbv.max(axis=1)
        sat = float(np.mean((mx - rgbv.min(axis=1)) / np.maximum(mx, 1e-6)))
        if sat > MAX_OBJECT_SATURATION:
            reason = f"stained objects (colour saturation {sat:.2f}): a colony stain"
    return diag, reason


def _score_step(
    g: np.ndarray, well: np.ndarray | None, polarity: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Score how sphere-like each pixel of the working plane ``g`` is (flattened contrast).

    Returns
    -------
    s : ndarray of float32
        The score (0 outside the well).
    info : dict
        `flattened_score`'s facts (``polarity``).
    """
    from napari_il6assay.segment.spheroid import flattened_score

    # the score is computed on ``g`` as it is (its own block factor is 1): ``f`` stays the
    # factor from the image to ``g`` (overwriting it left images over ``working_size``
    # with labels at the working scale and a size cut twice too large)
    s, _f_score, info = flattened_score(
        g, polarity=polarity, working_size=max(g.shape), smooth=0.7, valid=well
    )
    if well is not None and info["polarity"] == "dark":
        cy, cx = _well_centre(well)
        # the wall darkens the bottom towards the edge, more on one side than the other
        s = np.where(well, s - _sector_radial_correction(s, well, cy, cx), 0).astype(np.float32)
    return s, info


def _threshold_step(
    s: np.ndarray, min_d_work: float, noise_floor: float, edge_fraction: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Threshold the score: above the noise and at each sphere's edge (see `segment`).

    Returns
    -------
    mask : ndarray of bool
        Foreground, opened by a one-pixel disk.
    peak : ndarray of float
        Local peak of the score (about one sphere wide).
    """
    from scipy import ndimage as ndi

    size = max(3, int(round(1.5 * min_d_work)) | 1)
    peak = ndi.maximum_filter(s, size=size)
    if edge_fraction is None:
        # each sphere at its own steepest edge: a fixed half of the local peak (the
        # darkest speck of a textured sphere) put small spheres' outlines inside their
        # edge, by up to 10 % of the diameter, and lost spheres just above the cut; the
        # gradient is evaluated in the edge bands only (no full-image Sobel pass)
        mask = (s > noise_floor) & (s > 0.25 * peak)
        mask = U.steepest_edge(mask, s, peak, 1.0, noise_floor, 0.25, 0.6)
    else:
        mask = (s > noise_floor) & (s > edge_fraction * peak)
    # small disks by shifted array operations (the same masks as ndimage, a fraction of
    # its cost on a full well)
    return U.binary_opening(mask, U.disk(1)), peak


def _drop_border_regions(
    mask: np.ndarray, well: np.ndarray | None, max_border_fraction: float
) -> np.ndarray:
    """Drop regions with more than ``max_border_fraction`` of their outline on a border.

    The border is the image's edge, and the well wall when there is a well.
    """
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)
    if not n:
        return mask
    rim = np.ones(mask.shape, bool) if well is None else ~ndi.binary_erosion(well, iterations=2)
    border = np.zeros(mask.shape, bool)
    border[0] = border[-1] = True
    border[:, 0] = border[:, -1] = True
    if well is not None:
        border |= rim
    edge = lab[border]
    area = np.maximum(np.bincount(lab.ravel(), minlength=n + 1), 1)
    # share of the outline lying on the image border / well wall: a sphere that
    # merely touches the wall keeps most of its outline free
    on_border = np.bincount(edge, minlength=n + 1) / (np.pi * np.sqrt(4 * area / np.pi))
    drop = on_border > max_border_fraction
    drop[0] = True
    return ~drop[lab] & mask


def _label_step(
    mask: np.ndarray,
    split: bool,
    min_d_work: float,
    saddle_merge: float,
    f: int,
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Label the spheres: split touching ones, drop specks, return both scales.

    Returns
    -------
    labels_w : ndarray of int32
        Labels on the working grid.
    labels : ndarray of int32
        The same at full resolution (``shape``).
    n_ambiguous : int
        Ambiguous necks (see `_split_touching`).
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import relabel_sequential

    if split:
        labels_w, n_ambiguous = _split_touching(mask, 0.5 * min_d_work, saddle_merge)
    else:
        labels_w, n_ambiguous = ndi.label(mask)[0].astype(np.int32), 0
    # drop specks far below the counting size (debris, single cells stay if large)
    areas = np.bincount(labels_w.ravel())
    tiny = areas < max(4, 0.05 * np.pi / 4 * min_d_work**2)
    tiny[0] = False
    labels_w[tiny[labels_w]] = 0
    labels_w = relabel_sequential(labels_w)[0].astype(np.int32)
    if f > 1:
        labels = np.repeat(np.repeat(labels_w, f, 0), f, 1)[: shape[0], : shape[1]]
    else:
        labels = labels_w
    return labels_w, labels, n_ambiguous


def _count_measures(
    objects: Any, min_diameter_um: float, calibrated: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Mark the counted spheres in ``objects``; return them and their count and sizes."""
    counted = objects["equivalent_diameter_um"].to_numpy() >= min_diameter_um
    objects["counted"] = counted
    d = objects.loc[counted, "equivalent_diameter_um"]
    return counted, {
        "readout": int(counted.sum()),
        "readout_name": READOUT,
        "n_objects": int(len(objects)),
        "calibrated": calibrated,
        "sphere_count": int(counted.sum()),
        "min_diameter_um": float(min_diameter_um),
        "median_diameter_um": float(d.median()) if len(d) else float("nan"),
        "mean_diameter_um": float(d.mean()) if len(d) else float("nan"),
        "total_sphere_area_um2": float(objects.loc[counted, "area_um2"].sum()),
    }


def _plane(image: np.ndarray, rgb: bool | None, channel: int) -> tuple[np.ndarray, bool]:
    """Return the float plane to segment and whether the image is an RGB photo.

    An RGB photo is segmented on its luminance, another multichannel image on ``channel``.
    """
    multi = U.is_multichannel_2d(image, rgb)
    is_rgb = bool(multi and (rgb or (rgb is None and image.dtype == np.uint8)))
    plane = (
        U.to_float(image[..., channel])
        if (multi and not is_rgb)
        else U.gray(image, multi, True if is_rgb else rgb)
    )
    return plane, is_rgb


def _classifier_grid(foreground: np.ndarray, grid_shape: tuple[int, ...]) -> np.ndarray:
    """Put a pixel classifier's full-resolution object mask on the working grid."""
    from napari_il6assay.segment.classifier import to_grid

    factor = max(1, round(foreground.shape[0] / grid_shape[0]))
    return to_grid(foreground, factor, (int(grid_shape[0]), int(grid_shape[1])))


def _within_well(mask: np.ndarray, well: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Keep the mask inside the well; return it with the share of the field it covered.

    Outside of the well goes first: it would otherwise enclose the whole well as a hole.
    The share is taken before border/wall regions are dropped (a dense colony network
    runs into the border and would vanish from the count); a "well" under half the
    frame is no well bottom (e.g. the gaps between colonies).
    """
    if well is not None and well.mean() >= 0.5:
        mask &= well
        return mask, float(mask.sum()) / float(well.sum())
    raw_cover = float(mask.mean())
    if well is not None:
        mask &= well
    return mask, raw_cover


def segment(
    image: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: Any = None,
    rgb: bool | None = None,
    axes: str | None = None,
    channel: int = 0,
    channel_names: list[str] | None = None,
    polarity: str = "auto",
    min_diameter_um: float = 50.0,
    working_size: int = 1024,
    noise_floor: float = 4.0,
    edge_fraction: float | None = None,
    split: bool = True,
    saddle_merge: float = SADDLE_MERGE,
    max_border_fraction: float = 0.15,
    well: Literal["auto", "circle", "none"] = "auto",
    well_diameter_um: float | None = None,
    roi: str = "",
    foreground: np.ndarray | None = None,
) -> SegmentationResult:
    """Segment every sphere of a well image and count those of at least ``min_diameter_um``.

    Parameters
    ----------
    image : ndarray
        YX, or YXC (RGB photo segmented on its luminance, or channel ``channel``).
    pixel_size_um : float, optional
        Pixel size; without it ``min_diameter_um`` is read as pixels.
    polarity : {"auto", "dark", "bright"}
        Spheres darker (brightfield) or brighter (fluorescence) than the medium.
    min_diameter_um : float
        Counting threshold on the equivalent diameter.
    working_size : int
        Larger images are analysed at a reduced scale.
    noise_floor : float
        Foreground must exceed this many background noise sigmas ...
    edge_fraction : float, optional
        ... and this fraction of the local peak score (about one sphere wide); None
        (default): each sphere's own steepest-edge level (`_util.steepest_edge`).
    split : bool
        Split touching spheres by shape (`_split_touching`); False keeps every
        connected region whole (the override when spheres with a rough outline are cut).
    saddle_merge : float
        Two pieces whose neck is wider than this fraction of the smaller one's radius
        are one sphere.
    max_border_fraction : float
        Regions with more than this fraction of their outline on the image border or
        the well wall (wall shading, outside of the well) are dropped.
    well : {"auto", "circle", "none"}
        "auto": the well bottom when a dark outside surrounds it, else the whole image
        (a field inside one well); "circle": the round well of
        `napari_il6assay.segment.well.find_single_well`, flagged ``well_implausible`` when
        its checks fail; "none": the whole image, or ``roi``.
    well_diameter_um : float, optional
        Known well floor diameter: the circle must match it (+- 12 %); needs the pixel size.
    roi : str
        With ``well="none"``: count only in this rectangle, ``"X,Y,W,H"`` in pixels.
    foreground : ndarray of bool, optional
        A pixel classifier's object mask (`napari_il6assay.segment.classifier`): it replaces
        the thresholds; the well, the splitting of touching spheres, the size cut and the
        checks stay.

    Returns
    -------
    SegmentationResult
        ``measures``: ``sphere_count`` (readout), ``n_objects`` (all objects),
        ``min_diameter_um``, ``median_diameter_um``, ``mean_diameter_um`` (of the
        counted spheres), ``total_sphere_area_um2``.
    """
    from napari_il6assay.segment.measure import measure_objects
    from napari_il6assay.segment.qc import overlay

    U.check_2d(image, "spheres", rgb, axes)
    plane, is_rgb = _plane(image, rgb, channel)
    calibrated = pixel_size_um is not None
    shape = plane.shape
    if U.is_constant(plane):
        blank = overlay(image, np.zeros(shape, np.int32), rgb=is_rgb)
        return empty_result(shape, readout_name=READOUT, qc_flag="constant_image",
                            calibrated=calibrated, overlay=blank)  # fmt: skip
    f = U.block_factor(shape, working_size)
    g = U.block_mean(plane, f)
    inside, well_flag, well_r = _well_step(g, f, well, roi, well_diameter_um, pixel_size_um)
    s, info = _score_step(g, inside, polarity)
    min_d_work = min_diameter_um / ((pixel_size_um if pixel_size_um is not None else 1.0) * f)
    mask, peak = _threshold_step(s, min_d_work, noise_floor, edge_fraction)
    if foreground is not None:  # a pixel classifier's object mask replaces the thresholds
        mask = _classifier_grid(foreground, mask.shape)
    mask, raw_cover = _within_well(mask, inside)
    mask = _drop_border_regions(mask, inside, max_border_fraction)
    # a textured sphere's lighter cells open channels from its outline into its body;
    # closed first, so that holes fill and the shape split sees whole discs
    mask = U.fill_holes(mask | (U.binary_closing(mask, U.disk(2)) & (s > noise_floor)))
    labels_w, labels, n_ambiguous = _label_step(mask, split, min_d_work, saddle_merge, f, shape)
    objects = measure_objects(labels, plane, pixel_size_um=pixel_size_um)
    counted, measures = _count_measures(objects, min_diameter_um, calibrated)
    measures.update(polarity=info["polarity"], well_radius_px=well_r)
    big = np.concatenate([[False], counted])
    small = (labels > 0) & ~big[labels]  # drawn apart in the overlay: not counted
    r_in = _inscribed_radii(labels_w, np.flatnonzero(counted) + 1)  # largest: among counted
    um_px = pixel_size_um * f if pixel_size_um is not None else 0.0
    diag, mismatch = _self_check(
        labels_w, counted, s, peak, inside, image, labels, is_rgb, r_in, um_px, raw_cover
    )
    measures.update(diag)
    measures["mode_check"] = mismatch
    flags = ["mode_mismatch"] if mismatch else []
    if counted.any() and (n_ambiguous or _clustered(labels_w, counted, r_in)):
        flags.append("merged_objects")
    return SegmentationResult(
        labels=labels,
        objects=objects,
        measures=measures,
        qc_flag=join_flags(well_flag, flags),
        overlay=overlay(image, np.where(big[labels], labels, 0), rgb=is_rgb, extra=[small]),
    )
