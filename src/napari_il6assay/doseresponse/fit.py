"""Fit log-logistic dose-response curves: IC50 with a profile-likelihood CI, censoring, flat tests.

Public functions
----------------
fit_curve(conc, response, model="4pl", ...) -> CurveFit
    One curve.
fit_curves(df, response="viability", model="4pl", ...) -> DataFrame
    One row per curve of a tidy table, with the ``fits.csv`` columns of INTERFACE.md.
fit_curve_table(df, ...) -> CurveTableFit
    The same table with the curves and their parameters, for `fold.add_fold_resistance`.
fit_arrays(curves, model="4pl", ...) -> FitBatch
    The batched core all use: all curves are solved together (see ``_solver``).
select_models(curves, ...) -> FitBatch
    ``model="auto"``: 3PL/4PL/5PL per curve by AIC, as drc's ``mselect``.

Conventions (the same as R drc ``LL.4`` with its ``b``): ``hill > 0`` for a decreasing curve,
``top`` is the response at dose 0 and ``bottom`` at infinite dose; Prism's HillSlope is ``-hill``.
``ic50_rel_M`` is the dose halfway between top and bottom, ``ic50_abs_M`` where the curve crosses
``abs_level`` (0.5 on the viability scale).

`fit_arrays` runs four steps, each in its own module:

1. start (`_start`): pad the curves (`_batch`), bound the parameters, and find starting values
   on a grid over (hill, log e[, asymmetry]) with the plateaus solved in closed form;
2. solve (`_polish`): a batched Levenberg-Marquardt polish (`_solver`), with restarts for the
   curves the model fits poorly (issue 11);
3. inference (`_inference`): SEs, the IC50's CI (profile likelihood by default, `_profile`),
   R^2, the F test against a constant, AIC/BIC, lack-of-fit and monotonicity tests;
4. censoring (`_censor`): "no effect", censored IC50s at the tested doses, ``shallow``
   curves, each curve's status and note.

Its result is a `FitBatch`; `_result.COLUMNS` maps it to `CurveFit` and to the ``fits.csv``
columns. The fold resistance is a step after the fits (`fold.add_fold_resistance`), started
from the fitted parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from napari_il6assay.doseresponse._batch import CurveData, FlatCurves
from napari_il6assay.doseresponse._censor import censor, classify_effect, dose_readouts, notes
from napari_il6assay.doseresponse._clean import check_curve, check_curves, check_flat
from napari_il6assay.doseresponse._inference import ic50_ci, infer
from napari_il6assay.doseresponse._polish import solve
from napari_il6assay.doseresponse._result import (
    COLUMNS,
    N_INTERFACE_COLUMNS,
    CurveFit,
    CurveTableFit,
    FitBatch,
    fits_table,
)
from napari_il6assay.doseresponse._start import LN10, prepare
from napari_il6assay.doseresponse.models import LOGS, evaluate, get_model, halfway_dose
from napari_il6assay.parallel import map_parts

__all__ = [
    "AUTO_MODELS",
    "EXTRA_COLUMNS",
    "FITS_COLUMNS",
    "CurveFit",
    "CurveTableFit",
    "FitBatch",
    "check_curve",
    "check_curves",
    "fit_arrays",
    "fit_curve",
    "fit_curve_table",
    "fit_curves",
    "select_models",
]

#: Columns of ``fits.csv`` (INTERFACE.md) in order; `fit_curves` adds `EXTRA_COLUMNS` after them.
FITS_COLUMNS = [c.name for c in COLUMNS[:N_INTERFACE_COLUMNS]]
EXTRA_COLUMNS = [c.name for c in COLUMNS[N_INTERFACE_COLUMNS:]]

#: Candidates of ``model="auto"`` (drc ``mselect``'s usual set: LL.3, LL.4, LL.5).
AUTO_MODELS = ("3pl", "4pl", "5pl")


def fit_arrays(
    curves: Sequence[CurveData],
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
    workers: int = 1,
) -> FitBatch:
    """Fit many curves at once (the batched core of `fit_curve` and `fit_curves`).

    Parameters
    ----------
    curves : sequence of (conc, response, weights or None)
        Clean data (no NaN; concentrations >= 0), at least ``k + 1`` points each.
    model : {"4pl", "3pl", "3pl-top", "3pl-bottom", "5pl"}
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
        The fixed plateau of ``3pl`` / ``3pl-top`` / ``3pl-bottom``.
    extra_start : ndarray (B, 5), optional
        One more starting point per curve, polished beside the grid's (e.g. the 4PL optimum
        for the 5PL, so that the nested model never ends above it).
    workers : int
        Most processes to use (forked, Linux; `parallel.map_parts`). A batch of more than
        `PART_CURVES` curves is fitted in consecutive parts of at most that many, shared
        among the processes; the parts depend only on the number of curves, so the result
        is the same for any ``workers``.

    Returns
    -------
    FitBatch
        One entry per curve in every array.
    """
    n_parts = -(-len(curves) // PART_CURVES)
    if n_parts > 1:
        options = dict(bounds=bounds, ci_method=ci_method, level=level,
                       alpha_flat=alpha_flat, min_effect=min_effect, min_span=min_span,
                       plateau_left=plateau_left, abs_level=abs_level,
                       fixed_bottom=fixed_bottom, fixed_top=fixed_top)  # fmt: skip
        return _fit_in_parts(curves, model, extra_start, n_parts, workers, options)
    spec = get_model(model, bottom=fixed_bottom, top=fixed_top)
    start = prepare(curves, spec, bounds)
    sol = solve(start, spec, extra_start)
    inf = infer(start, sol, spec, ci_method)
    reads = dose_readouts(curves, start, sol.p, abs_level)
    eff = classify_effect(start, sol.p, inf.p_flat, reads, alpha_flat=alpha_flat,
                          min_effect=min_effect, min_span=min_span,
                          plateau_left=plateau_left)  # fmt: skip
    ci = ic50_ci(start, sol, inf, spec, ci_method=ci_method, level=level, no_effect=eff.no_effect)
    cens = censor(start, inf.ic50, reads, eff, sol.converged, abs_level)
    said = notes(sol.p, eff, cens, inf, sol.converged, ci, alpha_flat=alpha_flat,
                 min_effect=min_effect, min_span=min_span,
                 profile_5pl=LOGS in spec.free and ci_method == "profile")  # fmt: skip
    B = len(curves)
    return FitBatch(
        model=np.full(B, spec.name, dtype=object), params=sol.p, se=inf.se,
        ic50_rel=cens.ic50_rel, ic50_fit=inf.ic50, ic50_abs=cens.ic50_abs,
        ic50_ci_low=ci[0], ic50_ci_high=ci[1], ic50_censored=cens.ic50_censored.astype(str),
        ic50_abs_censored=cens.ic50_abs_censored.astype(str), ic50_se=inf.ic50 * inf.se_t,
        ic50_se_log10=inf.se_t / LN10, emax=reads.emax, auc=reads.auc, r2=inf.r2,
        rss=sol.rss, df=inf.dof, sigma=np.sqrt(inf.sigma2), n_points=start.data.n_points,
        p_flat=inf.p_flat, loglik=inf.loglik, aic=inf.aic, bic=inf.bic,
        lack_of_fit_p=inf.lack_of_fit_p, non_monotone=inf.non_monotone,
        converged=sol.converged, status=cens.status.astype(str),
        note=np.array(said, dtype=object), min_dose=reads.xmin, max_dose=reads.xmax,
        model_note=np.full(B, "", dtype=object),
    )  # fmt: skip


#: most curves of one part of a large `fit_arrays` batch. A curve's profile CI ends depend
#: on the other curves of its batch in the last digits (0.4 % of the 10,000-curve screen's
#: curves moved by up to 1e-12 relative between a batch of 10,000 and of 5,000), so the
#: parts are fixed by the number of curves, not by the number of processes, and the file is
#: the same for any ``--workers``. 5,000 keeps the cost of one more part (about 0.1 s) small
#: beside the part's own (about 0.7 s)
PART_CURVES = 5000


def _fit_in_parts(
    curves: Sequence[CurveData],
    model: str,
    extra_start: np.ndarray | None,
    n_parts: int,
    workers: int,
    options: dict[str, Any],
) -> FitBatch:
    """Return `fit_arrays` of ``n_parts`` consecutive parts, by ``workers`` processes."""
    edges = np.linspace(0, len(curves), n_parts + 1).astype(int).tolist()
    args = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sub = curves.between(lo, hi) if isinstance(curves, FlatCurves) else curves[lo:hi]
        extra = None if extra_start is None else extra_start[lo:hi]
        args.append((sub, model, extra, options))
    done = map_parts(_fit_part, args, workers)
    return FitBatch.merge(
        [(range(edges[i], edges[i + 1]), b) for i, b in enumerate(done)], len(curves)
    )


def _fit_part(
    curves: Sequence[CurveData], model: str, extra: np.ndarray | None, options: dict[str, Any]
) -> FitBatch:
    """Fit one part of a large batch (`_fit_in_parts`; module-level, so a worker can run it)."""
    return fit_arrays(curves, model, extra_start=extra, **options)


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
        return FitBatch.unfitted([problem], spec.name, [x]).curve(0)
    if w is not None:
        w = w[np.isfinite(y)]
    fit = fit_arrays(
        [(xc, yc, w)], spec.name, bounds=bounds, ci_method=ci_method, level=level,
        abs_level=abs_level, alpha_flat=alpha_flat, min_effect=min_effect, min_span=min_span,
        fixed_bottom=fixed_bottom, fixed_top=fixed_top,
    )  # fmt: skip
    if robust:
        fit = _with_params(fit, _robust_refit(xc, yc, w, fit.params[0], spec.free))
    return fit.curve(0)


def _with_params(fit: FitBatch, params: np.ndarray) -> FitBatch:
    """Return the fit of one curve with the parameters of a robust refit.

    The IC50 (unless censored) and ``emax`` follow ``params`` and the note says so; the
    inference stays that of the least-squares fit.
    """
    p = np.asarray(params, float)
    note = "; ".join(s for s in (fit.note[0], "robust (soft-L1) refit") if s)
    ic50_fit = float(halfway_dose(p))
    ic50_rel = ic50_fit if fit.ic50_censored[0] == "" else fit.ic50_rel[0]
    emax = float(evaluate(p, np.array([fit.max_dose[0]]))[0])
    return replace(fit, params=p[None, :], note=np.array([note], dtype=object),
                   ic50_fit=np.array([ic50_fit]), ic50_rel=np.array([ic50_rel]),
                   emax=np.array([emax]))  # fmt: skip


def _robust_refit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, p0: np.ndarray, free: tuple[int, ...]
) -> np.ndarray:
    """Refit one curve from ``p0`` with a soft-L1 loss (scipy ``least_squares``).

    Outliers pull a soft-L1 fit less than a least-squares one; the loss's scale is the
    robust SD (MAD) of the starting residuals.
    """
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
    curves: Sequence[CurveData],
    candidates: Sequence[str] = AUTO_MODELS,
    criterion: str = "aic",
    fits_out: dict[str, tuple[list[int], FitBatch]] | None = None,
    **kwargs: Any,
) -> FitBatch:
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
        to, their `FitBatch`).
    **kwargs
        Passed to `fit_arrays`.

    Returns
    -------
    FitBatch
        Per curve, the chosen model's fit, with ``model`` and ``model_note`` saying which
        and why.
    """
    outs: dict[str, tuple[list[int], FitBatch]] = {}
    for m in candidates:
        k = get_model(m).n_params
        ok = [j for j, c in enumerate(curves) if len(c[0]) > k]
        if not ok:
            continue
        extra = None
        if m == "5pl" and "4pl" in outs:  # the 4PL optimum is a 5PL with s = 1: start there
            ok4, out4 = outs["4pl"]
            extra = np.array([out4.params[ok4.index(j)] if j in ok4 else
                              np.full(5, np.nan) for j in ok])  # fmt: skip
            extra[:, LOGS] = 0.0
            extra = np.where(np.isfinite(extra), extra, 0.0)
        outs[m] = (ok, fit_arrays([curves[j] for j in ok], m, extra_start=extra, **kwargs))
    if fits_out is not None:
        fits_out.update(outs)
    picks: dict[str, tuple[list[int], list[int]]] = {m: ([], []) for m in outs}
    models, model_notes = [], []
    for j in range(len(curves)):
        best, why = _choose(j, outs, criterion)
        ok, _ = outs[best]
        picks[best][0].append(j)
        picks[best][1].append(ok.index(j))
        models.append(best)
        model_notes.append(why)
    chosen = FitBatch.merge([(pos, outs[m][1].take(rows)) for m, (pos, rows) in picks.items()],
                            len(curves))  # fmt: skip
    return replace(chosen, model=np.array(models, dtype=object),
                   model_note=np.array(model_notes, dtype=object))  # fmt: skip


