"""Colony formation / crystal violet wells: find the well(s), flatten, segment the stain.

Method:

1. absorbing plane: for an RGB photo the mean of red and green (crystal violet absorbs
   both, blue much less), for gray the image itself;
2. well: one circular well per image (default) — the clear well bottom is the
   brightest region; its filled, convex outline gives centre and radius of a circle.
   With ``plate_format`` (6/12/24/48/96) every well of a whole plate photo is found and
   fitted to the plate grid (`plate_grid`), and each well is analysed at a scale that
   keeps its diameter at about ``working_size / 2.5`` pixels or more;
3. flat field: a robust polynomial fitted to the unstained well bottom (colonies are
   dark outliers); stain optical density ``OD = -log10(I / I_background)``;
4. stain: pixels above a noise floor, each connected patch thresholded at a fraction
   (``edge_fraction``, default 0.3) of its own peak OD so faint and dense colonies both
   keep their true edge (the half-maximum of their edge step);
5. ``area_fraction`` = stained pixels in the well / well pixels;
   ``intensity_weighted_area_fraction`` = summed stain OD in the well / (well pixels x
   full-stain OD), ColonyArea's "intensity %" with the full stain taken as
   ``full_stain_od`` (measured OD units) or, when None, the 99th percentile of stained
   pixels' OD in the image;
   ``colony_count``: stained patches split into colonies by a watershed seeded at
   the h-maxima of the stain density (OD blurred at a fifth of the typical colony
   radius: colonies are densest in their centre, and a neck between two touching
   ones lowers it too), a weaker seed inside the inscribed disc of a stronger one
   dropped; patches smaller than ``min_colony_area_px`` ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from napari_il6assay.errors import SegmentationError
from napari_il6assay.qc_flags import join_flags
from napari_il6assay.segment import _util as U
from napari_il6assay.segment.geometry import disc_mask
from napari_il6assay.segment.result import SegmentationResult, empty_result
from napari_il6assay.segment.well import find_single_well, find_vessel_arc, parse_roi

READOUT = "area_fraction"


def _absorbing_plane(image: np.ndarray, multi: bool, is_rgb: bool) -> np.ndarray:
    if multi and is_rgb:
        a = image[..., :3].astype(np.float32)
        return 0.5 * (a[..., 0] + a[..., 1])
    if multi:
        return U.to_float(image[..., 0])
    return U.to_float(image)


def find_plate_wells(q: np.ndarray, plate_format: int) -> list[tuple[str, float, float, float]]:
    """Find the wells of a whole-plate photo fitted to the plate grid: ``(name, cy, cx, r)``.

    See `napari_il6assay.segment.plate_grid.find_plate_wells`.
    """
    from napari_il6assay.segment.plate_grid import find_plate_wells as _find

    return _find(q, plate_format)


def _radial_correction(
    od: np.ndarray,
    well: np.ndarray,
    cy: float,
    cx: float,
    q: float = 20.0,
    ring: float = 1.0,
) -> np.ndarray:
    """Radially symmetric background OD of the well (meniscus, wall shadow).

    The ``q``-th percentile of OD in rings ``ring`` pixels wide: the unstained bottom
    as long as colonies cover less than ``1 - q/100`` of each ring. Small wells (of a
    whole plate) use half-pixel rings on every pixel: there the wall shading rises
    within a pixel or two and one ring is a sizeable part of the well.
    """
    # every other pixel in each direction is plenty for a ring percentile
    step = 2 if ring >= 1.0 else 1
    yy, xx = np.nonzero(well[::step, ::step])
    yy *= step
    xx *= step
    rr = (np.hypot(yy - cy, xx - cx) / ring).astype(np.int64)
    v = od[yy, xx]
    # sorted by ring, then by value: a value sort, then a stable (radix) sort of the ring
    # numbers (the same order as ``np.lexsort((v, rr))``, several times faster)
    by_v = np.argsort(v, kind="stable")
    ring_dtype = np.int16 if rr.size and int(rr.max()) < 2**15 else np.int64
    order = by_v[np.argsort(rr[by_v].astype(ring_dtype), kind="stable")]
    rs, vs = rr[order], v[order]
    nb = int(rs.max()) + 1
    counts = np.bincount(rs, minlength=nb)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    idx = starts + np.floor((counts - 1).clip(0) * q / 100.0).astype(np.int64)
    prof = np.where(counts > 0, vs[np.minimum(idx, vs.size - 1)], 0.0)
    # a 3-ring median: steadies the profile without flattening the steep wall shading
    from scipy import ndimage as ndi

    prof = ndi.median_filter(prof, size=3, mode="nearest")
    # every well pixel's ring, on the well's bounding box (broadcast rows and columns
    # instead of the coordinates of each pixel)
    rows = np.flatnonzero(well.any(axis=1))
    cols = np.flatnonzero(well.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    dy = (np.arange(box[0].start, box[0].stop) - cy)[:, None]
    dx = (np.arange(box[1].start, box[1].stop) - cx)[None, :]
    r_all = np.minimum((np.hypot(dy, dx) / ring).astype(np.int64), prof.size - 1)
    corr = np.zeros(od.shape, np.float32)
    corr[box] = np.where(well[box], prof[r_all], 0.0)
    return corr


def _stain_od(
    plane: np.ndarray,
    well: np.ndarray,
    centre: tuple[float, float] | None,
    degree: int = 2,
    ring: float = 1.0,
) -> tuple[np.ndarray, float]:
    """OD relative to the flat-fielded unstained bottom, and the OD noise sigma."""
    from napari_il6assay.segment.illumination import polynomial_background

    vals = plane[well]
    # start from the brighter half: at high coverage colonies are the majority
    hi = plane >= np.percentile(vals, 60)
    bg, sigma, inl = polynomial_background(plane, degree=degree, valid=well & hi, k=3.0)
    if (well & inl).sum() < 0.05 * (well & hi).sum():
        # integer grey levels over a small, flat well bottom: the histogram width
        # collapses below one grey level and no pixel stays an inlier; a light blur
        # breaks the ties
        from scipy import ndimage as ndi

        bg, sigma, inl = polynomial_background(
            ndi.gaussian_filter(plane, 1.0), degree=degree, valid=well & hi, k=3.0
        )
    od = -np.log10(np.maximum(plane, 0.5) / np.maximum(bg, 1e-3)).astype(np.float32)
    if centre is not None:
        od -= _radial_correction(od, well, *centre, ring=ring)
    # faint, patchy residual stain of the dish bottom: a masked Gaussian of the OD
    # around the colonies (they are left out) follows it
    from scipy import ndimage as ndi

    from napari_il6assay.segment.illumination import masked_gaussian_background

    sig0 = U.robust_sigma(od[well & inl]) if (well & inl).sum() > 50 else 0.01
    cand = ndi.binary_dilation((od > max(4 * sig0, 0.02)) | ~well, iterations=2)
    if (~cand & well).sum() > 0.05 * well.sum():
        patchy = masked_gaussian_background(od, cand, max(6.0, max(od.shape) / 24))
        od = od - np.where(well, patchy, 0)
    bgod = od[well & inl]
    sig = U.robust_sigma(bgod) if bgod.size > 50 else U.robust_sigma(od[well])
    return od, max(sig, 1e-4)


def _segment_stain(
    od: np.ndarray,
    well: np.ndarray,
    sig: float,
    *,
    k_noise: float,
    edge_fraction: float,
    min_od: float,
    colony_radius_px: float,
) -> np.ndarray:
    """Stain above the noise floor and above ``edge_fraction`` x the local peak OD."""
    from scipy import ndimage as ndi

    floor = max(k_noise * sig, min_od)
    size = max(3, int(round(2 * colony_radius_px)) | 1)
    # on the well's bounding box with a margin beyond the blur's and the window's reach
    # (outside the well both filter inputs are 0): the same numbers on fewer pixels
    out = np.zeros(well.shape, bool)
    if not well.any():
        return out
    box = U.crop_box(well, 3 + size // 2 + 1)
    well, od = well[box], od[box]
    # smoothing inside the well only: the dark wall must not bleed into the rim
    wf = well.astype(np.float32)
    ods = ndi.gaussian_filter(np.where(well, od, 0), 0.7) / np.maximum(
        ndi.gaussian_filter(wf, 0.7), 1e-3
    )
    peak = ndi.maximum_filter(np.where(well, ods, 0), size=size)
    out[box] = (ods > np.maximum(floor, edge_fraction * peak)) & well
    return out


def typical_colony_radius(
    stain: np.ndarray,
    dist: np.ndarray | None = None,
    labelled: tuple[np.ndarray, int] | None = None,
) -> float:
    """Estimate the typical colony radius (pixels).

    The median over stained patches of the radius of the largest disc inscribed in each
    patch. Touching colonies merge into wider
    patches but their inscribed disc grows much less than their area.
    """
    from scipy import ndimage as ndi

    lab, n = labelled if labelled is not None else ndi.label(stain)
    if n == 0:
        return 5.0
    if dist is None:
        dist = ndi.distance_transform_edt(stain)
    mx = np.zeros(n + 1, np.float64)
    sel = lab > 0
    np.maximum.at(mx, lab[sel], dist[sel])
    mx = mx[1:][mx[1:] >= 1.5]
    return float(np.median(mx)) if mx.size else 5.0


def _colony_markers(
    g: np.ndarray, dist: np.ndarray, clean: np.ndarray, h: float, overlap: float, step: int = 1
) -> np.ndarray:
    """Place one marker per colony.

    Regional maxima of the stain density ``g`` at least ``h`` high (h-maxima), a weaker one
    dropped when it lies inside the inscribed disc (scaled by ``1 / overlap``) of a stronger
    one: lobes and texture of one large colony sit inside its disc, two touching colonies do
    not. ``g`` is smooth, so the h-maxima may be found on every ``step``-th pixel (4x
    cheaper with 2).
    """
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima

    gs = g[::step, ::step]
    # 8-bit levels (h is about a dozen of them): the reconstruction is cheaper
    top = float(gs.max())
    if top > 0:
        scale = 250.0 / top
        hm = h_maxima(np.round(gs * scale).astype(np.uint8), max(1, int(round(h * scale))))
    else:
        hm = np.zeros(gs.shape, bool)
    hm = hm.astype(bool) & clean[::step, ::step]
    lab, nm = ndi.label(hm, structure=np.ones((3, 3)))
    markers = np.zeros(g.shape, np.int32)
    if nm == 0:
        return markers
    # one pixel per maximum (a plateau is a handful of pixels)
    flat = lab.ravel()
    nz = np.flatnonzero(flat)
    _, first = np.unique(flat[nz], return_index=True)
    py, px = np.unravel_index(nz[first], lab.shape)
    py, px = py * step, px * step
    v = dist[py, px]
    order = np.argsort(-v, kind="stable")
    k = 0
    ky: list[float] = []
    kx: list[float] = []
    kr: list[float] = []
    for i in order:
        y, x = float(py[i]), float(px[i])
        d = np.hypot(np.asarray(ky) - y, np.asarray(kx) - x)
        if ky and np.any(d < np.asarray(kr) / overlap):
            continue
        ky.append(y)
        kx.append(x)
        kr.append(float(v[i]))
        k += 1
        markers[py[i], px[i]] = k
    return markers


def _count_colonies(
    stain: np.ndarray,
    od: np.ndarray,
    min_area: int | None,
    split_overlap: float,
    radius_px: float | None = None,
    h_fraction: float = 0.05,
) -> tuple[np.ndarray, int]:
    """Colonies of the stain mask, touching ones split.

    Crystal-violet colonies are densest in their centre (more cell layers), so the
    stain density (OD of the stained pixels blurred at a fifth of the typical colony
    radius) has one dome per colony and a saddle where two colonies touch, and a neck
    in the mask between them lowers it further. Its h-maxima (``h_fraction`` of the
    95th percentile) seed a watershed; see `_colony_markers`.
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import relabel_sequential, watershed

    if not stain.any():
        return np.zeros(stain.shape, np.int32), 0
    # every step is local or follows connectivity, so it runs on the stain's bounding box
    # with a margin of background at least as wide as its filters reach (the same numbers,
    # a fraction of the pixels of a well photo's frame)
    box = _aligned_box(stain, 2, 1)
    clean = ndi.binary_opening(stain[box], structure=U.disk(1))
    lab0, n0 = ndi.label(clean)
    if n0 == 0:
        return np.zeros(stain.shape, np.int32), 0
    dist = ndi.distance_transform_edt(clean)
    r = radius_px if radius_px is not None else typical_colony_radius(clean, dist, (lab0, n0))
    if min_area is None:
        min_area = max(4, int(0.15 * math.pi * min(max(r, 2.0), 50.0) ** 2))
    sigma = max(0.2 * r, 0.7)
    step = 2 if sigma >= 1.0 else 1
    # the blur's reach (scipy's truncate=4): a wider box, on the markers' grid of ``step``
    box2 = _aligned_box(stain, int(4.0 * sigma + 0.5) + 2, step)
    clean, lab0, dist = (_regrid(a, box, box2) for a in (clean, lab0, dist))
    g = ndi.gaussian_filter(np.where(clean, od[box2], 0).astype(np.float32), sigma)
    h = h_fraction * float(np.percentile(g[clean], 95))
    markers = _colony_markers(g, dist, clean, max(h, 1e-6), split_overlap, step=step)
    lab = watershed(-g, markers, mask=clean)
    # a patch without a marker (tiny/flat) is one colony
    missing = np.setdiff1d(np.arange(1, n0 + 1), np.unique(lab0[markers > 0]))
    if missing.size:
        extra = np.isin(lab0, missing)
        lab[extra] = lab0[extra] + lab.max()
    areas = np.bincount(lab.ravel())
    small = areas < min_area
    small[0] = False
    lab[small[lab]] = 0
    lab, _, _ = relabel_sequential(lab)
    out = np.zeros(stain.shape, np.int32)
    out[box2] = lab
    return out, int(lab.max())


