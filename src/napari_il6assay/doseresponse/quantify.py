"""Standard curves and back-interpolation (ELISA and other immunoassays).

Method
------
The standards are fitted with the package's log-logistic 4PL/5PL family (`models.py`, solved by
`fit.fit_curve`; nothing is copied here). ELISA responses have a roughly constant CV, so the
default weights are ``1/y^2`` (``1/y`` and none on request). Weights from the *observed*
responses favour replicates that happen to read low, so after the first fit the weights are
recomputed from the fitted curve and the curve refitted (two rounds of iteratively reweighted
least squares; the usual practice of plate-reader software).

A sample's concentration is the closed-form inverse of the fitted curve at its replicate-mean
response (`models.dose_at_response`), times its dilution. Its 95 % CI is the delta method on
``log x``: the variance of the curve parameters (``sigma^2 (J^T W J)^-1``) plus the variance of
the sample's mean response under the same weight model (``sigma^2 v(y) / n`` with
``v(y) = y^2``, ``y`` or 1), with a t quantile on the curve's residual degrees of freedom. The
log scale keeps the interval positive and asymmetric, as concentration errors are.

A response beyond an asymptote has no inverse: it is flagged ``outside_curve`` and gets no
number (never an extrapolated one). The quantification range is set by the standards: a standard
is ``in_range`` when its back-calculated recovery is within 80-120 %, the CV of its
replicate back-calculated concentrations is <= 20 %, and the precision profile at its level
(the CV of one back-calculated replicate predicted from the fit: parameter covariance plus the
residual variance model) is <= 20 % as well; duplicates alone cannot tell a standard on the
flat shoulder from a good one. LLOQ and ULOQ are the lowest and highest such standards.
Samples below/above are flagged ``<LLOQ``/``>ULOQ`` and their ``concentration``
is left empty (the back-calculated value stays in ``concentration_unqualified`` where the curve
gives one). LOD is the blank mean + 3 SD (mean - 3 SD for a falling, competitive curve)
back-interpolated.

Blank wells are the zero calibrator: they enter the fit at concentration 0 (a sandwich ELISA's
blank is the standard diluent), and give the LOD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_il6assay.errors import InputError

#: Columns of ``concentrations.csv`` (docs/interface.md); more follow after these.
CONCENTRATIONS_COLUMNS = [
    "sample", "n", "response_mean", "concentration", "ci_low", "ci_high", "unit", "cv_pct",
    "flag",
]  # fmt: skip
CONCENTRATIONS_EXTRA = [
    "dilution",
    "response_sd",
    "concentration_sd",
    "concentration_unqualified",
    "wells",
]
#: Columns of ``standards.csv`` (docs/interface.md).
STANDARDS_COLUMNS = [
    "concentration", "unit", "n", "response_mean", "back_calculated", "recovery_pct", "cv_pct",
    "in_range",
]  # fmt: skip
STANDARDS_EXTRA = ["precision_cv_pct", "response_sd", "wells"]

ROLES = ("standard", "blank", "sample", "exclude")
WEIGHTS = ("1/y2", "1/y", "none")
FLAG_LOW, FLAG_HIGH, FLAG_OUTSIDE = "<LLOQ", ">ULOQ", "outside_curve"

#: acceptance of a standard (recovery window in %, maximum CV in %)
RECOVERY_RANGE = (80.0, 120.0)
MAX_CV_PCT = 20.0


@dataclass
class StandardCurve:
    """A fitted standard curve.

    Attributes
    ----------
    model : str
        ``"4pl"`` or ``"5pl"``.
    params : ndarray, shape (5,)
        ``(hill, bottom, top, log e, log s)`` of `models.evaluate` (``top`` is the response at
        concentration 0, ``bottom`` at infinite concentration).
    cov : ndarray, shape (5, 5)
        Covariance of ``params`` (zero rows/columns for fixed parameters).
    sigma2 : float
        Residual variance of the weighted fit (a squared CV with ``1/y^2`` weights).
    df : int
        Residual degrees of freedom.
    weights : str
        ``"1/y2"``, ``"1/y"`` or ``"none"``.
    r2 : float
        Unweighted R^2 of the responses.
    converged : bool
    """

    model: str
    params: np.ndarray
    cov: np.ndarray
    sigma2: float
    df: int
    weights: str
    r2: float
    converged: bool
    note: str = ""

    @property
    def asymptotes(self) -> tuple[float, float]:
        """(lower, upper) response asymptotes."""
        a, b = float(self.params[1]), float(self.params[2])
        return (min(a, b), max(a, b))

    @property
    def increasing(self) -> bool:
        """True for a rising curve (sandwich ELISA), False for a falling one (competitive)."""
        return bool(self.params[1] > self.params[2])

    def predict(self, conc: Any) -> np.ndarray:
        """Fitted response at ``conc`` (>= 0)."""
        from napari_il6assay.doseresponse.models import evaluate

        return evaluate(self.params, np.atleast_1d(np.asarray(conc, float)))

    def inverse(self, response: Any) -> np.ndarray:
        """Concentration at ``response`` (closed-form inverse); NaN beyond an asymptote."""
        from napari_il6assay.doseresponse.models import dose_at_response

        return np.asarray(dose_at_response(self.params, np.asarray(response, float)), float)

    def variance_function(self, response: Any) -> np.ndarray:
        """``v(y)``: the response variance in units of ``sigma2`` under the weight model."""
        y = np.abs(np.asarray(response, float))
        if self.weights == "1/y2":
            return y**2
        if self.weights == "1/y":
            return y
        return np.ones_like(y)

    def log_se(self, response_mean: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
        """Back-interpolated concentration and the delta-method SE of its logarithm.

        Parameters
        ----------
        response_mean : array_like
            Mean response of ``n`` replicate wells.
        n : array_like of int
            Number of replicates behind each mean.

        Returns
        -------
        x, se : ndarray
            The concentration and the SE of ``log x`` (curve parameters plus the mean
            response's own noise); NaN where the response is beyond an asymptote.
        """
        y = np.atleast_1d(np.asarray(response_mean, float))
        n = np.broadcast_to(np.asarray(n, float), y.shape)
        x = self.inverse(y)
        ok = np.isfinite(x) & (x > 0)
        # gradient of log x with respect to the parameters (central differences: the closed
        # form is smooth inside the asymptotes) and to the response
        from napari_il6assay.doseresponse.models import dose_at_response

        free = [j for j in range(5) if self.cov[j, j] > 0]
        grad = np.zeros(y.shape + (5,))
        for j in free:
            h = 1e-6 * max(1.0, abs(self.params[j]))
            pp, pm = self.params.copy(), self.params.copy()
            pp[j] += h
            pm[j] -= h
            with np.errstate(all="ignore"):
                up, down = dose_at_response(pp, y), dose_at_response(pm, y)
                grad[..., j] = (np.log(up) - np.log(down)) / (2 * h)
        span = abs(self.params[2] - self.params[1])
        hy = 1e-7 * max(span, 1e-300)
        with np.errstate(all="ignore"):
            dy = (np.log(self.inverse(y + hy)) - np.log(self.inverse(y - hy))) / (2 * hy)
            var_par = np.einsum("...i,ij,...j->...", grad, self.cov, grad)
            var_y = dy**2 * self.sigma2 * self.variance_function(y) / np.maximum(n, 1)
            se = np.sqrt(var_par + var_y)
        return np.where(ok, x, np.nan), np.where(ok, se, np.nan)

    def inverse_ci(
        self, response_mean: Any, n: Any, level: float = 0.95
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concentration at a mean response with its delta-method CI.

        Parameters
        ----------
        response_mean : array_like
            Mean response of ``n`` replicate wells.
        n : array_like of int
            Number of replicates behind each mean.
        level : float
            Confidence level.

        Returns
        -------
        x, low, high : ndarray
            NaN where the response is beyond an asymptote.
        """
        from scipy.stats import t as tdist

        x, se = self.log_se(response_mean, n)
        tq = float(tdist.ppf(0.5 + level / 2, max(self.df, 1)))
        with np.errstate(invalid="ignore", over="ignore"):
            logx = np.log(x)
            return x, np.exp(logx - tq * se), np.exp(logx + tq * se)


@dataclass
class QuantifyResult:
    """Everything `quantify` computes.

    Attributes
    ----------
    curve : StandardCurve
    standards : DataFrame
        ``standards.csv``: one row per standard concentration.
    concentrations : DataFrame
        ``concentrations.csv``: one row per sample (and dilution).
    wells : DataFrame
        The input wells with their back-calculated concentration (``concentration_calc``).
    lloq, uloq, lod : float
        In the standards' unit, in the well (before dilution).
    unit : str
    """

    curve: StandardCurve
    standards: Any
    concentrations: Any
    wells: Any
    lloq: float
    uloq: float
    lod: float
    unit: str
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """One line per sample group, for the terminal and the report."""
        lines = []
        for _, r in self.concentrations.iterrows():
            if np.isfinite(r["concentration"]):
                txt = (f"{_fmt(r['concentration'])} {self.unit} (95% CI {_fmt(r['ci_low'])} - "
                       f"{_fmt(r['ci_high'])}), CV {_fmt(r['cv_pct'])} %")  # fmt: skip
            else:
                txt = "no number"
            flag = f" [{r['flag']}]" if r["flag"] else ""
            dil = f" x{r['dilution']:g}" if r["dilution"] != 1 else ""
            lines.append(f"{r['sample']}{dil} (n={r['n']}): {txt}{flag}")
        return lines


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.3g}"