def _choose(j: int, outs: dict[str, tuple[list[int], FitBatch]], criterion: str) -> tuple[str, str]:
    """Pick curve ``j``'s model from the candidates' fits; return it and the note why."""
    from napari_il6assay.doseresponse._dist import f_sf

    ic, rss, dfs, conv = {}, {}, {}, {}
    for m, (ok, out) in outs.items():
        if j not in ok:
            continue
        jj = ok.index(j)
        # a fit that stopped at the iteration limit still has its RSS (drc's mselect
        # also ranks every fit it got); the note says so
        if not np.isfinite(getattr(out, criterion)[jj]):
            continue
        ic[m], rss[m], dfs[m] = getattr(out, criterion)[jj], out.rss[jj], out.df[jj]
        conv[m] = out.converged[jj]
    if not ic:  # nothing fitted: the 4PL as it came out, said so
        return "4pl", "auto: no candidate could be fitted"
    best = min(ic, key=lambda m: ic[m])
    parts = [f"auto: {best} by {criterion.upper()} ("
             + ", ".join(f"{m} {v:.4g}" for m, v in ic.items()) + ")"]  # fmt: skip
    for small, big in (("3pl", "4pl"), ("4pl", "5pl")):
        if small in rss and big in rss and dfs[big] > 0:
            dd = dfs[small] - dfs[big]
            fstat = max(rss[small] - rss[big], 0.0) / dd / (rss[big] / dfs[big])
            pv = float(f_sf(fstat, dd, dfs[big])) if rss[big] > 0 else 0.0
            parts.append(f"F test {small} vs {big} p={pv:.3g}")
    if not conv[best]:
        parts.append(f"{best} stopped at the iteration limit")
    return best, "; ".join(parts)


