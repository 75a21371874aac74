"""The censoring step of the batched fit: effect, censored IC50s, status and notes.

A curve whose fit is no better than a constant (extra-sum-of-squares F test, ``p >= alpha``) or
whose fitted drop over the tested doses is below ``min_effect`` of the larger fitted response
at the lowest and highest dose (not an extrapolated asymptote) is reported as "no effect":
``ic50_censored = ">"`` at the highest dose, never an invented in-range IC50. A "<" claim needs
the data at the lowest dose past half the effect seen, else status ``shallow`` and no IC50.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_il6assay.doseresponse._batch import CurveData, dose_means
from napari_il6assay.doseresponse._inference import Inference
from napari_il6assay.doseresponse._start import Start
from napari_il6assay.doseresponse.models import BOTTOM, HILL, TOP, dose_at_response, evaluate


@dataclass
class DoseReadouts:
    """What each fitted curve reads over its tested doses (B,)."""

    #: (B, n) the tested doses exactly as given, padded with 0
    xraw: np.ndarray
    #: lowest and highest dose above 0
    xmin: np.ndarray
    xmax: np.ndarray
    #: fitted response at the lowest dose (dose 0 where the curve has it) and the highest
    f_first: np.ndarray
    emax: np.ndarray
    #: mean fitted response over the log-dose range
    auc: np.ndarray
    #: dose where the fitted curve crosses ``abs_level`` (NaN where it never does)
    ic50_abs: np.ndarray


@dataclass
class Effect:
    """Each curve's fitted effect and whether it is too small for an IC50 (B,)."""

    #: the fitted plateaus at dose 0 and at infinite dose
    start_lvl: np.ndarray
    end_lvl: np.ndarray
    #: fitted change over the tested doses, and the larger fitted response at their ends
    drop: np.ndarray
    effect_scale: np.ndarray
    no_effect: np.ndarray
    small_span: np.ndarray


@dataclass
class Censoring:
    """The reported IC50s with their censoring, and each curve's status (B,)."""

    ic50_rel: np.ndarray
    ic50_censored: np.ndarray
    #: the IC50 sits below the doses but the data there are not past half the effect seen
    shallow: np.ndarray
    ic50_abs: np.ndarray
    ic50_abs_censored: np.ndarray
    status: np.ndarray
    #: the mean response at the lowest dose above 0, and half the effect seen
    y_low: np.ndarray
    half: np.ndarray


def dose_readouts(
    curves: Sequence[CurveData], start: Start, p: np.ndarray, abs_level: float
) -> DoseReadouts:
    """Read every fitted curve over its tested doses (`DoseReadouts`)."""
    data = start.data
    valid = data.sw > 0
    pos = valid & ~data.zero
    xraw = start.xraw
    xmin = np.where(pos, xraw, np.inf).min(axis=1)
    xmax = np.where(pos, xraw, -np.inf).max(axis=1)
    has_zero = (valid & data.zero).any(axis=1)
    x_first = np.where(has_zero, 0.0, xmin)
    f_first = evaluate(p, x_first[:, None])[:, 0]
    emax = evaluate(p, xmax[:, None])[:, 0]
    # mean fitted response over the log-dose range (Simpson's rule, 33 nodes)
    lxmin, lxmax = start.lxmin, start.lxmax
    grid = np.exp(lxmin[:, None] + (lxmax - lxmin)[:, None] * np.linspace(0, 1, 33)[None, :])
    simpson = np.ones(33)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    auc = evaluate(p, grid) @ (simpson / (3.0 * 32))
    ic50_abs = dose_at_response(p, abs_level)
    return DoseReadouts(xraw, xmin, xmax, f_first, emax, auc, ic50_abs)


