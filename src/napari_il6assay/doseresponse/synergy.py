"""Combination scores: Bliss, HSA, Loewe, ZIP, Chou-Talalay CI and potentiation.

Bliss, HSA, Loewe and ZIP follow the SynergyFinder definitions; potentiation is the IC50
shift of drug A at fixed doses of drug B.

All scores are *excess over the reference model on the viability-loss scale*
(``E = 1 - viability``; > 0 = synergy), computed per combination condition (replicate wells
averaged):

- Bliss: ``E_AB - (E_A + E_B - E_A E_B)`` with the observed single-agent responses at the same
  doses;
- HSA: ``E_AB - max(E_A, E_B)``;
- Loewe: ``E_AB - E_L`` where ``E_L`` solves ``a / A^-1(E_L) + b / B^-1(E_L) = 1`` on the fitted
  single-agent 4PL curves; undefined (NaN + ``note``) when an agent alone never reaches the
  level (e.g. tocilizumab alone has no effect);
- ZIP (Yadav et al. 2015, as implemented in the ``synergy`` package): single-agent Hill fits
  (averaged top), then for every dose of one agent a 3-parameter Hill fit of the other agent's
  slice with its top fixed at the first agent's fitted single-agent response;
  ``delta = y_zip - mean(slice fits)`` on the viability scale, which equals the excess on the
  loss scale. A slice with fewer than 4 doses is skipped (said in ``note``).
- Chou-Talalay CI: ``a / Dx_A + b / Dx_B`` with the median-effect (top 1, bottom 0) fits of
  each agent alone at the observed effect; < 1 = synergy; NaN when undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from napari_il6assay.doseresponse._solver import levenberg_marquardt
from napari_il6assay.doseresponse.fit import check_curve, fit_arrays, fit_curves
from napari_il6assay.doseresponse.models import (
    BOTTOM,
    HILL,
    LOGE,
    TOP,
    dose_at_response,
    evaluate,
)
from napari_il6assay.io.cells import text_column as _text

SYNERGY_COLUMNS = [
    "cell_line", "drug", "concentration_M", "drug_b", "concentration_b", "viability", "bliss",
    "hsa", "loewe", "zip", "note",
]  # fmt: skip


def _prepare(df: pd.DataFrame, response: str, conc: str | None) -> pd.DataFrame:
    from napari_il6assay.doseresponse._table import concentration_column

    d = df.copy()
    if "role" in d.columns:
        d = d[~_text(d["role"]).str.lower().isin(["exclude", "blank"])]
    conc = concentration_column(d, conc)
    for c in ("cell_line", "drug", "drug_b"):
        d[c] = _text(d[c]) if c in d.columns else ""
    d["a"] = pd.to_numeric(d[conc], errors="coerce").fillna(0.0)
    d["b"] = pd.to_numeric(d.get("concentration_b", 0.0), errors="coerce")
    d["b"] = d["b"].fillna(0.0) if isinstance(d["b"], pd.Series) else 0.0
    d.loc[d["drug"] == "", "a"] = 0.0
    d.loc[d["b"] <= 0, "drug_b"] = ""
    d.loc[d["drug_b"] == "", "b"] = 0.0
    d["v"] = pd.to_numeric(d[response], errors="coerce")
    return d


#: an agent whose observed viability falls by at least this fraction of its lowest-dose level
#: over its tested range is active, whatever the F test says (6 doses give little power)
ACTIVE_DROP = 0.3


def observed_drop(x: np.ndarray, y: np.ndarray) -> float:
    """Return the observed fall of the mean response from the lowest to the highest dose.

    As a fraction of the lowest-dose mean (vehicle included when present); NaN with fewer
    than 2 doses.

    Parameters
    ----------
    x, y : ndarray
        Doses (0 = vehicle) and responses of one agent alone.

    Returns
    -------
    float
    """
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if np.unique(x).size < 2:
        return np.nan
    first = float(y[x == x.min()].mean())
    last = float(y[x == x.max()].mean())
    return (first - last) / abs(first) if first != 0 else np.nan


def _fit_single(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray | None, str]:
    """4PL of one agent alone; (params, problem).

    An agent that alone lowers the response by >= `ACTIVE_DROP` over its range is never
    called inactive: the flatness F test is skipped for it (a p-value from 6 points must not
    blank Loewe for a whole block).
    """
    x, y, problem = check_curve(x, y, 4)
    if problem:
        return None, problem
    active = observed_drop(x, y) >= ACTIVE_DROP
    r = fit_arrays([(x, y, None)], "4pl", ci_method="none", min_effect=0.0,
                   alpha_flat=np.inf if active else 0.05)  # fmt: skip
    if r.status[0] == "no_effect":
        return r.params[0], "no effect alone"
    return r.params[0], ""


def _median_effect(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Chou's median-effect fit (top 1, bottom 0) of one agent alone."""
    x, y, problem = check_curve(x, y, 2)
    if problem:
        return None
    r = fit_arrays([(x, y, None)], "3pl-top", ci_method="none", min_effect=0.0,
                   bounds={"bottom": (0.0, 0.0)})  # fmt: skip
    return r.params[0]


