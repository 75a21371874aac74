"""The inference step of the batched fit: SEs, the IC50's CI, goodness of fit, shape tests.

Standard errors come from ``sigma^2 (J^T W J)^-1`` with ``sigma^2 = RSS / (n - k)``; with
``ci_method="delta"`` from drc's own covariance, the observed information (Hessian of the
RSS: ``J^T W J`` minus the residual-weighted curvature), so SEs and ``e +/- t_{n-k} se(e)``
equal drc's ``summary()`` and ``ED(..., interval="delta")``, negative lower ends included (a
note says so). The default IC50 CI is by profile likelihood on log IC50 (`_profile`): the set
of log IC50 whose profile RSS is below ``RSS (1 + F_{1, n-k; 0.95} / (n - k))``, asymmetric and
positive; the 5PL's is the delta method on log IC50. ``p_flat`` is the extra-sum-of-squares F
test against a constant, ``lack_of_fit_p`` the fit against the dose means (drc
``modelFit``), and ``non_monotone`` flags dose means that rise and fall (lack-of-fit F test,
then an isotonic-regression test). AIC and BIC are drc's (sigma counted as a parameter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_il6assay.doseresponse._batch import dose_means
from napari_il6assay.doseresponse._polish import Solution
from napari_il6assay.doseresponse._profile import profile_ci
from napari_il6assay.doseresponse._solver import Batch, safe_pinv
from napari_il6assay.doseresponse._start import Start
from napari_il6assay.doseresponse.models import LOGE, LOGS, ModelSpec, evaluate, halfway_dose


@dataclass
class Inference:
    """The inference step's result, one entry per curve."""

    #: (B,) residual degrees of freedom ``n - k`` and ``RSS / max(n - k, 1)``
    dof: np.ndarray
    sigma2: np.ndarray
    #: (B, 5) standard errors of the parameters (NaN for fixed ones)
    se: np.ndarray
    #: (B,) relative IC50 (the dose halfway between top and bottom) and the SE of its log
    ic50: np.ndarray
    se_t: np.ndarray
    #: (B,) goodness of fit and the F test against a constant
    r2: np.ndarray
    p_flat: np.ndarray
    #: (B,) drc's logLik, AIC and BIC
    loglik: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    #: (B,) `shape_tests`
    lack_of_fit_p: np.ndarray
    monotone_p: np.ndarray
    non_monotone: np.ndarray


def infer(start: Start, sol: Solution, spec: ModelSpec, ci_method: str) -> Inference:
    """Compute every curve's SEs, IC50, goodness of fit and shape tests.

    Parameters
    ----------
    start : Start
    sol : Solution
        The fits.
    spec : ModelSpec
    ci_method : str
        ``"delta"`` takes drc's observed-information covariance, any other ``J^T W J``.

    Returns
    -------
    Inference
    """
    data, p, rss = start.data, sol.p, sol.rss
    k = spec.n_params
    n = data.n_points
    dof = n - k
    sigma2 = rss / np.maximum(dof, 1)
    if ci_method == "delta":
        # drc's summary()/ED(): the observed information (Hessian of the RSS), not J^T J
        cov = observed_cov(p, data, spec.free, sigma2)
    else:
        cov = sigma2[:, None, None] * safe_pinv(sol.jtj)
    se = np.full((p.shape[0], 5), np.nan)
    for j, idx in enumerate(spec.free):
        se[:, idx] = np.sqrt(np.maximum(cov[:, j, j], 0.0))
    ic50 = halfway_dose(p)
    se_t = _log_ic50_se(p, cov, se, ic50, spec)
    r2, p_flat = _goodness(data, rss, k, dof)
    # is the curve shape right at all? (bell-shaped data: flagged, not silently fitted)
    f_hat = evaluate(p, np.where(data.zero, 0.0, np.exp(data.logx)))
    lof_p, mono_p, non_monotone = shape_tests(data, f_hat, k)
    # information criteria as drc's logLik/AIC/BIC (sigma counted as a parameter)
    valid = data.sw > 0
    with np.errstate(divide="ignore"):
        sum_logw = np.where(valid, np.log(np.where(valid, data.sw**2, 1.0)), 0.0).sum(axis=1)
        loglik = 0.5 * sum_logw - 0.5 * n * (np.log(2 * np.pi) + 1.0 + np.log(rss / n))
    aic = -2.0 * loglik + 2.0 * (k + 1)
    bic = -2.0 * loglik + np.log(n) * (k + 1)
    return Inference(dof, sigma2, se, ic50, se_t, r2, p_flat, loglik, aic, bic, lof_p, mono_p,
                     non_monotone)  # fmt: skip


