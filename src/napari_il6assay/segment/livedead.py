"""Live/dead fluorescence (e.g. calcein-AM live, PI or EthD-1 dead), optional nuclei.

Method, per channel:

1. background: a robust degree-3 polynomial (cells are outliers), subtracted;
2. the live signal that bleeds into the dead channel is estimated (the median
   dead/live ratio over clearly live pixels) and removed;
3. foreground: above ``k_noise`` background sigmas and above a fraction of the local
   peak within about one cell diameter, so dim and bright cells each keep their own
   edge. The fraction is found per object at its steepest edge (gradient-weighted mean
   level over a band across the outline): a fixed fraction (0.3) put the outline of
   small nuclei a pixel outside their edge (+20-40 % dead area), a bias that moved
   ``live_fraction`` by 0.01-0.05 depending on the cells' size and profile;
4. out-of-focus blobs (cells in another plane, debris glowing through the haze) are
   not cells: every object's **edge width** (local peak / gradient along its outline,
   in pixels) is compared with the sharp objects' (the lower quartile over both
   channels: cells outnumber blobs). A cell's edge is the point-spread function, a few
   pixels whatever the cell's size or brightness; a blob's edge is its whole blur, 3-6x
   wider. Objects more than ``blur_ratio`` (2.5) times wider are dropped; cells standing
   on a blob are recovered by a top-hat wider than a cell and kept when their own edge
   is sharp. Brightness-based rules cannot do this: a dim blob and a dim cell look
   alike, and the blobs' halo joins nearby cells;
5. a pixel positive in both channels goes to the channel with the larger signal
   relative to its own cells' typical brightness.

Self-checks (``qc_flag``):

- ``out_of_focus``: more than 35 % of the foreground was blur, or more than 10 % of the
  kept area is in objects between sharp and blur, or even the sharp quarter of the
  objects has an edge wider than 6 px (nothing in focus);
- ``mode_mismatch``: both channels are a bright background with dark objects (a
  brightfield or crystal-violet photo), or the dead channel is bright wherever the live
  stain is (dead/live > 0.25 over the live cells: the same stain twice; real
  bleed-through is a few per cent);
- ``no_object``: neither channel holds a cell.

``live_fraction`` = live area / (live + dead area); NaN (``qc_flag="no_object"``)
when neither channel holds any cell. ``measures`` adds the per-image diagnostics
``sharpness`` (median object diameter / edge width, scale-free), ``edge_width_px``,
``blur_fraction``, ``background_level`` (median raw live channel) and
``well_radius_px`` (NaN: no well is found in this mode). Overrides: ``haze="keep"``,
``blur_ratio``, a fixed ``edge_fraction``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, overload

import numpy as np

from napari_il6assay.errors import SegmentationError
from napari_il6assay.qc_flags import join_flags
from napari_il6assay.segment import _util as U
from napari_il6assay.segment.result import SegmentationResult, empty_result

READOUT = "live_fraction"
#: a mask's objects: labels, their number and their areas (index 0 unused)
_Objects = tuple[np.ndarray, int, np.ndarray]
_Fields = tuple[np.ndarray, np.ndarray, np.ndarray, _Objects | None]


class _ForegroundParams(TypedDict):
    """The foreground rule's parameters, shared by both channels and the haze check."""

    k_noise: float
    edge_fraction: float | None
    cell_px: float
    min_area_px: int