def fit_curve_table(
    df: Any,
    *,
    response: str = "viability",
    model: str = "4pl",
    group_cols: Sequence[str] = ("cell_line", "drug", "drug_b", "concentration_b"),
    conc: str | None = None,
    ci_method: str = "profile",
    **kwargs: Any,
) -> CurveTableFit:
    """Fit every curve of a tidy table; keep the curves and parameters for the fold step.

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
    **kwargs
        Passed to `fit_arrays` (``bounds``, ``level``, ``abs_level``, ``alpha_flat``, ...).

    Returns
    -------
    CurveTableFit
        ``fits``: `FITS_COLUMNS` then `EXTRA_COLUMNS`, the fold columns empty (see
        `fold.add_fold_resistance`). Curves that cannot be fitted have ``status``
        ``bad_input``/``constant`` and the reason in ``note``.
    """
    from napari_il6assay.doseresponse._table import concentration_column, split_curves_flat

    if response not in df.columns:
        raise KeyError(f"response column {response!r} not in the table")
    conc = concentration_column(df, conc)
    auto = model == "auto"
    spec = get_model(
        "4pl" if auto else model,
        bottom=kwargs.get("fixed_bottom", 0.0), top=kwargs.get("fixed_top", 1.0),
    )  # fmt: skip
    curves, flat = split_curves_flat(df, response, conc, tuple(group_cols))
    data, todo, rest, problems = check_flat(flat, 3 if auto else spec.n_params)
    # each curve's `spec` parameters, for the fold's joint fits (NaN: not fitted)
    params = np.full((len(curves), 5), np.nan)
    parts = [(rest, FitBatch.unfitted(problems, spec.name, [curves[i].conc for i in rest]))]
    if data:
        if auto:
            per_model: dict[str, tuple[list[int], FitBatch]] = {}
            fitted = select_models(data, ci_method=ci_method, fits_out=per_model, **kwargs)
            if spec.name in per_model:
                ok, fits4 = per_model[spec.name]
                params[np.asarray(todo)[ok]] = fits4.params
        else:
            fitted = fit_arrays(data, spec.name, ci_method=ci_method, **kwargs)
            params[todo] = fitted.params
        parts.insert(0, (todo, fitted))
    fits = fits_table(curves, FitBatch.merge(parts, len(curves)), ci_method, flat)
    # auto: a pair needs one model for the joint fit; the 4PL (the fits table says which
    # model each curve's own IC50 came from)
    options = {k: v for k, v in kwargs.items() if k in ("level", "fixed_bottom", "fixed_top")}
    return CurveTableFit(fits, curves, params, spec.name, options)


def fit_curves(df: Any, **kwargs: Any) -> Any:
    """Fit every curve of a tidy table: one row per curve with the ``fits.csv`` columns.

    `fit_curve_table`'s ``fits``; the fold columns are empty (the fold resistance is the
    step after: ``fold.add_fold_resistance(fit_curve_table(df, ...))``).

    Parameters
    ----------
    df : DataFrame
        See `fit_curve_table`.
    **kwargs
        See `fit_curve_table`.

    Returns
    -------
    DataFrame
        `FITS_COLUMNS` then `EXTRA_COLUMNS`.
    """
    return fit_curve_table(df, **kwargs).fits
