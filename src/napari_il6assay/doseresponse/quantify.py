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
number (never an extrapolated one).

The quantification range is where a *result* can be trusted, not only where a standard
recovered. The precision profile (`StandardCurve.precision_cv`) is the CV of a sample's
back-calculated concentration at each concentration: the delta-method variance above, for a
sample of ``n`` replicates (``n`` = the samples' median replicate count, ``loq_replicates``),
so it holds the calibration curve's own uncertainty as well as the sample's noise. LLOQ and
ULOQ are where that profile crosses ``LOQ_CV_PCT`` = 6.08 %, found on a fine log grid and
interpolated (not snapped to a standard): at that CV 90 % of results fall within +-10 % of
the truth (``10 / z_0.95``; the accuracy-profile idea of Hubert et al. 2004 with
lambda = 10 %, beta = 90 %), and inside the range more do. The limits never go beyond the
lowest/highest *acceptable* standard: recovery within 80-120 % and CV of its replicate
back-calculated concentrations <= 20 %. A standard is ``in_range`` when it is acceptable and
lies in [LLOQ, ULOQ]. The earlier rule (a standard kept when the profile of *one* replicate
was <= 20 %) put the limits at standards where a triplicate result still had a CV of 6-11 %:
on 500 simulated plates 3.6 % (4PL) and 6.4 % (5PL) of the results in range were more than
10 % off, against 2.1 % and 3.3 % now. Samples below/above are flagged
``<LLOQ``/``>ULOQ`` and their ``concentration`` is left empty (the back-calculated value stays
in ``concentration_unqualified`` where the curve gives one). Where the profile never gets down
to ``LOQ_CV_PCT`` there is no range: LLOQ/ULOQ are NaN and every result is flagged, by its side
of the profile's most precise concentration. LOD is the blank mean + 3 SD
(mean - 3 SD for a falling, competitive curve) back-interpolated.

Blank wells are the zero calibrator: they enter the fit at concentration 0 (a sandwich ELISA's
blank is the standard diluent), and give the LOD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from napari_il6assay.errors import InputError
from napari_il6assay.io.cells import text_column

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
#: accuracy goal inside [LLOQ, ULOQ]: a share ``LOQ_BETA`` of results within +-``LOQ_LAMBDA`` of
#: the truth, i.e. a precision-profile CV of at most ``LOQ_LAMBDA / z((1 + LOQ_BETA) / 2)``
LOQ_LAMBDA, LOQ_BETA = 0.10, 0.90
LOQ_CV_PCT = round(100.0 * LOQ_LAMBDA / NormalDist().inv_cdf((1.0 + LOQ_BETA) / 2.0), 2)  # 6.08


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
        from napari_il6assay.doseresponse._dist import t_ppf

        x, se = self.log_se(response_mean, n)
        tq = float(t_ppf(0.5 + level / 2, max(self.df, 1)))
        with np.errstate(invalid="ignore", over="ignore"):
            logx = np.log(x)
            return x, np.exp(logx - tq * se), np.exp(logx + tq * se)

    def precision_cv(self, conc: Any, n: Any = 1) -> np.ndarray:
        """Precision profile: CV (%) of the result of an ``n``-replicate sample at ``conc``.

        The CV of the concentration back-calculated from the mean of ``n`` replicates whose
        true concentration is ``conc``: the curve's parameter uncertainty plus the replicates'
        own noise under the weight model (`log_se` at the fitted response), on the log-normal
        scale (``sqrt(exp(se^2) - 1)``).
        """
        _, se = self.log_se(self.predict(conc), n)
        with np.errstate(over="ignore", invalid="ignore"):
            return 100.0 * np.sqrt(np.expm1(se * se))


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
    notes : list of str
    loq_replicates : int
        Replicates per sample result the LLOQ/ULOQ precision profile assumes.
    loq_cv_pct : float
        The precision-profile CV (%) that sets LLOQ/ULOQ.
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
    loq_replicates: int = 1
    loq_cv_pct: float = LOQ_CV_PCT

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
        well = text_column(df["well"])
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
    df["unit"] = text_column(df["unit"])
    units = sorted(set(df.loc[std & (df["concentration"] > 0), "unit"]))
    if len(units) > 1:
        i = int(np.flatnonzero(std & (df["unit"] != units[0]).to_numpy())[0])
        raise InputError(f"standards in more than one unit ({', '.join(units)}); use one",
                         **where(i, "unit"))  # fmt: skip
    if "sample" not in df.columns:
        df["sample"] = ""
    sample = text_column(df["sample"])
    df["sample"] = np.where(sample == "", well, sample)
    df["well"] = well
    df["_row"] = rows
    return df.loc[keep].reset_index(drop=True)


def _cv(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 2 or v.mean() == 0:
        return np.nan
    return float(100.0 * v.std(ddof=1) / abs(v.mean()))


def _finite(values: Any) -> np.ndarray:
    y = np.asarray(values, float)
    return y[np.isfinite(y)]


def _standards_unit(std: Any, path: str | Path | None) -> str:
    """Return the standards' unit; raise `InputError` below 4 levels above 0."""
    above = std["concentration"] > 0
    n_levels = std.loc[above, "concentration"].nunique()
    if n_levels < 4:
        raise InputError(f"a standard curve needs at least 4 standard concentrations above 0 "
                         f"(found {n_levels})", path=path, column="concentration")  # fmt: skip
    return next((u for u in std.loc[above, "unit"] if u), "")


def _fit_table(
    std: Any, blank: Any, model: str, weights: str, path: str | Path | None
) -> StandardCurve:
    """Fit the standards plus the blanks (the zero calibrator, at concentration 0)."""
    import pandas as pd

    rows = pd.concat([std, blank.assign(concentration=0.0)])
    rows = rows[np.isfinite(rows["response"])]
    try:
        return fit_standard_curve(rows["concentration"], rows["response"], model, weights)
    except ValueError as exc:
        raise InputError(str(exc), path=path, column="response") from exc


def _reference_replicates(samples: Any) -> int:
    """Replicates behind a typical sample result: the median group size (1 without samples)."""
    sizes = samples.groupby(["sample", "dilution"], sort=False)["response"].count()
    sizes = sizes[sizes > 0]
    return max(int(np.median(sizes)), 1) if len(sizes) else 1


def standards_table(std: Any, curve: StandardCurve, unit: str, n_ref: int = 1) -> Any:
    """Recovery, replicate CV and precision profile of each standard level (``standards.csv``).

    Parameters
    ----------
    std : DataFrame
        The standard wells (`check_table` rows with role ``standard``).
    curve : StandardCurve
    unit : str
    n_ref : int
        Replicates behind the result whose precision ``precision_cv_pct`` reports.

    Returns
    -------
    DataFrame
        `STANDARDS_COLUMNS` + `STANDARDS_EXTRA`; ``in_range`` here only says that the level's
        recovery and replicate CV are acceptable (`quantitation_limits` narrows it).
    """
    import pandas as pd

    srows = []
    for c, g in std.groupby("concentration", sort=True):
        y = _finite(g["response"])
        ym = float(y.mean()) if y.size else np.nan
        back = float(curve.inverse(ym)) if y.size else np.nan
        per = curve.inverse(y)
        rec = 100.0 * back / c if c > 0 else np.nan
        cv = _cv(per) if np.isfinite(per).all() else np.nan
        accepted = bool(c > 0 and np.isfinite(rec) and RECOVERY_RANGE[0] <= rec <= RECOVERY_RANGE[1]
                        and (y.size < 2 or (np.isfinite(cv) and cv <= MAX_CV_PCT)))  # fmt: skip
        srows.append({
            "concentration": float(c), "unit": unit, "n": int(y.size), "response_mean": ym,
            "back_calculated": back, "recovery_pct": rec, "cv_pct": cv, "in_range": accepted,
            "precision_cv_pct": float(curve.precision_cv(c, n_ref)[0]) if c > 0 else np.nan,
            "response_sd": float(y.std(ddof=1)) if y.size > 1 else np.nan,
            "wells": ";".join(w for w in g["well"] if w),
        })  # fmt: skip
    return pd.DataFrame(srows, columns=STANDARDS_COLUMNS + STANDARDS_EXTRA)


def _crossing(x: np.ndarray, cv: np.ndarray, i: int, j: int, max_cv: float) -> float:
    """Where the precision profile crosses ``max_cv`` between grid points ``i`` and ``j``."""
    if not np.isfinite(cv[j]):
        return float(x[i])
    f = (max_cv - cv[i]) / (cv[j] - cv[i])
    return float(np.exp(np.log(x[i]) + f * (np.log(x[j]) - np.log(x[i]))))


def quantitation_limits(
    curve: StandardCurve,
    standards: Any,
    n_ref: int = 1,
    max_cv_pct: float = LOQ_CV_PCT,
    grid: int = 241,
) -> tuple[float, float]:
    """LLOQ and ULOQ: where the precision profile of a result crosses ``max_cv_pct``.

    The precision profile is the CV of a sample's back-calculated concentration (the mean of
    ``n_ref`` replicates read off the fitted curve; `StandardCurve.precision_cv`). Its crossings
    are interpolated on a fine log grid, not snapped to a standard, and are kept within the
    lowest and highest acceptable standards (``in_range`` of `standards_table`): the curve is
    never trusted beyond the standards that recover.

    Parameters
    ----------
    curve : StandardCurve
    standards : DataFrame
        From `standards_table`.
    n_ref : int
        Replicates behind a sample result.
    max_cv_pct : float
        Largest CV (%) of a result inside the range.
    grid : int
        Points of the log grid between the outermost acceptable standards.

    Returns
    -------
    lloq, uloq : float
        NaN when no acceptable standard, or when the profile nowhere reaches ``max_cv_pct``.
    """
    ok = standards.loc[standards["in_range"], "concentration"].to_numpy(float)
    if not ok.size:
        return np.nan, np.nan
    x = np.geomspace(ok.min(), ok.max(), grid) if ok.max() > ok.min() else ok[:1]
    cv = curve.precision_cv(x, n_ref)
    good = np.isfinite(cv) & (cv <= max_cv_pct)
    if not good.any():
        return np.nan, np.nan
    # the contiguous run of acceptable precision around the best point
    best = int(np.nanargmin(np.where(good, cv, np.inf)))
    lo = best
    while lo > 0 and good[lo - 1]:
        lo -= 1
    hi = best
    while hi < x.size - 1 and good[hi + 1]:
        hi += 1
    lloq = float(x[lo]) if lo == 0 else _crossing(x, cv, lo, lo - 1, max_cv_pct)
    uloq = float(x[hi]) if hi == x.size - 1 else _crossing(x, cv, hi, hi + 1, max_cv_pct)
    return lloq, uloq


def _best_precision(curve: StandardCurve, standards: Any, n_ref: int) -> float:
    """Concentration of the precision profile's minimum between the outermost standards."""
    c = standards.loc[standards["concentration"] > 0, "concentration"].to_numpy(float)
    x = np.geomspace(c.min(), c.max(), 241)
    cv = curve.precision_cv(x, n_ref)
    return float(x[int(np.nanargmin(cv))]) if np.isfinite(cv).any() else np.nan


def _lod(curve: StandardCurve, blank: Any, std: Any) -> float:
    """Blank mean + 3 SD (- 3 SD for a falling curve) read off the curve."""
    zero = blank if len(blank) >= 2 else std[std["concentration"] == 0]
    yb = _finite(zero["response"])
    if yb.size < 2:
        return np.nan
    sign = 1.0 if curve.increasing else -1.0
    return float(curve.inverse(yb.mean() + sign * 3.0 * yb.std(ddof=1)))


def _flag(n: int, x: float, lloq: float, uloq: float) -> str:
    """Return the ``flag`` of a sample whose in-well concentration is ``x``."""
    if n == 0 or not np.isfinite(x):
        return FLAG_OUTSIDE
    if np.isfinite(uloq) and x > uloq * (1 + 1e-12):
        return FLAG_HIGH
    if np.isfinite(lloq) and x < lloq * (1 - 1e-12):
        return FLAG_LOW
    return ""


def samples_table(
    samples: Any, curve: StandardCurve, lloq: float, uloq: float, unit: str, level: float = 0.95
) -> Any:
    """Back-interpolate each (sample, dilution) group's mean response (``concentrations.csv``).

    Parameters
    ----------
    samples : DataFrame
        The sample wells (`check_table` rows with role ``sample``).
    curve : StandardCurve
    lloq, uloq : float
        In-well quantitation range; results outside it are flagged and get no number.
    unit : str
    level : float
        Confidence level of ``ci_low``/``ci_high``.

    Returns
    -------
    DataFrame
        `CONCENTRATIONS_COLUMNS` + `CONCENTRATIONS_EXTRA`, one row per group.
    """
    import pandas as pd

    crow = []
    for (name, dil), g in samples.groupby(["sample", "dilution"], sort=False):
        y = _finite(g["response"])
        n = int(y.size)
        ym = float(y.mean()) if n else np.nan
        x, lo, hi = (float(v[0]) for v in curve.inverse_ci(ym, n, level))
        per = curve.inverse(y) * dil
        flag = _flag(n, x, lloq, uloq)
        q = 1.0 if flag == "" else np.nan  # flagged: no number, never an extrapolated one
        crow.append({
            "sample": name, "n": n, "response_mean": ym, "concentration": x * dil * q,
            "ci_low": lo * dil * q, "ci_high": hi * dil * q, "unit": unit,
            "cv_pct": _cv(per) if np.isfinite(per).all() else np.nan, "flag": flag,
            "dilution": float(dil),
            "response_sd": float(y.std(ddof=1)) if n > 1 else np.nan,
            "concentration_sd": (float(np.std(per, ddof=1))
                                 if n > 1 and np.isfinite(per).all() else np.nan),
            "concentration_unqualified": x * dil,
            "wells": ";".join(w for w in g["well"] if w),
        })  # fmt: skip
    return pd.DataFrame(crow, columns=CONCENTRATIONS_COLUMNS + CONCENTRATIONS_EXTRA)


def quantify(
    df: Any,
    *,
    model: str = "4pl",
    weights: str = "1/y2",
    level: float = 0.95,
    loq_cv_pct: float = LOQ_CV_PCT,
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
    loq_cv_pct : float
        Largest precision-profile CV (%) of a sample result inside [LLOQ, ULOQ]
        (`quantitation_limits`).
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
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; use 1/y2, 1/y or none")
    t = check_table(df, path)
    std = t[t["role"] == "standard"]
    blank = t[t["role"] == "blank"]
    samples = t[t["role"] == "sample"]
    unit = _standards_unit(std, path)
    curve = _fit_table(std, blank, model, weights, path)
    notes = [curve.note] if curve.note else []
    n_ref = _reference_replicates(samples)
    standards = standards_table(std, curve, unit, n_ref)
    lloq, uloq = quantitation_limits(curve, standards, n_ref, loq_cv_pct)
    c = standards["concentration"]
    standards["in_range"] &= (c >= lloq * (1 - 1e-12)) & (c <= uloq * (1 + 1e-12))
    split = (lloq, uloq)
    if not np.isfinite(lloq):
        notes.append(
            f"no standard within 80-120 % recovery and replicate CV <= 20 % where a result of "
            f"{n_ref} replicate(s) has a precision profile CV <= {loq_cv_pct:g} %: no LLOQ/ULOQ, "
            "every result is flagged"
        )
        # an empty range: results below the profile's best point are <LLOQ, above it >ULOQ
        best = _best_precision(curve, standards, n_ref)
        split = (best, best)
    wells = t.copy()
    wells["concentration_calc"] = curve.inverse(wells["response"].to_numpy())
    wells.loc[wells["role"] == "sample", "concentration_calc"] *= wells["dilution"]
    conc = samples_table(samples, curve, *split, unit, level)
    return QuantifyResult(curve, standards, conc, wells, lloq, uloq, _lod(curve, blank, std),
                          unit, notes, n_ref, loq_cv_pct)  # fmt: skip


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
        "loq_cv_pct": result.loq_cv_pct, "loq_replicates": result.loq_replicates,
    }  # fmt: skip
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}
