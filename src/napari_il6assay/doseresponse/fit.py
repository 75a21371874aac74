"""Fit log-logistic dose-response curves: IC50 with a profile-likelihood CI, censoring, flat tests.

Public functions
----------------
fit_curve(conc, response, model="4pl", ...) -> CurveFit
    One curve.
fit_curves(df, response="viability", model="4pl", ...) -> DataFrame
    One row per curve of a tidy table, with the ``fits.csv`` columns of INTERFACE.md.
fit_arrays(curves, model="4pl", ...) -> dict of arrays
    The batched core both use: all curves are solved together (see ``_solver``).

Conventions (the same as R drc ``LL.4`` with its ``b``): ``hill > 0`` for a decreasing curve,
``top`` is the response at dose 0 and ``bottom`` at infinite dose; Prism's HillSlope is ``-hill``.
``ic50_rel_M`` is the dose halfway between top and bottom, ``ic50_abs_M`` where the curve crosses
``abs_level`` (0.5 on the viability scale).

Solver (issue 11): every curve starts from the best point of a grid over (hill, log e[,
asymmetry]) on which the plateaus are solved in closed form (variable projection: the model is
linear in top/bottom), with hill of both signs where the model needs it, then a batched
Levenberg-Marquardt polish (``_solver``). Curves the model fits poorly (R^2 < 0.9, not
converged, on a bound) are also polished from the next 7 grid points and the logit start.
Why: a single logit-regression start assumed a falling monotone curve, and with hill in
[1e-3, 50], IC50 within 3 decades and a stopping rule that took tiny, heavily damped steps for
a minimum, the fit stopped at worse optima than drc on rising, step-like and bell-shaped
curves. drc (optim/BFGS from a self-starter) and thunor (scipy curve_fit) are local too; the
grid makes ours global on the scale that matters (log e, hill). Its first pass grids smooth
slopes only (hill 0.4-4): from a steep grid point the RSS hardly changes with hill and LM
stayed on a step where a smooth curve fitted better; steep optima are reached by LM from a
smooth start or by the restarts. Cost: the grid works on dose means in closed form (~15 % of
the 10,000-curve benchmark's time).

Inference: standard errors from ``sigma^2 (J^T W J)^-1`` with ``sigma^2 = RSS / (n - k)``;
with ``ci_method="delta"`` from drc's own covariance, the observed information (Hessian of the
RSS: ``J^T W J`` minus the residual-weighted curvature), so SEs and ``e +/- t_{n-k} se(e)``
equal drc's ``summary()`` and ``ED(..., interval="delta")``, negative lower ends included (a
note says so). The default IC50 CI is by profile likelihood on log IC50 (the set of log IC50
whose profile RSS is below ``RSS (1 + F_{1, n-k; 0.95} / (n - k))``), asymmetric and positive.
A curve whose fit is no better than a constant (extra-sum-of-squares F test, ``p >= alpha``) or
whose fitted drop over the tested doses is below ``min_effect`` of the larger fitted response
at the lowest and highest dose (not an extrapolated asymptote) is reported as
"no effect": ``ic50_censored = ">"`` at the highest dose, never an invented in-range IC50. A
"<" claim needs the data at the lowest dose past half the effect seen, else status
``shallow`` and no IC50. ``non_monotone`` flags dose means that rise and fall (lack-of-fit F
test, then an isotonic-regression test). `select_models` (``model="auto"``) picks 3PL/4PL/5PL
by AIC as drc's ``mselect``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_il6assay.doseresponse._clean import check_curve
from napari_il6assay.doseresponse._profile import profile_ci
from napari_il6assay.doseresponse._solver import Batch, levenberg_marquardt, safe_pinv
from napari_il6assay.doseresponse.fold import add_fold_resistance
from napari_il6assay.doseresponse.models import (
    BOTTOM,
    HILL,
    LOGE,
    LOGS,
    PARAMS,
    TOP,
    dose_at_response,
    evaluate,
    get_model,
    halfway_dose,
)

LN10 = np.log(10.0)

#: Columns of ``fits.csv`` (INTERFACE.md) in order; `fit_curves` adds more after these.
FITS_COLUMNS = [
    "cell_line", "drug", "drug_b", "concentration_b", "model", "n_points", "top", "bottom",
    "hill", "ic50_rel_M", "ic50_abs_M", "ic50_ci_low_M", "ic50_ci_high_M", "ic50_censored",
    "emax", "auc", "r2", "converged", "parental", "fold_resistance", "fold_ci_low",
    "fold_ci_high", "p_value",
]  # fmt: skip

EXTRA_COLUMNS = [
    "status", "note", "ic50_fit_M", "ic50_se_M", "ic50_se_log10", "ic50_abs_censored",
    "ci_method", "asymmetry", "hill_se", "top_se", "bottom_se", "rss", "df", "sigma", "p_flat",
    "n_doses", "min_dose_M", "max_dose_M", "fold_censored", "fold_note",
    "aic", "bic", "model_note", "lack_of_fit_p", "non_monotone",
]  # fmt: skip

#: Candidates of ``model="auto"`` (drc ``mselect``'s usual set: LL.3, LL.4, LL.5).
AUTO_MODELS = ("3pl", "4pl", "5pl")


@dataclass
class CurveFit:
    """The fit of one dose-response curve.

    Attributes mirror the ``fits.csv`` columns: ``ic50_rel`` (the censoring-aware reported
    value), ``ic50_fit`` (the raw estimate), ``ic50_ci`` (low, high), ``ic50_censored``
    (``""``, ``">"`` or ``"<"``), ``status`` (``ok``, ``no_effect``, ``not_converged``,
    ``bad_input``, ``constant``, ``small_effect``, ``shallow``) and ``note`` (why, in
    words). ``params`` holds the full
    5-vector ``(hill, bottom, top, log e, log s)`` for `predict`.
    """

    model: str
    params: np.ndarray
    hill: float
    bottom: float
    top: float
    asymmetry: float
    ic50_rel: float
    ic50_fit: float
    ic50_abs: float
    ic50_ci: tuple[float, float]
    ic50_censored: str
    ic50_abs_censored: str
    ic50_se: float
    ic50_se_log10: float
    emax: float
    auc: float
    r2: float
    rss: float
    df: int
    n_points: int
    p_flat: float
    converged: bool
    status: str
    note: str
    se: dict[str, float] = field(default_factory=dict)
    dose_range: tuple[float, float] = (np.nan, np.nan)

    def predict(self, conc: np.ndarray | float) -> np.ndarray:
        """Fitted response at ``conc`` (M or whatever unit was fitted)."""
        return evaluate(self.params, np.atleast_1d(np.asarray(conc, float)))

    def ed(self, percent: float) -> float:
        """Effective dose ``ED_p`` relative to the fitted span (drc ``ED(type="relative")``)."""
        level = self.top - (self.top - self.bottom) * percent / 100.0
        return float(dose_at_response(self.params, level))


# --------------------------------------------------------------------------------------------
# batched core


def _flat(
    curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """All curves' points in flat arrays, with each point's (row, column) in the padded batch.

    Returns
    -------
    x, y, w : ndarray
        Doses, responses and weights (1 where a curve has none), curve after curve.
    rows, cols : ndarray
        Each point's curve and its position within the curve.
    n : int
        The longest curve's length (the padded width).
    """
    lens = np.fromiter((len(c[0]) for c in curves), np.intp, len(curves))
    x = np.concatenate([np.asarray(c[0], float) for c in curves])
    y = np.concatenate([np.asarray(c[1], float) for c in curves])
    if all(c[2] is None for c in curves):  # the usual case: no weights, no array per curve
        w = np.ones(x.size)
    else:
        w = np.concatenate([np.ones(m) if c[2] is None else np.asarray(c[2], float)
                            for c, m in zip(curves, lens.tolist(), strict=True)])  # fmt: skip
    rows = np.repeat(np.arange(len(curves)), lens)
    cols = np.arange(x.size) - np.repeat(np.cumsum(lens) - lens, lens)
    return x, y, w, rows, cols, int(lens.max())


def _pad(curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> Batch:
    """Pad the curves into one `Batch` (padding has weight 0), built from flat arrays.

    One scatter instead of a loop of numpy calls per curve (a tenth of a second on 10,000
    curves, issue 13); each value is computed by the same operation as before.
    """
    x, yy, w, rows, cols, n = _flat(curves)
    B = len(curves)
    logx = np.ones((B, n))
    zero = np.zeros((B, n), bool)
    y = np.zeros((B, n))
    sw = np.zeros((B, n))
    z = x <= 0
    zero[rows, cols] = z
    logx[rows, cols] = np.log(np.where(z, 1.0, x))
    y[rows, cols] = yy
    sw[rows, cols] = np.sqrt(w)
    return Batch(logx, zero, y, sw)


def _raw_doses(curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Return the tested doses exactly as given, padded with 0.

    ``exp(log x)`` is off in the last digit.
    """
    x, _, _, rows, cols, n = _flat(curves)
    xraw = np.zeros((len(curves), n))
    xraw[rows, cols] = x
    return xraw