def _zip_slices(
    doses: Sequence[np.ndarray], resp: Sequence[np.ndarray], tops: np.ndarray, p0: np.ndarray
) -> np.ndarray:
    """3-parameter Hill fits (top fixed per slice, bottom in [0, 1.5]) of many slices at once."""
    from napari_il6assay.doseresponse._batch import pad as _pad

    data = _pad([(x, y, None) for x, y in zip(doses, resp, strict=True)])
    p = np.tile(p0, (len(doses), 1))
    p[:, TOP] = tops
    lower = np.array([1e-6, 0.0, -np.inf, -np.inf, 0.0])
    upper = np.array([1e3, 1.5, np.inf, np.inf, 0.0])
    p, _, _, _ = levenberg_marquardt(p, data, (HILL, BOTTOM, LOGE), lower, upper, max_iter=400)
    return p


def _loewe_level(a: float, b: float, pa: np.ndarray, pb: np.ndarray) -> float:
    """Viability level ``y`` with ``a / A^-1(y) + b / B^-1(y) = 1`` (NaN if none)."""
    from scipy.optimize import brentq

    hi = min(pa[TOP], pb[TOP])
    lo = max(pa[BOTTOM], pb[BOTTOM])
    if not hi > lo:
        return np.nan

    def g(y: float) -> float:
        return float(a / dose_at_response(pa, y) + b / dose_at_response(pb, y) - 1.0)

    eps = 1e-9 * (hi - lo)
    g_hi, g_lo = g(hi - eps), g(lo + eps)
    if not (np.isfinite(g_hi) and np.isfinite(g_lo)) or np.sign(g_hi) == np.sign(g_lo):
        return np.nan
    return float(brentq(g, lo + eps, hi - eps, xtol=1e-12))


def synergy_scores(
    df: pd.DataFrame, *, response: str = "viability", conc: str | None = None
) -> pd.DataFrame:
    """Bliss, HSA, Loewe, ZIP and Chou-Talalay CI per combination condition.

    Parameters
    ----------
    df : DataFrame
        Tidy wells or conditions: ``cell_line``, ``drug``, ``concentration_M`` (or
        ``concentration``/``conc``/``dose``), ``drug_b``, ``concentration_b`` and the response
        (1 = untreated). Single-agent wells have no ``drug_b`` (or ``concentration_b`` 0) or
        no ``drug``; vehicle wells neither.
    response : str
        Viability-like column (1 = untreated).
    conc : str, optional
        Dose column of drug A.

    Returns
    -------
    DataFrame
        `SYNERGY_COLUMNS` + ``ci_chou``, ``n`` (wells averaged): one row per condition with
        both agents > 0. Scores > 0 mean synergy; NaN with the reason in ``note``.
    """
    d = _prepare(df, response, conc)
    rows = []
    for cl, g in d.groupby("cell_line", sort=True):
        combos = g[(g["a"] > 0) & (g["b"] > 0)]
        for drug, drug_b in (
            combos[["drug", "drug_b"]].drop_duplicates().sort_values(["drug", "drug_b"])
        ).itertuples(index=False):
            rows.extend(_score_pair(g, cast(str, cl), drug, drug_b))
    out = pd.DataFrame(rows, columns=[*SYNERGY_COLUMNS, "ci_chou", "n"])
    return out


