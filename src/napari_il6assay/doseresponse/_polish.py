"""The solve step of the batched fit: polish the starts, restart doubtful fits, fix the sign.

Every curve is polished by the batched Levenberg-Marquardt solver (`_solver`) from the best
grid point of each (asymmetry, sign of hill) class (`_start.grid_starts`), plus an optional
start of the caller's. Curves the model fits poorly (R^2 < 0.9, not converged, on a bound) are
polished again from the logit start and the next 7 grid points, all in one batch. The solver
works on the dose means plus the within-dose sum of squares (its ``offset``): the same RSS and
optimum as on the replicates, with a third of the points for triplicates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from napari_il6assay.doseresponse._batch import dose_means
from napari_il6assay.doseresponse._solver import Batch, levenberg_marquardt
from napari_il6assay.doseresponse._start import (
    GRID_HILL_FIRST,
    Start,
    grid_starts,
    logit_start,
)
from napari_il6assay.doseresponse.models import BOTTOM, HILL, LOGE, LOGS, TOP, ModelSpec

#: Grid points polished again on doubtful curves (the logit start takes the best one's place).
N_RESTARTS = 8


class Solution(NamedTuple):
    """The solve step's result for B curves (as `_solver.levenberg_marquardt` returns it)."""

    #: (B, 5) fitted parameters
    p: np.ndarray
    #: (B,) residual sums of squares
    rss: np.ndarray
    #: (B, k, k) ``J^T W J`` over the free parameters at ``p``
    jtj: np.ndarray
    #: (B,) the solver met its stopping rule
    converged: np.ndarray


def polish_best(
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


def jtj_at(p: np.ndarray, data: Batch, free: tuple[int, ...]) -> np.ndarray:
    """``J^T W J`` over the free parameters at ``p``."""
    from napari_il6assay.doseresponse.models import evaluate_jac

    _, jac = evaluate_jac(p, data.logx, data.zero)
    jf = jac[:, :, list(free)] * data.sw[:, :, None]
    return np.einsum("bni,bnj->bij", jf, jf)


def solve(start: Start, spec: ModelSpec, extra_start: np.ndarray | None) -> Solution:
    """Fit every curve: the batched polish, restarts of doubtful fits, the 4PL's sign.

    Parameters
    ----------
    start : Start
        The padded curves, their dose range and bounds.
    spec : ModelSpec
    extra_start : ndarray (B, 5), optional
        One more start per curve (see `fit.fit_arrays`).

    Returns
    -------
    Solution
        The 4PL is reported with ``hill >= 0``.
    """
    data, lower, upper = start.data, start.lower, start.upper
    logit = logit_start(data, start.lxmin, start.lxmax)
    for idx, val in spec.fixed.items():
        logit[:, idx] = val
    # the best point of each class of the variable-projection grid (global), and the
    # caller's start; the lowest RSS wins
    grid = grid_starts(data, spec, start.lxmin, start.lxmax, lower, upper, per_class=True,
                       hills=GRID_HILL_FIRST)  # fmt: skip
    if extra_start is not None:
        ex = np.array(extra_start, float)
        for idx, val in spec.fixed.items():
            ex[:, idx] = val
        grid = np.concatenate([grid, np.clip(ex, lower, upper)[:, None]], axis=1)
    # the 5PL's asymmetry and hill trade off along long valleys: more iterations
    max_iter = 1000 if LOGS in spec.free else 200
    red = dose_means(data)
    p, rss, jtj, conv = polish_best(grid, red, spec.free, lower, upper, max_iter=max_iter)
    sol = Solution(p, rss, jtj, conv)
    _restart_doubtful(sol, start, spec, logit, max_iter)
    if spec.name == "4pl":
        _hill_positive(sol, data, spec.free)
    return sol


def _doubtful(sol: Solution, start: Start, free: tuple[int, ...]) -> np.ndarray:
    """Return the curves worth polishing again: not converged, R^2 < 0.9, or on a bound."""
    data = start.data
    sw2 = data.sw**2
    ybar = (sw2 * data.y).sum(axis=1) / sw2.sum(axis=1)
    tss0 = (sw2 * (data.y - ybar[:, None]) ** 2).sum(axis=1)
    doubt = ~sol.converged | (sol.rss > 0.1 * tss0)
    p = sol.p
    for j in (HILL, LOGE):
        if j in free:
            doubt |= (p[:, j] <= start.lower[:, j] + 1e-6) | (p[:, j] >= start.upper[:, j] - 1e-6)
    return doubt


def _restart_doubtful(
    sol: Solution, start: Start, spec: ModelSpec, logit: np.ndarray, max_iter: int
) -> None:
    """Polish the doubtful curves again from more starts; keep, in place, what fits better.

    Curves the model fits poorly (bell-shaped, step-like data) have several basins: the
    logit-regression start and the 2nd, 3rd, ... best grid points are polished too, all in
    one batch (one solver loop instead of one per start).
    """
    idx2 = np.flatnonzero(_doubtful(sol, start, spec.free))
    if not idx2.size:
        return
    lower, upper = start.lower, start.upper
    many = grid_starts(start.data.take(idx2), spec, start.lxmin[idx2], start.lxmax[idx2],
                       lower[idx2], upper[idx2], keep=N_RESTARTS)  # fmt: skip
    p0 = np.concatenate([logit[idx2][:, None], many[:, 1:]], axis=1).reshape(-1, 5)
    K = N_RESTARTS
    rep = np.repeat(idx2, K)
    red = dose_means(start.data).take(rep)
    p2, rss2, jtj2, conv2 = levenberg_marquardt(
        p0, red, spec.free, lower[rep], upper[rep], max_iter=max_iter
    )
    rss2 = np.where(np.isfinite(rss2), rss2, np.inf).reshape(-1, K)
    pick = np.argmin(rss2, axis=1)
    rows = np.arange(idx2.size) * K + pick
    better = rss2[np.arange(idx2.size), pick] < sol.rss[idx2] * (1 - 1e-12)
    sel = idx2[better]
    rows = rows[better]
    sol.p[sel], sol.rss[sel] = p2[rows], rss2.ravel()[rows]
    sol.jtj[sel], sol.converged[sel] = jtj2[rows], conv2[rows]


def _hill_positive(sol: Solution, data: Batch, free: tuple[int, ...]) -> None:
    """Report every 4PL with ``hill >= 0``, in place.

    ``(b, c, d)`` and ``(-b, d, c)`` are one curve: the reported ``top`` is the response at
    dose 0.
    """
    p, jtj = sol.p, sol.jtj
    flip = p[:, HILL] < 0
    p[flip, HILL] *= -1.0
    p[flip, BOTTOM], p[flip, TOP] = p[flip, TOP].copy(), p[flip, BOTTOM].copy()
    if flip.any():
        jtj[flip] = jtj_at(p[flip], data.take(np.flatnonzero(flip)), free)
