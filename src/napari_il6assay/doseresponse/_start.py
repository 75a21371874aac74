"""Starting values of the batched fit: parameter bounds, the logit start and a global grid.

Every curve starts from the best point of a grid over (hill, log e[, asymmetry]) on which the
plateaus are solved in closed form (variable projection: the model is linear in top/bottom),
with hill of both signs where the model needs it; the logit-regression start is polished
beside it (`_polish.solve`). Why (issue 11): a single logit-regression start assumed a falling
monotone curve, and the fit stopped at worse optima than drc on rising, step-like and
bell-shaped curves. drc (optim/BFGS from a self-starter) and thunor (scipy curve_fit) are local
too; the grid makes ours global on the scale that matters (log e, hill). Its first pass grids
smooth slopes only (hill 0.4-4): from a steep grid point the RSS hardly changes with hill and
LM stayed on a step where a smooth curve fitted better; steep optima are reached by LM from a
smooth start or by the restarts. Cost: the grid works on dose means in closed form (~15 % of
the 10,000-curve benchmark's time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_il6assay.doseresponse._batch import CurveData, dose_means, pad_with_doses, row_mean
from napari_il6assay.doseresponse._solver import Batch
from napari_il6assay.doseresponse.models import BOTTOM, HILL, LOGE, LOGS, TOP, ModelSpec

LN10 = np.log(10.0)


@dataclass
class Start:
    """The start step's result: the padded curves, their dose range and parameter bounds."""

    #: the curves, padded (`_batch.pad_with_doses`)
    data: Batch
    #: (B,) lowest and highest log dose above 0
    lxmin: np.ndarray
    lxmax: np.ndarray
    #: (B, 5) bounds of the parameters
    lower: np.ndarray
    upper: np.ndarray
    #: (B, n) the tested doses exactly as given, padded with 0 (`_batch.pad_with_doses`)
    xraw: np.ndarray


def prepare(
    curves: Sequence[CurveData],
    spec: ModelSpec,
    user_bounds: dict[str, tuple[float, float]] | None,
) -> Start:
    """Pad the curves and set each one's bounds (the first step of `fit.fit_arrays`).

    Parameters
    ----------
    curves : sequence of (conc, response, weights or None)
        Clean data (see `fit.fit_arrays`).
    spec : ModelSpec
    user_bounds : dict, optional
        See `param_bounds`.

    Returns
    -------
    Start
    """
    data, xraw = pad_with_doses(curves)
    pos = (data.sw > 0) & ~data.zero
    lxmin = np.where(pos, data.logx, np.inf).min(axis=1)
    lxmax = np.where(pos, data.logx, -np.inf).max(axis=1)
    lower, upper = param_bounds(data, lxmin, lxmax, user_bounds, signed=spec.signed)
    return Start(data, lxmin, lxmax, lower, upper, xraw)


def logit_start(data: Batch, lxmin: np.ndarray, lxmax: np.ndarray) -> np.ndarray:
    """Return each curve's logit-regression start (B, 5).

    Plateaus from the lowest/highest doses, slope and midpoint by a logit fit.
    """
    valid = data.sw > 0
    pos = valid & ~data.zero
    has_zero = (valid & data.zero).any(axis=1)
    low = np.where(has_zero[:, None], valid & data.zero, pos & (data.logx <= lxmin[:, None] + 1e-9))
    high = pos & (data.logx >= lxmax[:, None] - 1e-9)
    top = row_mean(data.y, low)
    bot = row_mean(data.y, high)
    span = top - bot
    span = np.where(np.abs(span) < 1e-12, 1e-12, span)
    frac = np.clip((data.y - bot[:, None]) / span[:, None], 0.05, 0.95)
    L = np.log((1 - frac) / frac)
    mx = row_mean(data.logx, pos)
    mL = row_mean(L, pos)
    dx = np.where(pos, data.logx - mx[:, None], 0.0)
    var = (dx * dx).sum(axis=1)
    h = np.where(var > 0, (dx * np.where(pos, L - mL[:, None], 0.0)).sum(axis=1) / var, np.nan)
    bad = ~np.isfinite(h) | (h < 0.2)
    t = np.where(bad, 0.5 * (lxmin + lxmax), mx - mL / np.where(bad, 1.0, h))
    h = np.clip(np.where(bad, 1.0, h), 0.3, 10.0)
    t = np.clip(t, lxmin - LN10, lxmax + LN10)
    return np.stack([h, bot, top, t, np.zeros_like(h)], axis=1)


#: Largest |hill| (drc leaves ``b`` unbounded; its fits of the reference curves reach |b| 60,
#: step-like curves between two doses). Beyond 1e3 the curve is a step at any resolution.
HILL_MAX = 1e3
#: Grid of the variable-projection starts (see `grid_starts`).
_GRID_HILL = (0.4, 1.2, 4.0, 15.0, 60.0)
# the first pass grids only smooth slopes: from a steep grid point (a step between two doses)
# the RSS hardly changes with hill, and LM stayed on the step where a smooth curve fitted
# better; LM climbs from a smooth start to a steep optimum, and the doubtful curves are
# polished again from the best points of the full grid
GRID_HILL_FIRST = (0.4, 1.2, 4.0)
_GRID_T = 10  # log e values over the dose range +- 1 decade
_GRID_ASYM = (0.1, 1.0, 6.0)