def _score_pair(g: pd.DataFrame, cl: str, drug: str, drug_b: str) -> list[dict[str, Any]]:
    veh = g[(g["a"] == 0) & (g["b"] == 0)]
    mono_a = g[(g["drug"] == drug) & (g["b"] == 0) & (g["a"] > 0)]
    mono_b = g[(g["drug_b"] == drug_b) & (g["a"] == 0) & (g["b"] > 0)]
    comb = g[(g["drug"] == drug) & (g["drug_b"] == drug_b) & (g["a"] > 0) & (g["b"] > 0)]
    mean = lambda s: s.groupby(level=0).mean()  # noqa: E731
    cond = comb.groupby(["a", "b"])["v"].agg(["mean", "count"]).reset_index()
    ma = mean(mono_a.set_index("a")["v"])
    mb = mean(mono_b.set_index("b")["v"])
    xa = np.r_[veh["a"].to_numpy(float), mono_a["a"].to_numpy(float)]
    ya = np.r_[veh["v"].to_numpy(float), mono_a["v"].to_numpy(float)]
    xb = np.r_[veh["b"].to_numpy(float), mono_b["b"].to_numpy(float)]
    yb = np.r_[veh["v"].to_numpy(float), mono_b["v"].to_numpy(float)]
    pa, prob_a = _fit_single(xa, ya)
    pb, prob_b = _fit_single(xb, yb)
    mea, meb = _median_effect(xa, ya), _median_effect(xb, yb)

    zip_vals, zip_note = _zip_scores(g, cond, drug, drug_b, (pa, prob_a, ma), (pb, prob_b, mb))
    out = []
    # cond has a fresh RangeIndex (reset_index): the position is the row of zip_vals
    for i, (_, r) in enumerate(cond.iterrows()):
        a, b, v = float(r["a"]), float(r["b"]), float(r["mean"])
        notes = []
        va, vb = ma.get(a, np.nan), mb.get(b, np.nan)
        if np.isnan(va):
            notes.append(f"no {drug}-alone well at this dose")
        if np.isnan(vb):
            notes.append(f"no {drug_b}-alone well at this dose")
        ea, eb, e = 1 - va, 1 - vb, 1 - v
        bliss = e - (ea + eb - ea * eb)
        hsa = e - max(ea, eb) if np.isfinite(ea) and np.isfinite(eb) else np.nan
        loewe = _loewe_delta(a, b, v, (drug, pa, prob_a), (drug_b, pb, prob_b), notes)
        ci = np.nan
        if mea is not None and meb is not None and not (prob_a or prob_b) and 0 < v < 1:
            ci = _chou_ci(a, b, v, (drug, mea, xa), (drug_b, meb, xb), notes)
        if zip_note:
            notes.append(zip_note)
        out.append({
            "cell_line": cl, "drug": drug, "concentration_M": a, "drug_b": drug_b,
            "concentration_b": b, "viability": v, "bliss": bliss, "hsa": hsa, "loewe": loewe,
            "zip": zip_vals[i] if len(zip_vals) else np.nan, "note": "; ".join(notes),
            "ci_chou": ci, "n": int(r["count"]),
        })  # fmt: skip
    return out