def _subtract_background(plane: np.ndarray, working_size: int = 256) -> tuple[np.ndarray, float]:
    from scipy import ndimage as ndi

    from napari_il6assay.segment.illumination import (
        masked_gaussian_background,
        polynomial_background,
    )

    f = U.block_factor(plane.shape, working_size)
    low = U.block_mean(plane, f)
    bg_low, sig_low, _ = polynomial_background(low, degree=3, k=2.5)
    # cells are bright outliers; the background is then followed more locally
    fg = ndi.binary_dilation((low - bg_low) > 3 * sig_low, iterations=2)
    bg_low = masked_gaussian_background(low, fg, max(low.shape) / 24)
    if f > 1:
        bg, _ = U.upsample_field(bg_low, f, plane.shape, None)
        bg = bg[: plane.shape[0], : plane.shape[1]]
    else:
        bg = bg_low
    res = plane - bg
    # noise of single pixels (not of the block means)
    sub = res[:: max(1, res.shape[0] // 256), :: max(1, res.shape[1] // 256)]
    med = np.median(sub)
    sig = U.robust_sigma(sub[np.abs(sub - med) < 5 * U.robust_sigma(sub) + 1e-12])
    return res.astype(np.float32), max(sig, 1e-6)


@overload
def _foreground(
    sig_img: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
    min_area_px: int,
    return_fields: Literal[False] = False,
) -> np.ndarray: ...


@overload
def _foreground(
    sig_img: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
    min_area_px: int,
    return_fields: Literal[True],
) -> _Fields: ...


def _foreground(
    sig_img: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
    min_area_px: int,
    return_fields: bool = False,
) -> np.ndarray | _Fields:
    """Cells of one background-subtracted channel.

    Pixels above ``k_noise`` noise sigmas and above a fraction of the local peak (the
    brightest pixel within one cell diameter). With ``edge_fraction=None`` that fraction
    is found per object: the gradient-weighted mean of ``signal / local peak`` over a
    band of two pixels either side of its outline, i.e. the level where the edge is
    steepest (the blurred step's midpoint). A fixed fraction puts the outline of small
    nuclei a pixel too far out (their area +20-40 %), a per-object level follows each
    object's own edge whatever its size and profile.

    With ``return_fields`` the smoothed signal, its local peak and the mask's objects
    ``(labels, n, areas)`` (None when not computed) are returned too, for the edge widths
    of `_reject_haze`, which would otherwise label and count the mask again.
    """
    s, peak, m0 = _initial_mask(
        sig_img, noise, k_noise=k_noise, edge_fraction=edge_fraction, cell_px=cell_px
    )
    return _final_mask(
        m0,
        s,
        peak,
        noise,
        k_noise=k_noise,
        edge_fraction=edge_fraction,
        min_area_px=min_area_px,
        return_fields=return_fields,
    )


def _peak_size(cell_px: float) -> int:
    """Width of the local-peak window: one cell diameter, odd."""
    return max(3, int(round(cell_px)) | 1)


#: Gaussian smoothing of the signal (pixels) before thresholding
SMOOTH_SIGMA = 0.7


def _initial_mask(
    sig_img: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed signal, local peak and the mask at the lowest (or the fixed) level."""
    from scipy import ndimage as ndi

    s = ndi.gaussian_filter(sig_img, SMOOTH_SIGMA)
    peak = ndi.maximum_filter(s, size=_peak_size(cell_px))
    fixed = EDGE_FRACTION_MIN if edge_fraction is None else edge_fraction
    return s, peak, (s > k_noise * noise) & (s > fixed * peak)


@overload
def _final_mask(
    m: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    min_area_px: int,
    return_fields: Literal[False] = False,
) -> np.ndarray: ...


@overload
def _final_mask(
    m: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    min_area_px: int,
    return_fields: Literal[True],
) -> _Fields: ...


@overload
def _final_mask(
    m: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    min_area_px: int,
    return_fields: bool,
) -> np.ndarray | _Fields: ...


def _final_mask(
    m: np.ndarray,
    s: np.ndarray,
    peak: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    min_area_px: int,
    return_fields: bool = False,
) -> np.ndarray | _Fields:
    """`_initial_mask`'s objects at their steepest edge, small ones dropped (`_foreground`)."""
    from scipy import ndimage as ndi

    if edge_fraction is None and m.any():
        # the gradient is evaluated in the objects' edge bands only (not a full-image
        # Sobel pass): the same values where they are used
        m = U.steepest_edge(
            m, s, peak, noise, k_noise * noise, EDGE_FRACTION_MIN, EDGE_FRACTION_MAX
        )
    labels = None
    if min_area_px > 1:
        lab, n = ndi.label(m)
        if n:
            area = np.bincount(lab.ravel())
            keep = area >= min_area_px
            keep[0] = False
            m = keep[lab]
            if return_fields:
                # the kept objects' areas, in the new numbering (index 0 unused)
                labels = (*U.relabel_kept(lab, keep), np.concatenate([[0], area[keep]]))
        else:
            labels = (lab, 0, np.zeros(1, np.int64))
    if return_fields:
        return m, s, peak, labels
    return m


#: the per-object edge level (fraction of the local peak) is kept within these bounds
EDGE_FRACTION_MIN = 0.2
EDGE_FRACTION_MAX = 0.6
#: at most this many separate blob groups are refined in boxes of their own
MAX_BLOB_GROUPS = 64


def _tophat_refine(
    sig_s: np.ndarray,
    region: np.ndarray,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
    min_area_px: int,
    blobs: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Find the cells standing on an out-of-focus blob.

    The blob is removed by a grey opening wider than a cell (cells are narrower than it
    and stand out of the opening, the blob does not), then the usual foreground rule
    applies inside ``region``.

    The rule is defined on the box around all of ``region`` (a margin of one cell). A
    few blobs far apart make that box most of a large image, and the opening and a
    second foreground pass over it cost as much as a channel's own segmentation; with
    ``blobs`` (the channel's labels and the blob ids) separate groups of blobs are
    refined in boxes of their own, and each group's answer is kept only when it is
    provably the big box's (`_group_is_exact`); otherwise the big box is used.

    Returns
    -------
    cand : ndarray of bool
        The recovered cells within ``box``.
    box : tuple of slice
        The box around ``region``, so that the caller measures them there.
    """
    from scipy import ndimage as ndi

    box = U.crop_box(region, int(cell_px) + 2)
    k = max(5, int(round(2.0 * cell_px)) | 1)
    if blobs is not None:
        cand = _tophat_by_groups(
            sig_s,
            region,
            box,
            blobs,
            k,
            noise,
            k_noise=k_noise,
            edge_fraction=edge_fraction,
            cell_px=cell_px,
            min_area_px=min_area_px,
        )
        if cand is not None:
            return cand, box
    sub = sig_s[box]
    # a square (separable min/max filters, fast) two cells wide
    hp = sub - ndi.grey_opening(sub, size=(k, k))
    m = _foreground(
        hp,
        noise,
        k_noise=k_noise,
        edge_fraction=edge_fraction,
        cell_px=cell_px,
        min_area_px=min_area_px,
    )
    return m & region[box], box


def _exact_margin(k: int, cell_px: float) -> int:
    """Return the box-edge distance beyond which the top-hat fields match a larger box's.

    The top-hat foreground's pixel fields beyond it are those of any larger box: the
    opening (two passes of half ``k``), the Gaussian, the local peak, the steepest-edge
    band and its gradient, plus one pixel of slack.
    """
    gauss_r = int(4.0 * SMOOTH_SIGMA + 0.5)  # scipy's truncate=4 radius
    return 2 * (k // 2) + gauss_r + _peak_size(cell_px) // 2 + 2 + 1 + 1


def _tophat_by_groups(
    sig_s: np.ndarray,
    region: np.ndarray,
    box: tuple[slice, ...],
    blobs: tuple[np.ndarray, np.ndarray],
    k: int,
    noise: float,
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
    min_area_px: int,
) -> np.ndarray | None:
    """Run `_tophat_refine` per group of nearby blobs, in boxes of their own.

    None when the groups would not save much or a group's answer could differ from the
    big box's.

    A group's box starts at its blobs' box grown by `_exact_margin` plus a cell and is
    grown twice more (x2, x4) while cells next to the blobs run too close to its open
    sides (`_group_is_exact`); only the group's own blob pixels are taken from it.
    """
    from scipy import ndimage as ndi

    lab, ids = blobs
    if ids.size == 0 or ids.size > MAX_BLOB_GROUPS:
        return None
    d_exact = _exact_margin(k, cell_px)
    grow = d_exact + int(cell_px) + 2
    sig_b, lab_b = sig_s[box], lab[box]
    h, w = lab_b.shape
    budget = 0.5 * h * w  # pixels the groups may cost before the big box is cheaper
    slices = ndi.find_objects(lab_b, max_label=int(ids.max()))
    # groups: blobs whose grown boxes overlap, merged until none do (few blobs)
    groups = [
        ([int(i)], [sl[0].start, sl[0].stop, sl[1].start, sl[1].stop])
        for i in ids
        if (sl := slices[i - 1]) is not None
    ]

    def near(a: list[int], b: list[int]) -> bool:
        return (
            a[0] - grow < b[1] + grow
            and b[0] - grow < a[1] + grow
            and a[2] - grow < b[3] + grow
            and b[2] - grow < a[3] + grow
        )

    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (ia, ra), (ib, rb) = groups[a], groups[b]
                if near(ra, rb):
                    groups[a] = (
                        ia + ib,
                        [
                            min(ra[0], rb[0]),
                            max(ra[1], rb[1]),
                            min(ra[2], rb[2]),
                            max(ra[3], rb[3]),
                        ],
                    )
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    out = np.zeros((h, w), bool)
    cost = 0
    for members, (r0, r1, c0, c1) in groups:
        for g in (grow, 2 * grow, 4 * grow):
            y0, y1, x0, x1 = max(0, r0 - g), min(h, r1 + g), max(0, c0 - g), min(w, c1 + g)
            cost += (y1 - y0) * (x1 - x0)
            if cost > budget:
                return None
            gb = (slice(y0, y1), slice(x0, x1))
            sub = sig_b[gb]
            hp = sub - ndi.grey_opening(sub, size=(k, k))
            s, peak, m0 = _initial_mask(
                hp, noise, k_noise=k_noise, edge_fraction=edge_fraction, cell_px=cell_px
            )
            own = np.isin(lab_b[gb], members)
            # open sides: edges of the group box that are not edges of the big box
            open_sides = (y0 != 0, y1 != h, x0 != 0, x1 != w)
            if _group_is_exact(m0, own, open_sides, d_exact):
                m = _final_mask(
                    m0,
                    s,
                    peak,
                    noise,
                    k_noise=k_noise,
                    edge_fraction=edge_fraction,
                    min_area_px=min_area_px,
                )
                out[gb] |= m & own
                break
        else:
            return None
    return out


def _group_is_exact(
    m0: np.ndarray, reg: np.ndarray, open_sides: tuple[bool, bool, bool, bool], d_exact: int
) -> bool:
    """Tell whether a group box's foreground equals the big box's at the group's blobs.

    The steepest-edge objects, their bands (two pixels) and the final objects all lie
    within the 4-connected regions of the initial mask grown by two pixels; those that
    reach the blobs must keep ``d_exact`` pixels from every open side (an edge of the
    group box inside the big box). Then every pixel value they read is the big box's, they
    are whole (same areas, same label order) and so is their answer; the blob pixels
    outside them are at least the growing margin from the open sides.
    """
    from scipy import ndimage as ndi

    if not m0.any():
        return True
    ex, _n = ndi.label(U.max_filter_square(m0, 2))
    ids = np.unique(ex[reg & (ex > 0)])
    if ids.size == 0:
        return True
    h, w = m0.shape
    top, bottom, left, right = open_sides
    slices = ndi.find_objects(ex, max_label=int(ids.max()))
    for i in ids:
        sl = slices[i - 1]
        if (
            (top and sl[0].start < d_exact)
            or (bottom and h - sl[0].stop < d_exact)
            or (left and sl[1].start < d_exact)
            or (right and w - sl[1].stop < d_exact)
        ):
            return False
    return True


#: an in-focus edge, sampled near Nyquist, rises over a few pixels (PSF + the 0.7 px
#: smoothing give 3-4 px); when even the sharpest quarter of the objects is wider than
#: this, nothing in the image is in focus
MAX_SHARP_EDGE_PX = 6.0
#: objects whose edge is wider than this multiple of the sharp objects' (but not yet
#: blur) are ambiguous
AMBIGUOUS_RATIO = 1.7


def _reject_haze(
    channels: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, _Objects | None]],
    *,
    k_noise: float,
    edge_fraction: float | None,
    cell_px: float,
    min_area_px: int,
    blur_ratio: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Drop out-of-focus blobs from the live and dead masks.

    The reference edge width is the lower quartile over the objects of both channels
    (cells outnumber haze blobs; the quartile is robust to clusters and to dim cells).
    An object whose edge is more than ``blur_ratio`` times wider is blur; cells standing
    on it are recovered by `_tophat_refine` and kept when their own edge is sharp.

    Parameters
    ----------
    channels : list of (mask, smoothed signal, local peak, noise, objects)
        Live then dead; ``objects`` is `_foreground`'s ``(labels, n, areas)`` of the mask
        or None.
    blur_ratio : float
        Edge-width ratio beyond which an object is blur.

    Returns
    -------
    live, dead : ndarray of bool
        The masks without blur.
    info : dict
        ``w_ref`` (edge width of sharp objects, px), ``blur_px`` (pixels rejected),
        ``ambiguous_px`` (kept pixels in objects between sharp and blur), ``kept_px``,
        ``median_diameter_px`` of the kept objects.
    """
    per = []
    pooled = []
    for m, s, peak, _noise, objects in channels:
        if objects is None:
            w, n, lab = U.edge_widths(m, s, peak)
            area = np.bincount(lab.ravel(), minlength=n + 1)
        else:
            lab, n, area = objects
            w, n, lab = U.edge_widths(m, s, peak, labels=(lab, n))
        per.append((w, n, lab, area))
        ok = (area[1:] >= min_area_px) & np.isfinite(w[1:])
        pooled.append(w[1:][ok])
    allw = np.concatenate(pooled) if pooled else np.zeros(0)
    info: dict[str, Any] = {
        "w_ref": float("nan"),
        "blur_px": 0,
        "ambiguous_px": 0,
        "kept_px": int(sum(int(c[0].sum()) for c in channels)),
        "median_diameter_px": float("nan"),
    }
    if allw.size == 0:
        return channels[0][0], channels[1][0], info
    w_ref = max(float(np.percentile(allw, 25)), 1.5)
    cut = blur_ratio * w_ref
    out = []
    blur_px = amb_px = 0
    diam: list[np.ndarray] = []
    for (m, s, peak, noise, _labels), (w, _n, lab, area) in zip(channels, per, strict=True):
        blurred = np.nan_to_num(w, nan=0.0) > cut
        blurred[0] = False
        bmask = blurred[lab]
        kept = m & ~bmask
        if bmask.any():
            cand, box = _tophat_refine(
                s,
                bmask,
                noise,
                k_noise=k_noise,
                edge_fraction=edge_fraction,
                cell_px=cell_px,
                min_area_px=min_area_px,
                blobs=(lab, np.flatnonzero(blurred)),
            )
            if cand.any():
                # in the candidates' box (a margin around them, or the image's own edge):
                # the same outlines and widths as over the whole image, at a box's cost
                cw, _cn, clab = U.edge_widths(cand, s[box], peak[box])
                good = np.nan_to_num(cw, nan=np.inf) <= cut
                good[0] = False
                rescued = np.zeros(m.shape, bool)
                rescued[box] = good[clab]
                kept |= rescued
                bmask &= ~rescued
        blur_px += int(bmask.sum())
        amb = (np.nan_to_num(w, nan=0.0) > AMBIGUOUS_RATIO * w_ref) & ~blurred
        amb[0] = False
        amb_px += int(area[amb].sum())
        keep_obj = ~blurred & (area >= min_area_px)
        keep_obj[0] = False
        diam.append(np.sqrt(4 * area[keep_obj] / np.pi))
        out.append(kept)
    d = np.concatenate(diam)
    info.update(
        w_ref=w_ref,
        blur_px=blur_px,
        ambiguous_px=amb_px,
        kept_px=int(out[0].sum() + out[1].sum()),
        median_diameter_px=float(np.median(d)) if d.size else float("nan"),
    )
    return out[0], out[1], info


def _bright_background(plane: np.ndarray) -> float:
    """Where the median pixel lies between the darkest and brightest (0..1).

    Fluorescence is dark with bright cells: the median sits near the bottom (about 0.01
    to 0.1, more in a confluent well); plain noise gives 0.46. A brightfield or stained
    (crystal violet) photo is a bright background with dark objects: 0.6 to 0.95.
    """
    sub = plane[:: max(1, plane.shape[0] // 256), :: max(1, plane.shape[1] // 256)]
    lo, med, hi = np.percentile(sub, [0.5, 50, 99.9])
    return float((med - lo) / (hi - lo)) if hi > lo else 0.0


def _mode_mismatch(live: np.ndarray, dead: np.ndarray, raw_ratio: float) -> str:
    """Why the image does not look like a live/dead fluorescence image ("" when it does).

    - both channels bright with dark objects: a brightfield or stained photo;
    - the dead channel bright wherever the live stain is (dead/live ratio over the
      bright live pixels above `SAME_STAIN_RATIO`): both channels hold the same stain,
      or the channels are swapped copies; real calcein bleed-through into the PI
      channel is a few per cent.
    """
    if min(_bright_background(live), _bright_background(dead)) > BRIGHT_BACKGROUND:
        return "bright background with dark objects (brightfield or stained photo)"
    if np.isfinite(raw_ratio) and raw_ratio > SAME_STAIN_RATIO:
        return f"the dead channel repeats the live stain (ratio {raw_ratio:.2f})"
    return ""


#: median position above which a channel is a bright background (see `_bright_background`)
BRIGHT_BACKGROUND = 0.55
#: dead/live signal over live cells above which both channels hold the same stain
SAME_STAIN_RATIO = 0.25
#: share of the foreground rejected as blur above which ``out_of_focus`` is set
MAX_BLUR_SHARE = 0.35
#: share of the kept foreground in ambiguous objects above which ``out_of_focus`` is set
MAX_AMBIGUOUS_SHARE = 0.10


def _count_nuclei(plane: np.ndarray, k_noise: float, cell_px: float) -> int:
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    res, noise = _subtract_background(U.to_float(plane))
    m = _foreground(
        res,
        noise,
        k_noise=k_noise,
        edge_fraction=0.3,
        cell_px=cell_px,
        min_area_px=max(3, int(0.1 * cell_px * cell_px)),
    )
    if not m.any():
        return 0
    dist = ndi.gaussian_filter(ndi.distance_transform_edt(m), 1.0)
    lab, _ = ndi.label(m)
    pk = peak_local_max(
        dist, min_distance=max(2, int(cell_px / 3)), labels=lab, exclude_border=False
    )
    return int(len(pk))


def _check_channels(
    image: np.ndarray,
    is_rgb: bool,
    live_channel: int,
    dead_channel: int,
    nuclei_channel: int | None,
) -> tuple[int, int]:
    """Check the channel indices against the image; return the live and dead channels.

    An RGB photo with the default indices is read as R = dead, G = live.
    """
    if image.ndim != 3 or image.shape[-1] < 2:
        raise SegmentationError(
            "mode 'livedead' needs an image with at least 2 channels (live, dead), got shape "
            f"{image.shape}"
        )
    nch = image.shape[-1]
    if is_rgb and live_channel == 0 and dead_channel == 1:
        live_channel, dead_channel = 1, 0
    for name, idx in (
        ("live_channel", live_channel),
        ("dead_channel", dead_channel),
        ("nuclei_channel", nuclei_channel),
    ):
        if idx is not None and not 0 <= idx < nch:
            raise SegmentationError(f"livedead: {name}={idx} but the image has {nch} channels")
    return live_channel, dead_channel


def _unmix_step(
    lres: np.ndarray, dres: np.ndarray, lfg: np.ndarray, unmix: bool
) -> tuple[np.ndarray, float, float]:
    """Measure the live-to-dead bleed-through on bright live cells; remove it if asked.

    Returns
    -------
    dres : ndarray
        The dead channel's residual, unmixed when ``unmix``.
    bleed : float
        The fraction removed (0 without unmixing).
    raw_ratio : float
        The median dead/live ratio on the brighter half of the live foreground (NaN
        with too little live foreground).
    """
    bleed = 0.0
    raw_ratio = float("nan")
    if lfg.sum() > 20:
        strong = lfg & (lres > np.percentile(lres[lfg], 50))
        ratio = dres[strong] / np.maximum(lres[strong], 1e-6)
        raw_ratio = float(np.median(ratio))
        if unmix:
            bleed = float(np.clip(raw_ratio, 0.0, 0.5))
            dres = dres - bleed * np.maximum(lres, 0)
    return dres, bleed, raw_ratio


def _resolve_overlap(lfg: np.ndarray, dfg: np.ndarray, lres: np.ndarray, dres: np.ndarray) -> None:
    """Give each pixel in both foregrounds to the stain brighter relative to its median.

    ``lfg`` and ``dfg`` are changed in place.
    """
    both = lfg & dfg
    if both.any():
        lref = np.median(lres[lfg]) if lfg.any() else 1.0
        dref = np.median(dres[dfg]) if dfg.any() else 1.0
        live_wins = lres[both] / max(lref, 1e-6) >= dres[both] / max(dref, 1e-6)
        yy, xx = np.nonzero(both)
        dfg[yy[live_wins], xx[live_wins]] = False
        lfg[yy[~live_wins], xx[~live_wins]] = False


def _focus_step(
    measures: dict[str, Any],
    focus: dict[str, Any],
    live: np.ndarray,
    total: float,
    mismatch: str,
) -> list[str]:
    """Add the per-image diagnostics to ``measures``; return the qc flags.

    The diagnostics feed the plate-level outlier checks; the focus self-check flags
    ``out_of_focus`` when blur or ambiguous edges dominate, or the sharp edges are wide.
    """
    shape = live.shape
    w_ref = float(focus["w_ref"])
    fg_px = focus["kept_px"] + focus["blur_px"]
    blur_share = focus["blur_px"] / fg_px if fg_px else float("nan")
    amb_share = focus["ambiguous_px"] / focus["kept_px"] if focus["kept_px"] else float("nan")
    measures.update(
        well_radius_px=float("nan"),
        background_level=float(
            np.median(live[:: max(1, shape[0] // 256), :: max(1, shape[1] // 256)])
        ),
        sharpness=(focus["median_diameter_px"] / w_ref) if w_ref == w_ref else float("nan"),
        edge_width_px=w_ref,
        blur_fraction=blur_share,
    )
    flags = []
    if total <= 0:
        flags.append("no_object")
    if mismatch:
        flags.append("mode_mismatch")
    if total > 0 and (
        (blur_share == blur_share and blur_share > MAX_BLUR_SHARE)
        or (amb_share == amb_share and amb_share > MAX_AMBIGUOUS_SHARE)
        or (w_ref == w_ref and w_ref > MAX_SHARP_EDGE_PX)
    ):
        flags.append("out_of_focus")
    return flags


def _constant_result(image: np.ndarray, calibrated: bool, is_rgb: bool) -> SegmentationResult:
    """Return the empty result of an image whose live and dead channels are constant."""
    from napari_il6assay.segment.qc import overlay

    shape = image.shape[:2]
    return empty_result(
        shape,
        readout_name=READOUT,
        qc_flag="constant_image",
        calibrated=calibrated,
        overlay=overlay(image, np.zeros(shape, np.int32), rgb=is_rgb),
    )


def _area_measures(
    lfg: np.ndarray, dfg: np.ndarray, nl: int, nd: int, px2: float, calibrated: bool
) -> dict[str, Any]:
    """Build the live and dead areas (``px2`` per pixel), counts and the live fraction."""
    live_area, dead_area = float(lfg.sum()) * px2, float(dfg.sum()) * px2
    total = live_area + dead_area
    return {
        "readout": live_area / total if total > 0 else float("nan"),
        "readout_name": READOUT,
        "n_objects": int(nl + nd),
        "calibrated": calibrated,
        "live_fraction": live_area / total if total > 0 else float("nan"),
        "live_area_um2": live_area,
        "dead_area_um2": dead_area,
        "n_live": int(nl),
        "n_dead": int(nd),
    }


def segment(
    image: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: Any = None,
    rgb: bool | None = None,
    axes: str | None = None,
    channel_names: list[str] | None = None,
    live_channel: int = 0,
    dead_channel: int = 1,
    nuclei_channel: int | None = None,
    k_noise: float = 5.0,
    edge_fraction: float | None = None,
    cell_diameter_um: float = 15.0,
    min_area_px: int | None = None,
    unmix: bool = True,
    haze: str = "reject",
    blur_ratio: float = 2.5,
) -> SegmentationResult:
    """Segment live and dead stain and measure their areas.

    Parameters
    ----------
    image : ndarray
        YXC with at least two channels (live, dead); an RGB photo is read as R = dead,
        G = live unless the channel indices say otherwise.
    pixel_size_um : float, optional
        Pixel size; areas in pixels when None.
    live_channel, dead_channel : int
        Channel indices.
    nuclei_channel : int, optional
        A nuclear stain (Hoechst/DAPI) channel to count nuclei (``n_nuclei``).
    k_noise : float
        Foreground must exceed this many background noise sigmas.
    edge_fraction : float, optional
        ... and this fraction of the local peak (within one cell diameter); None
        (default): each object's own steepest-edge level (`_foreground`).
    cell_diameter_um : float
        Typical cell diameter (in pixels when uncalibrated).
    min_area_px : int, optional
        Smaller objects are noise (default: a tenth of a typical cell's area).
    unmix : bool
        Remove live-channel bleed-through from the dead channel.
    haze : {"reject", "keep"}
        ``"reject"`` (default) drops out-of-focus blobs (see the module docstring);
        ``"keep"`` counts every blob as a cell (the override when the sharpness test is
        wrong, e.g. every cell deliberately imaged soft).
    blur_ratio : float
        An object whose edge is this many times wider than the sharp cells' is blur.

    Returns
    -------
    SegmentationResult
        ``labels``: 1 = live, 2 = dead pixels' connected objects numbered separately
        (``objects`` has a ``class`` column); ``measures``: ``live_fraction``
        (readout), ``live_area_um2``, ``dead_area_um2``, ``n_live``, ``n_dead``,
        ``bleed_through`` and ``n_nuclei`` with a nuclei channel.
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment.qc import overlay

    U.check_2d(image, "livedead", rgb, axes)
    is_rgb = bool(rgb)
    live_channel, dead_channel = _check_channels(
        image, is_rgb, live_channel, dead_channel, nuclei_channel
    )
    if haze not in ("reject", "keep"):
        raise SegmentationError(f"livedead: haze must be 'reject' or 'keep', got {haze!r}")
    calibrated = pixel_size_um is not None
    live = U.to_float(image[..., live_channel])
    dead = U.to_float(image[..., dead_channel])
    if U.is_constant(live) and U.is_constant(dead):
        return _constant_result(image, calibrated, is_rgb)
    ps = pixel_size_um if pixel_size_um is not None else 1.0
    cell_px = cell_diameter_um / ps
    min_area = min_area_px if min_area_px is not None else max(3, int(0.1 * np.pi / 4 * cell_px**2))
    lres, lnoise = _subtract_background(live)
    dres, dnoise = _subtract_background(dead)
    fg_kw = _ForegroundParams(k_noise=k_noise, edge_fraction=edge_fraction, cell_px=cell_px,
                              min_area_px=min_area)  # fmt: skip
    lfg, ls, lpeak, lobj = _foreground(lres, lnoise, return_fields=True, **fg_kw)
    dres, bleed, raw_ratio = _unmix_step(lres, dres, lfg, unmix)
    mismatch = _mode_mismatch(live, dead, raw_ratio)
    dfg, ds, dpeak, dobj = _foreground(dres, dnoise, return_fields=True, **fg_kw)
    focus: dict[str, Any] = {"w_ref": float("nan"), "blur_px": 0, "ambiguous_px": 0,
                             "kept_px": int(lfg.sum() + dfg.sum()),
                             "median_diameter_px": float("nan")}  # fmt: skip
    if haze == "reject":
        fields = [(lfg, ls, lpeak, lnoise, lobj), (dfg, ds, dpeak, dnoise, dobj)]
        lfg, dfg, focus = _reject_haze(fields, blur_ratio=blur_ratio, **fg_kw)
    _resolve_overlap(lfg, dfg, lres, dres)
    llab, nl = ndi.label(lfg)
    dlab, nd = ndi.label(dfg)
    labels = llab.astype(np.int32)
    labels[dfg] = dlab[dfg] + nl
    objects = live_dead_objects(labels, nl, image, pixel_size_um=pixel_size_um,
                                channel_names=channel_names, live_channel=live_channel,
                                dead_channel=dead_channel)  # fmt: skip
    measures = _area_measures(lfg, dfg, nl, nd, ps * ps if calibrated else 1.0, calibrated)
    measures["bleed_through"] = bleed
    total = measures["live_area_um2"] + measures["dead_area_um2"]
    if nuclei_channel is not None:
        measures["n_nuclei"] = _count_nuclei(image[..., nuclei_channel], k_noise, cell_px)
    flags = _focus_step(measures, focus, live, total, mismatch)
    measures["mode_check"] = mismatch
    return SegmentationResult(
        labels=labels,
        objects=objects,
        measures=measures,
        qc_flag=join_flags(flags),
        overlay=overlay(image, (lfg.astype(np.int32)), rgb=is_rgb, extra=[dfg]),
    )


def live_dead_objects(
    labels: np.ndarray,
    n_live: int,
    image: np.ndarray,
    *,
    pixel_size_um: float | None,
    channel_names: Any,
    live_channel: int,
    dead_channel: int,
) -> Any:
    """Build the objects table of a live/dead label image (labels ``1..n_live`` are the live cells).

    Parameters
    ----------
    labels : ndarray of int
        Live cells first (``1..n_live``), then the dead ones.
    n_live : int
        The number of live labels.
    image : ndarray
        The (Y, X, C) image whose channels are measured.
    pixel_size_um : float or None
    channel_names : sequence of str or None
        Used when there is one name per channel.
    live_channel, dead_channel : int
        The channels of the two stains.

    Returns
    -------
    DataFrame
        `measure_objects`' table with a ``class`` column, and each object's own stain as its
        ``mean_intensity``/``integrated_intensity``.
    """
    import pandas as pd

    from napari_il6assay.segment.measure import measure_objects

    nch = image.shape[-1]
    names = channel_names if channel_names and len(channel_names) == nch else None
    objects = measure_objects(labels, None, pixel_size_um=pixel_size_um,
                              channels=image, channel_names=names)  # fmt: skip
    cls = np.where(objects["label"].to_numpy() <= n_live, "live", "dead")
    # pandas accepts an extension array here; pandas-stubs only list plain array-likes
    objects.insert(1, "class", pd.array(cls, dtype="string"))  # type: ignore[arg-type]
    # each object's own channel as its mean/integrated intensity
    ch_cols = [c for c in objects.columns if c.startswith("mean_intensity_")]
    if len(ch_cols) >= 2:
        lcol, dcol = ch_cols[live_channel], ch_cols[dead_channel]
        objects["mean_intensity"] = np.where(cls == "live", objects[lcol], objects[dcol])
        objects["integrated_intensity"] = objects["mean_intensity"] * objects["area_px"]
    return objects