def _grid_plateaus(
    g: np.ndarray,
    w: np.ndarray,
    y: np.ndarray,
    sums: tuple[np.ndarray, np.ndarray, np.ndarray],
    both: bool,
    top_free: bool,
    shift: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit the free plateaus of one grid point in closed form, for all curves at once.

    ``g`` is the grid point's shape (B, n), ``w`` the weights, ``y`` the (shifted) responses
    and ``sums`` their ``(sum w, sum w y, sum w y^2)`` per curve. Returns ``(bottom, top,
    rss)``; a fixed plateau is ``shift``.
    """
    sw_, swy, swyy = sums
    B = w.shape[0]
    wg = w * g
    a1, a2, a3 = wg.sum(axis=1), (wg * g).sum(axis=1), (wg * y).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if both:  # regress y on [1, g]: c = intercept, d - c = slope
            sgg = a2 - a1 * a1 / sw_
            sgy = a3 - a1 * swy / sw_
            slope = np.where(sgg > 1e-300, sgy / sgg, 0.0)
            c = (swy - slope * a1) / sw_
            d = c + slope
            rss = swyy - swy * swy / sw_ - slope * sgy
        elif top_free:  # y - c0 = (d - c0) g
            slope = np.where(a2 > 1e-300, a3 / a2, 0.0)
            c = np.full(B, shift)
            d = shift + slope
            rss = swyy - slope * a3
        else:  # y - d0 = (c - d0)(1 - g)
            shh = sw_ - 2 * a1 + a2
            shy = swy - a3
            slope = np.where(shh > 1e-300, shy / shh, 0.0)
            d = np.full(B, shift)
            c = shift + slope
            rss = swyy - slope * shy
    return c, d, rss


def _update_classes(
    classes: list[tuple[float, float, np.ndarray, np.ndarray]],
    s: float,
    b: float,
    rss: np.ndarray,
    pt: np.ndarray,
) -> None:
    """Keep, in place, each curve's best grid point of the (asymmetry, sign of hill) class."""
    for cs, csign, cbest, cp in classes:
        if cs == s and csign == np.sign(b):
            better = rss < cbest
            cbest[better] = rss[better]
            cp[better] = pt[better]


def grid_starts(
    data: Batch,
    spec: ModelSpec,
    lxmin: np.ndarray,
    lxmax: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    keep: int = 1,
    per_class: bool = False,
    hills: Sequence[float] = _GRID_HILL,
) -> np.ndarray:
    """Global starts by variable projection: a grid over (hill, log e[, asymmetry]).

    For fixed ``hill``, ``e`` and ``s`` the model is *linear* in its plateaus
    (``f = c (1 - g) + d g`` with ``g = (1 + (x/e)^b)^-s``), so each grid point's best
    ``top``/``bottom`` and its RSS come in closed form, for all curves at once. The best grid
    point of each curve starts the Levenberg-Marquardt polish. This replaces a single
    logit-regression start, which assumed a falling, monotone, non-degenerate curve and left
    the solver in a worse basin on rising, bell-shaped and almost flat data (issue 11).
    Hill of both signs is searched when the model allows it (``spec.signed``); for the 4PL
    the sign is redundant (``(b, c, d)`` and ``(-b, d, c)`` are one curve) and only
    ``b > 0`` is gridded.

    Returns
    -------
    ndarray (B, 5), or (B, keep, 5) with ``keep > 1``: the ``keep`` best grid points, or with
    ``per_class`` (B, n_classes, 5): the best point of each (asymmetry, sign of hill) class
    (the 5PL's mirror-image shapes are separate basins).
    """
    data = dose_means(data)
    valid = data.sw > 0
    w = data.sw**2
    grid_hills = np.asarray(hills, float)
    both = BOTTOM in spec.free and TOP in spec.free
    if spec.signed and not (both and LOGS not in spec.free):
        grid_hills = np.r_[grid_hills, -grid_hills]
    asyms = _GRID_ASYM if LOGS in spec.free else (1.0,)
    ts = lxmin[:, None] + (lxmax - lxmin + 2 * LN10)[:, None] * np.linspace(0, 1, _GRID_T) - LN10
    B = w.shape[0]
    # a fixed plateau is subtracted first: y' = y - c0 (or d0), then one slope per grid point
    shift = spec.fixed.get(BOTTOM, spec.fixed.get(TOP, 0.0)) if not both else 0.0
    y = np.where(valid, data.y - shift, 0.0)
    wy = w * y
    sw_, swy, swyy = w.sum(axis=1), wy.sum(axis=1), (wy * y).sum(axis=1)
    # dose 0 sits at "log x = -1e4": g is then exactly 1 (b > 0) or 0 (b < 0), as in `evaluate`
    lx = np.where(data.zero, -1e4, data.logx)
    best = np.full(B, np.inf)
    best_p = np.zeros((B, 5))
    every_rss, every_p = [], []
    classes = []
    for s in asyms:
        for sign in (1.0, -1.0):
            if per_class and np.any(np.sign(grid_hills) == sign):
                classes.append((s, sign, np.full(B, np.inf), np.zeros((B, 5))))
        for b in grid_hills:
            for j in range(_GRID_T):
                t = ts[:, j]
                with np.errstate(over="ignore"):
                    u = np.exp(b * (lx - t[:, None]))
                    g = 1.0 / (1.0 + u) if s == 1.0 else (1.0 + u) ** -s
                c, d, rss = _grid_plateaus(g, w, y, (sw_, swy, swyy), both, TOP in spec.free, shift)
                rss = np.where(np.isfinite(rss), rss, np.inf)
                if keep > 1 or per_class:
                    pt = np.stack([np.full(B, b), c, d, t, np.full(B, np.log(s))], 1)
                    if per_class:
                        _update_classes(classes, s, b, rss, pt)
                    else:
                        every_rss.append(rss)
                        every_p.append(pt)
                    continue
                better = rss < best
                best = np.where(better, rss, best)
                best_p[better, HILL] = b
                best_p[better, LOGE] = t[better]
                best_p[better, BOTTOM] = c[better]
                best_p[better, TOP] = d[better]
                best_p[better, LOGS] = np.log(s)
    if best_p.ndim == 2:
        best_p[:, BOTTOM] = np.clip(best_p[:, BOTTOM], lower[:, BOTTOM], upper[:, BOTTOM])
        best_p[:, TOP] = np.clip(best_p[:, TOP], lower[:, TOP], upper[:, TOP])
    if per_class:
        best_p = np.stack([cp for *_, cp in classes], 1)
    elif keep > 1:
        order = np.argsort(np.stack(every_rss, 1), axis=1)[:, :keep]
        best_p = np.stack(every_p, 1)[np.arange(B)[:, None], order]
    if best_p.ndim == 3:
        best_p[..., BOTTOM] = np.clip(best_p[..., BOTTOM], lower[:, None, BOTTOM],
                                      upper[:, None, BOTTOM])  # fmt: skip
        best_p[..., TOP] = np.clip(best_p[..., TOP], lower[:, None, TOP], upper[:, None, TOP])
    for key, val in spec.fixed.items():
        best_p[..., key] = val
    return best_p


def param_bounds(
    data: Batch,
    lxmin: np.ndarray,
    lxmax: np.ndarray,
    user: dict[str, tuple[float, float]] | None,
    signed: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (B, 5) of every curve's parameters.

    Parameters
    ----------
    data : Batch
        The padded curves.
    lxmin, lxmax : ndarray (B,)
        Lowest and highest log dose above 0.
    user : dict, optional
        The caller's bounds (see `fit.fit_arrays`); they replace the defaults.
    signed : bool
        Hill may take either sign (``ModelSpec.signed``).

    Returns
    -------
    lower, upper : ndarray (B, 5)
    """
    B = data.y.shape[0]
    valid = data.sw > 0
    ymin = np.where(valid, data.y, np.inf).min(axis=1)
    ymax = np.where(valid, data.y, -np.inf).max(axis=1)
    room = 10.0 * (ymax - ymin) + 1.0 * np.abs(ymax) + 1e-9
    lower = np.empty((B, 5))
    upper = np.empty((B, 5))
    # hill of either sign where the model allows it (drc's b): a rising curve, or drc LL.3's
    # fixed lower limit at dose 0; [1e-3, 50] excluded optima drc finds (issue 11)
    lower[:, HILL], upper[:, HILL] = (-HILL_MAX if signed else 0.0), HILL_MAX
    lower[:, BOTTOM], upper[:, BOTTOM] = ymin - room, ymax + room
    lower[:, TOP], upper[:, TOP] = ymin - room, ymax + room
    # an IC50 far outside the tested doses is not estimable; 3 decades of room keep the
    # optimizer from drifting and still flag it as censored
    lower[:, LOGE], upper[:, LOGE] = lxmin - 5 * LN10, lxmax + 5 * LN10
    # the 5PL asymmetry is fitted as log s; drc's reference fits reach s = 0.02 and 76, and
    # [0.05, 20] held 48 of 77 curves on a bound
    lower[:, LOGS], upper[:, LOGS] = np.log(1e-3), np.log(1e3)
    for name, (lo, hi) in (user or {}).items():
        key = {"hill": HILL, "bottom": BOTTOM, "top": TOP, "ic50": LOGE, "asym": LOGS}.get(name)
        if key is None:
            raise ValueError(f"unknown bound {name!r}; use hill, bottom, top, ic50 or asym")
        if key in (LOGE, LOGS):
            lo, hi = np.log(max(lo, 1e-300)), np.log(hi)
        lower[:, key], upper[:, key] = lo, hi
    return lower, upper