def _aligned_box(mask: np.ndarray, margin: int, step: int) -> tuple[slice, slice]:
    """Bounding box of ``mask`` grown by ``margin`` (clipped), its start a multiple of ``step``.

    A starting row and column on the multiples of ``step`` keep a subsampling by ``step``
    on the same pixels as in the whole frame.
    """
    (ys, xs) = U.crop_box(mask, margin)
    return (
        slice(ys.start - ys.start % step, ys.stop),
        slice(xs.start - xs.start % step, xs.stop),
    )


def _regrid(a: np.ndarray, box: tuple[slice, slice], box2: tuple[slice, slice]) -> np.ndarray:
    """Move an array on ``box`` to the enclosing ``box2``, zero where ``box`` does not reach."""
    out = np.zeros((box2[0].stop - box2[0].start, box2[1].stop - box2[1].start), a.dtype)
    y0, x0 = box[0].start - box2[0].start, box[1].start - box2[1].start
    out[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]] = a
    return out


def _well_mode(well: str) -> str:
    """``auto``, ``circle`` or ``none`` (``image`` is the former name of ``none``)."""
    w = str(well).strip().lower()
    w = {"image": "none", "": "auto"}.get(w, w)
    if w not in ("auto", "circle", "none"):
        raise SegmentationError(f"colony: well must be 'auto', 'circle' or 'none', got {well!r}")
    return w