# --------------------------------------------------------------------------------------------
# fitting


def _weights(y: np.ndarray, kind: str) -> np.ndarray | None:
    if kind == "none":
        return None
    # a floor keeps a response of ~0 (an empty blank) from taking all the weight
    floor = 1e-3 * float(np.nanmax(np.abs(y))) + 1e-300
    a = np.maximum(np.abs(y), floor)
    return 1.0 / a**2 if kind == "1/y2" else 1.0 / a


def fit_standard_curve(
    conc: Any, response: Any, model: str = "4pl", weights: str = "1/y2", reweight: int = 2
) -> StandardCurve:
    """Fit a 4PL/5PL standard curve.

    Parameters
    ----------
    conc : array_like
        Known concentrations (>= 0; 0 = zero calibrator / blank).
    response : array_like
        Responses (e.g. OD450), one per well.
    model : {"4pl", "5pl"}
    weights : {"1/y2", "1/y", "none"}
    reweight : int
        Rounds of refitting with the weights computed from the fitted responses.

    Returns
    -------
    StandardCurve

    Raises
    ------
    ValueError
        Too few distinct concentrations, or the fit failed.
    """
    from napari_il6assay.doseresponse.fit import fit_curve
    from napari_il6assay.doseresponse.models import evaluate_jac, get_model

    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; use 1/y2, 1/y or none")
    spec = get_model(model)
    if spec.name not in ("4pl", "5pl"):
        raise ValueError(f"standard curves use 4pl or 5pl, not {model!r}")
    x = np.asarray(conc, float)
    y = np.asarray(response, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    w = _weights(y, weights)
    fit = fit_curve(x, y, spec.name, weights=w, ci_method="none", alpha_flat=1.0, min_effect=0.0,
                    min_span=0.0)  # fmt: skip
    if fit.status in ("bad_input", "constant"):
        raise ValueError(f"the standards cannot be fitted: {fit.note}")
    for _ in range(reweight if weights != "none" else 0):
        w = _weights(fit.predict(x), weights)
        fit = fit_curve(x, y, spec.name, weights=w, ci_method="none", alpha_flat=1.0,
                        min_effect=0.0, min_span=0.0)  # fmt: skip
    p = np.asarray(fit.params, float)
    free = list(spec.free)
    zero = x <= 0
    logx = np.log(np.where(zero, 1.0, x))
    _, jac = evaluate_jac(p[None, :], logx[None, :], zero[None, :])
    J = jac[0][:, free]
    sw = np.ones_like(y) if w is None else np.sqrt(w)
    Jw = J * sw[:, None]
    resid = (y - fit.predict(x)) * sw
    dof = max(len(y) - len(free), 1)
    sigma2 = float(resid @ resid) / dof
    cov = np.zeros((5, 5))
    cov[np.ix_(free, free)] = sigma2 * np.linalg.pinv(Jw.T @ Jw)
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - fit.predict(x)) ** 2).sum()) / tss if tss > 0 else np.nan
    note = "" if fit.converged else "the standard curve fit did not converge"
    return StandardCurve(spec.name, p, cov, sigma2, dof, weights, r2, bool(fit.converged), note)