def _zip_scores(
    g: pd.DataFrame,
    cond: pd.DataFrame,
    drug: str,
    drug_b: str,
    alone_a: tuple[np.ndarray | None, str, pd.Series],
    alone_b: tuple[np.ndarray | None, str, pd.Series],
) -> tuple[np.ndarray, str]:
    """Score ZIP per combination: single-agent Hill fits with the averaged top, then slices.

    ``alone_a``/``alone_b`` are each agent's (4PL params or None, problem, mean per dose);
    returns the ZIP deltas (one per row of ``cond``) and the note that explains any NaN.
    """
    pa, prob_a, ma = alone_a
    pb, prob_b, mb = alone_b
    zip_note = ""
    zip_vals = np.full(len(cond), np.nan)
    if pa is not None or pb is not None:
        e0 = np.nanmean([p[TOP] for p in (pa, pb) if p is not None])

        def alone(p: np.ndarray | None, x: np.ndarray, obs: pd.Series, avg: bool) -> np.ndarray:
            if p is None:  # agent with too few doses: its observed single-agent means
                return np.array([obs.get(v, np.nan) for v in x])
            q = p.copy()
            if avg:
                q[TOP] = e0
            return evaluate(q, x)

        ca, cb = cond["a"].to_numpy(float), cond["b"].to_numpy(float)
        ref = alone(pa, ca, ma, True) * alone(pb, cb, mb, True)
        fits = []
        for fixed, vary, p_vary, p_fixed, obs_fixed in (
            ("b", "a", pa, pb, mb),  # drug A varies at each dose of B
            ("a", "b", pb, pa, ma),
        ):
            lvl = np.unique(cond[fixed].to_numpy(float))
            sl_x, sl_y, tops, keep = [], [], [], []
            for lv in lvl:
                sl = g[(g[fixed] == lv) & (g["drug"].isin([drug, ""])) & (
                    g["drug_b"].isin([drug_b, ""]))]  # fmt: skip
                x, y = sl[vary].to_numpy(float), sl["v"].to_numpy(float)
                ok = np.isfinite(y)
                if np.unique(x[ok]).size < 4 or p_vary is None:
                    continue
                sl_x.append(x[ok])
                sl_y.append(y[ok])
                tops.append(float(alone(p_fixed, np.array([lv]), obs_fixed, False)[0]))
                keep.append(lv)
            val = np.full(len(cond), np.nan)
            if sl_x:
                assert p_vary is not None  # a slice is kept only when p_vary exists
                ps = _zip_slices(sl_x, sl_y, np.array(tops), p_vary)
                for lv, p in zip(keep, ps, strict=True):
                    m = cond[fixed].to_numpy(float) == lv
                    q = p.copy()
                    q[TOP] = alone(p_fixed, np.array([lv]), obs_fixed, True)[0]
                    val[m] = evaluate(q, cond.loc[m, vary].to_numpy(float))
            else:
                short, full = (drug_b, drug) if vary == "b" else (drug, drug_b)
                zip_note = (f"ZIP from {full} slices only ({short} has < 4 doses, or no "
                            "single-agent fit, at each dose of the other)")  # fmt: skip
            fits.append(val)
        fit_mean = np.nanmean(np.vstack(fits), axis=0) if len(cond) else np.array([])
        zip_vals = ref - fit_mean
        if all(np.isnan(f).all() for f in fits):
            zip_note = "ZIP undefined: no agent has >= 4 doses in a slice"
    else:
        zip_note = f"ZIP undefined: {drug}: {prob_a}; {drug_b}: {prob_b}"
    return zip_vals, zip_note