def _sharpness(plane: np.ndarray, region: np.ndarray) -> float:
    """Measure focus, free of scale.

    The 95th percentile of the gradient magnitude at a 1-pixel scale over that at a 3-pixel
    scale, inside ``region``. A sharp step edge gives about 3, a blurred photo tends to 1;
    independent of brightness and gain.
    """
    from scipy import ndimage as ndi

    if region.sum() < 50:
        return float("nan")
    # the region's bounding box only
    ys, xs = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
    box = (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))
    plane, region = plane[box], region[box]
    g1 = ndi.gaussian_gradient_magnitude(plane, 1.0)[region]
    g3 = ndi.gaussian_gradient_magnitude(plane, 3.0)[region]
    d = float(np.percentile(g3, 95))
    return float(np.percentile(g1, 95) / d) if d > 0 else float("nan")


def _mismatch(
    image: np.ndarray,
    plane: np.ndarray,
    region: np.ndarray,
    labels: np.ndarray,
    fit: Any,
    multi: bool,
    is_rgb: bool,
) -> str:
    """``"mode_mismatch"`` when the image does not look like an absorbing-stain photo.

    Two kinds of image are recognised (issue 9, class 6):

    - fluorescence (live/dead and the like): a dark background with bright objects. In an
      absorbing-stain photo the unstained floor is the *bright* level and stain only darkens
      it; in fluorescence the background is the dark level. The background is the smooth
      part of the image (objects are textured): the 30 % of the measured area with the
      lowest gradient (at a 2-pixel scale, above the pixel noise). Its median lies high
      between the 1st and 99.5th percentiles in a stained well and low (< 0.3) in
      fluorescence;
    - a brightfield spheroid: no well rim in the frame and all the "stain" in one compact
      object away from the border (a colony photo of a flask holds many colonies).

    Both checks apply only when no plausible well was found: a round rim around a bright
    floor is itself the signature of a stained-well photo.
    """
    from scipy import ndimage as ndi

    if fit is not None and fit.plausible:
        # a round well rim with a bright floor inside it: an absorbing-stain photo
        return ""
    reg = region if region.sum() >= 100 else np.ones(plane.shape, bool)
    lo, hi = np.percentile(plane[reg], [1, 99.5])
    # the smoothest pixels are the background (the objects are textured): where they lie
    grad = ndi.gaussian_gradient_magnitude(plane, 2.0)[reg]
    smooth = plane[reg][grad <= np.percentile(grad, 30)]
    if hi > lo and (float(np.median(smooth)) - lo) / (hi - lo) < 0.3:
        return "mode_mismatch"
    if labels.any():
        fg = labels > 0
        lab, n = ndi.label(fg)
        if n:
            area = np.bincount(lab.ravel())[1:]
            edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
            free = np.ones(n, bool)
            free[edge[edge > 0] - 1] = False
            tot = float(area[free].sum())
            k = int(np.argmax(np.where(free, area, 0)))
            if free[k] and tot > 0 and area[k] >= 0.8 * tot and area[k] >= 0.01 * fg.size:
                obj = lab == k + 1
                filled = U.fill_holes(obj)
                from skimage.measure import regionprops

                sol = regionprops(filled.astype(np.uint8))[0].solidity
                if sol >= 0.85:
                    return "mode_mismatch"
    return ""


