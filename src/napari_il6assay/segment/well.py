"""One home for finding a single round well in a photo and for judging whether it is real.

Method (chosen after issue 9, where the former finder, "everything not reached from the
border without crossing the dark wall", chose a small gap between colonies in dense wells
whenever the wall was not darker than a fixed fraction of the border, and fitted some circle
to flasks and cropped dishes without a word):

1. **Directional circle Hough transform** on a plane of 200-340 pixels (the rim is a large
   structure; small colonies' fine edges fade). Every pixel whose gradient is above the
   noise votes (at most 6000 of them, evenly thinned), for every candidate radius, for the
   one centre that lies *up* its intensity gradient: a well's floor is brighter than its
   wall, so the inner edge of the rim votes for the well's centre whatever the plastic
   outside looks like (white, grey or black), and a soft, shaded rim counts even beside
   sharper colony edges. Dark round things (colonies, a spheroid) vote away from their own
   centre and cannot form a circle; bright gaps between colonies can, but only as short
   arcs. Votes are divided by the circumference, and radii are limited to a well that
   fills much of the frame (or to ``expected_radius_px`` +- 12 % when the well diameter and
   pixel size are known). The four best distinct peaks are candidates.
2. **Refinement** of each candidate (`refine_well`): a robust circle fit to the floor ->
   wall edge or to the wall -> plastic edge on 240 rays, whichever is sharper, and the
   radius at the steepest fall of the 80th-percentile radial profile (colonies touching
   the wall do not reach the 80th percentile over angles). The unrefined circle stays a
   candidate too.
3. **Self-check** (`WellFit.problems`), also used to choose among the candidates: the rim
   must be a strong, round edge along most of the visible circle (``rim_support``: the
   fraction of 90 sectors with an edge pixel, pointing the right way, within 1.5 % of the
   radius), the plastic outside must be plain (``outside_clean``: a circle fitted into a
   flask's floor has colonies on both sides), the clear floor must show inside it
   (``floor_ratio``: a spheroid's light halo is a round edge too, around a dark body), the
   disc must lie inside the frame (``in_frame``), and its radius must match the expected
   one or fill a good part of the frame. A failed check does not silently change the
   readout: the caller flags ``well_implausible``.
4. **A well or dish that runs off the frame** (issue 9, class 7). The refinement casts
   rays only where the rim lies in the frame: a ray leaving the frame samples its border
   pixel again and again, and such flat profiles had pulled the circle of a well half
   out of the frame ~4 px too wide (area fraction off by up to 0.03). When no well rim is
   in the frame at all, `find_vessel_arc` looks for the arc of a dish larger than the
   frame (a coarse Hough with centres far outside it, refined on the floor -> wall edge
   of the visible arc, checked for a sharp, supported edge with plain plastic beyond):
   the caller measures the floor inside it instead of the whole frame, which counted the
   plastic beyond the wall as floor (or, when dark, as stain: +0.1 to +0.3).

Everything is pure numpy/scipy/scikit-image, imported lazily.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from napari_il6assay.segment.geometry import disc_in_frame, fit_circle

__all__ = [
    "WellFit",
    "disc_in_frame",
    "find_single_well",
    "fit_circle",
    "parse_roi",
    "refine_well",
]

#: the smallest radius of a single-well photo's well, as a fraction of the short side
MIN_RADIUS_FRACTION = 0.25
#: rays crossing a clear rim edge needed to trust a circle
MIN_RIM_SUPPORT = 0.75
#: share of the sectors outside the circle (in the frame) free of edges
MIN_OUTSIDE_CLEAN = 0.7
#: the brightest tenth of the floor vs the floor next to the rim (a stained well's floor
#: shows between colonies; a spheroid's body inside its halo does not)
MIN_FLOOR_RATIO = 0.8
#: the share of the disc that must lie inside the frame
MIN_IN_FRAME = 0.985
#: tolerance on an expected (known) radius
RADIUS_TOLERANCE = 0.12


@dataclass
class WellFit:
    """A circle found in a photo and its plausibility.

    Attributes
    ----------
    cy, cx, r : float
        Centre and radius of the well floor (pixels of the plane given).
    rim_support : float
        Fraction of rays that cross a clear rim edge near ``r`` (0-1).
    in_frame : float
        Fraction of the disc's area inside the frame.
    problems : list of str
        Why the well is implausible (empty when it is fine).
    """

    cy: float
    cx: float
    r: float
    rim_support: float = float("nan")
    in_frame: float = float("nan")
    hough_score: float = float("nan")
    outside_clean: float = float("nan")
    floor_ratio: float = float("nan")
    problems: list[str] = field(default_factory=list)

    @property
    def plausible(self) -> bool:
        """True when no check failed."""
        return not self.problems

    @property
    def is_rim(self) -> bool:
        """Whether the circle follows a real well rim: a strong round edge, plain outside.

        It may still run off the frame or have an unexpected size.
        """
        return self.rim_support >= MIN_RIM_SUPPORT and not (self.outside_clean < MIN_OUTSIDE_CLEAN)

    @property
    def is_well(self) -> bool:
        """A real well rim with the clear floor showing inside (size and frame aside)."""
        return self.is_rim and not (self.floor_ratio < MIN_FLOOR_RATIO)


def _gradient(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the Sobel gradient ``(gy, gx, magnitude)`` of a plane smoothed at 1 pixel."""
    from scipy import ndimage as ndi

    s = ndi.gaussian_filter(q.astype(np.float32), 1.0)
    gy = ndi.sobel(s, axis=0)
    gx = ndi.sobel(s, axis=1)
    return gy, gx, np.hypot(gy, gx)