def _loewe_delta(
    a: float,
    b: float,
    v: float,
    agent_a: tuple[str, np.ndarray | None, str],
    agent_b: tuple[str, np.ndarray | None, str],
    notes: list[str],
) -> float:
    """Return the Loewe excess of one combination; NaN with its reason appended to ``notes``.

    ``agent_a``/``agent_b`` are each agent's (name, 4PL params or None, problem).
    """
    (drug, pa, prob_a), (drug_b, pb, prob_b) = agent_a, agent_b
    loewe = np.nan
    if prob_a or prob_b:
        why = "; ".join(f"{name} alone: {p}" for name, p in ((drug, prob_a), (drug_b, prob_b)) if p)
        notes.append(f"Loewe/CI undefined ({why})")
    else:
        # _fit_single returns params whenever it reports no problem
        assert pa is not None and pb is not None
        y = _loewe_level(a, b, pa, pb)
        if np.isnan(y):
            notes.append("Loewe undefined: an agent alone never reaches this effect level")
        else:
            loewe = (1 - v) - (1 - y)
    return loewe


def _chou_ci(
    a: float,
    b: float,
    v: float,
    agent_a: tuple[str, np.ndarray, np.ndarray],
    agent_b: tuple[str, np.ndarray, np.ndarray],
    notes: list[str],
) -> float:
    """Return the Chou-Talalay CI of one combination; NaN with its reason appended to ``notes``.

    ``agent_a``/``agent_b`` are each agent's (name, median-effect params, doses tested).
    """
    (drug, mea, xa), (drug_b, meb, xb) = agent_a, agent_b
    ci = np.nan
    dxa, dxb = dose_at_response(mea, v), dose_at_response(meb, v)
    # Dx far outside the tested doses is an extrapolation of the median-effect line,
    # and CI values like 5,280 come from it: not estimable then, and said so
    far = [name for name, dx, x in ((drug, dxa, xa), (drug_b, dxb, xb))
           if not _within_tested(dx, x)]  # fmt: skip
    if far:
        notes.append(
            f"Chou-Talalay CI not estimable: dose of {' and '.join(far)} "
            "alone for this effect is outside 0.1-10x the tested doses"
        )
    else:
        ci = float(a / dxa + b / dxb)
    return ci


def _within_tested(dx: float | np.ndarray, x: np.ndarray) -> bool:
    """Whether a single-agent dose lies within 0.1-10x the positive doses tested."""
    pos = x[np.isfinite(x) & (x > 0)]
    if not np.isfinite(dx) or dx <= 0 or pos.size == 0:
        return False
    return bool(pos.min() / 10.0 <= dx <= pos.max() * 10.0)


