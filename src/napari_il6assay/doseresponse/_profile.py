"""Profile-likelihood confidence intervals of log IC50, for many curves at once.

Each end of the interval is where the profile RSS (the other parameters refitted with log e
held) crosses the F-based cut-off; `profile_ci` finds both ends of every curve in one batch
by safeguarded Newton steps on the signed root of the profile RSS, starting from the
delta-method interval and following the nuisance parameters along the quadratic
approximation so each constrained refit starts close.

The search is split into named steps: `_Problem` holds what is fixed (one row per end),
`_Search` the state of every end (its bracket, its last point, the solver run it is in);
`_next_a` chooses the next profile point, `_profile_point` fits it, `_Search.record` updates
the bracket and `_settle` decides which ends are done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_il6assay.doseresponse._solver import (
    Batch,
    levenberg_marquardt,
    residuals,
    rss_of,
    safe_pinv,
)
from napari_il6assay.doseresponse.models import BOTTOM, HILL, LOGE, LOGS, TOP

#: iterations per round of the profile CI's solver
_LM_ROUND = 12
#: most solver iterations per profile point (the rounds of one point add up to one run)
_LM_MAX = 60
#: the solver's tolerances at a profile point (relative RSS decrease, relative step): an
#: error of 1e-8 of the RSS moves ``q`` by ``1e-8 dof / (2 F)`` of its target (3e-8 for 26
#: degrees of freedom), and an end by as little; the fit's own 1e-11 and 1e-10 cost a
#: fifth of the profile's time for nothing visible
_LM_FTOL, _LM_XTOL = 1e-8, 1e-7
#: an end is done when the Newton step from its last point is at most this (natural-log
#: units) and stays inside its bracket; the end is then that step's point, whose error is
#: about (q'' / 2 q') step^2 (see `_settle`): on the 10,000-curve screen of
#: ``benchmarks/bench_cmd_fit.py`` the ends moved by at most 1.5e-4 in log10 IC50 (99 % of
#: them by less than 2e-6) against ends converged to 1e-10, for 0.55 of the time
_NEWTON_DONE = 3e-3


def _nuisance_slope(h: np.ndarray, e: int) -> np.ndarray:
    """Return ``-H_nn^-1 H_ne``: how the other parameters follow ``e`` along the profile.

    Exact for a quadratic RSS with Hessian ``H``; 0 where ``H_nn`` cannot be solved.

    Parameters
    ----------
    h : ndarray (B, k, k)
        ``J^T W J`` over the free parameters.
    e : int
        Position of the profiled parameter in ``h``.

    Returns
    -------
    ndarray (B, k - 1)
        In the order of the other free parameters.
    """
    nu = [j for j in range(h.shape[1]) if j != e]
    if not nu:
        return np.zeros((h.shape[0], 0))
    h_nn, h_ne = h[:, nu][:, :, nu], h[:, nu, e]
    with np.errstate(all="ignore"):
        try:  # a solve, not a pseudo-inverse: a tenth of the time, and it is only a guess
            s = -np.linalg.solve(h_nn, h_ne[..., None])[..., 0]
        except np.linalg.LinAlgError:
            s = -np.einsum("bij,bj->bi", safe_pinv(h_nn), h_ne)
    return np.where(np.isfinite(s), s, 0.0)


def _with_loge_column(
    p: np.ndarray,
    data: Batch,
    jac_sub: np.ndarray,
    sub_free: tuple[int, ...],
    free: tuple[int, ...],
) -> np.ndarray:
    """Build the Jacobian over ``free`` at ``p`` from the one over ``sub_free`` (all but log e).

    The log e column is ``-df/dz * hill`` with ``df/dz = -(top - bottom) g (1 - g)``; for the
    4PL the solver's own top and bottom columns are ``g`` and ``1 - g``, so the column comes
    without evaluating the model again, by the same operations as in `evaluate_jac`, hence
    the same numbers. Other models evaluate it.
    """
    from napari_il6assay.doseresponse.models import evaluate_jac

    jac = np.empty(jac_sub.shape[:2] + (len(free),))
    for j, col in enumerate(free):
        if col != LOGE:
            jac[..., j] = jac_sub[..., sub_free.index(col)]
    if BOTTOM in sub_free and TOP in sub_free and np.all(p[:, LOGS] == 0.0):
        span = p[:, TOP, None] - p[:, BOTTOM, None]
        dfdz = -span * jac_sub[..., sub_free.index(TOP)] * jac_sub[..., sub_free.index(BOTTOM)]
        jac[..., free.index(LOGE)] = np.where(data.zero, 0.0, -dfdz * p[:, HILL, None])
    else:
        jac[..., free.index(LOGE)] = evaluate_jac(p, data.logx, data.zero, (LOGE,))[1][..., 0]
    return jac


@dataclass
class _Problem:
    """What is fixed about the ``2 B`` profile problems.

    Row ``j < B`` is the lower end of curve ``j``, row ``j >= B`` its upper end.

    Attributes
    ----------
    t_hat, sign, bound : ndarray (2B,)
        Estimate of log e, direction (-1 lower, +1 upper), the bound of log e that way.
    tgt, r_hat : ndarray (2B,)
        ``sqrt(thr - rss_hat)`` (the root's target) and the curve's RSS.
    lower, upper : ndarray (2B, 5)
        Bounds of the parameters.
    data : Batch
        The curve's data, once per row.
    free, sub_free : tuple of int
        Free parameters of the model, and those without log e (refitted at each point).
    e : int
        Position of log e in ``free``.
    nu_cols : list of int
        The parameters of ``sub_free`` (columns of ``p``).
    """

    t_hat: np.ndarray
    sign: np.ndarray
    bound: np.ndarray
    tgt: np.ndarray
    r_hat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    data: Batch
    free: tuple[int, ...]
    sub_free: tuple[int, ...]
    e: int
    nu_cols: list[int]


@dataclass
class _Search:
    """The state of every end's search (arrays over the ``2 B`` rows of `_Problem`).

    The bracket: ``a_in`` the largest ``a = |t - t_hat|`` known inside (``q < 0``, from 0 at
    the estimate), ``a_out`` the smallest known outside (NaN until found), their ``q``, the
    Illinois-weighted ``q`` of both ends (``w_in``, ``w_out``) and which end moved last. The
    last point: ``a_k``, ``q_k``, ``dq_k``, its fit ``p_k`` and the slope of the other
    parameters there. The solver run of a point not finished in one round: its ``t``,
    parameters, damping and iterations used.
    """

    a: np.ndarray
    a_in: np.ndarray
    q_in: np.ndarray
    w_in: np.ndarray
    a_out: np.ndarray
    q_out: np.ndarray
    w_out: np.ndarray
    last: np.ndarray
    a_k: np.ndarray
    q_k: np.ndarray
    dq_k: np.ndarray
    p_k: np.ndarray
    slope: np.ndarray
    points: np.ndarray
    doublings: np.ndarray
    result: np.ndarray
    pending: np.ndarray
    t_run: np.ndarray
    p_run: np.ndarray
    lam_run: np.ndarray
    used: np.ndarray

    @classmethod
    def start(cls, p0: np.ndarray, tgt: np.ndarray, a0: np.ndarray, slope: np.ndarray) -> _Search:
        """Start every end at the estimate ``p0`` (``q = -tgt``), first point ``a0``."""
        n2 = tgt.size
        nan = np.full(n2, np.nan)
        return cls(a=a0, a_in=np.zeros(n2), q_in=-tgt, w_in=-tgt.copy(), a_out=nan,
                   q_out=nan.copy(), w_out=nan.copy(), last=np.zeros(n2, int),
                   a_k=np.zeros(n2), q_k=-tgt.copy(), dq_k=nan.copy(), p_k=p0, slope=slope,
                   points=np.zeros(n2, int), doublings=np.zeros(n2, int), result=nan.copy(),
                   pending=np.zeros(n2, bool), t_run=np.zeros(n2), p_run=np.zeros((n2, 5)),
                   lam_run=np.zeros(n2), used=np.zeros(n2, int))  # fmt: skip

    def record(
        self, ix: np.ndarray, q: np.ndarray, dq: np.ndarray, pf: np.ndarray, sl: np.ndarray
    ) -> None:
        """Take the profile points just fitted at ``a[ix]`` as the last points; update brackets.

        Regula falsi's Illinois rule: an end of the bracket that stays while the other moves
        twice has its ``q`` halved, so the next falsi point comes off it.
        """
        self.points[ix] += 1
        a = self.a[ix]
        self.a_k[ix], self.q_k[ix], self.dq_k[ix], self.p_k[ix], self.slope[ix] = a, q, dq, pf, sl
        above = q >= 0
        hit = ix[above]
        newer = a[above] < np.where(np.isfinite(self.a_out[hit]), self.a_out[hit], np.inf)
        hit, qa = hit[newer], q[above][newer]
        self.a_out[hit], self.q_out[hit], self.w_out[hit] = a[above][newer], qa, qa
        self.w_in[hit] = np.where(self.last[hit] == 1, 0.5 * self.w_in[hit], self.w_in[hit])
        self.last[hit] = 1
        miss = ix[~above]
        newer = a[~above] > self.a_in[miss]
        miss, qm = miss[newer], q[~above][newer]
        self.a_in[miss], self.q_in[miss], self.w_in[miss] = a[~above][newer], qm, qm
        self.w_out[miss] = np.where(self.last[miss] == -1, 0.5 * self.w_out[miss],
                                    self.w_out[miss])  # fmt: skip
        self.last[miss] = -1

    def falsi(self, ix: np.ndarray) -> np.ndarray:
        """Return the linear interpolation of the root in the brackets of the ends ``ix``."""
        a_in, q_in = self.a_in[ix], self.q_in[ix]
        return a_in - q_in * (self.a_out[ix] - a_in) / (self.q_out[ix] - q_in)


def _next_a(s: _Search, ix: np.ndarray) -> np.ndarray:
    """Choose the next profile point of the ends ``ix``.

    The first is ``s.a`` as given; then Newton inside the bracket (else regula falsi), or
    before a bracket Newton outwards but never beyond doubling ``a``.
    """
    first = s.points[ix] == 0
    ak, qk, dqk = s.a_k[ix], s.q_k[ix], s.dq_k[ix]
    with np.errstate(all="ignore"):
        newton = np.where(dqk > 0, ak - qk / dqk, np.nan)
        frac = np.clip(-s.w_in[ix] / (s.w_out[ix] - s.w_in[ix]), 0.02, 0.98)
    lo_a, hi_a = s.a_in[ix], s.a_out[ix]
    falsi = lo_a + np.nan_to_num(frac, nan=0.5) * (hi_a - lo_a)
    a_b = np.where((newton > lo_a) & (newton < hi_a), newton, falsi)
    grow = np.isfinite(newton) & (newton > ak)
    a_u = np.where(grow, np.minimum(newton, 2.0 * ak), 2.0 * ak)
    has = np.isfinite(hi_a)
    s.doublings[ix] += ~first & ~has & ~grow
    return np.where(first, s.a[ix], np.where(has, a_b, a_u))


def _start_point(
    pr: _Problem, s: _Search, todo: np.ndarray, t: np.ndarray, cont: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the solver's start at log e = ``t`` and its residuals and Jacobian.

    The other parameters start where the path (``slope`` at the last point) predicts them;
    ``cont`` rows go on from where the last round of their fit stopped.
    """
    pp = s.p_k[todo] + (s.a[todo] - s.a_k[todo])[:, None] * s.slope[todo]
    pp[:, LOGE] = t
    # a predicted start must not flip the sign of hill (the mirror image is another basin)
    # or leave the box, and where the path bends it can be worse than the last point found
    # (hill 3 -> 290: the solver then crawled for its 60 iterations, and every solver call
    # waited for those curves): the start with the lower RSS is used
    ref = s.p_k[todo].copy()
    ref[:, LOGE] = t
    sub = pr.data.take(todo)
    lo, hi = pr.lower[todo], pr.upper[todo]
    bad = (np.sign(pp[:, HILL]) != np.sign(ref[:, HILL])) | ~np.isfinite(pp).all(axis=1)
    bad |= ((pp < lo) | (pp > hi)).any(axis=1)
    with np.errstate(all="ignore"):
        # the predicted start's residuals and Jacobian are the solver's first evaluation
        r0, jac0 = residuals(pp, sub, pr.sub_free)
        bad |= ~(rss_of(r0, sub) <= rss_of(residuals(ref, sub, ())[0], sub))
    pp[bad] = ref[bad]
    pp[cont] = s.p_run[todo[cont]]
    redo = np.flatnonzero(bad | cont)  # another start (inside the bounds): evaluate it
    if redo.size:
        r0[redo], jac0[redo] = residuals(pp[redo], sub.take(redo), pr.sub_free)
    return pp, r0, jac0


def _profile_point(
    pr: _Problem, s: _Search, todo: np.ndarray, t: np.ndarray, cont: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Fit the profile at log e = ``t`` for the ends ``todo`` (one round of the solver).

    The solver runs in rounds of `_LM_ROUND` iterations, up to `_LM_MAX` per profile point:
    a fit not finished goes on in the next round (same parameters and damping, so the rounds
    add up to one run) while the others move on.

    Returns
    -------
    pf : ndarray (m, 5)
        The fits.
    final : ndarray of bool (m,)
        Whether each is final (converged or out of iterations).
    q, dq : ndarray (m,)
        ``sqrt(RSS - rss_hat) - tgt`` and its derivative in ``a``.
    sl : ndarray (m, 5)
        How the other parameters follow ``a`` there (`_nuisance_slope`).
    """
    pp, r0, jac0 = _start_point(pr, s, todo, t, cont)
    sub = pr.data.take(todo)
    lam = np.where(cont, s.lam_run[todo], 1e-3)
    lam_end = np.empty(todo.size)
    fin: dict[str, np.ndarray] = {}
    pf, rs, _, conv = levenberg_marquardt(
        pp,
        sub,
        pr.sub_free,
        pr.lower[todo],
        pr.upper[todo],
        max_iter=_LM_ROUND,
        ftol=_LM_FTOL,
        xtol=_LM_XTOL,
        lam0=lam,
        lam_out=lam_end,
        stall=False,
        init=(r0, jac0),
        final=fin,
    )
    s.used[todo] = np.where(cont, s.used[todo], 0) + _LM_ROUND
    final = conv | (s.used[todo] >= _LM_MAX)
    s.p_run[todo], s.lam_run[todo] = pf, lam_end
    d = np.maximum(rs - pr.r_hat[todo], 0.0)
    q = np.sqrt(d) - pr.tgt[todo]
    # the profile RSS's slope: d RSS / d log e at the profile point (envelope theorem)
    jac = _with_loge_column(pf, sub, fin["jac"], pr.sub_free, pr.free)
    jw = jac * sub.sw[:, :, None]
    drss = -2.0 * np.einsum("bn,bn->b", jw[:, :, pr.e], fin["r"])
    with np.errstate(all="ignore"):
        dq = pr.sign[todo] * drss / (2.0 * np.sqrt(d))
    h = np.matmul(jw.transpose(0, 2, 1), jw)
    sl = np.zeros((todo.size, 5))
    sl[:, pr.nu_cols] = _nuisance_slope(h, pr.e) * pr.sign[todo, None]
    return pf, final, q, dq, sl


def _settle(
    pr: _Problem,
    s: _Search,
    todo: np.ndarray,
    at_bound: np.ndarray,
    max_steps: int,
    rtol: float,
) -> np.ndarray:
    """Write the ends of ``todo`` that are done into ``s.result``; return which are done.

    An end is done when its last point is the root (``|q| <= rtol tgt``), when the Newton
    step from it is at most `_NEWTON_DONE` and lands inside the bracket (the end is that
    step's point: ``q`` is almost linear in ``a``, so the error is about
    ``q'' / (2 q') step^2``, below 1e-6 for the curvature of these profiles), when its
    bracket is ``rtol`` wide (the interpolation in it), when the profile stays below the
    cut-off up to the bound on log e (an open end, +inf), when 14 doublings found no end (NaN,
    as the former search), or after ``max_steps`` points (the interpolation in the bracket).
    """
    a, q, dq = s.a[todo], s.q_k[todo], s.dq_k[todo]
    exact = np.abs(q) <= rtol * pr.tgt[todo]
    with np.errstate(all="ignore"):
        a_new = np.where(dq > 0, a - q / dq, np.nan)
    a_out = np.where(np.isfinite(s.a_out[todo]), s.a_out[todo], np.inf)
    a_lim = np.abs(pr.bound[todo] - pr.t_hat[todo])  # the Newton point stays inside the box
    newton = ~exact & (np.abs(a_new - a) <= _NEWTON_DONE) & (a_new > s.a_in[todo])
    newton &= (a_new < a_out) & (a_new < a_lim)
    bracketed = np.isfinite(s.a_out[todo])
    narrow = bracketed & (s.a_out[todo] - s.a_in[todo] <= rtol * (1.0 + s.a_in[todo]))
    narrow &= ~exact & ~newton
    open_end = (q < 0) & at_bound & ~exact
    lost = ~bracketed & (s.doublings[todo] >= 14)  # as the former 14 doublings: no end
    done = exact | newton | narrow | open_end | lost
    spent = ~done & bracketed & (s.points[todo] >= max_steps)
    s.result[todo[exact]] = a[exact]
    s.result[todo[newton]] = a_new[newton]
    s.result[todo[open_end]] = np.inf
    interp = todo[narrow | spent]
    s.result[interp] = s.falsi(interp)
    return done | (s.points[todo] >= max_steps)


def profile_ci(
    p_hat: np.ndarray,
    rss_hat: np.ndarray,
    dof: np.ndarray,
    data: Batch,
    free: tuple[int, ...],
    lower: np.ndarray,
    upper: np.ndarray,
    se_t: np.ndarray,
    level: float,
    jtj: np.ndarray | None = None,
    *,
    max_steps: int = 12,
    rtol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """Profile-likelihood CI of log e for every curve (natural log; -inf/+inf when open).

    Each end is where the profile RSS (the RSS minimised over the other parameters with
    log e held at ``t``) reaches ``thr = rss_hat (1 + F_{1, dof; level} / dof)``: the root in
    ``a = |t - t_hat|`` of ``q(a) = sqrt(RSS_prof(a) - rss_hat) - sqrt(thr - rss_hat)``, an
    almost linear function. It is found by safeguarded Newton steps: the slope of the
    profile RSS is the partial derivative of the RSS in log e at the profile point (the
    other parameters are at their optimum there), so each profile point gives ``q`` and
    ``q'``. The first point is ``a = 2 se``; a Newton step is taken only where it stays
    inside the bracket found so far (else regula falsi, Illinois rule), and before a
    bracket is found, never further than doubling ``a`` would go, up to the bound on log e
    (an open end when the profile stays below ``thr`` there). An end is done when its Newton
    step is below `_NEWTON_DONE` (the end is then the Newton point, not fitted: its error is
    second order in the step), when ``|q| <= rtol`` of ``sqrt(thr - rss_hat)``, or when its
    bracket is ``rtol`` wide (see `_settle`).

    Why (issue 13): the profile took 6 of the 10 s of fitting 10,000 curves. The former
    search doubled ``a`` until it bracketed the root, then took six regula falsi steps for
    every curve, and interpolated. Newton needs two or three points per end, both ends of
    all curves are one batch for the solver, and each profile fit starts where the path of
    the other parameters (``-H_nn^-1 H_ne`` at the last point) predicts it, so it needs few
    iterations.

    Known limit: each profile fit is local. Where the optimum of the other parameters jumps
    between basins as log e moves (steep curves with an end near a tested dose), the profile
    RSS has jumps and the end found depends on the path taken; 0.2-0.4 % of the ends of the
    10,000-curve screen, whose profile RSS from many starts is lower than the one found.

    Parameters
    ----------
    p_hat, rss_hat, dof : ndarray
        Estimates (B, 5), their RSS and residual degrees of freedom (B,).
    data : Batch
    free : tuple of int
        Free parameters of the model (``LOGE`` among them).
    lower, upper : ndarray (B, 5)
        Bounds; log e stops at its bound (an open end).
    se_t : ndarray (B,)
        Standard error of log e (sets the first step).
    level : float
        Confidence level.
    jtj : ndarray (B, k, k), optional
        ``J^T W J`` at ``p_hat`` over ``free`` (for the first predicted start).
    max_steps : int
        Most profile points per end. An end still not done then (a profile with jumps,
        where the solver's optimum of the other parameters switches basin: a few per
        thousand curves, which go on for dozens of steps) is the linear interpolation in its
        bracket.
    rtol : float
        Stopping tolerance (relative to the target, and to ``1 + a`` for the bracket).

    Returns
    -------
    lo, hi : ndarray (B,)
        The ends on the natural-log scale.
    """
    pr, s = _setup(p_hat, rss_hat, dof, data, free, lower, upper, se_t, level, jtj)
    todo = np.arange(pr.t_hat.size)
    while todo.size:
        cont = s.pending[todo]
        fresh = todo[~cont]
        if fresh.size:
            s.a[fresh] = _next_a(s, fresh)
        t = np.where(cont, s.t_run[todo], pr.t_hat[todo] + pr.sign[todo] * s.a[todo])
        at_bound = pr.sign[todo] * (t - pr.bound[todo]) >= 0
        t = np.where(at_bound, pr.bound[todo], t)
        s.t_run[todo] = t
        s.a[todo] = np.abs(t - pr.t_hat[todo])
        pf, final, q, dq, sl = _profile_point(pr, s, todo, t, cont)
        s.pending[todo] = ~final
        keep = todo[~final]  # not finished: the same point again in the next round
        todo, at_bound = todo[final], at_bound[final]
        s.record(todo, q[final], dq[final], pf[final], sl[final])
        done = _settle(pr, s, todo, at_bound, max_steps, rtol)
        todo = np.concatenate([keep, todo[~done]])
    ends = pr.t_hat + pr.sign * s.result
    B = p_hat.shape[0]
    return ends[:B], ends[B:]


def _setup(
    p_hat: np.ndarray,
    rss_hat: np.ndarray,
    dof: np.ndarray,
    data: Batch,
    free: tuple[int, ...],
    lower: np.ndarray,
    upper: np.ndarray,
    se_t: np.ndarray,
    level: float,
    jtj: np.ndarray | None,
) -> tuple[_Problem, _Search]:
    """Build the problem of both ends of every curve and the searches' start (`profile_ci`)."""
    from napari_il6assay.doseresponse._dist import f_ppf

    B = p_hat.shape[0]
    f_crit = f_ppf(level, 1, np.maximum(dof, 1))
    thr = rss_hat * (1.0 + f_crit / np.maximum(dof, 1))
    target = np.sqrt(np.maximum(thr - rss_hat, 1e-300))
    e = list(free).index(LOGE)
    sub_free = tuple(i for i in free if i != LOGE)
    cur = np.r_[np.arange(B), np.arange(B)]
    sign = np.r_[np.full(B, -1.0), np.full(B, 1.0)]
    pr = _Problem(t_hat=p_hat[cur, LOGE], sign=sign,
                  bound=np.r_[lower[:, LOGE], upper[:, LOGE]], tgt=target[cur],
                  r_hat=rss_hat[cur], lower=lower[cur], upper=upper[cur], data=data.take(cur),
                  free=tuple(free), sub_free=sub_free, e=e, nu_cols=list(sub_free))  # fmt: skip
    # d p / d a of the other parameters at the last profile point (a = |t - t_hat|)
    slope = np.zeros((2 * B, 5))
    if jtj is not None:
        slope[:, pr.nu_cols] = _nuisance_slope(jtj, e)[cur] * sign[:, None]
    a0 = np.clip(np.nan_to_num(2.0 * se_t, nan=0.5), 0.05, 3.0)[cur]
    return pr, _Search.start(p_hat[cur].copy(), pr.tgt, a0, slope)