def _row_mean(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    cnt = m.sum(axis=1)
    return np.where(cnt > 0, (v * m).sum(axis=1) / np.maximum(cnt, 1), np.nan)


def _starts(data: Batch, lxmin: np.ndarray, lxmax: np.ndarray) -> list[np.ndarray]:
    """Compute starting values.

    Plateaus from the lowest/highest doses, slope and midpoint by a logit fit.
    """
    valid = data.sw > 0
    pos = valid & ~data.zero
    has_zero = (valid & data.zero).any(axis=1)
    low = np.where(has_zero[:, None], valid & data.zero, pos & (data.logx <= lxmin[:, None] + 1e-9))
    high = pos & (data.logx >= lxmax[:, None] - 1e-9)
    top = _row_mean(data.y, low)
    bot = _row_mean(data.y, high)
    span = top - bot
    span = np.where(np.abs(span) < 1e-12, 1e-12, span)
    frac = np.clip((data.y - bot[:, None]) / span[:, None], 0.05, 0.95)
    L = np.log((1 - frac) / frac)
    mx = _row_mean(data.logx, pos)
    mL = _row_mean(L, pos)
    dx = np.where(pos, data.logx - mx[:, None], 0.0)
    var = (dx * dx).sum(axis=1)
    h = np.where(var > 0, (dx * np.where(pos, L - mL[:, None], 0.0)).sum(axis=1) / var, np.nan)
    bad = ~np.isfinite(h) | (h < 0.2)
    t = np.where(bad, 0.5 * (lxmin + lxmax), mx - mL / np.where(bad, 1.0, h))
    h = np.clip(np.where(bad, 1.0, h), 0.3, 10.0)
    t = np.clip(t, lxmin - LN10, lxmax + LN10)
    p1 = np.stack([h, bot, top, t, np.zeros_like(h)], axis=1)
    p2 = p1.copy()
    p2[:, HILL] = 1.0
    p2[:, LOGE] = 0.5 * (lxmin + lxmax)
    return [p1, p2]


#: Largest |hill| (drc leaves ``b`` unbounded; its fits of the reference curves reach |b| 60,
#: step-like curves between two doses). Beyond 1e3 the curve is a step at any resolution.
HILL_MAX = 1e3
#: Grid of the variable-projection starts (see `_grid_starts`).
_GRID_HILL = (0.4, 1.2, 4.0, 15.0, 60.0)
# the first pass grids only smooth slopes: from a steep grid point (a step between two doses)
# the RSS hardly changes with hill, and LM stayed on the step where a smooth curve fitted
# better; LM climbs from a smooth start to a steep optimum, and the doubtful curves are
# polished again from the best points of the full grid
_GRID_HILL_FIRST = (0.4, 1.2, 4.0)
_GRID_T = 10  # log e values over the dose range +- 1 decade
_GRID_ASYM = (0.1, 1.0, 6.0)
_N_RESTARTS = 8  # grid points polished on doubtful curves


def _dose_means(data: Batch) -> Batch:
    """Return `_dose_means_impl` of ``data``, computed once per `Batch`.

    The grid, the shape tests and the censoring all need it.
    """
    cached = getattr(data, "_dose_means", None)
    if cached is None:
        cached = _dose_means_impl(data)
        data._dose_means = cached  # type: ignore[attr-defined]
    return cached


def _dose_means_impl(data: Batch) -> Batch:
    """Pool replicates: the same curves: weighted mean response per distinct dose.

    The RSS of any curve ``f`` is the within-dose sum of squares (fixed) plus
    ``sum_k W_k (ybar_k - f(x_k))^2`` over the distinct doses, so a search over starting values
    can work on the (fewer) dose means with weights ``W_k`` and reach the same argmin. The
    within-dose sum of squares is the returned batch's ``offset``: with it the solver works
    on the dose means (a third of the points with triplicates) and its RSS, gradient,
    ``J^T W J`` and stopping rules are those of the replicates, up to rounding.
    """
    B, n = data.y.shape
    valid = data.sw > 0
    key = np.where(valid, np.where(data.zero, -np.inf, data.logx), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    ks = np.take_along_axis(key, order, 1)
    new = np.ones((B, n), bool)
    new[:, 1:] = ks[:, 1:] != ks[:, :-1]
    gid = np.cumsum(new, axis=1) - 1
    flat = (np.arange(B)[:, None] * n + gid).ravel()
    w = np.take_along_axis(data.sw**2, order, 1).ravel()
    yw = (np.take_along_axis(data.y, order, 1).ravel()) * w
    W = np.bincount(flat, w, B * n).reshape(B, n)
    Y = np.bincount(flat, yw, B * n).reshape(B, n)
    m = int(gid.max()) + 1
    W, Y = W[:, :m], Y[:, :m]
    lx = np.zeros((B, m))
    zero = np.zeros((B, m), bool)
    first = np.take_along_axis(data.logx, order, 1)
    z_sorted = np.take_along_axis(data.zero, order, 1)
    lx[np.arange(B)[:, None].repeat(n, 1)[new], gid[new]] = first[new]
    zero[np.arange(B)[:, None].repeat(n, 1)[new], gid[new]] = z_sorted[new]
    ok = W > 0
    ybar = np.where(ok, Y / np.where(ok, W, 1.0), 0.0)
    y_sorted = np.take_along_axis(data.y, order, 1)
    dev = y_sorted - np.take_along_axis(ybar, np.minimum(gid, m - 1), 1)
    pure = (w.reshape(B, n) * dev * dev).sum(axis=1)  # padding has weight 0
    return Batch(np.where(ok, lx, 1.0), zero & ok, ybar, np.sqrt(W), pure)


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


def _grid_starts(
    data: Batch,
    spec: Any,
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
    data = _dose_means(data)
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


def _polish_best(
    starts: np.ndarray,
    data: Batch,
    free: tuple[int, ...],
    lower: np.ndarray,
    upper: np.ndarray,
    max_iter: int = 400,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polish K starts per curve (``starts`` (B, K, 5)) by Levenberg-Marquardt in one batch.

    The lowest RSS of each curve wins.
    """
    B, K = starts.shape[:2]
    if K == 1:
        return levenberg_marquardt(starts[:, 0], data, free, lower, upper, max_iter=max_iter)
    rep = np.repeat(np.arange(B), K)
    p, rss, jtj, conv = levenberg_marquardt(
        starts.reshape(-1, 5), data.take(rep), free, lower[rep], upper[rep], max_iter=max_iter
    )
    rss = np.where(np.isfinite(rss), rss, np.inf).reshape(B, K)
    rows = np.arange(B) * K + np.argmin(rss, axis=1)
    return p[rows], rss.ravel()[rows], jtj[rows], conv[rows]


def _pava(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression by pool-adjacent-violators."""
    vals, wts, sizes = [], [], []
    for yi, wi in zip(y, w, strict=True):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wt = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wt
            sz = sizes[-2] + sizes[-1]
            del vals[-1], wts[-1], sizes[-1]
            vals[-1], wts[-1], sizes[-1] = v, wt, sz
    return np.repeat(vals, sizes)


def _shape_tests(
    data: Batch, f: np.ndarray, k: int, alpha: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lack-of-fit F test of each fit against the dose means, and a monotonicity test.

    ``lack_of_fit_p``: the fitted curve against the one-way ANOVA of the doses (drc
    ``modelFit``), needs replicates. Where it fails (``p < alpha``) the dose means are tested
    against their best monotone fit (isotonic regression, either direction), with
    ``m - (number of monotone blocks)`` numerator df: ``p < alpha`` there means the data rise
    and fall (bell-shaped, hormesis) and no log-logistic curve describes them.

    Returns
    -------
    lack_of_fit_p, monotone_p, non_monotone : ndarray (B,)
    """
    from scipy.stats import f as fdist

    dm = _dose_means(data)
    w = data.sw**2
    valid = data.sw > 0
    B = w.shape[0]
    m = (dm.sw > 0).sum(axis=1)
    n = valid.sum(axis=1)
    # within-dose sum of squares = RSS of the ANOVA model
    ybar_pt = np.zeros_like(data.y)
    key = np.where(data.zero, -np.inf, data.logx)
    dkey = np.where(dm.zero, -np.inf, dm.logx)
    for j in range(dm.y.shape[1]):
        hit = valid & (key == dkey[:, j : j + 1]) & (dm.sw[:, j : j + 1] > 0)
        ybar_pt = np.where(hit, dm.y[:, j : j + 1], ybar_pt)
    pure = (w * (data.y - ybar_pt) ** 2 * valid).sum(axis=1)
    rss = (w * (data.y - f) ** 2 * valid).sum(axis=1)
    df1, df2 = m - k, n - m
    with np.errstate(divide="ignore", invalid="ignore"):
        fl = ((rss - pure) / df1) / (pure / df2)
        p_lof = fdist.sf(fl, np.maximum(df1, 1), np.maximum(df2, 1))
        lof = np.where((df1 > 0) & (df2 > 0) & (pure > 0), p_lof, np.nan)
    mono = np.full(B, np.nan)
    for i in np.flatnonzero(lof < alpha):
        mi = int(m[i])
        order = np.argsort(dkey[i, :mi])
        yy, ww = dm.y[i, :mi][order], dm.sw[i, :mi][order] ** 2
        best = np.inf
        blocks = mi
        for sign in (1.0, -1.0):
            fit = sign * _pava(sign * yy, ww)
            ss = float((ww * (yy - fit) ** 2).sum())
            if ss < best:
                best, blocks = ss, len(np.unique(np.round(fit, 12)))
        d1 = mi - blocks
        if d1 > 0 and df2[i] > 0 and pure[i] > 0:
            mono[i] = fdist.sf((best / d1) / (pure[i] / df2[i]), d1, df2[i])
    return lof, mono, mono < alpha


def _jtj(p: np.ndarray, data: Batch, free: tuple[int, ...]) -> np.ndarray:
    """``J^T W J`` over the free parameters at ``p``."""
    from napari_il6assay.doseresponse.models import evaluate_jac

    _, jac = evaluate_jac(p, data.logx, data.zero)
    jf = jac[:, :, list(free)] * data.sw[:, :, None]
    return np.einsum("bni,bnj->bij", jf, jf)


def _observed_cov(
    p: np.ndarray, data: Batch, free: tuple[int, ...], sigma2: np.ndarray
) -> np.ndarray:
    """``sigma^2 (J^T W J - sum_i w_i r_i d2f_i)^-1``: drc's covariance of a least-squares fit.

    drc's ``vcov`` is ``2 sigma^2 H^-1`` with ``H`` the Hessian of the RSS, i.e. the observed
    information, which adds the residual-weighted curvature to Gauss-Newton's ``J^T W J``. The
    second derivatives come from central differences of the analytic Jacobian (error
    ~1e-10 relative). In our coordinates (log e, log s); at an optimum the gradient vanishes,
    so ``se(e) = e se(log e)`` is exactly drc's SE on its linear ``e`` scale.
    """
    from napari_il6assay.doseresponse.models import evaluate_jac

    fr = list(free)
    f, jac = evaluate_jac(p, data.logx, data.zero)
    w = data.sw**2
    r = np.where(data.sw > 0, data.y - f, 0.0)
    jf = jac[:, :, fr]
    h = np.einsum("bn,bni,bnj->bij", w, jf, jf)
    for a, ia in enumerate(fr):
        step = 1e-5 * np.maximum(np.abs(p[:, ia]), 1.0)
        pp, pm = p.copy(), p.copy()
        pp[:, ia] += step
        pm[:, ia] -= step
        _, jp = evaluate_jac(pp, data.logx, data.zero)
        _, jm = evaluate_jac(pm, data.logx, data.zero)
        d2 = (jp[:, :, fr] - jm[:, :, fr]) / (2.0 * step[:, None, None])  # (B, n, k)
        h[:, a, :] -= np.einsum("bn,bnj->bj", w * r, d2)
    h = 0.5 * (h + np.swapaxes(h, 1, 2))
    return sigma2[:, None, None] * np.linalg.pinv(h)


def _bounds(
    data: Batch,
    lxmin: np.ndarray,
    lxmax: np.ndarray,
    user: dict[str, tuple[float, float]] | None,
    signed: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
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


def _solve(
    data: Batch,
    spec: Any,
    lxmin: np.ndarray,
    lxmax: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    extra_start: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit every curve: starts, the batched polish, restarts of doubtful fits, 4PL sign.

    Parameters
    ----------
    data : Batch
        The padded curves.
    spec : ModelSpec
    lxmin, lxmax : ndarray (B,)
        Lowest and highest log dose above 0.
    lower, upper : ndarray (B, 5)
        Bounds.
    extra_start : ndarray (B, 5), optional
        See `fit_arrays`.

    Returns
    -------
    p, rss, jtj, converged : ndarray
        As `levenberg_marquardt`, with the 4PL reported with ``hill >= 0``.
    """
    free = spec.free
    starts = _starts(data, lxmin, lxmax)
    for p0 in starts:
        for idx, val in spec.fixed.items():
            p0[:, idx] = val
    # start 1: the best point of a variable-projection grid (global); start 2: the logit
    # regression start; the lower RSS wins
    grid = _grid_starts(data, spec, lxmin, lxmax, lower, upper, per_class=True,
                        hills=_GRID_HILL_FIRST)  # fmt: skip
    if extra_start is not None:
        ex = np.array(extra_start, float)
        for idx, val in spec.fixed.items():
            ex[:, idx] = val
        grid = np.concatenate([grid, np.clip(ex, lower, upper)[:, None]], axis=1)
    # the 5PL's asymmetry and hill trade off along long valleys: more iterations
    max_iter = 1000 if LOGS in free else 200
    # the solver works on the dose means plus the within-dose sum of squares (its `offset`):
    # the same RSS and optimum as on the replicates, with a third of the points for triplicates
    red = _dose_means(data)
    p, rss, jtj, conv = _polish_best(grid, red, free, lower, upper, max_iter=max_iter)
    # curves the model fits poorly (bell-shaped, step-like data) have several basins: polish
    # the best few grid points too, not only the best one
    sw2 = data.sw**2
    ybar = (sw2 * data.y).sum(axis=1) / sw2.sum(axis=1)
    tss0 = (sw2 * (data.y - ybar[:, None]) ** 2).sum(axis=1)
    doubt = ~conv | (rss > 0.1 * tss0)
    for j in (HILL, LOGE):
        if j in free:
            doubt |= (p[:, j] <= lower[:, j] + 1e-6) | (p[:, j] >= upper[:, j] - 1e-6)
    idx2 = np.flatnonzero(doubt)
    if idx2.size:
        sub = data.take(idx2)
        many = _grid_starts(sub, spec, lxmin[idx2], lxmax[idx2], lower[idx2], upper[idx2],
                            keep=_N_RESTARTS)  # fmt: skip
        # the logit-regression start and the 2nd, 3rd, ... best grid points, all polished in
        # one batch (one solver loop instead of one per start)
        p0 = np.concatenate([starts[0][idx2][:, None], many[:, 1:]], axis=1).reshape(-1, 5)
        K = _N_RESTARTS
        rep = np.repeat(idx2, K)
        p2, rss2, jtj2, conv2 = levenberg_marquardt(p0, red.take(rep), free, lower[rep],
                                                    upper[rep], max_iter=max_iter)  # fmt: skip
        rss2 = np.where(np.isfinite(rss2), rss2, np.inf).reshape(-1, K)
        pick = np.argmin(rss2, axis=1)
        rows = np.arange(idx2.size) * K + pick
        better = rss2[np.arange(idx2.size), pick] < rss[idx2] * (1 - 1e-12)
        sel = idx2[better]
        rows = rows[better]
        p[sel], rss[sel] = p2[rows], rss2.ravel()[rows]
        jtj[sel], conv[sel] = jtj2[rows], conv2[rows]
    if spec.name == "4pl":
        # (b, c, d) and (-b, d, c) are one curve: report hill >= 0, top = response at dose 0
        flip = p[:, HILL] < 0
        p[flip, HILL] *= -1.0
        p[flip, BOTTOM], p[flip, TOP] = p[flip, TOP].copy(), p[flip, BOTTOM].copy()
        if flip.any():
            jtj[flip] = _jtj(p[flip], data.take(np.flatnonzero(flip)), free)
    return p, rss, jtj, conv


def _notes(
    p: np.ndarray,
    no_effect: np.ndarray,
    small_span: np.ndarray,
    censored: np.ndarray,
    shallow: np.ndarray,
    conv: np.ndarray,
    non_monotone: np.ndarray,
    ci_lo: np.ndarray,
    ci_hi: np.ndarray,
    p_flat: np.ndarray,
    mono_p: np.ndarray,
    drop: np.ndarray,
    effect_scale: np.ndarray,
    y_low: np.ndarray,
    half: np.ndarray,
    *,
    alpha_flat: float,
    min_effect: float,
    min_span: float,
    profile_5pl: bool,
) -> list[str]:
    """Write each curve's ``note``: why it is censored, not fitted well, or flagged.

    The arrays are `fit_arrays`' per-curve results (B,); ``profile_5pl`` says that the 5PL's
    profile CI was replaced by the delta method on log IC50.
    """
    B = p.shape[0]
    notes = [""] * B
    # only curves with something to say (usually few) go through the loop below
    say = no_effect | small_span | (censored != "") | shallow | ~conv | non_monotone
    with np.errstate(invalid="ignore"):
        say |= np.isinf(ci_hi) | (ci_lo <= 0)
    if profile_5pl:
        say[:] = True
    for i in np.flatnonzero(say).tolist():
        parts = []
        if no_effect[i]:
            if p_flat[i] >= alpha_flat:
                parts.append(
                    f"no effect: fit not better than a constant (F test p={p_flat[i]:.3g})"
                )
            else:
                parts.append(
                    f"no effect: fitted change over the doses {drop[i]:.3g} is below "
                    f"{min_effect:g} x {effect_scale[i]:.3g} (the larger fitted response "
                    "at the lowest and highest dose)"
                )
        elif small_span[i]:
            parts.append(
                f"effect too small for an IC50: fitted span {abs(p[i, TOP] - p[i, BOTTOM]):.3g} "
                f"< {min_span:g} x |top|; IC50 reported above the highest dose"
            )
        elif censored[i] == ">":
            parts.append("IC50 above the highest dose")
        elif censored[i] == "<":
            parts.append("IC50 below the lowest dose")
        elif shallow[i]:
            parts.append(
                f"IC50 not estimable: shallow curve (hill {p[i, HILL]:.3g}); the response at the "
                f"lowest dose ({y_low[i]:.3g}) is not past half the effect seen "
                f"({half[i]:.3g}), so no '<' claim"
            )
        if not conv[i]:
            parts.append("fit did not converge")
        if non_monotone[i]:
            parts.append(
                f"non-monotone data: the dose means rise and fall (monotone fit rejected, "
                f"p={mono_p[i]:.2g}); a log-logistic curve cannot describe them"
            )
        if np.isinf(ci_hi[i]) and not no_effect[i]:
            parts.append("CI upper bound open")
        if ci_lo[i] == 0 and not no_effect[i]:
            parts.append("CI lower bound open")
        if ci_lo[i] < 0 and not no_effect[i]:
            parts.append("delta CI lower bound below 0 (drc's symmetric interval; the profile "
                         "CI is positive)")  # fmt: skip
        if profile_5pl:
            parts.append("5PL: IC50 CI by the delta method on log IC50")
        notes[i] = "; ".join(parts)
    return notes


def fit_arrays(
    curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    model: str = "4pl",
    *,
    bounds: dict[str, tuple[float, float]] | None = None,
    ci_method: str = "profile",
    level: float = 0.95,
    alpha_flat: float = 0.05,
    min_effect: float = 0.1,
    min_span: float = 0.5,
    plateau_left: float = 0.1,
    abs_level: float = 0.5,
    fixed_bottom: float = 0.0,
    fixed_top: float = 1.0,
    extra_start: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit many curves at once (the batched core of `fit_curve` and `fit_curves`).

    Parameters
    ----------
    curves : sequence of (conc, response, weights or None)
        Clean data (no NaN; concentrations >= 0), at least ``k + 1`` points each.
    model : {"4pl", "3pl", "3pl-top", "5pl"}
    bounds : dict, optional
        ``{"hill": (lo, hi), "bottom": ..., "top": ..., "ic50": (lo_M, hi_M), "asym": ...}``.
    ci_method : {"profile", "delta", "none"}
    level : float
        Confidence level of the IC50 interval.
    alpha_flat : float
        A curve whose F test against a constant has ``p >= alpha_flat`` is "no effect".
    min_effect : float
        A curve whose fitted drop over the tested doses is below this fraction of the
        larger fitted response at the lowest and highest dose is "no effect" too.
    min_span : float
        A curve whose fitted span ``|top - bottom|`` is below this fraction of
        ``max(|top|, |bottom|)`` gets no relative IC50 (censored ``>`` at the highest dose):
        its plateau is where the doses stopped, not a real bottom. Not applied when the
        fitted curve at the two highest doses has less than ``plateau_left`` of its effect left
        (the data reach the plateau: a genuine partial-effect curve).
    plateau_left : float
        See ``min_span``.
    abs_level : float
        Response level of the absolute IC50.
    fixed_bottom, fixed_top : float
        The fixed plateau of ``3pl`` / ``3pl-top``.
    extra_start : ndarray (B, 5), optional
        One more starting point per curve, polished beside the grid's (e.g. the 4PL optimum
        for the 5PL, so that the nested model never ends above it).

    Returns
    -------
    dict of ndarray
        One entry per metric, each of length ``len(curves)``.
    """
    from scipy.stats import f as fdist
    from scipy.stats import t as tdist

    spec = get_model(model, bottom=fixed_bottom, top=fixed_top)
    free = spec.free
    k = spec.n_params
    data = _pad(curves)
    B = data.y.shape[0]
    valid = data.sw > 0
    pos = valid & ~data.zero
    lxmin = np.where(pos, data.logx, np.inf).min(axis=1)
    lxmax = np.where(pos, data.logx, -np.inf).max(axis=1)
    lower, upper = _bounds(data, lxmin, lxmax, bounds, signed=spec.signed)
    red = _dose_means(data)
    p, rss, jtj, conv = _solve(data, spec, lxmin, lxmax, lower, upper, extra_start)
    n = data.n_points
    dof = n - k
    sigma2 = rss / np.maximum(dof, 1)
    if ci_method == "delta":
        # drc's summary()/ED(): the observed information (Hessian of the RSS), not J^T J
        cov = _observed_cov(p, data, free, sigma2)
    else:
        cov = sigma2[:, None, None] * safe_pinv(jtj)
    se = np.full((B, 5), np.nan)
    for j, idx in enumerate(free):
        se[:, idx] = np.sqrt(np.maximum(cov[:, j, j], 0.0))

    # relative IC50 and its SE on log scale
    ic50 = halfway_dose(p)
    if LOGS in free:  # 5PL: delta method on log(halfway) through all parameters
        eps = 1e-6
        grad = np.zeros((B, k))
        for j, idx in enumerate(free):
            dp = p.copy()
            dp[:, idx] += eps
            grad[:, j] = (np.log(halfway_dose(dp)) - np.log(ic50)) / eps
        var_t = np.einsum("bi,bij,bj->b", grad, cov, grad)
    else:
        var_t = se[:, LOGE] ** 2
    se_t = np.sqrt(np.maximum(var_t, 0.0))
    # goodness of fit, F test against a constant
    sw2 = data.sw**2
    ybar = (sw2 * data.y).sum(axis=1) / sw2.sum(axis=1)
    tss = (sw2 * (data.y - ybar[:, None]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - rss / tss
        fstat = ((tss - rss) / (k - 1)) / (rss / dof)
    p_flat = np.where(
        rss <= 1e-30 * (tss + 1e-300), 0.0, fdist.sf(fstat, k - 1, np.maximum(dof, 1))
    )
    p_flat = np.where(np.isfinite(p_flat), p_flat, 1.0)
    # is the curve shape right at all? (bell-shaped data: flagged, not silently fitted)
    f_hat = evaluate(p, np.where(data.zero, 0.0, np.exp(data.logx)))
    lof_p, mono_p, non_monotone = _shape_tests(data, f_hat, k)
    # information criteria as drc's logLik/AIC/BIC (sigma counted as a parameter)
    with np.errstate(divide="ignore"):
        sum_logw = np.where(valid, np.log(np.where(valid, sw2, 1.0)), 0.0).sum(axis=1)
        loglik = 0.5 * sum_logw - 0.5 * n * (np.log(2 * np.pi) + 1.0 + np.log(rss / n))
    aic = -2.0 * loglik + 2.0 * (k + 1)
    bic = -2.0 * loglik + np.log(n) * (k + 1)

    xraw = _raw_doses(curves)
    xmin = np.where(pos, xraw, np.inf).min(axis=1)
    xmax = np.where(pos, xraw, -np.inf).max(axis=1)
    has_zero = (valid & data.zero).any(axis=1)
    x_first = np.where(has_zero, 0.0, xmin)
    f_first = evaluate(p, x_first[:, None])[:, 0]
    emax = evaluate(p, xmax[:, None])[:, 0]
    # mean fitted response over the log-dose range (Simpson's rule, 33 nodes)
    grid = np.exp(lxmin[:, None] + (lxmax - lxmin)[:, None] * np.linspace(0, 1, 33)[None, :])
    simpson = np.ones(33)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    auc = evaluate(p, grid) @ (simpson / (3.0 * 32))
    ic50_abs = dose_at_response(p, abs_level)

    # the plateaus at dose 0 and at infinite dose: top/bottom for hill >= 0; a signed model
    # (3pl = drc LL.3, 5pl) with hill < 0 has them the other way round
    neg = p[:, HILL] < 0
    start_lvl = np.where(neg, p[:, BOTTOM], p[:, TOP])
    end_lvl = np.where(neg, p[:, TOP], p[:, BOTTOM])
    scale = np.maximum(np.abs(p[:, TOP]), np.abs(p[:, BOTTOM]))
    drop = np.abs(f_first - emax)
    # "no effect" compares the drop with the responses the fit reaches over the tested doses,
    # not with the asymptotes: an extrapolated bottom far below the data (bottom -5 for a
    # curve falling 1 -> 0.52) must not turn a clear, significant drop of 0.48 into no effect
    effect_scale = np.maximum(np.abs(f_first), np.abs(emax))
    no_effect = (p_flat >= alpha_flat) | (drop < min_effect * effect_scale)
    # a curve that levels off after a small fraction of its response (bottom near top) has no
    # meaningful inflection: with the doses too low to reach the real plateau, a free bottom
    # lands wherever the data stop, and that is not an IC50
    # ... unless the data do reach that plateau: at the two highest doses at most 10 % of the
    # fitted effect is left (a genuine partial-effect curve with an in-range inflection; one
    # dose on the "plateau" is not enough, a steep drop at the last dose fakes it)
    x2 = np.where(pos & (xraw < xmax[:, None]), xraw, -np.inf).max(axis=1)
    f2 = evaluate(p, x2[:, None])[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.abs((f2 - end_lvl) / (start_lvl - end_lvl))
    small_span = (
        ~no_effect & (np.abs(p[:, TOP] - p[:, BOTTOM]) < min_span * scale) & ~(left <= plateau_left)
    )
    tq = tdist.ppf(0.5 + level / 2, np.maximum(dof, 1))
    if ci_method == "delta":  # drc: e +/- t se(e), on the linear scale
        se_e = ic50 * se_t
        # as drc: symmetric on the linear scale, so the lower end can be negative (reported,
        # with a note, not clipped to 0)
        ci_lo, ci_hi = ic50 - tq * se_e, ic50 + tq * se_e
    elif ci_method == "profile" and LOGS not in free and LOGE in free:
        # no CI for curves without an effect (their IC50 is reported as censored anyway)
        ci_lo, ci_hi = np.full(B, np.nan), np.full(B, np.nan)
        todo = np.flatnonzero(~no_effect)
        if todo.size:
            t_lo, t_hi = profile_ci(p[todo], rss[todo], dof[todo], red.take(todo), free,
                                     lower[todo], upper[todo], se_t[todo], level,
                                     jtj[todo])  # fmt: skip
            ci_lo[todo], ci_hi[todo] = np.exp(t_lo), np.exp(t_hi)
    elif ci_method in ("profile", "delta-log"):  # 5PL: delta method on log scale
        ci_lo, ci_hi = ic50 * np.exp(-tq * se_t), ic50 * np.exp(tq * se_t)
    elif ci_method == "none":
        ci_lo = ci_hi = np.full(B, np.nan)
    else:
        raise ValueError(f"unknown ci_method {ci_method!r}; use profile, delta or none")

    censored = np.where(ic50 > xmax * (1 + 1e-9), ">", np.where(ic50 < xmin * (1 - 1e-9), "<", ""))
    censored = np.where(~np.isfinite(ic50), ">", censored)
    censored = np.where(no_effect | small_span, ">", censored)
    # a "<" claim needs the data to show it: at the lowest dose the measured response must
    # already be past half the fitted effect. A shallow, almost linear decline fitted with a
    # tiny hill puts its inflection below the doses by extrapolation; its IC50 is not
    # estimable (status "shallow", no number), not "< lowest dose" (issue 11)
    low_pts = pos & (data.logx <= lxmin[:, None] + 1e-12)
    y_low = (sw2 * data.y * low_pts).sum(axis=1) / np.maximum((sw2 * low_pts).sum(axis=1), 1e-300)
    # ... half of the effect *seen*: plateaus extrapolated beyond the dose means (a tiny hill
    # puts the top at 3-5 for data that start at 1) are clipped to the observed range
    dm = _dose_means(data)
    dm_ok = dm.sw > 0
    y_hi = np.where(dm_ok, dm.y, -np.inf).max(axis=1)
    y_lo = np.where(dm_ok, dm.y, np.inf).min(axis=1)
    half = 0.5 * (np.clip(start_lvl, y_lo, y_hi) + np.clip(end_lvl, y_lo, y_hi))
    past = np.where(start_lvl >= end_lvl, y_low < half, y_low > half)
    shallow = (censored == "<") & ~past
    censored = np.where(shallow, "", censored)
    ic50_rep = np.where(censored == ">", xmax, np.where(censored == "<", xmin, ic50))
    ic50_rep = np.where(shallow, np.nan, ic50_rep)
    # absolute IC50: where it is not crossed or outside the doses, censor towards the side
    # the curve stays on
    dec = start_lvl >= end_lvl
    abs_c = np.full(B, "", dtype=object)
    never = ~np.isfinite(ic50_abs)
    above_side = (dec & (emax > abs_level)) | (~dec & (emax < abs_level))
    abs_c[(never & above_side) | (ic50_abs > xmax * (1 + 1e-9)) | no_effect] = ">"
    abs_c[(abs_c == "") & ((ic50_abs < xmin * (1 - 1e-9)) | never)] = "<"
    # the same for the absolute IC50: "<" only when the lowest dose's data are below the level
    abs_past = np.where(dec, y_low < abs_level, y_low > abs_level)
    abs_shallow = (abs_c == "<") & ~abs_past
    abs_c[abs_shallow] = ""
    ic50_abs_rep = np.where(abs_c == ">", xmax, np.where(abs_c == "<", xmin, ic50_abs))
    ic50_abs_rep = np.where(abs_shallow, np.nan, ic50_abs_rep)

    status = np.where(
        no_effect,
        "no_effect",
        np.where(
            ~conv,
            "not_converged",
            np.where(small_span, "small_effect", np.where(shallow, "shallow", "ok")),
        ),
    )
    notes = _notes(
        p, no_effect, small_span, censored, shallow, conv, non_monotone, ci_lo, ci_hi, p_flat,
        mono_p, drop, effect_scale, y_low, half,
        alpha_flat=alpha_flat, min_effect=min_effect, min_span=min_span,
        profile_5pl=LOGS in free and ci_method == "profile",
    )  # fmt: skip
    return {
        "params": p,
        "se": se,
        "hill": p[:, HILL],
        "bottom": p[:, BOTTOM],
        "top": p[:, TOP],
        "asymmetry": np.exp(p[:, LOGS]),
        "ic50_fit": ic50,
        "ic50_rel": ic50_rep,
        "ic50_abs": ic50_abs_rep,
        "ic50_abs_censored": abs_c.astype(str),
        "ic50_ci_low": ci_lo,
        "ic50_ci_high": ci_hi,
        "ic50_censored": censored.astype(str),
        "ic50_se": ic50 * se_t,
        "ic50_se_log10": se_t / LN10,
        "emax": emax,
        "auc": auc,
        "r2": r2,
        "rss": rss,
        "df": dof,
        "sigma": np.sqrt(sigma2),
        "n_points": n,
        "p_flat": p_flat,
        "loglik": loglik,
        "lack_of_fit_p": lof_p,
        "non_monotone": non_monotone,
        "aic": aic,
        "bic": bic,
        "converged": conv,
        "status": status.astype(str),
        "note": np.array(notes, dtype=object),
        "min_dose": xmin,
        "max_dose": xmax,
    }


# --------------------------------------------------------------------------------------------
# input checks shared by fit_curve and fit_curves (`check_curve` lives in `_clean`, which
# `fold` uses too)


def _empty_result(problem: str, model: str, conc: np.ndarray) -> dict[str, Any]:
    status = "constant" if problem.startswith("constant") else "bad_input"
    pos = conc[np.isfinite(conc) & (conc > 0)] if conc.size else conc
    return {
        "params": np.full(5, np.nan), "se": np.full(5, np.nan), "hill": np.nan,
        "bottom": np.nan, "top": np.nan, "asymmetry": np.nan, "ic50_fit": np.nan,
        "ic50_rel": np.nan, "ic50_abs": np.nan, "ic50_abs_censored": "", "ic50_ci_low": np.nan,
        "ic50_ci_high": np.nan, "ic50_censored": "", "ic50_se": np.nan, "ic50_se_log10": np.nan,
        "emax": np.nan, "auc": np.nan, "r2": np.nan, "rss": np.nan, "df": np.nan,
        "sigma": np.nan, "n_points": int(np.isfinite(conc).sum()), "p_flat": np.nan,
        "loglik": np.nan, "aic": np.nan, "bic": np.nan, "lack_of_fit_p": np.nan,
        "non_monotone": False,
        "converged": False, "status": status, "note": problem,
        "min_dose": pos.min() if pos.size else np.nan,
        "max_dose": pos.max() if pos.size else np.nan,
    }  # fmt: skip


def _segments(cid: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each curve's rows in a curve-sorted flat array (``cid`` = curve ids)."""
    bounds = np.searchsorted(cid, np.arange(n + 1))
    return bounds[:-1], bounds[1:]


def _reduce(
    ufunc: np.ufunc, v: np.ndarray, lo: np.ndarray, hi: np.ndarray, empty: float
) -> np.ndarray:
    """``ufunc.reduce`` of ``v[lo:hi]`` per curve; ``empty`` for a curve without rows."""
    out = np.full(lo.size, empty)
    has = hi > lo
    if has.any():
        # reduceat runs from each start to the next one: with only the non-empty curves'
        # starts given, that is exactly each curve's own rows
        out[has] = ufunc.reduceat(v, lo[has])
    return out


def _distinct_per_curve(cid: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Count the distinct values of ``v`` per curve id (``cid`` need not be sorted)."""
    order = np.lexsort((v, cid))
    cs, vs = cid[order], v[order]
    new = np.ones(cs.size, bool)
    new[1:] = (cs[1:] != cs[:-1]) | (vs[1:] != vs[:-1])
    return np.bincount(cs[new], minlength=n)


def check_curves(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], n_params: int = 4
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """`check_curve` for many curves, with the same results.

    A screen of 10,000 curves spent over a second in 10,000 `check_curve` calls (a dozen
    small numpy calls each). Here one pass over the concatenated data finds the curves that
    are certainly clean; only the others (usually none) go through `check_curve`, so every
    ``problem`` text is exactly the one `check_curve` gives.

    Parameters
    ----------
    curves : sequence of (conc, response)
    n_params : int
        Number of fitted parameters (see `check_curve`).

    Returns
    -------
    list of (conc, response, problem)
        As `check_curve`, one per curve.
    """
    n = len(curves)
    if n == 0:
        return []
    concs = [np.asarray(c, float) for c, _ in curves]
    resps = [np.asarray(r, float) for _, r in curves]
    lens = np.fromiter((c.size for c in concs), int, n)
    if any(r.shape != c.shape for c, r in zip(concs, resps, strict=True)) or lens.sum() == 0:
        return [check_curve(c, r, n_params) for c, r in zip(concs, resps, strict=True)]
    conc, resp = np.concatenate(concs), np.concatenate(resps)
    cid = np.repeat(np.arange(n), lens)
    ok = np.isfinite(resp)
    # conservative: a curve counted clean here passes every test of `check_curve`
    bad = (lens == 0) | (np.bincount(cid, ~np.isfinite(conc) | (conc < 0), n) > 0)
    n_ok = np.bincount(cid, ok, n)
    sel = ok & np.isfinite(conc)
    cs, cc, rs = cid[sel], conc[sel], resp[sel]
    bad |= n_ok <= n_params
    bad |= _distinct_per_curve(cs, cc, n) < 4
    pos = cc > 0
    bad |= _distinct_per_curve(cs[pos], cc[pos], n) < 2
    lo, hi = _segments(cs, n)
    rmax = _reduce(np.maximum, rs, lo, hi, np.nan)
    rmin = _reduce(np.minimum, rs, lo, hi, np.nan)
    absmax = np.maximum(np.abs(rmax), np.abs(rmin))
    cmin_pos = _reduce(np.minimum, np.where(pos, cc, np.inf), lo, hi, np.nan)
    cmax = _reduce(np.maximum, cc, lo, hi, np.nan)
    with np.errstate(invalid="ignore"):
        sane = (absmax <= 1e100) & (cmin_pos > 1e-200) & (cmax < 1e200)
        sane &= (rmax - rmin) > 1e-12 * np.maximum(1.0, absmax)
    bad |= ~sane
    all_finite = (n_ok == lens).tolist()
    out = []
    for i, (c, r) in enumerate(zip(concs, resps, strict=True)):
        if bad[i]:
            out.append(check_curve(c, r, n_params))
        elif all_finite[i]:  # nothing to drop (the usual case): no copy
            out.append((c, r, ""))
        else:
            keep = np.isfinite(r)
            out.append((c[keep], r[keep], ""))
    return out


def _fits_table(
    curves: Sequence[Any],
    checked: Sequence[tuple[np.ndarray, np.ndarray, str]],
    todo: Sequence[int],
    out: dict[str, Any],
    model: str,
    ci_method: str,
) -> Any:
    """Build the ``fits.csv`` table of `fit_curves` a column at a time.

    One dict per curve (and its per-row inference in ``pd.DataFrame``) took about a second
    on 10,000 curves; columns come straight from `fit_arrays`' arrays here. Curves that were
    not fitted get `_empty_result`'s values, so the dtypes are those the per-row table had
    (e.g. ``df`` becomes float when a NaN joins its integers).

    Parameters
    ----------
    curves : sequence of `_table.Curve`
    checked : sequence of (conc, response, problem)
        `check_curves` output.
    todo : sequence of int
        Indices of the fitted curves, in the order of ``out``'s entries.
    out : dict
        `fit_arrays` entries (arrays or lists) plus ``model`` and ``model_note``.
    model : str
        Model name given to the curves that were not fitted.
    ci_method : str

    Returns
    -------
    DataFrame
        `FITS_COLUMNS` then `EXTRA_COLUMNS`.
    """
    import pandas as pd

    n = len(curves)
    rest = [i for i in range(n) if checked[i][2]]
    empty = {i: {**_empty_result(checked[i][2], model, curves[i].conc), "model": model,
                 "model_note": ""} for i in rest}  # fmt: skip
    todo = list(todo)

    def res(key: str, part: Any = None) -> Any:
        """One result entry of every curve (``part``: a column of a per-curve vector)."""
        vals = out.get(key, [])
        if part is not None:
            vals = np.asarray(list(vals) if isinstance(vals, list) else vals).reshape(-1, 5)
            vals = vals[:, part]
        if not rest:
            return vals if isinstance(vals, np.ndarray) else list(vals)
        col: list[Any] = [None] * n
        for j, i in enumerate(todo):
            col[i] = vals[j]
        for i, r in empty.items():
            col[i] = r[key] if part is None else r[key][part]
        return col

    def key(name: str, default: Any) -> list[Any]:
        return [c.key.get(name, default) for c in curves]

    note_fit = res("note")
    notes = ["; ".join([*c.problems, r] if r else c.problems) for c, r in zip(curves, note_fit,
             strict=True)]  # fmt: skip
    dose_cid = np.repeat(np.arange(n), [c.conc.size for c in curves])
    dose_all = np.concatenate([c.conc for c in curves]) if n else np.empty(0)
    finite = np.isfinite(dose_all)
    n_doses = _distinct_per_curve(dose_cid[finite], dose_all[finite], n)
    nan = np.full(n, np.nan)
    cols = {
        "cell_line": key("cell_line", ""), "drug": key("drug", ""), "drug_b": key("drug_b", ""),
        "concentration_b": key("concentration_b", np.nan), "model": res("model"),
        "n_points": res("n_points"), "top": res("top"), "bottom": res("bottom"),
        "hill": res("hill"), "ic50_rel_M": res("ic50_rel"), "ic50_abs_M": res("ic50_abs"),
        "ic50_ci_low_M": res("ic50_ci_low"), "ic50_ci_high_M": res("ic50_ci_high"),
        "ic50_censored": res("ic50_censored"), "emax": res("emax"), "auc": res("auc"),
        "r2": res("r2"), "converged": np.asarray(res("converged"), bool),
        "parental": [c.parental for c in curves], "fold_resistance": nan,
        "fold_ci_low": nan.copy(), "fold_ci_high": nan.copy(), "p_value": nan.copy(),
        "status": res("status"), "note": notes, "ic50_fit_M": res("ic50_fit"),
        "ic50_se_M": res("ic50_se"), "ic50_se_log10": res("ic50_se_log10"),
        "ic50_abs_censored": res("ic50_abs_censored"), "ci_method": [ci_method] * n,
        "asymmetry": res("asymmetry"), "hill_se": res("se", HILL), "top_se": res("se", TOP),
        "bottom_se": res("se", BOTTOM), "rss": res("rss"), "df": res("df"),
        "sigma": res("sigma"), "p_flat": res("p_flat"), "n_doses": n_doses,
        "min_dose_M": res("min_dose"), "max_dose_M": res("max_dose"),
        "fold_censored": [""] * n, "fold_note": [""] * n, "aic": res("aic"), "bic": res("bic"),
        "model_note": res("model_note"), "lack_of_fit_p": res("lack_of_fit_p"),
        "non_monotone": np.asarray(res("non_monotone"), bool),
    }  # fmt: skip
    return pd.DataFrame(cols, columns=FITS_COLUMNS + EXTRA_COLUMNS)


def fit_curve(
    conc: Sequence[float] | np.ndarray,
    response: Sequence[float] | np.ndarray,
    model: str = "4pl",
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    robust: bool = False,
    bounds: dict[str, tuple[float, float]] | None = None,
    ci_method: str = "profile",
    level: float = 0.95,
    abs_level: float = 0.5,
    alpha_flat: float = 0.05,
    min_effect: float = 0.1,
    min_span: float = 0.5,
    fixed_bottom: float = 0.0,
    fixed_top: float = 1.0,
) -> CurveFit:
    """Fit one dose-response curve.

    Parameters
    ----------
    conc : array_like
        Doses (>= 0; 0 is the vehicle and is used as dose 0, not log 0).
    response : array_like
        Responses as given (no rescaling).
    model : {"4pl", "3pl", "3pl-top", "3pl-bottom", "5pl"}
        drc ``LL.4``, ``LL.3`` (lower limit fixed at ``fixed_bottom``, hill of either sign),
        dose-0 response fixed at ``fixed_top``, infinite-dose response fixed at
        ``fixed_bottom``, ``LL.5``.
    weights : array_like, optional
        Per-point weights (inverse variances).
    robust : bool
        Refit with a soft-L1 loss (scipy ``least_squares``) to reduce the pull of outliers.
    bounds : dict, optional
        See `fit_arrays`.
    ci_method : {"profile", "delta", "none"}
    level, abs_level, alpha_flat, min_effect, min_span, fixed_bottom, fixed_top
        See `fit_arrays`.

    Returns
    -------
    CurveFit
        With ``status``/``note`` explaining bad input instead of raising.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.repeat([0, 1e-9, 3e-9, 1e-8, 3e-8, 1e-7, 3e-7], 2)
    >>> y = 1 / (1 + (x / 2e-8) ** 1.2)
    >>> fit = fit_curve(x, y + np.tile([0.01, -0.01], 7))
    >>> round(fit.ic50_rel * 1e9, 1)
    20.0
    """
    spec = get_model(model, bottom=fixed_bottom, top=fixed_top)
    x = np.asarray(conc, float)
    y = np.asarray(response, float)
    w = None if weights is None else np.asarray(weights, float)
    if x.shape != y.shape or (w is not None and w.shape != x.shape):
        raise ValueError("conc, response (and weights) must have the same length")
    xc, yc, problem = check_curve(x, y, spec.n_params)
    if problem:
        r = _empty_result(problem, spec.name, x)
    else:
        if w is not None:
            w = w[np.isfinite(y)]
        r = {
            key: (val[0] if isinstance(val, np.ndarray) else val)
            for key, val in fit_arrays(
                [(xc, yc, w)], spec.name, bounds=bounds, ci_method=ci_method, level=level,
                abs_level=abs_level, alpha_flat=alpha_flat, min_effect=min_effect,
                min_span=min_span, fixed_bottom=fixed_bottom, fixed_top=fixed_top,
            ).items()
        }  # fmt: skip
        if robust:
            r["params"] = _robust_refit(xc, yc, w, r["params"], spec.free)
            r["note"] = "; ".join(s for s in (r["note"], "robust (soft-L1) refit") if s)
            pr = r["params"]
            r["hill"], r["bottom"], r["top"] = pr[HILL], pr[BOTTOM], pr[TOP]
            r["ic50_fit"] = float(halfway_dose(pr))
            if r["ic50_censored"] == "":
                r["ic50_rel"] = r["ic50_fit"]
            r["emax"] = float(evaluate(pr, np.array([r["max_dose"]]))[0])
    se = {name: float(r["se"][i]) for i, name in enumerate(PARAMS)}
    return CurveFit(
        model=spec.name, params=np.asarray(r["params"]), hill=float(r["hill"]),
        bottom=float(r["bottom"]), top=float(r["top"]), asymmetry=float(r["asymmetry"]),
        ic50_rel=float(r["ic50_rel"]), ic50_fit=float(r["ic50_fit"]),
        ic50_abs=float(r["ic50_abs"]),
        ic50_ci=(float(r["ic50_ci_low"]), float(r["ic50_ci_high"])),
        ic50_censored=str(r["ic50_censored"]), ic50_abs_censored=str(r["ic50_abs_censored"]),
        ic50_se=float(r["ic50_se"]), ic50_se_log10=float(r["ic50_se_log10"]),
        emax=float(r["emax"]), auc=float(r["auc"]), r2=float(r["r2"]), rss=float(r["rss"]),
        df=int(r["df"]) if np.isfinite(r["df"]) else 0, n_points=int(r["n_points"]),
        p_flat=float(r["p_flat"]), converged=bool(r["converged"]), status=str(r["status"]),
        note=str(r["note"]), se=se, dose_range=(float(r["min_dose"]), float(r["max_dose"])),
    )  # fmt: skip


def _robust_refit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, p0: np.ndarray, free: tuple[int, ...]
) -> np.ndarray:
    from scipy.optimize import least_squares

    from napari_il6assay.doseresponse.models import evaluate_jac

    zero = x <= 0
    logx = np.log(np.where(zero, 1.0, x))[None, :]
    sw = np.ones_like(y) if w is None else np.sqrt(w)
    fr = list(free)
    resid0 = y - evaluate(p0, x)
    scale = 1.4826 * np.median(np.abs(resid0 - np.median(resid0))) + 1e-12

    def fun(q: np.ndarray) -> np.ndarray:
        p = p0.copy()
        p[fr] = q
        return sw * (evaluate(p, x) - y)

    def jac(q: np.ndarray) -> np.ndarray:
        p = p0.copy()
        p[fr] = q
        _, j = evaluate_jac(p[None, :], logx, zero[None, :])
        return sw[:, None] * j[0][:, fr]

    res = least_squares(fun, p0[fr], jac=jac, loss="soft_l1", f_scale=scale)
    p = p0.copy()
    p[fr] = res.x
    return p


def select_models(
    curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    candidates: Sequence[str] = AUTO_MODELS,
    criterion: str = "aic",
    fits_out: dict[str, tuple[list[int], dict[str, np.ndarray]]] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Fit every candidate model to every curve and keep the one with the lowest AIC (or BIC).

    As drc's ``mselect`` (AIC by default) and Prism's model comparison: the candidates are
    fitted to the same data, the information criterion picks one per curve, and the
    extra-sum-of-squares F tests of the nested pairs (3PL within 4PL, 4PL within 5PL) are
    reported beside it in ``model_note``. A candidate that cannot be fitted (too few points,
    no convergence) is skipped.

    Parameters
    ----------
    curves : sequence of (conc, response, weights or None)
        Clean data (see `fit_arrays`).
    candidates : sequence of str
        Model names.
    criterion : {"aic", "bic"}
    fits_out : dict, optional
        Filled with every candidate's fits: model -> (indices of the curves it was fitted
        to, its `fit_arrays` entries).
    **kwargs
        Passed to `fit_arrays`.

    Returns
    -------
    list of dict
        Per curve, the chosen model's `fit_arrays` entries plus ``model`` and ``model_note``.
    """
    from scipy.stats import f as fdist

    outs: dict[str, tuple[list[int], dict[str, np.ndarray]]] = {}
    for m in candidates:
        k = get_model(m).n_params
        ok = [j for j, c in enumerate(curves) if len(c[0]) > k]
        if not ok:
            continue
        extra = None
        if m == "5pl" and "4pl" in outs:  # the 4PL optimum is a 5PL with s = 1: start there
            ok4, out4 = outs["4pl"]
            extra = np.array([out4["params"][ok4.index(j)] if j in ok4 else
                              np.full(5, np.nan) for j in ok])  # fmt: skip
            extra[:, LOGS] = 0.0
            extra = np.where(np.isfinite(extra), extra, 0.0)
        outs[m] = (ok, fit_arrays([curves[j] for j in ok], m, extra_start=extra, **kwargs))
    if fits_out is not None:
        fits_out.update(outs)
    chosen = []
    for j in range(len(curves)):
        ic, rss, dfs, res = {}, {}, {}, {}
        for m, (ok, out) in outs.items():
            if j not in ok:
                continue
            jj = ok.index(j)
            r = {key: val[jj] for key, val in out.items()}
            # a fit that stopped at the iteration limit still has its RSS (drc's mselect
            # also ranks every fit it got); the note says so
            if not np.isfinite(r[criterion]):
                continue
            ic[m], rss[m], dfs[m], res[m] = r[criterion], r["rss"], r["df"], r
        if not ic:  # nothing fitted: the 4PL as it came out, said so
            ok, out = outs["4pl"]
            r = {key: val[ok.index(j)] for key, val in out.items()}
            chosen.append({**r, "model": "4pl", "model_note": "auto: no candidate could be fitted"})
            continue
        best = min(ic, key=lambda m: ic[m])
        parts = [f"auto: {best} by {criterion.upper()} ("
                 + ", ".join(f"{m} {v:.4g}" for m, v in ic.items()) + ")"]  # fmt: skip
        for small, big in (("3pl", "4pl"), ("4pl", "5pl")):
            if small in rss and big in rss and dfs[big] > 0:
                dd = dfs[small] - dfs[big]
                fstat = max(rss[small] - rss[big], 0.0) / dd / (rss[big] / dfs[big])
                pv = float(fdist.sf(fstat, dd, dfs[big])) if rss[big] > 0 else 0.0
                parts.append(f"F test {small} vs {big} p={pv:.3g}")
        if not res[best]["converged"]:
            parts.append(f"{best} stopped at the iteration limit")
        chosen.append({**res[best], "model": best, "model_note": "; ".join(parts)})
    return chosen


def fit_curves(
    df: Any,
    *,
    response: str = "viability",
    model: str = "4pl",
    group_cols: Sequence[str] = ("cell_line", "drug", "drug_b", "concentration_b"),
    conc: str | None = None,
    ci_method: str = "profile",
    fold: bool = True,
    **kwargs: Any,
) -> Any:
    """Fit every curve of a tidy table: one row per curve with the ``fits.csv`` columns.

    Parameters
    ----------
    df : DataFrame
        One row per well (``wells.csv``) or per condition; ``role`` ``exclude``/``blank``
        rows are skipped; wells without ``drug`` are the dose-0 points of each drug's curve.
    response : str
        Column fitted as given (no rescaling).
    model : {"4pl", "3pl", "3pl-top", "3pl-bottom", "5pl", "auto"}
        ``"auto"``: 3PL, 4PL and 5PL per curve, the lowest AIC kept (`select_models`); the
        ``model`` column says which and ``model_note`` why.
    group_cols : sequence of str
        Columns identifying a curve (absent ones are ignored).
    conc : str, optional
        Dose column; default ``concentration_M``, else ``concentration``, ``conc``, ``dose``.
    ci_method : {"profile", "delta", "none"}
    fold : bool
        Add fold resistance against each curve's ``parental`` (see `fold.add_fold_resistance`)
        when the table has a ``parental`` column: a step after the fits, which starts its
        joint fits from the curves' own fitted parameters (no curve is fitted twice).
    **kwargs
        Passed to `fit_arrays` (``bounds``, ``level``, ``abs_level``, ``alpha_flat``, ...).

    Returns
    -------
    DataFrame
        `FITS_COLUMNS` then `EXTRA_COLUMNS`. Curves that cannot be fitted have
        ``status`` ``bad_input``/``constant`` and the reason in ``note``.
    """
    from napari_il6assay.doseresponse._table import concentration_column, split_curves

    if response not in df.columns:
        raise KeyError(f"response column {response!r} not in the table")
    conc = concentration_column(df, conc)
    auto = model == "auto"
    spec = get_model(
        "4pl" if auto else model,
        bottom=kwargs.get("fixed_bottom", 0.0), top=kwargs.get("fixed_top", 1.0),
    )  # fmt: skip
    curves = split_curves(df, response, conc, tuple(group_cols))
    n_min = 3 if auto else spec.n_params
    checked = check_curves([(c.conc, c.response) for c in curves], n_min)
    todo = [i for i, (_, _, problem) in enumerate(checked) if not problem]
    data = [(checked[i][0], checked[i][1], None) for i in todo]
    out: dict[str, Any] = {}
    # each curve's `spec` parameters, for the fold's joint fits (NaN: not fitted)
    params = np.full((len(curves), 5), np.nan)
    if data:
        if auto:
            per_model: dict[str, tuple[list[int], dict[str, np.ndarray]]] = {}
            chosen = select_models(data, ci_method=ci_method, fits_out=per_model, **kwargs)
            out = {key: [r[key] for r in chosen] for key in chosen[0]}
            if spec.name in per_model:
                ok, fits4 = per_model[spec.name]
                params[np.asarray(todo)[ok]] = fits4["params"]
        else:
            out = fit_arrays(data, spec.name, ci_method=ci_method, **kwargs)
            out["model"] = np.full(len(data), spec.name, dtype=object)
            out["model_note"] = np.full(len(data), "", dtype=object)
            params[todo] = out["params"]
    fits = _fits_table(curves, checked, todo, out, spec.name, ci_method)
    if fold and "parental" in df.columns and (fits["parental"] != "").any():
        # auto: a pair needs one model for the joint fit; the 4PL (the fits table says which
        # model each curve's own IC50 came from)
        fits = add_fold_resistance(fits, curves, params, model=spec.name, **{
            k: v for k, v in kwargs.items() if k in ("level", "fixed_bottom", "fixed_top")
        })  # fmt: skip
    return fits
