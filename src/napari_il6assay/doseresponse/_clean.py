"""Clean dose-response curves' data before a fit (`check_curve`, and `check_curves` for many)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_il6assay.doseresponse._batch import CurveData, FlatCurves


def check_curve(
    conc: np.ndarray, response: np.ndarray, n_params: int = 4
) -> tuple[np.ndarray, np.ndarray, str]:
    """Clean one curve's data; return ``(conc, response, problem)``.

    ``problem`` is ``""`` when the curve can be fitted, else a sentence for the ``note``
    column (missing or negative concentrations, all-NaN or constant responses, fewer than 4
    distinct doses or too few points).
    """
    conc = np.asarray(conc, float)
    response = np.asarray(response, float)
    if conc.size == 0:
        return conc, response, "no data"
    if np.isnan(conc).any():
        return conc, response, f"missing concentration in {int(np.isnan(conc).sum())} row(s)"
    if (conc < 0).any():
        return conc, response, f"negative concentration ({conc[conc < 0].min():g})"
    if not np.isfinite(conc).all():
        return conc, response, "infinite concentration"
    ok = np.isfinite(response)
    if not ok.any():
        return conc, response, "all responses missing (NaN)"
    conc, response = conc[ok], response[ok]
    n_doses = np.unique(conc).size
    if n_doses < 4:
        return conc, response, f"fewer than 4 doses ({n_doses})"
    if (conc > 0).sum() == 0 or np.unique(conc[conc > 0]).size < 2:
        return conc, response, "fewer than 2 non-zero doses"
    if conc.size <= n_params:
        return conc, response, f"too few points ({conc.size}) for {n_params} parameters"
    if (
        np.abs(response).max() > 1e100
        or (conc > 0).any()
        and not (1e-200 < conc[conc > 0].min() and conc.max() < 1e200)
    ):
        # squares of such numbers overflow in the least-squares fit: rescale the data
        return conc, response, "responses beyond 1e100 or doses outside 1e-200..1e200: rescale"
    if np.ptp(response) <= 1e-12 * max(1.0, np.abs(response).max()):
        return conc, response, "constant responses: nothing to fit"
    return conc, response, ""


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


def distinct_per_curve(cid: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Count the distinct values of ``v`` per curve id (``cid`` need not be sorted).

    ``v`` holds no NaN; values are equal as numbers are (-0.0 is 0.0). Hashed (each value's
    code, then the distinct (curve, code) pairs): a third of the time of sorting the pairs on
    a screen's 300,000 points, and it runs three times per fit (issue 13).
    """
    import pandas as pd

    if v.size == 0:
        return np.zeros(n, np.int64)
    codes, values = pd.factorize(v)
    pairs = pd.unique(np.asarray(cid, np.int64) * len(values) + codes)
    return np.bincount(pairs // len(values), minlength=n)


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
    bad, finite = _clean_flags(conc, resp, lens, n_params)
    all_finite = finite.tolist()
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


def _clean_flags(
    conc: np.ndarray, resp: np.ndarray, lens: np.ndarray, n_params: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flag the curves of flat arrays that may need `check_curve`, and those without a NaN.

    Conservative: a curve not flagged passes every test of `check_curve`.

    Parameters
    ----------
    conc, resp : ndarray
        All curves' doses and responses, curve after curve.
    lens : ndarray
        Each curve's number of points.
    n_params : int

    Returns
    -------
    bad : ndarray of bool
        The curves `check_curve` must look at.
    all_finite : ndarray of bool
        The curves whose responses are all finite (nothing to drop).
    """
    n = lens.size
    cid = np.repeat(np.arange(n), lens)
    ok = np.isfinite(resp)
    # conservative: a curve counted clean here passes every test of `check_curve`
    bad = (lens == 0) | (np.bincount(cid, ~np.isfinite(conc) | (conc < 0), n) > 0)
    n_ok = np.bincount(cid, ok, n)
    sel = ok & np.isfinite(conc)
    cs, cc, rs = cid[sel], conc[sel], resp[sel]
    bad |= n_ok <= n_params
    n_doses = distinct_per_curve(cs, cc, n)
    bad |= n_doses < 4
    pos = cc > 0
    # a curve with a negative dose is flagged above, so the others' doses that are not
    # positive are 0: one distinct dose less when there is one
    bad |= n_doses - (np.bincount(cs, ~pos, n) > 0) < 2
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
    return bad, n_ok == lens


def check_flat(
    flat: FlatCurves, n_params: int = 4
) -> tuple[Sequence[CurveData], list[int], list[int], list[str]]:
    """`check_curves` of flat curves, the clean ones kept flat for `fit.fit_arrays`.

    Parameters
    ----------
    flat : FlatCurves
    n_params : int
        Number of fitted parameters (see `check_curve`).

    Returns
    -------
    data : sequence of (conc, response, None)
        The clean curves' data (NaN responses dropped), in order.
    todo : list of int
        Their positions in ``flat``.
    rest : list of int
        The positions of the curves that cannot be fitted.
    problems : list of str
        Their `check_curve` problems, one per ``rest``.
    """
    n = len(flat)
    if n and flat.lens.sum() > 0:
        bad, finite = _clean_flags(flat.x, flat.y, flat.lens, n_params)
        if not bad.any() and finite.all():  # the usual case: every curve clean as it is
            return flat, list(range(n)), [], []
    checked = check_curves([(c, r) for c, r, _ in flat], n_params)
    todo = [i for i, (_, _, problem) in enumerate(checked) if not problem]
    rest = [i for i, (_, _, problem) in enumerate(checked) if problem]
    data = [(checked[i][0], checked[i][1], None) for i in todo]
    return data, todo, rest, [checked[i][2] for i in rest]