# --------------------------------------------------------------------------------------------
# table in, tables out


def _parse_numbers(df: Any, where: Callable[[int, str], dict[str, Any]]) -> None:
    """Turn ``response``, ``concentration`` and ``dilution`` into floats, in place.

    A missing column becomes NaN; text where a number belongs raises `InputError` at
    ``where(row position, column)``.
    """
    import pandas as pd

    for col in ("response", "concentration", "dilution"):
        if col not in df.columns:
            df[col] = np.nan
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = df[col].notna() & vals.isna() & (df[col].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"not a number: {df[col].iloc[i]!r}", **where(i, col))
        df[col] = vals.astype(float)


def check_table(df: Any, path: str | Path | None = None) -> Any:
    """Check and normalize a tidy quantify table.

    Parameters
    ----------
    df : DataFrame
        Columns ``well, role, concentration, unit, sample, dilution, response`` (``well``,
        ``sample``, ``dilution`` and ``unit`` optional). A ``_row`` column, when present, gives
        the spreadsheet row to name in errors (default: index + 2, the header being row 1).
    path : str or Path, optional
        The file, for the error messages.

    Returns
    -------
    DataFrame
        ``role`` lower-case, numbers as floats, ``dilution`` 1 where empty, ``sample`` named
        (the well when empty), excluded wells dropped.

    Raises
    ------
    InputError
        Naming the file, row and column: a missing column, an unknown role, text where a
        number belongs, a standard without a concentration, a non-positive dilution, or
        standards in more than one unit.
    """
    import pandas as pd

    df = df.reset_index(drop=True)
    df.columns = [str(c).strip().lower() for c in df.columns]
    rows = df["_row"].to_numpy() if "_row" in df.columns else np.arange(len(df)) + 2
    for col in ("role", "response"):
        if col not in df.columns:
            raise InputError(f"missing column '{col}' (expected well, role, concentration, unit, "
                             "sample, dilution, response)", path=path, column=col)  # fmt: skip
    if "well" in df.columns:
        well = df["well"].where(df["well"].notna(), "").astype(str).str.strip()
    else:
        well = pd.Series([""] * len(df))

    def where(i: int, col: str) -> dict[str, Any]:
        w = well.iloc[i] if well.iloc[i] else None
        return {"path": path, "row": int(rows[i]), "column": col, "well": w}

    role = df["role"].fillna("sample").astype(str).str.strip().str.lower()
    role = role.replace({"std": "standard", "standards": "standard", "unknown": "sample",
                         "blanks": "blank", "samples": "sample", "": "sample"})  # fmt: skip
    for i, r in enumerate(role):
        if r not in ROLES:
            raise InputError(f"unknown role {df['role'].iloc[i]!r} (expected standard, blank, "
                             "sample or exclude)", **where(i, "role"))  # fmt: skip
    df["role"] = role
    _parse_numbers(df, where)
    keep = (df["role"] != "exclude").to_numpy()
    std = (df["role"] == "standard").to_numpy()
    for row in np.flatnonzero(std & ~np.isfinite(df["concentration"].to_numpy())):
        raise InputError(
            "a standard needs its known concentration", **where(int(row), "concentration")
        )
    for row in np.flatnonzero(std & (df["concentration"].to_numpy() < 0)):
        raise InputError("negative standard concentration", **where(int(row), "concentration"))
    dil = df["dilution"].to_numpy()
    for row in np.flatnonzero(keep & np.isfinite(dil) & (dil <= 0)):
        raise InputError(f"dilution must be > 0, not {dil[row]:g}", **where(int(row), "dilution"))
    df["dilution"] = np.where(np.isfinite(dil), dil, 1.0)
    if "unit" not in df.columns:
        df["unit"] = ""
    df["unit"] = df["unit"].fillna("").astype(str).str.strip()
    units = sorted(set(df.loc[std & (df["concentration"] > 0), "unit"]))
    if len(units) > 1:
        i = int(np.flatnonzero(std & (df["unit"] != units[0]).to_numpy())[0])
        raise InputError(f"standards in more than one unit ({', '.join(units)}); use one",
                         **where(i, "unit"))  # fmt: skip
    if "sample" not in df.columns:
        df["sample"] = ""
    sample = df["sample"].where(df["sample"].notna(), "").astype(str).str.strip()
    df["sample"] = np.where(sample == "", well, sample)
    df["well"] = well
    df["_row"] = rows
    return df.loc[keep].reset_index(drop=True)