def classify_effect(
    start: Start,
    p: np.ndarray,
    p_flat: np.ndarray,
    reads: DoseReadouts,
    *,
    alpha_flat: float,
    min_effect: float,
    min_span: float,
    plateau_left: float,
) -> Effect:
    """Find the curves without an effect and those whose effect is too small for an IC50.

    See `fit.fit_arrays` for ``alpha_flat``, ``min_effect``, ``min_span`` and
    ``plateau_left``.
    """
    # the plateaus at dose 0 and at infinite dose: top/bottom for hill >= 0; a signed model
    # (3pl = drc LL.3, 5pl) with hill < 0 has them the other way round
    neg = p[:, HILL] < 0
    start_lvl = np.where(neg, p[:, BOTTOM], p[:, TOP])
    end_lvl = np.where(neg, p[:, TOP], p[:, BOTTOM])
    scale = np.maximum(np.abs(p[:, TOP]), np.abs(p[:, BOTTOM]))
    drop = np.abs(reads.f_first - reads.emax)
    # "no effect" compares the drop with the responses the fit reaches over the tested doses,
    # not with the asymptotes: an extrapolated bottom far below the data (bottom -5 for a
    # curve falling 1 -> 0.52) must not turn a clear, significant drop of 0.48 into no effect
    effect_scale = np.maximum(np.abs(reads.f_first), np.abs(reads.emax))
    no_effect = (p_flat >= alpha_flat) | (drop < min_effect * effect_scale)
    # a curve that levels off after a small fraction of its response (bottom near top) has no
    # meaningful inflection: with the doses too low to reach the real plateau, a free bottom
    # lands wherever the data stop, and that is not an IC50
    # ... unless the data do reach that plateau: at the two highest doses at most 10 % of the
    # fitted effect is left (a genuine partial-effect curve with an in-range inflection; one
    # dose on the "plateau" is not enough, a steep drop at the last dose fakes it)
    data = start.data
    pos = (data.sw > 0) & ~data.zero
    xraw = reads.xraw
    x2 = np.where(pos & (xraw < reads.xmax[:, None]), xraw, -np.inf).max(axis=1)
    f2 = evaluate(p, x2[:, None])[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.abs((f2 - end_lvl) / (start_lvl - end_lvl))
    small_span = (
        ~no_effect & (np.abs(p[:, TOP] - p[:, BOTTOM]) < min_span * scale) & ~(left <= plateau_left)
    )
    return Effect(start_lvl, end_lvl, drop, effect_scale, no_effect, small_span)


def censor(
    start: Start,
    ic50: np.ndarray,
    reads: DoseReadouts,
    eff: Effect,
    converged: np.ndarray,
    abs_level: float,
) -> Censoring:
    """Censor the relative and absolute IC50s at the tested doses; set each curve's status.

    Parameters
    ----------
    start : Start
    ic50 : ndarray (B,)
        The fitted relative IC50s.
    reads : DoseReadouts
    eff : Effect
    converged : ndarray of bool (B,)
    abs_level : float
        Response level of the absolute IC50.

    Returns
    -------
    Censoring
    """
    xmin, xmax = reads.xmin, reads.xmax
    censored = np.where(ic50 > xmax * (1 + 1e-9), ">", np.where(ic50 < xmin * (1 - 1e-9), "<", ""))
    censored = np.where(~np.isfinite(ic50), ">", censored)
    censored = np.where(eff.no_effect | eff.small_span, ">", censored)
    # a "<" claim needs the data to show it: at the lowest dose the measured response must
    # already be past half the fitted effect. A shallow, almost linear decline fitted with a
    # tiny hill puts its inflection below the doses by extrapolation; its IC50 is not
    # estimable (status "shallow", no number), not "< lowest dose" (issue 11)
    y_low, half = _lowest_dose_and_half(start, eff)
    past = np.where(eff.start_lvl >= eff.end_lvl, y_low < half, y_low > half)
    shallow = (censored == "<") & ~past
    censored = np.where(shallow, "", censored)
    ic50_rep = np.where(censored == ">", xmax, np.where(censored == "<", xmin, ic50))
    ic50_rep = np.where(shallow, np.nan, ic50_rep)
    abs_c, ic50_abs_rep = _censor_abs(reads, eff, y_low, abs_level)
    status = np.where(
        eff.no_effect,
        "no_effect",
        np.where(
            ~converged,
            "not_converged",
            np.where(eff.small_span, "small_effect", np.where(shallow, "shallow", "ok")),
        ),
    )
    return Censoring(ic50_rep, censored, shallow, ic50_abs_rep, abs_c, status, y_low, half)


def _lowest_dose_and_half(start: Start, eff: Effect) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean response at the lowest dose above 0, and half the effect seen.

    Plateaus extrapolated beyond the dose means (a tiny hill puts the top at 3-5 for data
    that start at 1) are clipped to the observed range first.
    """
    data = start.data
    sw2 = data.sw**2
    pos = (data.sw > 0) & ~data.zero
    low_pts = pos & (data.logx <= start.lxmin[:, None] + 1e-12)
    y_low = (sw2 * data.y * low_pts).sum(axis=1) / np.maximum((sw2 * low_pts).sum(axis=1), 1e-300)
    dm = dose_means(data)
    dm_ok = dm.sw > 0
    y_hi = np.where(dm_ok, dm.y, -np.inf).max(axis=1)
    y_lo = np.where(dm_ok, dm.y, np.inf).min(axis=1)
    half = 0.5 * (np.clip(eff.start_lvl, y_lo, y_hi) + np.clip(eff.end_lvl, y_lo, y_hi))
    return y_low, half


def _censor_abs(
    reads: DoseReadouts, eff: Effect, y_low: np.ndarray, abs_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Censor the absolute IC50: where it is not crossed or outside the doses.

    It is censored towards the side the curve stays on; "<" only when the lowest dose's data
    are below the level. Returns ``(censoring, reported value)``.
    """
    xmin, xmax, ic50_abs, emax = reads.xmin, reads.xmax, reads.ic50_abs, reads.emax
    dec = eff.start_lvl >= eff.end_lvl
    abs_c = np.full(xmin.shape[0], "", dtype=object)
    never = ~np.isfinite(ic50_abs)
    above_side = (dec & (emax > abs_level)) | (~dec & (emax < abs_level))
    abs_c[(never & above_side) | (ic50_abs > xmax * (1 + 1e-9)) | eff.no_effect] = ">"
    abs_c[(abs_c == "") & ((ic50_abs < xmin * (1 - 1e-9)) | never)] = "<"
    abs_past = np.where(dec, y_low < abs_level, y_low > abs_level)
    abs_shallow = (abs_c == "<") & ~abs_past
    abs_c[abs_shallow] = ""
    ic50_abs_rep = np.where(abs_c == ">", xmax, np.where(abs_c == "<", xmin, ic50_abs))
    ic50_abs_rep = np.where(abs_shallow, np.nan, ic50_abs_rep)
    return abs_c, ic50_abs_rep


def notes(
    p: np.ndarray,
    eff: Effect,
    cens: Censoring,
    inf: Inference,
    conv: np.ndarray,
    ci: tuple[np.ndarray, np.ndarray],
    *,
    alpha_flat: float,
    min_effect: float,
    min_span: float,
    profile_5pl: bool,
) -> list[str]:
    """Write each curve's ``note``: why it is censored, not fitted well, or flagged.

    ``p`` and ``conv`` are the fits, ``ci`` the IC50's (low, high); ``profile_5pl`` says that
    the 5PL's profile CI was replaced by the delta method on log IC50.
    """
    no_effect, small_span = eff.no_effect, eff.small_span
    drop, effect_scale = eff.drop, eff.effect_scale
    censored, shallow, y_low, half = cens.ic50_censored, cens.shallow, cens.y_low, cens.half
    p_flat, mono_p, non_monotone = inf.p_flat, inf.monotone_p, inf.non_monotone
    ci_lo, ci_hi = ci
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