def _analyse_well(
    plane: np.ndarray,
    well: np.ndarray,
    *,
    pixel_size_um: float | None,
    full_stain_od: float | None,
    k_noise: float,
    edge_fraction: float,
    min_od: float,
    min_colony_area_px: int | None,
    colony_radius_px: float,
    split_overlap: float = 1.0 / 0.9,
    count_radius_px: float | None = None,
    box: tuple[slice, slice] | None = None,
    centre: tuple[float, float] | None = None,
    ring: float = 1.0,
    foreground: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    if box is not None:
        plane, well = plane[box], well[box]
        foreground = None if foreground is None else foreground[box]
        if centre is not None:
            centre = (centre[0] - box[0].start, centre[1] - box[1].start)
    od, sig = _stain_od(plane, well, centre, ring=ring)
    if foreground is not None:  # a pixel classifier's stain mask replaces the thresholds
        stain = foreground & well
    else:
        stain = _segment_stain(
            od,
            well,
            sig,
            k_noise=k_noise,
            edge_fraction=edge_fraction,
            min_od=min_od,
            colony_radius_px=colony_radius_px,
        )
    n_well = int(well.sum())
    sod = np.where(stain, od, 0.0)
    ref = full_stain_od
    if ref is None:
        ref = float(np.percentile(od[stain], 99)) if stain.sum() > 20 else float("nan")
    colonies, n_col = _count_colonies(
        stain, od, min_colony_area_px, split_overlap, radius_px=count_radius_px
    )
    px2 = 1.0 if pixel_size_um is None else pixel_size_um**2
    m = {
        "area_fraction": float(stain.sum() / n_well) if n_well else float("nan"),
        "intensity_weighted_area_fraction": (
            float(sod.sum() / (n_well * ref)) if n_well and ref and np.isfinite(ref) else 0.0
        ),
        "colony_count": n_col,
        "well_area_um2": n_well * px2,
        "stained_area_um2": float(stain.sum()) * px2,
        "full_stain_od": ref,
        "od_noise": sig,
        "background_level": (
            float(np.median(plane[well & ~stain])) if (well & ~stain).any() else float("nan")
        ),
        "sharpness": _sharpness(plane, well),
    }
    return colonies, od, m


def segment(
    image: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: Any = None,
    rgb: bool | None = None,
    axes: str | None = None,
    channel_names: list[str] | None = None,
    plate_format: int | None = None,
    well: Literal["auto", "circle", "none"] = "auto",
    well_diameter_um: float | None = None,
    roi: str = "",
    working_size: int = 512,
    full_stain_od: float | None = None,
    k_noise: float = 4.0,
    edge_fraction: float = 0.275,
    min_od: float = 0.06,
    colony_radius_um: float | None = None,
    min_colony_area_px: int | None = None,
    foreground: np.ndarray | None = None,
) -> SegmentationResult:
    """Segment the stain of a crystal-violet well (or every well of a plate photo).

    Parameters
    ----------
    image : ndarray
        YX gray or YXC RGB photo.
    pixel_size_um : float, optional
        Pixel size; areas in pixels when None.
    rgb : bool, optional
        The photo is RGB.
    plate_format : {6, 12, 24, 48, 96}, optional
        Whole-plate photo: find every well on the grid. One well per image when None.
    well : {"auto", "circle", "none"}
        "auto" finds the round well and checks it (rim, size, in frame): when it is not
        plausible the image is flagged ``well_implausible``; a well running off the frame
        is measured where it is in the frame, and when no well rim is found in the frame
        the floor inside the rim's arc of a dish larger than the frame is measured
        (`napari_il6assay.segment.well.find_vessel_arc`), or with no rim at all (a flask)
        the whole frame, flagged either way; "circle"
        always measures inside the best circle found (flagged when implausible); "none"
        (alias "image") measures the whole image, or ``roi``, without a well.
    well_diameter_um : float, optional
        Known diameter of the well floor: the well must have this size (+- 12 %). Needs
        the pixel size.
    roi : str
        With ``well="none"``: measure only this rectangle, ``"X,Y,W,H"`` in pixels.
    working_size : int
        Images larger than this are analysed at a reduced scale (block mean); with
        ``plate_format`` each well keeps a diameter of about ``working_size / 2.5``
        pixels or more (full resolution for typical plate photos).
    full_stain_od : float, optional
        OD of full stain for the intensity-weighted fraction (see module docs).
    k_noise : float
        Noise floor of the stain in OD noise sigmas.
    edge_fraction : float
        Colony edge threshold as a fraction of each stained patch's peak OD.
    min_od : float
        Absolute minimum OD counted as stain.
    colony_radius_um : float, optional
        Typical colony radius (scale of the count's stain density and of the local
        peak of the edge threshold); when None the count estimates it from the data
        (median radius of the discs inscribed in the stained patches).
    min_colony_area_px : int, optional
        Smaller patches are not counted as colonies (default 0.15 pi r^2 working
        pixels, r the typical colony radius).
    foreground : ndarray of bool, optional
        A pixel classifier's stain mask (`napari_il6assay.segment.classifier`): it replaces
        the stain thresholds; the well finding, colony count and checks stay.

    Returns
    -------
    SegmentationResult
        ``labels`` numbers colonies; ``measures``: ``area_fraction`` (readout),
        ``intensity_weighted_area_fraction``, ``colony_count``, ``well_area_um2``,
        ``stained_area_um2``, ``well_center_y``, ``well_center_x``, ``well_radius_um``,
        ``well_radius_px``, ``well_rim_support``, ``well_in_frame`` and the diagnostics
        ``background_level`` (median absorbing-plane level of the unstained floor) and
        ``sharpness`` (see `_sharpness`);
        with ``plate_format`` the readout is the mean over wells and the result's
        ``per_well`` is a table with one row per well.
    """
    U.check_2d(image, "colony", rgb, axes)
    multi = U.is_multichannel_2d(image, rgb)
    is_rgb = bool(multi and (rgb or (rgb is None and image.shape[-1] in (3, 4))))
    photo = _Photo(image, _absorbing_plane(image, multi, is_rgb), multi, is_rgb, pixel_size_um)
    if U.is_constant(photo.plane):
        return _nothing(image, "constant_image", photo.calibrated, is_rgb)
    analysis: dict[str, Any] = dict(
        colony_radius_um=colony_radius_um,
        min_colony_area_px=min_colony_area_px,
        full_stain_od=full_stain_od,
        k_noise=k_noise,
        edge_fraction=edge_fraction,
        min_od=min_od,
        foreground=foreground,
    )
    if plate_format is not None:
        return _segment_plate_photo(photo, int(plate_format), working_size, analysis)
    return _segment_single_well_photo(
        photo, working_size, analysis, well=well, well_diameter_um=well_diameter_um, roi=roi
    )


@dataclass(frozen=True)
class _Photo:
    """The photo being segmented and its absorbing plane at full resolution."""

    image: np.ndarray
    plane: np.ndarray
    multi: bool
    is_rgb: bool
    pixel_size_um: float | None

    @property
    def calibrated(self) -> bool:
        """Whether the pixel size is known."""
        return self.pixel_size_um is not None


def _working_scale(
    photo: _Photo, f: int, analysis: dict[str, Any]
) -> tuple[np.ndarray, float | None, dict[str, Any]]:
    """Bring the photo to the working scale (``f`` times smaller): ``(plane, ps_work, kw)``.

    ``kw`` are `_analyse_well`'s options at that scale (see `_analysis_options`), with a
    pixel classifier's stain mask brought to the working grid when ``analysis`` holds one.
    """
    plane = U.block_mean(photo.plane, f)
    ps_work = None if photo.pixel_size_um is None else photo.pixel_size_um * f
    a = dict(analysis)
    foreground = a.pop("foreground", None)
    kw = _analysis_options(ps_work, **a)
    if foreground is not None:
        from napari_il6assay.segment.classifier import to_grid

        kw["foreground"] = to_grid(foreground, f, plane.shape)
    return plane, ps_work, kw


def _segment_plate_photo(
    photo: _Photo, plate_format: int, working_size: int, analysis: dict[str, Any]
) -> SegmentationResult:
    """Segment every well of a whole-plate photo (the plate-photo path of `segment`).

    The wells are found on the plate grid at full resolution; wells of a plate are small, so
    the working scale keeps each one's diameter at about ``working_size / 2.5`` pixels or
    more.
    """
    wells_full = find_plate_wells(photo.plane, plate_format)
    f = max(1, int(5.0 * wells_full[0][3] // working_size))
    plane, ps_work, kw = _working_scale(photo, f, analysis)
    labels_work, well_mask_work, measures = _segment_plate(
        plane, wells_full, f, ps_work, plate_format, kw
    )
    measures["calibrated"] = photo.calibrated
    return _result(
        photo.image, plane, labels_work, well_mask_work, measures, "", f, ps_work, photo.is_rgb
    )


def _segment_single_well_photo(
    photo: _Photo,
    working_size: int,
    analysis: dict[str, Any],
    *,
    well: str,
    well_diameter_um: float | None,
    roi: str,
) -> SegmentationResult:
    """Segment a single-well photo (the single-well path of `segment`).

    Images larger than ``working_size`` are analysed at a reduced scale (block mean); the
    result is flagged ``no_well`` when the plane has no edge to fit a well to.
    """
    f = U.block_factor(photo.image.shape[:2], working_size)
    plane, ps_work, kw = _working_scale(photo, f, analysis)
    single = _segment_single_well(
        photo.image,
        plane,
        f,
        ps_work,
        kw,
        photo.multi,
        photo.is_rgb,
        well=well,
        well_diameter_um=well_diameter_um,
        roi=roi,
    )
    if single is None:
        return _nothing(photo.image, "no_well", photo.calibrated, photo.is_rgb)
    labels_work, well_mask_work, measures, qc_flag = single
    measures["calibrated"] = photo.calibrated
    return _result(
        photo.image,
        plane,
        labels_work,
        well_mask_work,
        measures,
        qc_flag,
        f,
        ps_work,
        photo.is_rgb,
    )


def _nothing(image: np.ndarray, flag: str, calibrated: bool, is_rgb: bool) -> SegmentationResult:
    """Return the empty result of an image with nothing to measure, flagged ``flag``."""
    from napari_il6assay.segment.qc import overlay

    shape = image.shape[:2]
    return empty_result(
        shape,
        readout_name=READOUT,
        qc_flag=flag,
        calibrated=calibrated,
        overlay=overlay(image, np.zeros(shape, np.int32), rgb=is_rgb),
    )


def _analysis_options(
    ps_work: float | None,
    *,
    colony_radius_um: float | None,
    min_colony_area_px: int | None,
    full_stain_od: float | None,
    k_noise: float,
    edge_fraction: float,
    min_od: float,
) -> dict[str, Any]:
    """Keyword arguments of `_analyse_well` at the working scale (pixel size ``ps_work``).

    The colony radius is estimated from the data unless both it and the pixel size are
    given; so is the smallest colony area unless given or derived from the radius.
    """
    if colony_radius_um is None or ps_work is None:
        rad_px = 5.0
        estimate_size = True
    else:
        rad_px = colony_radius_um / ps_work
        estimate_size = False
    min_area = (
        min_colony_area_px
        if min_colony_area_px is not None
        else (None if estimate_size else max(4, int(0.15 * math.pi * rad_px**2)))
    )
    return dict(
        pixel_size_um=ps_work,
        full_stain_od=full_stain_od,
        k_noise=k_noise,
        edge_fraction=edge_fraction,
        min_od=min_od,
        min_colony_area_px=min_area,
        colony_radius_px=rad_px,
        count_radius_px=None if estimate_size else rad_px,
    )


def _segment_plate(
    plane: np.ndarray,
    wells_full: list[tuple[str, float, float, float]],
    f: int,
    ps_work: float | None,
    plate_format: int,
    kw: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Analyse every well of a whole-plate photo: ``(labels, well mask, measures)``.

    ``wells_full`` are the wells found on the plate grid at full resolution; the working
    plane is ``f`` times smaller. ``measures["per_well"]`` holds one row per well (`_result`
    moves it to ``SegmentationResult.per_well``); the readout is the mean over wells.
    """
    import pandas as pd

    labels_w = np.zeros(plane.shape, np.int32)
    well_union = np.zeros(plane.shape, bool)
    rows = []
    for name, cy_full, cx_full, r_full in wells_full:
        cy, cx, r = (cy_full + 0.5) / f - 0.5, (cx_full + 0.5) / f - 0.5, r_full / f
        box = (
            slice(max(0, int(cy - r - 2)), min(plane.shape[0], int(cy + r + 3))),
            slice(max(0, int(cx - r - 2)), min(plane.shape[1], int(cx + r + 3))),
        )
        wm = np.zeros(plane.shape, bool)
        wm[box] = disc_mask(
            (box[0].stop - box[0].start, box[1].stop - box[1].start),
            cy - box[0].start,
            cx - box[1].start,
            r,
        )
        well_union |= wm
        col, _, m = _analyse_well(
            plane, wm, box=box, centre=(cy, cx), ring=0.5 if r < 150 else 1.0, **kw
        )
        sub = labels_w[box]
        sub[col > 0] = col[col > 0] + labels_w.max()
        m.update(
            {
                "well": name,
                "well_center_y": cy_full,
                "well_center_x": cx_full,
                "well_radius_um": r * (ps_work or 1),
            }
        )
        rows.append(m)
    per_well = pd.DataFrame(rows)
    cols_first = ["well"] + [c for c in per_well.columns if c != "well"]
    per_well = per_well[cols_first]
    measures: dict[str, Any] = {
        "readout": float(per_well["area_fraction"].mean()),
        "readout_name": READOUT,
        "n_objects": int(labels_w.max()),
        "calibrated": False,
        "area_fraction": float(per_well["area_fraction"].mean()),
        "intensity_weighted_area_fraction": float(
            per_well["intensity_weighted_area_fraction"].mean()
        ),
        "colony_count": int(per_well["colony_count"].sum()),
        "n_wells": len(per_well),
        "plate_format": plate_format,
        "per_well": per_well,
    }
    return labels_w, well_union, measures


def _measured_area(
    plane: np.ndarray,
    f: int,
    ps_work: float | None,
    full_shape: tuple[int, ...],
    *,
    well: str,
    well_diameter_um: float | None,
    roi: str,
) -> tuple[np.ndarray, Any, tuple[float, float, float], tuple[float, float] | None, str] | None:
    """Find the measured area of a single-well photo: ``(mask, fit, (cy, cx, r), centre, flag)``.

    ``well="none"``: the frame or ``roi``; otherwise the well found (`find_single_well`),
    flagged ``well_implausible`` when its checks fail; in ``auto`` mode, without a well rim
    in the frame, the arc of a dish larger than the frame (`find_vessel_arc`) or, with no
    rim at all (a flask), the whole frame. ``fit`` is None for ``well="none"``; None is
    returned when the plane has no edge to fit a well to.
    """
    wmode = _well_mode(well)
    box_full = parse_roi(roi, full_shape) if roi not in (None, "") else None
    if box_full is not None and wmode != "none":
        raise SegmentationError("colony: a region of interest (roi) applies with well='none' only")
    mid = ((plane.shape[0] - 1) / 2, (plane.shape[1] - 1) / 2, float("nan"))
    if wmode == "none":
        return _frame_or_roi(plane.shape, f, box_full), None, mid, None, ""
    exp_r = None
    if well_diameter_um is not None:
        if ps_work is None:
            raise SegmentationError("colony: well_diameter_um needs a pixel size")
        exp_r = 0.5 * float(well_diameter_um) / ps_work
    fit = find_single_well(plane, expected_radius_px=exp_r)
    if fit is None:
        return None
    flag = ""
    circle = (fit.cy, fit.cx, fit.r)
    centre: tuple[float, float] | None = (fit.cy, fit.cx)
    if not fit.plausible:
        flag = "well_implausible"
        if wmode == "auto" and not fit.is_well:
            # no well rim in the frame: the arc of a dish larger than the frame bounds the
            # floor; with no rim at all (a flask) the frame is the measured area; flagged
            # either way
            arc = find_vessel_arc(plane)
            if arc is not None:
                fit, circle, centre = arc, (arc.cy, arc.cx, arc.r), (arc.cy, arc.cx)
            else:
                circle, centre = mid, None
    wm = np.ones(plane.shape, bool) if centre is None else disc_mask(plane.shape, *circle)
    if not wm.any():
        flag = join_flags(flag, "no_well")
    return wm, fit, circle, centre, flag


def _frame_or_roi(
    shape: tuple[int, ...], f: int, box_full: tuple[int, int, int, int] | None
) -> np.ndarray:
    """Mask the whole working plane, or a full-resolution box ``(y0, x0, y1, x1)`` on it."""
    wm = np.zeros(shape[:2], bool)
    if box_full is None:
        wm[:] = True
    else:
        y0, x0, y1, x1 = box_full
        wm[y0 // f : -(-y1 // f), x0 // f : -(-x1 // f)] = True
    return wm


def _segment_single_well(
    image: np.ndarray,
    plane: np.ndarray,
    f: int,
    ps_work: float | None,
    kw: dict[str, Any],
    multi: bool,
    is_rgb: bool,
    *,
    well: str,
    well_diameter_um: float | None,
    roi: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], str] | None:
    """Analyse a single-well photo: ``(labels, measured area, measures, qc_flag)``.

    None when the plane has no edge to fit a well to (the caller reports ``no_well``).
    """
    area = _measured_area(
        plane,
        f,
        ps_work,
        image.shape[:2],
        well=well,
        well_diameter_um=well_diameter_um,
        roi=roi,
    )
    if area is None:
        return None
    wm, fit, (cy, cx, r), centre, qc_flag = area
    labels_work, _, m = _analyse_well(plane, wm, centre=centre, **kw)
    qc_flag = join_flags(qc_flag, _mismatch(image, plane, wm, labels_work, fit, multi, is_rgb))
    measures = {
        "readout": m["area_fraction"],
        "readout_name": READOUT,
        "n_objects": int(labels_work.max()),
        "calibrated": False,
        **m,
        "well_center_y": (cy + 0.5) * f - 0.5,
        "well_center_x": (cx + 0.5) * f - 0.5,
        "well_radius_um": r * (ps_work or 1.0),
        "well_radius_px": r * f,
        "well_rim_support": np.nan if fit is None else fit.rim_support,
        "well_in_frame": np.nan if fit is None else fit.in_frame,
        "background_level": m["background_level"],
        "sharpness": m["sharpness"],
    }
    if fit is not None and fit.problems:
        measures["well_problem"] = "; ".join(fit.problems)
    return labels_work, wm, measures, qc_flag


def _result(
    image: np.ndarray,
    plane: np.ndarray,
    labels_work: np.ndarray,
    well_mask_work: np.ndarray,
    measures: dict[str, Any],
    qc_flag: str,
    f: int,
    ps_work: float | None,
    is_rgb: bool,
) -> SegmentationResult:
    """Build the result from the working-scale labels and measured area.

    Labels and well mask are brought to full resolution, the colonies measured (each
    assigned to its plate well when ``measures`` has a ``per_well`` table) and the overlay
    drawn.
    """
    from napari_il6assay.segment.measure import measure_objects
    from napari_il6assay.segment.qc import overlay

    shape = image.shape[:2]
    if f > 1:
        labels = np.repeat(np.repeat(labels_work, f, axis=0), f, axis=1)[: shape[0], : shape[1]]
        wmask_full = np.repeat(np.repeat(well_mask_work, f, axis=0), f, axis=1)[
            : shape[0], : shape[1]
        ]
    else:
        labels, wmask_full = labels_work, well_mask_work
    objects = measure_objects(labels_work, plane, pixel_size_um=ps_work)
    # the working-scale pixel count -> full-resolution pixels
    objects["area_px"] = (objects["area_px"] * f * f).astype("int64")
    measures = dict(measures)
    per_well = measures.pop("per_well", None)
    if per_well is not None and len(objects):
        names = per_well["well"].tolist()
        # each colony's well: nearest well centre
        from scipy import ndimage as ndi

        ids = objects["label"].to_numpy()
        cyx = np.asarray(ndi.center_of_mass(labels_work > 0, labels_work, ids))
        centres_full = per_well[["well_center_y", "well_center_x"]].to_numpy()
        centres = (centres_full + 0.5) / f - 0.5
        d = ((cyx[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        objects.insert(1, "plate_well", [names[i] for i in d.argmin(1)])
    return SegmentationResult(
        labels=labels.astype(np.int32, copy=False),
        objects=objects,
        measures=measures,
        qc_flag=qc_flag,
        overlay=overlay(image, labels, rgb=is_rgb, extra=[wmask_full]),
        per_well=per_well,
    )
