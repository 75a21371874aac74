"""Fold resistance of a line against its parental line, with a profile CI and an F test.

For a resistant curve R and its parental curve P (same drug and second-agent state), the fold
resistance is ``IC50_R / IC50_P`` (relative IC50s). Both curves are fitted jointly with the
log-IC50 difference ``delta = log e_R - log e_P`` as a parameter (each curve keeps its own
hill, top and bottom):

- ``p_value``: extra-sum-of-squares F test of ``delta = 0`` (one shared log IC50) against
  separate log IC50s, ``F = (RSS_shared - RSS_sep) / (RSS_sep / (n_R + n_P - 2k))``;
- the 95 % CI: the ``delta`` whose profile RSS stays below
  ``RSS_sep (1 + F_{1, df; 0.95} / df)``, exponentiated, so asymmetric and positive.

Nothing here depends on the dose range: shifts of 1000-fold between curves measured from
1e-12 to 1e-5 M are fitted the same way (everything is on log dose).

When either IC50 is censored the ratio is a bound: ``fold_censored`` is ``">"`` (or ``"<"``)
and ``fold_resistance`` the ratio of the reported (censored) values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_il6assay.doseresponse._clean import check_curve
from napari_il6assay.doseresponse.models import HILL, LOGE, evaluate, evaluate_jac, get_model

if TYPE_CHECKING:
    import pandas as pd

    from napari_il6assay.doseresponse._result import CurveTableFit

# Largest |hill| a joint-fit trial point may have (the separate fits stop at 50). A flat curve
# (no effect, IC50 censored) leaves its hill unidentified, and unbounded LM let it drift to
# ~1e304 until a step overflowed to NaN parameters; such trial points are rejected instead.
_HILL_LIMIT = 1e3


def _curve_arrays(conc: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = np.isfinite(resp) & np.isfinite(conc)
    x, y = conc[ok], resp[ok]
    zero = x <= 0
    return np.log(np.where(zero, 1.0, x)), zero, y


class _Joint:
    """Two curves with their own parameters except log e_R = log e_P + delta."""

    def __init__(self, cur_p: tuple, cur_r: tuple, spec: Any, base: np.ndarray) -> None:
        self.cp, self.cr = cur_p, cur_r
        self.free = list(spec.free)
        self.k = len(self.free)
        self.j_e = self.free.index(LOGE)
        self.free_r = [i for i in self.free if i != LOGE]
        self.base = base  # 5-vector holding the fixed parameters

    def unpack(self, q: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
        pp = self.base.copy()
        pp[self.free] = q[: self.k]
        pr = self.base.copy()
        pr[self.free_r] = q[self.k :]
        pr[LOGE] = pp[LOGE] + delta
        return pp, pr

    def resid(self, q: np.ndarray, delta: float) -> np.ndarray:
        pp, pr = self.unpack(q, delta)
        if not (np.isfinite(q).all() and max(abs(pp[HILL]), abs(pr[HILL])) <= _HILL_LIMIT):
            # outside the model's domain: a residual no fit can have, so MINPACK rejects the
            # step and shrinks its trust region (it only takes Jacobians at accepted points)
            return np.full(len(self.cp[2]) + len(self.cr[2]), 1e6)
        fp = evaluate(pp, np.where(self.cp[1], 0.0, np.exp(self.cp[0])))
        fr = evaluate(pr, np.where(self.cr[1], 0.0, np.exp(self.cr[0])))
        return np.concatenate([fp - self.cp[2], fr - self.cr[2]])

    def jac(self, q: np.ndarray, delta: float) -> np.ndarray:
        pp, pr = self.unpack(q, delta)
        _, jp = evaluate_jac(pp[None], self.cp[0][None], self.cp[1][None])
        _, jr = evaluate_jac(pr[None], self.cr[0][None], self.cr[1][None])
        jp, jr = jp[0], jr[0]
        n_p, n_r = len(self.cp[2]), len(self.cr[2])
        out = np.zeros((n_p + n_r, len(q)))
        out[:n_p, : self.k] = jp[:, self.free]
        out[n_p:, self.k :] = jr[:, self.free_r]
        out[n_p:, self.j_e] = jr[:, LOGE]  # log e_R moves with log e_P
        return out

    def fit(self, q0: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
        from scipy.optimize import least_squares

        res = least_squares(
            self.resid, q0, jac=self.jac, args=(delta,), method="lm", xtol=1e-12, ftol=1e-12
        )
        return res.x, float(2 * res.cost)


def fold_test(
    par: tuple[np.ndarray, np.ndarray],
    res: tuple[np.ndarray, np.ndarray],
    p_par: np.ndarray,
    p_res: np.ndarray,
    model: str = "4pl",
    *,
    level: float = 0.95,
    fixed_bottom: float = 0.0,
    fixed_top: float = 1.0,
    ci: bool = True,
) -> dict[str, float]:
    """Joint fit of a parental/resistant pair: fold with its profile CI and the F-test p-value.

    Parameters
    ----------
    par, res : (conc, response)
        The parental and resistant data.
    p_par, p_res : ndarray (5,)
        Their separate fits (``CurveFit.params``), used as starting values and for the RSS of
        the separate model.
    model : str
        The model both were fitted with.
    level : float
        Confidence level.
    ci : bool
        Profile the CI of the fold (default). Pass False when an IC50 is censored: the fold is
        then only a bound, and profiling ``delta`` over decades against a flat curve drives its
        unidentified hill towards overflow (``ci_low``/``ci_high`` are NaN).

    Returns
    -------
    dict
        ``fold``, ``ci_low``, ``ci_high``, ``p_value``, ``F``, ``df``.
    """
    from scipy.optimize import brentq

    from napari_il6assay.doseresponse._dist import f_ppf, f_sf

    spec = get_model(model, bottom=fixed_bottom, top=fixed_top)
    cp, cr = _curve_arrays(*par), _curve_arrays(*res)
    joint = _Joint(cp, cr, spec, p_par.copy())
    q_hat = np.concatenate([p_par[list(spec.free)], p_res[joint.free_r]])
    d_hat = float(p_res[LOGE] - p_par[LOGE])
    q_sep, rss_sep = joint.fit(q_hat, d_hat)  # polishes both separate fits together
    d_sep = d_hat
    # the shared-IC50 fit from three starts (shared log e at the parental's, the midpoint and
    # the resistant's): a single start far from one curve's data can stall in a local minimum,
    # which would inflate RSS_shared and make the p-value too small
    rss_shared = np.inf
    for frac in (0.0, 0.5, 1.0):
        q0 = q_sep.copy()
        q0[joint.j_e] += frac * d_sep
        rss_shared = min(rss_shared, joint.fit(q0, 0.0)[1])
    n = len(cp[2]) + len(cr[2])
    dof = n - 2 * spec.n_params
    if dof <= 0:
        return {"fold": np.exp(d_sep), "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
                "F": np.nan, "df": dof}  # fmt: skip
    fstat = max(rss_shared - rss_sep, 0.0) / (rss_sep / dof) if rss_sep > 0 else np.inf
    p_value = float(f_sf(fstat, 1, dof))
    thr = rss_sep * (1.0 + f_ppf(level, 1, dof) / dof)
    cache = {"q": q_sep}

    def excess(delta: float) -> float:
        q, r = joint.fit(cache["q"], delta)
        cache["q"] = q
        return r - thr

    ends = []
    for sign in (-1.0, 1.0) if ci else ():
        cache["q"] = q_sep
        step = 0.1
        inner = d_sep
        end = np.nan
        for _ in range(30):
            outer = d_sep + sign * step
            if excess(outer) > 0:
                cache["q"] = q_sep
                try:
                    end = brentq(excess, min(inner, outer), max(inner, outer), xtol=1e-6)
                except ValueError:
                    end = outer
                break
            inner = outer
            step *= 1.6
            if step > 40:  # beyond 17 decades: unbounded
                end = sign * np.inf
                break
        ends.append(end)
    return {
        "fold": float(np.exp(d_sep)), "ci_low": float(np.exp(ends[0])) if ci else np.nan,
        "ci_high": float(np.exp(ends[1])) if ci else np.nan, "p_value": p_value,
        "F": float(fstat), "df": dof,
    }  # fmt: skip


def add_fold_resistance(fitted: CurveTableFit) -> pd.DataFrame:
    """Fill the fold columns of a fitted table for every curve with a ``parental``.

    The step after the fits: ``add_fold_resistance(fit.fit_curve_table(df, ...))``. Each
    pair's joint fit starts from the two curves' fitted parameters (``fitted.params``), so
    neither curve is fitted again here.

    Parameters
    ----------
    fitted : CurveTableFit
        The fits table, its curves, their parameters under ``fitted.fold_model`` (NaN where
        a curve was not fitted), and the ``level``, ``fixed_bottom``, ``fixed_top`` of the
        fits for `fold_test`.

    Returns
    -------
    DataFrame
        ``fitted.fits`` with ``fold_resistance``, ``fold_ci_low``, ``fold_ci_high``,
        ``p_value``, ``fold_censored`` and ``fold_note`` filled; a missing parental is said in
        ``note``. The table itself when no curve has a parental.
    """
    fits, curves, params = fitted.fits, fitted.curves, fitted.params
    model, kwargs = fitted.fold_model, fitted.fold_options
    if not (fits["parental"] != "").any():
        return fits
    fits = fits.copy()
    key_cols = ["drug", "drug_b", "concentration_b"]
    at = {name: j for j, name in enumerate(fits.columns)}  # column positions for `iat`

    def norm(v: Any) -> Any:
        # NaN == NaN here (a curve without a second agent matches its parental's)
        return ("nan",) if isinstance(v, float) and np.isnan(v) else v

    # (cell line, drug state) -> first row: one pass instead of a scan of the whole table per
    # curve (10,000 curves with parentals were 10^8 row look-ups)
    first_row: dict[tuple, int] = {}
    cols = [fits[c].tolist() for c in ["cell_line", *key_cols]]
    for j, key in enumerate(zip(*cols, strict=True)):
        first_row.setdefault(tuple(norm(v) for v in key), j)

    spec = get_model(
        model, bottom=kwargs.get("fixed_bottom", 0.0), top=kwargs.get("fixed_top", 1.0)
    )
    fittable = {"ok", "no_effect", "not_converged", "small_effect"}
    for i in range(len(fits)):
        parent = fits.iloc[i]["parental"]
        if not parent or parent == fits.iloc[i]["cell_line"]:
            continue
        state = tuple(norm(fits.iloc[i][c]) for c in key_cols)
        j_par = first_row.get((parent, *state))
        match = [] if j_par is None else [j_par]
        col_note = at["fold_note"]
        if not match:
            msg = f"parental line {parent!r} not found for this drug: no fold resistance"
            fits.iat[i, col_note] = msg
            fits.iat[i, at["note"]] = "; ".join(s for s in (fits.iloc[i]["note"], msg) if s)
            continue
        j = match[0]
        r, p = fits.iloc[i], fits.iloc[j]
        if "shallow" in (r["status"], p["status"]):
            fits.iat[i, col_note] = "no fold: an IC50 is not estimable (shallow curve)"
            continue
        if r["status"] not in fittable or p["status"] not in fittable:
            fits.iat[i, col_note] = "no fold: one of the curves could not be fitted"
            continue
        cr, cp = r["ic50_censored"], p["ic50_censored"]
        ratio = r["ic50_rel_M"] / p["ic50_rel_M"]
        bound = ""
        if cr == "" and cp == "":
            bound = ""
        elif (cr in ("", ">") and cp in ("", "<")) and (cr or cp):
            bound = ">"
        elif (cr in ("", "<") and cp in ("", ">")) and (cr or cp):
            bound = "<"
        else:
            fits.iat[i, col_note] = f"no fold: both IC50s censored (line {cr}, parental {cp})"
            ratio = np.nan
            bound = ""
        fits.iat[i, at["fold_resistance"]] = ratio
        fits.iat[i, at["fold_censored"]] = bound
        # the joint F test needs both curves' data and fits (censored or not)
        xr, yr, pr_ = check_curve(curves[i].conc, curves[i].response, spec.n_params)
        xp, yp, pp_ = check_curve(curves[j].conc, curves[j].response, spec.n_params)
        if pr_ or pp_:
            continue
        exact = bound == "" and bool(np.isfinite(ratio))  # else the fold is a bound: no CI
        try:
            out = fold_test((xp, yp), (xr, yr), params[j], params[i], spec.name, ci=exact,
                            **kwargs)  # fmt: skip
        except (ValueError, np.linalg.LinAlgError) as exc:
            fits.iat[i, col_note] = f"fold test failed: {exc}"
            continue
        fits.iat[i, at["p_value"]] = out["p_value"]
        if exact:
            fits.iat[i, at["fold_ci_low"]] = out["ci_low"]
            fits.iat[i, at["fold_ci_high"]] = out["ci_high"]
    return fits