def _cv(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 2 or v.mean() == 0:
        return np.nan
    return float(100.0 * v.std(ddof=1) / abs(v.mean()))


def _precision_cv(curve: StandardCurve, conc: float) -> float:
    """CV (%) of one replicate back-calculated at ``conc`` (the precision profile)."""
    _, se = curve.log_se(curve.predict(np.array([conc])), 1)
    s = float(se[0])
    return float(100.0 * np.sqrt(np.expm1(s * s))) if np.isfinite(s) else np.nan


def quantify(
    df: Any,
    *,
    model: str = "4pl",
    weights: str = "1/y2",
    level: float = 0.95,
    path: str | Path | None = None,
) -> QuantifyResult:
    """Fit the standard curve of a tidy table and back-interpolate its samples.

    Parameters
    ----------
    df : DataFrame
        The tidy table (see `check_table`).
    model : {"4pl", "5pl"}
    weights : {"1/y2", "1/y", "none"}
    level : float
        Confidence level of the concentration intervals.
    path : str or Path, optional
        The input file, for error messages.

    Returns
    -------
    QuantifyResult

    Raises
    ------
    InputError
        Bad rows (see `check_table`), or fewer than 4 distinct standard concentrations above 0.
    """
    import pandas as pd

    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; use 1/y2, 1/y or none")
    t = check_table(df, path)
    std = t[t["role"] == "standard"]
    blank = t[t["role"] == "blank"]
    n_levels = std.loc[std["concentration"] > 0, "concentration"].nunique()
    if n_levels < 4:
        raise InputError(f"a standard curve needs at least 4 standard concentrations above 0 "
                         f"(found {n_levels})", path=path, column="concentration")  # fmt: skip
    unit = next((u for u in std.loc[std["concentration"] > 0, "unit"] if u), "")
    fit_rows = pd.concat([std, blank.assign(concentration=0.0)])
    fit_rows = fit_rows[np.isfinite(fit_rows["response"])]
    try:
        curve = fit_standard_curve(fit_rows["concentration"], fit_rows["response"], model, weights)
    except ValueError as exc:
        raise InputError(str(exc), path=path, column="response") from exc
    notes = [curve.note] if curve.note else []

    wells = t.copy()
    wells["concentration_calc"] = curve.inverse(wells["response"].to_numpy())
    wells.loc[wells["role"] == "sample", "concentration_calc"] *= wells["dilution"]

    # standards: recovery and CV of the replicate back-calculated concentrations
    srows = []
    for c, g in std.groupby("concentration", sort=True):
        y = g["response"].to_numpy(float)
        y = y[np.isfinite(y)]
        ym = float(y.mean()) if y.size else np.nan
        back = float(curve.inverse(ym)) if y.size else np.nan
        per = curve.inverse(y)
        rec = 100.0 * back / c if c > 0 else np.nan
        cv = _cv(per) if np.isfinite(per).all() else np.nan
        # the CV of two or three replicates is itself noise; the precision profile (the CV a
        # single back-calculated replicate has at this level, from the fit's own variance
        # model) is what tells a usable level from one on the flat shoulder
        prec = _precision_cv(curve, float(c)) if c > 0 else np.nan
        in_range = bool(c > 0 and np.isfinite(rec) and RECOVERY_RANGE[0] <= rec <= RECOVERY_RANGE[1]
                        and (y.size < 2 or (np.isfinite(cv) and cv <= MAX_CV_PCT))
                        and np.isfinite(prec) and prec <= MAX_CV_PCT)  # fmt: skip
        srows.append({
            "concentration": float(c), "unit": unit, "n": int(y.size), "response_mean": ym,
            "back_calculated": back, "recovery_pct": rec, "cv_pct": cv, "in_range": in_range,
            "precision_cv_pct": prec,
            "response_sd": float(y.std(ddof=1)) if y.size > 1 else np.nan,
            "wells": ";".join(w for w in g["well"] if w),
        })  # fmt: skip
    standards = pd.DataFrame(srows, columns=STANDARDS_COLUMNS + STANDARDS_EXTRA)
    ok = standards[standards["in_range"]]
    lloq = float(ok["concentration"].min()) if len(ok) else np.nan
    uloq = float(ok["concentration"].max()) if len(ok) else np.nan
    if not len(ok):
        notes.append(
            "no standard within 80-120 % recovery, replicate CV <= 20 % and precision "
            "profile <= 20 %: no LLOQ/ULOQ"
        )

    # LOD from the blanks (or the zero standards when there are no blanks)
    zero = blank if len(blank) >= 2 else std[std["concentration"] == 0]
    yb = zero["response"].to_numpy(float)
    yb = yb[np.isfinite(yb)]
    lod = np.nan
    if yb.size >= 2:
        sign = 1.0 if curve.increasing else -1.0
        lod = float(curve.inverse(yb.mean() + sign * 3.0 * yb.std(ddof=1)))

    # samples: back-interpolate the replicate mean, CI by the delta method
    samp = t[t["role"] == "sample"]
    crow = []
    for (name, dil), g in samp.groupby(["sample", "dilution"], sort=False):
        y = g["response"].to_numpy(float)
        y = y[np.isfinite(y)]
        n = int(y.size)
        ym = float(y.mean()) if n else np.nan
        x, lo, hi = (float(v[0]) for v in curve.inverse_ci(ym, n, level))
        per = curve.inverse(y) * dil
        if n == 0:
            flag = FLAG_OUTSIDE
        elif not np.isfinite(x):
            flag = FLAG_OUTSIDE
        elif np.isfinite(uloq) and x > uloq * (1 + 1e-12):
            flag = FLAG_HIGH
        elif np.isfinite(lloq) and x < lloq * (1 - 1e-12):
            flag = FLAG_LOW
        else:
            flag = ""
        qualified = flag == ""
        crow.append({
            "sample": name, "n": n, "response_mean": ym,
            "concentration": x * dil if qualified else np.nan,
            "ci_low": lo * dil if qualified else np.nan,
            "ci_high": hi * dil if qualified else np.nan,
            "unit": unit, "cv_pct": _cv(per) if np.isfinite(per).all() else np.nan, "flag": flag,
            "dilution": float(dil),
            "response_sd": float(y.std(ddof=1)) if n > 1 else np.nan,
            "concentration_sd": (float(np.std(per, ddof=1))
                                 if n > 1 and np.isfinite(per).all() else np.nan),
            "concentration_unqualified": x * dil,
            "wells": ";".join(w for w in g["well"] if w),
        })  # fmt: skip
    conc = pd.DataFrame(crow, columns=CONCENTRATIONS_COLUMNS + CONCENTRATIONS_EXTRA)
    return QuantifyResult(curve, standards, conc, wells, lloq, uloq, lod, unit, notes)


def curve_parameters(result: QuantifyResult) -> dict[str, Any]:
    """Summarise the curve's model, parameters, R^2 and range, for ``run.json`` and the report."""
    c = result.curve
    p = c.params
    se = np.sqrt(np.maximum(np.diag(c.cov), 0.0))
    out = {
        "model": c.model, "weights": c.weights, "hill": float(p[0]), "bottom": float(p[1]),
        "top": float(p[2]), "ec50": float(np.exp(p[3])), "asymmetry": float(np.exp(p[4])),
        "hill_se": float(se[0]), "bottom_se": float(se[1]), "top_se": float(se[2]),
        "r2": c.r2, "sigma": float(np.sqrt(c.sigma2)), "df": c.df, "converged": c.converged,
        "lloq": result.lloq, "uloq": result.uloq, "lod": result.lod, "unit": result.unit,
    }  # fmt: skip
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}