def synergy_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean (and max) of each score per cell line and drug pair.

    Parameters
    ----------
    scores : DataFrame
        Output of `synergy_scores`.

    Returns
    -------
    DataFrame
        ``cell_line, drug, drug_b, n_conditions, bliss_mean, hsa_mean, loewe_mean, zip_mean,
        ci_chou_median, bliss_max, zip_max, note``.
    """
    rows = []
    for (cl, a, b), g in scores.groupby(["cell_line", "drug", "drug_b"], sort=True):
        notes = sorted({n for s in g["note"] for n in str(s).split("; ") if n})
        rows.append({
            "cell_line": cl, "drug": a, "drug_b": b, "n_conditions": len(g),
            "bliss_mean": g["bliss"].mean(), "hsa_mean": g["hsa"].mean(),
            "loewe_mean": g["loewe"].mean(), "zip_mean": g["zip"].mean(),
            "ci_chou_median": g["ci_chou"].median(), "bliss_max": g["bliss"].max(),
            "zip_max": g["zip"].max(), "note": "; ".join(notes),
        })  # fmt: skip
    return pd.DataFrame(rows)


def potentiation(
    df: pd.DataFrame,
    *,
    response: str = "viability",
    model: str = "4pl",
    conc: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """IC50 of drug A at each fixed dose of drug B and its shift against B = 0.

    Parameters
    ----------
    df : DataFrame
        Tidy table as for `synergy_scores`.
    response, model, conc
        As `fit.fit_curves`.
    **kwargs
        Passed to `fit.fit_curves`.

    Returns
    -------
    DataFrame
        ``cell_line, drug, drug_b, concentration_b, ic50_M, ic50_censored, ic50_ci_low_M,
        ic50_ci_high_M, shift, shift_ci_low, shift_ci_high, shift_censored, p_value, note``;
        ``shift = IC50(B = 0) / IC50(B = b)`` (> 1 = B sensitizes), its 95 % CI from the joint
        profile likelihood and the F-test p-value of equal log IC50.
    """
    from napari_il6assay.doseresponse._table import concentration_column, split_curves
    from napari_il6assay.doseresponse.fold import fold_test

    d = df.copy()
    conc = concentration_column(d, conc)
    fits = fit_curves(d, response=response, model=model, conc=conc, **kwargs)
    curves = split_curves(d, response, conc)
    fits["_i"] = range(len(fits))
    rows = []
    for (cl, drug), g in fits.groupby(["cell_line", "drug"], sort=True):
        if drug == "":
            continue
        base = g[g["drug_b"] == ""]
        for _, r in g[g["drug_b"] != ""].iterrows():
            row = {
                "cell_line": cl, "drug": drug, "drug_b": r["drug_b"],
                "concentration_b": r["concentration_b"], "ic50_M": r["ic50_rel_M"],
                "ic50_censored": r["ic50_censored"], "ic50_ci_low_M": r["ic50_ci_low_M"],
                "ic50_ci_high_M": r["ic50_ci_high_M"], "shift": np.nan, "shift_ci_low": np.nan,
                "shift_ci_high": np.nan, "shift_censored": "", "p_value": np.nan,
                "note": r["note"],
            }  # fmt: skip
            if base.empty:
                row["note"] = "; ".join(s for s in (r["note"], f"no {drug} curve without "
                                                    f"{r['drug_b']}") if s)  # fmt: skip
                rows.append(row)
                continue
            b0 = base.iloc[0]
            bad = {"bad_input", "constant"}
            if r["status"] in bad or b0["status"] in bad:
                row["note"] = "; ".join(
                    s for s in (r["note"], "no shift: a curve was not fitted") if s
                )
                rows.append(row)
                continue
            with np.errstate(divide="ignore", invalid="ignore"):  # IC50 0 or NaN: inf/NaN
                row["shift"] = float(np.divide(float(b0["ic50_rel_M"]), float(r["ic50_rel_M"])))
            c0, c1 = b0["ic50_censored"], r["ic50_censored"]
            if c0 or c1:
                if c0 in ("", ">") and c1 in ("", "<"):
                    row["shift_censored"] = ">"
                elif c0 in ("", "<") and c1 in ("", ">"):
                    row["shift_censored"] = "<"
                else:
                    row["shift"] = np.nan
                    row["note"] = "; ".join(s for s in (r["note"], "both IC50s censored") if s)
            i0, i1 = int(b0["_i"]), int(r["_i"])
            x0, y0, p0 = check_curve(curves[i0].conc, curves[i0].response)
            x1, y1, p1 = check_curve(curves[i1].conc, curves[i1].response)
            if not (p0 or p1):
                both = fit_arrays([(x0, y0, None), (x1, y1, None)], model, ci_method="none")
                ft = fold_test((x0, y0), (x1, y1), both.params[0], both.params[1], model)
                row["p_value"] = ft["p_value"]
                if not row["shift_censored"] and np.isfinite(row["shift"]):
                    # a fold CI reaching 0 (or inf) leaves the shift's CI open on that side
                    with np.errstate(divide="ignore", invalid="ignore"):
                        row["shift_ci_low"] = float(np.divide(1.0, float(ft["ci_high"])))
                        row["shift_ci_high"] = float(np.divide(1.0, float(ft["ci_low"])))
            rows.append(row)
    return pd.DataFrame(rows)