def _edges(
    q: np.ndarray,
    k_noise: float | None = None,
    gradient: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Find the edge pixels of a plane with their unit gradient (towards brighter) and weight.

    Canny's (top 10 % of the gradient, thin), or with ``k_noise`` every pixel whose gradient
    exceeds ``k_noise`` times the gradient's noise level (weak rims count too).
    ``gradient``: ``_gradient(q)`` when the caller has it already (both kinds of edges
    weigh and orient their pixels by it).
    """
    from skimage.feature import canny

    gy, gx, mag = gradient if gradient is not None else _gradient(q)
    if k_noise is None:
        edges = canny(
            q.astype(np.float32),
            sigma=1.0,
            low_threshold=0.8,
            high_threshold=0.9,
            use_quantiles=True,
        )
        edges &= mag > 0
    else:
        # the gradient of pure noise: the lower half of the magnitudes is mostly noise
        edges = mag > k_noise * float(np.percentile(mag, 25)) / 0.536
    ey, ex = np.nonzero(edges)
    m = mag[ey, ex]
    if ey.size == 0:
        z = np.zeros(0)
        return z, z, z, z, z
    # strong edges weigh more, but one very strong edge cannot outvote a whole rim
    w = np.minimum(m / np.percentile(m, 75), 1.5)
    return ey.astype(np.float64), ex.astype(np.float64), gy[ey, ex] / m, gx[ey, ex] / m, w


def hough_well(
    q: np.ndarray,
    r_min: float,
    r_max: float,
    cell: int = 2,
    n_peaks: int = 4,
    edges: tuple | None = None,
    max_votes: int = 6000,
    pad: int = 0,
    per_length: bool = True,
) -> list[tuple[float, float, float, float]]:
    """Best directional-Hough circle ``(cy, cx, r, score)`` of a plane (see module).

    Parameters
    ----------
    q : ndarray
        2D plane of a few hundred pixels, bright well floor.
    r_min, r_max : float
        Radius range in pixels of ``q``.
    cell : int
        Centre and radius bin of the accumulator, pixels (the refinement is finer).
    n_peaks : int
        Number of distinct circles returned.
    edges : tuple, optional
        ``_edges(q, ...)`` when the caller has them already.
    max_votes : int
        Edge pixels beyond this number are thinned evenly.
    pad : int
        Centres up to ``pad`` pixels outside the plane are searched too (a dish larger
        than the frame).
    per_length : bool
        Divide the votes by the circumference (a whole circle in the frame); False counts
        them as they are (an arc, whose visible length does not grow with the radius).

    Returns
    -------
    list of tuple
        Up to ``n_peaks`` circles ``(cy, cx, r, score)``, best first; ``score`` is the
        weighted fraction of the circumference with a voting edge. Empty without edges.
    """
    ey, ex, uy, ux, w = edges if edges is not None else _edges(q)
    if ey.size < 20:
        return []
    if ey.size > max_votes:
        # every k-th edge pixel: a rim keeps its share of the votes, at a fixed cost
        k = -(-ey.size // max_votes)
        ey, ex, uy, ux, w = ey[::k], ex[::k], uy[::k], ux[::k], w[::k]
    radii = np.arange(max(r_min, 3.0), max(r_max, r_min + cell) + 1e-9, cell)
    h, wd = -(-(q.shape[0] + 2 * pad) // cell), -(-(q.shape[1] + 2 * pad) // cell)
    # up the gradient: towards the brighter floor
    cy = _vote_bins(ey, uy, radii, pad, cell)
    cx = _vote_bins(ex, ux, radii, pad, cell)
    ok = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < wd)
    cy *= wd
    cy += cx  # the flat centre bin, built in place
    # votes whose centre falls outside go to one extra bin, dropped after counting (no
    # selection per radius; each kept bin adds its votes in the same order)
    cy[~ok] = h * wd
    # one radius at a time: each plane of the accumulator stays in the cache through its
    # votes, normalisation and spreading (the whole one is tens of MB); per bin the votes
    # add up in the same order as in one bincount over all radii
    acc = np.empty((radii.size, h, wd), np.float32)
    prev = None
    for k in range(radii.size):
        # (float64 already with weights; the stubs type bincount as integer)
        sums = np.bincount(cy[k], weights=w, minlength=h * wd + 1)[: h * wd].astype(
            np.float64, copy=False
        )
        if per_length:
            sums /= 2 * np.pi * radii[k]
        plane = sums.astype(np.float32).reshape(h, wd)
        # votes of one circle spread over neighbouring bins: the sum over each 2 x 2 block
        # of centre bins (the block ending at the bin), added in place along x, then y
        plane[:, 1:] += plane[:, :-1]
        plane[1:, :] += plane[:-1, :]
        # and over the next radius bin: the maximum with the previous radius' plane
        if prev is None:
            acc[k] = plane
        else:
            np.maximum(plane, prev, out=acc[k])
        prev = plane
    # a few distinct peaks: the checks choose among them (a soft rim can score below the
    # arcs of bright gaps between dense colonies)
    out = []
    for _ in range(n_peaks):
        k, y, x = np.unravel_index(int(np.argmax(acc)), acc.shape)
        if acc[k, y, x] <= 0:
            break
        out.append(
            (
                float((y + 0.5) * cell - 0.5 - pad),
                float((x + 0.5) * cell - 0.5 - pad),
                float(radii[k]),
                float(acc[k, y, x]),
            )
        )
        sup = max(2, int(0.1 * radii[k] / cell))
        acc[:, max(0, y - sup) : y + sup + 1, max(0, x - sup) : x + sup + 1] = 0
    return out


def _vote_bins(e: np.ndarray, u: np.ndarray, radii: np.ndarray, pad: int, cell: int) -> np.ndarray:
    """Accumulator bin of every edge pixel's vote at every radius, along one axis.

    ``floor((e + r u + pad) / cell)`` for each radius ``r`` (rows) and edge pixel (columns),
    computed in place in one float array (the Hough's largest temporaries).
    """
    t = radii[:, None] * u[None, :]
    t += e[None, :]
    if pad:
        t += pad
    t /= cell
    np.floor(t, out=t)
    return t.astype(np.int64)


def rim_support(
    plane: np.ndarray,
    cy: float,
    cx: float,
    r: float,
    n_bins: int = 90,
    edges: tuple | None = None,
    min_visible: float = 0.25,
) -> tuple[float, float]:
    """How well a circle is a well rim: ``(support, outside_clean)``.

    ``support``: the fraction of ``n_bins`` angular sectors holding an edge pixel within
    max(1.5 px, 1.5 % of r) of the circle whose gradient points to the centre (the floor ->
    wall edge), or one within ``[r, 1.12 r]`` pointing away from it (the wall -> plastic
    edge). ``outside_clean``: among the sectors whose band ``[1.15 r, 1.35 r]`` lies in the
    frame, the fraction without any edge there: plastic outside a well holds no colonies,
    while a circle fitted into a flask's floor has them on both sides (NaN when no sector's
    band is in the frame). ``edges``: ``(_edges(plane, 4.0), _edges(plane))`` when the
    caller has them already (the second may be a function returning them: Canny's edges
    are needed only when the outside band lies in the frame). ``min_visible``: the fraction of
    the sectors that must lie in the frame to say anything (support 0 below it).
    """
    weak, sharp = edges if edges is not None else (_edges(plane, k_noise=4.0), _edges(plane))
    ey, ex, uy, ux, _ = weak
    if ey.size == 0:
        return 0.0, float("nan")
    dy, dx = ey - cy, ex - cx
    rho = np.hypot(dy, dx)
    rad = np.where(rho > 0, 1.0, 0.0)
    ry, rx = dy / np.maximum(rho, 1e-9), dx / np.maximum(rho, 1e-9)
    cosr = (uy * ry + ux * rx) * rad  # +1: brighter outward, -1: brighter inward
    sec = np.floor((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * n_bins).astype(np.int64) % n_bins
    band = max(1.5, 0.015 * r)
    inner = (np.abs(rho - r) <= band) & (cosr < -0.8)
    outer = (rho >= r) & (rho <= 1.12 * r + band) & (cosr > 0.8)
    hit = np.zeros(n_bins, bool)
    hit[np.unique(sec[inner | outer])] = True
    # only sectors whose rim lies in the frame can show it
    th = (np.arange(n_bins) + 0.5) / n_bins * 2 * np.pi - np.pi
    h, w = plane.shape
    py, px = cy + r * np.sin(th), cx + r * np.cos(th)
    vis = (py >= 1) & (py <= h - 2) & (px >= 1) & (px <= w - 2)
    if vis.sum() < min_visible * n_bins:
        return 0.0, float("nan")
    support = float((hit & vis).sum() / vis.sum())
    # the outside band of each sector must lie in the frame to say anything
    seen = np.ones(n_bins, bool)
    for f in (1.15, 1.25, 1.35):
        py, px = cy + f * r * np.sin(th), cx + f * r * np.cos(th)
        seen &= (py >= 2) & (py <= h - 3) & (px >= 2) & (px <= w - 3)
    if seen.sum() < 0.1 * n_bins:
        return support, float("nan")
    if callable(sharp):
        sharp = sharp()  # computed only now that they are needed
    # colonies are sharp edges among the image's strongest (Canny's); smooth shading of
    # the plastic (vignetting) is not
    cy_, cx_, _, _, _ = sharp
    rho_c = np.hypot(cy_ - cy, cx_ - cx)
    sec_c = (
        np.floor((np.arctan2(cy_ - cy, cx_ - cx) + np.pi) / (2 * np.pi) * n_bins).astype(np.int64)
        % n_bins
    )
    busy = np.zeros(n_bins, bool)
    out = (rho_c >= 1.15 * r) & (rho_c <= 1.35 * r)
    busy[np.unique(sec_c[out])] = True
    return support, float((~busy & seen).sum() / seen.sum())


def floor_ratio(q: np.ndarray, cy: float, cx: float, r: float) -> float:
    """Compare the brightest floor with the floor next to the rim.

    The 90th percentile of the plane inside ``0.85 r`` over the 80th percentile of the ring
    ``[0.88 r, 0.97 r]`` just inside the rim (NaN when either is empty).

    Inside a well the clear floor shows between colonies, at least as bright as next to the
    (shaded) rim: about 1 or more. A dark object with a light halo (a brightfield spheroid)
    also has a round edge with plain surroundings, but nothing bright inside: well below 1.
    """
    h, w = q.shape
    yy = (np.arange(h) - cy)[:, None]
    xx = (np.arange(w) - cx)[None, :]
    rho = np.sqrt(yy * yy + xx * xx)
    inner = q[rho <= 0.85 * r]
    ring = q[(rho >= 0.88 * r) & (rho <= 0.97 * r)]
    if inner.size < 20 or ring.size < 20:
        return float("nan")
    lo = float(np.percentile(q, 1))
    den = float(np.percentile(ring, 80)) - lo
    return float((np.percentile(inner, 90) - lo) / den) if den > 0 else float("nan")


def find_single_well(
    plane: np.ndarray,
    *,
    expected_radius_px: float | None = None,
    refine: bool = True,
) -> WellFit | None:
    """Find the one round well of a single-well photo and check it (see module).

    Parameters
    ----------
    plane : ndarray
        2D plane where the well floor is bright and stain and wall are dark (the
        absorbing plane of colony mode, a brightfield plane of spheres).
    expected_radius_px : float, optional
        Known floor radius in pixels of ``plane`` (from ``--well-diameter-um`` or the plate
        format and the pixel size).
    refine : bool
        Refine the Hough circle on the rim (module step 2).

    Returns
    -------
    WellFit or None
        None when the plane has no edge to fit.
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment import _util as U

    # the rim is a large structure: 200-340 pixels on the long side keep it and drop the
    # fine edges of small colonies (and keep the accumulator small)
    f = max(1, math.ceil(max(plane.shape) / 340))
    q = U.block_mean(plane, f)
    short, long_ = min(q.shape), max(q.shape)
    if expected_radius_px is not None and expected_radius_px > 0:
        re = expected_radius_px / f
        r_min, r_max = (1 - RADIUS_TOLERANCE) * re, (1 + RADIUS_TOLERANCE) * re
    else:
        r_min, r_max = 0.8 * MIN_RADIUS_FRACTION * short, 0.62 * long_
    cell = 2 if long_ > 200 else 1
    # Canny's edges on first use only (`rim_support`)
    grad = _gradient(q)
    edges = (
        _edges(q, k_noise=4.0, gradient=grad),
        functools.lru_cache(maxsize=1)(lambda: _edges(q, gradient=grad)),
    )
    # every edge above the noise votes: a soft, shaded rim is weaker than sharp colony
    # edges but it is long and round
    found = hough_well(q, r_min, r_max, cell=cell, edges=edges[0])
    if not found:
        return None
    ps = ndi.gaussian_filter(plane.astype(np.float32), 1.0) if refine else None
    exp_r = (
        expected_radius_px if expected_radius_px is not None and expected_radius_px > 0 else None
    )
    best: WellFit | None = None
    best_key: tuple = ()
    for cy0, cx0, r0, score in found:
        cy0, cx0, r0 = (cy0 + 0.5) * f - 0.5, (cx0 + 0.5) * f - 0.5, r0 * f
        for cy, cx, r in _trials(ps, cy0, cx0, r0):
            fit = WellFit(cy, cx, r, hough_score=score)
            if exp_r is not None:
                size_ok = abs(r / exp_r - 1) <= RADIUS_TOLERANCE
            else:
                size_ok = r >= MIN_RADIUS_FRACTION * min(plane.shape)
            key = _judge(fit, q, f, edges, size_ok)
            if best is None or key > best_key:
                best, best_key = fit, key
            if key[0]:
                break  # a plausible well: the unrefined circle and later peaks cannot beat it
        if best_key and best_key[0]:
            break
    assert best is not None
    best.in_frame = disc_in_frame(plane.shape, best.cy, best.cx, best.r)
    best.problems.extend(_problems(best, min(plane.shape), expected_radius_px))
    return best


def _trials(
    ps: np.ndarray | None, cy0: float, cx0: float, r0: float
) -> list[tuple[float, float, float]]:
    """List the circles to judge for one Hough peak: the refined one first, then the peak.

    Of the inner- and outer-edge refinements (`refine_well`) the one with the smaller
    scatter is kept, unless it jumped away from the peak (it followed something else than
    the wall). No refinement without the smoothed plane ``ps``.
    """
    trials = [(cy0, cx0, r0)]
    if ps is None:
        return trials
    # both edges' circle fits first; the radius step (`refine_well`'s last step) only for
    # the sharper one, and for the other only when the sharper one jumped: the same choice
    # as stepping both, one ray cast fewer
    fits = []
    for edge in ("inner", "outer"):
        ry, rx, rfit, spread = refine_well(ps, cy0, cx0, r0, edge=edge, radius_step=False)
        fits.append((spread, ry, rx, rfit))
    # equal (or NaN) scatters: the radii decide between them, so both are stepped
    tie = not (fits[0][0] < fits[1][0] or fits[1][0] < fits[0][0])
    refined = []
    for spread, ry, rx, rfit in sorted(fits, key=lambda fit: fit[0]) if not tie else fits:
        rr = _radius_step(ps, ry, rx, rfit)
        # the refinement follows the wall; a jump says it followed something else
        if abs(rr - r0) < 0.1 * r0 and math.hypot(ry - cy0, rx - cx0) < 0.1 * r0:
            refined.append((spread, ry, rx, rr))
            if not tie:
                break
    if refined:
        trials.insert(0, min(refined)[1:])
    return trials


def _judge(fit: WellFit, q: np.ndarray, f: int, edges: tuple, size_ok: bool) -> tuple:
    """Measure a candidate's rim, outside and floor on the plane ``q`` (``f`` times smaller).

    Returns the candidate's rank key: plausible first, then a rim with a floor, a rim, the
    rim support times the clean outside, the Hough score.
    """
    cq, xq, rq = (fit.cy + 0.5) / f - 0.5, (fit.cx + 0.5) / f - 0.5, fit.r / f
    fit.rim_support, fit.outside_clean = rim_support(q, cq, xq, rq, edges=edges)
    clean = 1.0 if math.isnan(fit.outside_clean) else fit.outside_clean
    fit.floor_ratio = floor_ratio(q, cq, xq, rq)
    floor_ok = fit.floor_ratio >= MIN_FLOOR_RATIO
    # the refined circle first among equals (it is finer than the Hough bins)
    return (
        fit.is_rim and size_ok and floor_ok,
        fit.is_rim and floor_ok,
        fit.is_rim,
        round(fit.rim_support * clean, 2),
        fit.hough_score,
    )


def _problems(fit: WellFit, short: int, expected_radius_px: float | None) -> list[str]:
    """List why a well fit is implausible (see `WellFit.problems`); empty when it is fine."""
    out = []
    if fit.rim_support < MIN_RIM_SUPPORT:
        out.append(f"weak or broken rim (edge on {fit.rim_support:.0%} of the circle)")
    elif fit.outside_clean < MIN_OUTSIDE_CLEAN:
        out.append(f"the circle's outside is not plain plastic ({fit.outside_clean:.0%} clear)")
    if fit.floor_ratio < MIN_FLOOR_RATIO:
        out.append(
            "no bright floor inside the circle (a dark object with a light halo, e.g. a spheroid?)"
        )
    if fit.in_frame < MIN_IN_FRAME:
        out.append(f"the well runs off the frame ({1 - fit.in_frame:.0%} outside)")
    if expected_radius_px is not None and expected_radius_px > 0:
        if abs(fit.r / expected_radius_px - 1) > RADIUS_TOLERANCE:
            out.append(f"radius {fit.r:.0f} px, expected {expected_radius_px:.0f} px")
    elif fit.r < MIN_RADIUS_FRACTION * short:
        out.append(f"radius {fit.r:.0f} px is small for a single-well photo")
    return out


def find_vessel_arc(plane: np.ndarray) -> WellFit | None:
    """Find the arc of a dish's rim when the dish is larger than the frame (see module).

    A photo of a dish or flask larger than the frame shows no whole well, but a dish's wall
    may cross a corner or a side as a long, gently curved arc. The directional Hough of the
    single-well finder, on a coarse plane, with radii from about half to twice the frame's
    long side and centres far outside the frame, proposes circles; each is refined on the
    floor -> wall edge along rays about a pixel and a half apart on the visible arc
    (`refine_well`) and kept when it is a real rim: a sharp edge (scatter of the edge
    points at most 1.5 px) on at least ``MIN_RIM_SUPPORT`` of an arc at least a quarter of
    the short side long, whose outside in the frame holds no stain (``outside_clean``: its
    sharp-edge density at most ``1 - MIN_OUTSIDE_CLEAN`` of the floor's; colonies lie on
    both sides of a circle drawn through a flask's floor).

    Parameters
    ----------
    plane : ndarray
        2D plane, bright floor (as for `find_single_well`).

    Returns
    -------
    WellFit or None
        The dish's circle (``in_frame`` well below 1), or None when no rim arc is found.
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment import _util as U

    short = min(plane.shape)
    # a coarse plane for the wide search (centres far outside the frame)
    f = max(1, math.ceil(max(plane.shape) / 128))
    q = U.block_mean(plane, f)
    long_q = max(q.shape)
    weak = _edges(q, k_noise=4.0)
    found = hough_well(
        q,
        0.45 * long_q,
        2.0 * long_q,
        cell=4,
        edges=weak,
        pad=int(2.0 * long_q),
        n_peaks=4,
        per_length=False,
    )
    if not found:
        return None
    ps = ndi.gaussian_filter(plane.astype(np.float32), 1.0)
    grad = _gradient(ps)
    edges = (_edges(ps, k_noise=4.0, gradient=grad), _edges(ps, gradient=grad))
    min_arc = 0.25 * short
    best: WellFit | None = None
    for cy0, cx0, r0, score in found:
        cy0, cx0, r0 = (cy0 + 0.5) * f - 0.5, (cx0 + 0.5) * f - 0.5, r0 * f
        if disc_in_frame(plane.shape, cy0, cx0, r0) > MIN_IN_FRAME:
            continue  # a whole well is the single-well finder's
        cy, cx, r, spread = refine_well(
            ps,
            cy0,
            cx0,
            r0,
            edge="inner",
            n_ang=max(240, int(2 * np.pi * r0 / 1.5)),
            min_rays=int(min_arc / 1.5),
            radius_step=False,
            whole_band=True,
        )
        if not (spread <= 1.5 and abs(r - r0) < 0.25 * r0):
            continue
        n_bins = max(90, int(2 * np.pi * r / 3))
        fit = WellFit(cy, cx, r, hough_score=score)
        fit.rim_support, _ = rim_support(
            ps, cy, cx, r, n_bins=n_bins, edges=edges, min_visible=min_arc / 3 / n_bins
        )
        fit.outside_clean = _outside_clean_arc(ps.shape, cy, cx, r, edges[1])
        fit.floor_ratio = floor_ratio(q, (cy + 0.5) / f - 0.5, (cx + 0.5) / f - 0.5, r / f)
        fit.in_frame = disc_in_frame(plane.shape, cy, cx, r)
        if fit.is_rim and (best is None or fit.rim_support > best.rim_support):
            best = fit
    if best is not None:
        best.problems.append(
            f"a dish larger than the frame: only an arc of its rim is in the frame "
            f"(radius {best.r:.0f} px)"
        )
    return best


def _outside_clean_arc(
    shape: tuple[int, ...], cy: float, cx: float, r: float, sharp: tuple
) -> float:
    """``1 - `` the sharp-edge density outside a rim arc (beyond the wall) over that inside.

    1 when the plastic beyond the arc is plain, about 0 or below when colonies lie on both
    sides (a circle through a flask's floor); NaN when either side is nearly empty.
    """
    h, w = shape[:2]
    ey, ex = sharp[0], sharp[1]
    yy = (np.arange(h) - cy)[:, None]
    xx = (np.arange(w) - cx)[None, :]
    rho = np.sqrt(yy * yy + xx * xx)
    gap = max(3.0, 0.08 * r)  # the wall and its shadow
    n_in, n_out = int((rho < r - gap).sum()), int((rho > r + gap).sum())
    if n_in < 100 or n_out < 100:
        return float("nan")
    re = np.hypot(ey - cy, ex - cx)
    d_in = float((re < r - gap).sum()) / n_in
    d_out = float((re > r + gap).sum()) / n_out
    if d_in <= 0:
        return 1.0 if d_out <= 0 else 0.0
    return max(0.0, 1.0 - d_out / d_in)


def parse_roi(roi: object, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``"X,Y,W,H"`` (or a 4-sequence) -> ``(y0, x0, y1, x1)`` clipped to ``shape``.

    Raises
    ------
    SegmentationError
        When it is not four integers with positive width and height overlapping the image.
    """
    from napari_il6assay.errors import SegmentationError

    parts = roi.replace(" ", "").split(",") if isinstance(roi, str) else list(roi)  # type: ignore[call-overload]
    try:
        x, y, w, h = (int(round(float(p))) for p in parts)
    except (TypeError, ValueError):
        raise SegmentationError(f"roi must be X,Y,W,H in pixels, got {roi!r}") from None
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + h, shape[0]), min(x + w, shape[1])
    if w <= 0 or h <= 0 or y1 <= y0 or x1 <= x0:
        raise SegmentationError(
            f"roi {roi!r} does not overlap the image ({shape[1]} x {shape[0]} pixels)"
        )
    return y0, x0, y1, x1


def _ray_profiles(
    q: np.ndarray,
    cy: float,
    cx: float,
    r0: float,
    r1: float,
    n_ang: int = 180,
    step: float = 0.5,
    min_rays: int | None = None,
    r_rim: float | tuple[float, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``n_ang`` rays from ``r0`` to ``r1`` about a centre: ``(radii, angles, profiles)``.

    With ``r_rim``, the rays whose point at ``r_rim`` (the rim; or at any of several radii)
    lies outside the frame are dropped when at least ``min_rays`` (default a tenth of them,
    at least 12) are left.
    """
    from scipy import ndimage as ndi

    rr = np.arange(r0, r1, step, dtype=np.float64)
    th = np.linspace(0, 2 * np.pi, n_ang, endpoint=False)
    ys = cy + np.sin(th)[:, None] * rr[None, :]
    xs = cx + np.cos(th)[:, None] * rr[None, :]
    prof = ndi.map_coordinates(q, [ys, xs], order=1, mode="nearest")
    if r_rim is None:
        return rr, th, prof
    # a well running off the frame: a ray whose rim lies outside samples the border pixel
    # again and again (a flat, false profile) and is dropped; a well inside the frame
    # keeps every ray
    h, w = q.shape
    inside = np.ones(th.size, bool)
    for rc in r_rim if isinstance(r_rim, tuple) else (r_rim,):
        ry, rx = cy + np.sin(th) * rc, cx + np.cos(th) * rc
        inside &= (ry >= 0) & (ry <= h - 1) & (rx >= 0) & (rx <= w - 1)
    if min_rays is None:
        min_rays = max(12, n_ang // 10)
    if not inside.all() and inside.sum() >= min_rays:
        th, prof = th[inside], prof[inside]
    return rr, th, prof


def refine_well(
    qs: np.ndarray,
    cy: float,
    cx: float,
    r: float,
    edge: str = "inner",
    *,
    n_ang: int = 240,
    min_rays: int | None = None,
    radius_step: bool = True,
    whole_band: bool = False,
) -> tuple[float, float, float, float]:
    """Refine a rough well circle on a smoothed plane: ``(cy, cx, r, spread)``.

    The centre comes from a robust circle fit to one edge of the wall on every ray, to a
    fraction of a pixel (rays where a colony hides the edge are rejected as outliers):
    ``edge="inner"``, the floor -> wall edge (its steepest outward fall within a few percent
    of the radius; works whatever the plastic outside looks like), or ``"outer"``, the wall
    -> plastic edge (the steepest rise outside the wall's darkest ring; sharp where the
    plastic is bright). ``spread`` is the robust scatter (pixels) of the edge points about
    the circle: the caller keeps the sharper of the two. The radius is the steepest fall
    of the 80th-percentile (over angles) radial profile, so colonies touching the edge do
    not pull it (``radius_step=False``: the fitted radius stands, for an arc of a dish
    larger than the frame). ``n_ang`` rays are cast; ``min_rays`` of them inside the
    frame are enough (see `_ray_profiles`): rays whose rim point lies in the frame, or with
    ``whole_band`` those inside over the whole searched band (an arc: a ray that leaves
    the frame just beyond the rim shows no edge).
    """
    step = 0.5
    spread = float("inf")
    for _ in range(2):
        if edge == "inner":
            band = max(0.05 * r, 3.0)
            rr, th, prof = _ray_profiles(
                qs,
                cy,
                cx,
                r - band,
                r + band,
                n_ang=n_ang,
                step=step,
                min_rays=min_rays,
                r_rim=(r - band, r + band - step) if whole_band else r,
            )
            d = np.diff(prof, axis=1)
            if d.shape[1] < 3:
                break
            j = np.clip(np.argmin(d, axis=1), 1, d.shape[1] - 2)
            sign = -1.0
        else:
            rr, th, prof = _ray_profiles(
                qs,
                cy,
                cx,
                0.75 * r,
                1.2 * r,
                n_ang=n_ang,
                step=step,
                min_rays=min_rays,
                r_rim=(0.75 * r, 1.2 * r - step) if whole_band else r,
            )
            iwall = int(np.argmin(np.percentile(prof, 80, axis=0)))
            d = np.diff(prof, axis=1)
            lo = max(iwall - 2, 1)
            hi = min(iwall + int(0.12 * r / step), d.shape[1] - 1)
            if hi - lo < 3:
                break
            j = lo + np.argmax(d[:, lo:hi], axis=1)
            sign = 1.0
        a, b, c = (d[np.arange(j.size), j + k] for k in (-1, 0, 1))
        den = a - 2 * b + c
        sub = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
        ro = rr[j] + step * (0.5 + np.clip(sub, -0.5, 0.5))
        strength = sign * b
        good = strength > 0.5 * np.median(strength)
        if good.sum() < 20:
            break
        py, px = cy + np.sin(th) * ro, cx + np.cos(th) * ro
        ncy, ncx, nr = fit_circle(py[good], px[good])
        keep = good
        for _ in range(2):
            res = np.abs(np.hypot(py - ncy, px - ncx) - nr)
            keep = good & (res < max(2.5 * 1.4826 * np.median(res[good]), 0.75))
            if keep.sum() < 20:
                break
            ncy, ncx, nr = fit_circle(py[keep], px[keep])
        res = np.abs(np.hypot(py - ncy, px - ncx) - nr)
        # scatter of the edge, counting rejected rays as a penalty
        spread = float(1.4826 * np.median(res[good])) / max(keep.mean(), 0.05)
        cy, cx, r = ncy, ncx, nr
    if not radius_step:
        return cy, cx, r, spread
    return cy, cx, _radius_step(qs, cy, cx, r), spread


def _radius_step(qs: np.ndarray, cy: float, cx: float, r: float) -> float:
    """Return the radius at the steepest fall of the 80th-percentile radial profile.

    `refine_well`'s last step (see there): colonies touching the wall do not reach the
    80th percentile over angles, so they do not pull the radius.
    """
    rr, _, prof = _ray_profiles(qs, cy, cx, 0.8 * r, 1.1 * r, r_rim=r)
    p80 = np.percentile(prof, 80, axis=0)
    iwall = int(np.argmin(p80))
    d = np.diff(p80)
    lo = max(0, iwall - int(0.12 * r / 0.5))
    if iwall - lo < 2:
        return float(rr[iwall])
    k = lo + int(np.argmin(d[lo:iwall]))
    return float(rr[k] + 0.25)