def _log_ic50_se(
    p: np.ndarray, cov: np.ndarray, se: np.ndarray, ic50: np.ndarray, spec: ModelSpec
) -> np.ndarray:
    """SE of the natural log of the relative IC50.

    That of log e, except for the 5PL, whose halfway dose depends on every parameter: the
    delta method through all of them (forward differences).
    """
    if LOGS in spec.free:
        eps = 1e-6
        grad = np.zeros((p.shape[0], spec.n_params))
        for j, idx in enumerate(spec.free):
            dp = p.copy()
            dp[:, idx] += eps
            grad[:, j] = (np.log(halfway_dose(dp)) - np.log(ic50)) / eps
        var_t = np.einsum("bi,bij,bj->b", grad, cov, grad)
    else:
        var_t = se[:, LOGE] ** 2
    return np.sqrt(np.maximum(var_t, 0.0))


def _goodness(
    data: Batch, rss: np.ndarray, k: int, dof: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """R^2 and the p-value of the F test against a constant (0 for an exact fit)."""
    from napari_il6assay.doseresponse._dist import f_sf

    sw2 = data.sw**2
    ybar = (sw2 * data.y).sum(axis=1) / sw2.sum(axis=1)
    tss = (sw2 * (data.y - ybar[:, None]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - rss / tss
        fstat = ((tss - rss) / (k - 1)) / (rss / dof)
    p_flat = np.where(rss <= 1e-30 * (tss + 1e-300), 0.0, f_sf(fstat, k - 1, np.maximum(dof, 1)))
    return r2, np.where(np.isfinite(p_flat), p_flat, 1.0)


def ic50_ci(
    start: Start,
    sol: Solution,
    inf: Inference,
    spec: ModelSpec,
    *,
    ci_method: str,
    level: float,
    no_effect: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the CI (low, high) of every curve's relative IC50, in dose units.

    ``"profile"``: profile likelihood on log IC50 (the 5PL: the delta method on log IC50),
    none for curves without an effect (their IC50 is reported as censored anyway);
    ``"delta"``: drc's ``e +/- t se(e)`` on the linear scale; ``"none"``: NaN.
    """
    from napari_il6assay.doseresponse._dist import t_ppf

    B = sol.p.shape[0]
    free = spec.free
    tq = t_ppf(0.5 + level / 2, np.maximum(inf.dof, 1))
    if ci_method == "delta":  # drc: e +/- t se(e), on the linear scale
        se_e = inf.ic50 * inf.se_t
        # as drc: symmetric on the linear scale, so the lower end can be negative (reported,
        # with a note, not clipped to 0)
        return inf.ic50 - tq * se_e, inf.ic50 + tq * se_e
    if ci_method == "profile" and LOGS not in free and LOGE in free:
        ci_lo, ci_hi = np.full(B, np.nan), np.full(B, np.nan)
        todo = np.flatnonzero(~no_effect)
        if todo.size:
            red = dose_means(start.data)
            t_lo, t_hi = profile_ci(sol.p[todo], sol.rss[todo], inf.dof[todo], red.take(todo),
                                     free, start.lower[todo], start.upper[todo],
                                     inf.se_t[todo], level, sol.jtj[todo])  # fmt: skip
            ci_lo[todo], ci_hi[todo] = np.exp(t_lo), np.exp(t_hi)
        return ci_lo, ci_hi
    if ci_method in ("profile", "delta-log"):  # 5PL: delta method on log scale
        return inf.ic50 * np.exp(-tq * inf.se_t), inf.ic50 * np.exp(tq * inf.se_t)
    if ci_method == "none":
        return np.full(B, np.nan), np.full(B, np.nan)
    raise ValueError(f"unknown ci_method {ci_method!r}; use profile, delta or none")


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


def shape_tests(
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
    from napari_il6assay.doseresponse._dist import f_sf

    dm = dose_means(data)
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
        p_lof = f_sf(fl, np.maximum(df1, 1), np.maximum(df2, 1))
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
            mono[i] = f_sf((best / d1) / (pure[i] / df2[i]), d1, df2[i])
    return lof, mono, mono < alpha


def observed_cov(
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
