r"""Log-logistic dose-response models (drc ``LL.4``/``LL.3``/``LL.5``, Prism variable slope).

All models are one family, the five-parameter log-logistic

.. math:: f(x) = c + \frac{d - c}{\left(1 + (x/e)^{b}\right)^{s}}

with ``b`` = ``hill`` (drc's sign convention: ``b > 0`` is a *decreasing* curve; Prism's
HillSlope is ``-b``), ``c`` = ``bottom`` (the response at infinite dose), ``d`` = ``top`` (the
response at dose 0), ``e`` the inflection dose (the relative IC50 when ``s = 1``) and ``s`` the
asymmetry (``s = 1`` for 4PL/3PL). ``b`` may be negative (drc's ``b``): then ``c`` is the
response at dose 0 and ``d`` the one at infinite dose; 4PL fits are reported with ``b >= 0``
(``(b, c, d)`` and ``(-b, d, c)`` are the same curve), while drc's ``LL.3`` (``"3pl"``, ``c``
fixed) and ``LL.5`` need the sign. A dose of 0 is evaluated as 0, not as ``log(0)``: for ``b > 0``
the curve equals ``top`` there.

Internally the parameters are held as a vector ``p = (b, c, d, log e, log s)`` (natural logs)
so that ``e`` and ``s`` stay positive; `PARAMS` names the positions. Everything here is
vectorized over a leading batch axis so thousands of curves are evaluated at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAMS = ("hill", "bottom", "top", "log_ic50", "log_asym")
HILL, BOTTOM, TOP, LOGE, LOGS = range(5)


@dataclass(frozen=True)
class ModelSpec:
    """Which of the five log-logistic parameters a model estimates.

    Parameters
    ----------
    name : str
        ``"4pl"``, ``"3pl"`` (drc ``LL.3``: the lower limit fixed), ``"3pl-top"`` (the response
        at dose 0 fixed), ``"3pl-bottom"`` (the response at infinite dose fixed) or ``"5pl"``.
    free : tuple of int
        Indices (into `PARAMS`) of the estimated parameters.
    fixed : dict
        Values of the parameters that are held fixed (``bottom`` for 3PL, ``log_asym`` = 0
        for 4PL and 3PL).
    signed : bool
        Whether ``hill`` may take either sign (drc's ``b``). With ``hill >= 0`` (``signed``
        False) ``top`` is always the response at dose 0 and ``bottom`` the one at infinite
        dose, which is what fixing "the top" or "the bottom" has to mean. drc's ``LL.3`` fixes
        ``c`` with ``b`` of either sign: ``c`` is then the lower limit, the high-dose plateau of
        a falling curve or the dose-0 level of a rising one.
    """

    name: str
    free: tuple[int, ...]
    fixed: dict[int, float]
    signed: bool = True

    @property
    def n_params(self) -> int:
        """Number of estimated parameters."""
        return len(self.free)


def get_model(
    model: str = "4pl",
    *,
    bottom: float = 0.0,
    top: float = 1.0,
    fix: dict[str, float] | None = None,
) -> ModelSpec:
    """Return the `ModelSpec` for a model name.

    Parameters
    ----------
    model : {"4pl", "3pl", "3pl-top", "3pl-bottom", "5pl"}
        ``"3pl"`` is drc ``LL.3``: the lower limit fixed (default 0), ``hill`` of either sign,
        so a falling curve ends at it and a rising one starts from it. ``"3pl-top"`` fixes the
        response at dose 0 (default 1, for normalized viability), ``"3pl-bottom"`` the response
        at infinite dose (default 0); both keep ``hill >= 0``.
    bottom, top : float
        The fixed value for the 3PL variants.
    fix : dict, optional
        ``{"top": v}`` or ``{"bottom": v}`` (the user's ``--fix``): with ``4pl`` or ``3pl`` it
        selects ``3pl-top`` / ``3pl-bottom`` with that value.

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> get_model("3pl").free
    (0, 2, 3)
    >>> get_model("4pl", fix={"top": 1.0}).name
    '3pl-top'
    """
    m = model.lower().replace("_", "").replace("-", "")
    if fix:
        if len(fix) != 1 or not set(fix) <= {"top", "bottom"}:
            raise ValueError(f"fix one of top or bottom (got {sorted(fix)})")
        if m not in ("4pl", "ll4", "3pl", "ll3", "3pltop", "3plbottom"):
            raise ValueError(f"--fix works with the 4pl and 3pl models, not {model!r}")
        ((which, val),) = fix.items()
        m = "3pl" + which
        bottom = val if which == "bottom" else bottom
        top = val if which == "top" else top
    if m in ("4pl", "ll4"):
        return ModelSpec("4pl", (HILL, BOTTOM, TOP, LOGE), {LOGS: 0.0})
    if m in ("3pl", "ll3"):
        return ModelSpec("3pl", (HILL, TOP, LOGE), {BOTTOM: float(bottom), LOGS: 0.0})
    if m in ("3pltop",):
        return ModelSpec("3pl-top", (HILL, BOTTOM, LOGE), {TOP: float(top), LOGS: 0.0}, False)
    if m in ("3plbottom",):
        return ModelSpec("3pl-bottom", (HILL, TOP, LOGE), {BOTTOM: float(bottom), LOGS: 0.0}, False)
    if m in ("5pl", "ll5"):
        return ModelSpec("5pl", (HILL, BOTTOM, TOP, LOGE, LOGS), {})
    raise ValueError(f"unknown model {model!r}; expected 4pl, 3pl, 3pl-top, 3pl-bottom or 5pl")


def _z(p: np.ndarray, logx: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """``b (log x - log e)``, with the exact limit at dose 0 (-inf for b > 0, +inf for b < 0)."""
    b = p[..., HILL, None]
    # in place: a temporary of a 10,000-curve batch costs as much as the arithmetic
    z = np.subtract(logx, p[..., LOGE, None])
    with np.errstate(invalid="ignore", over="ignore"):
        np.multiply(z, b, out=z)
    z0 = np.where(b > 0, -np.inf, np.where(b < 0, np.inf, 0.0))
    np.copyto(z, np.broadcast_to(z0, z.shape), where=zero)
    return z


def evaluate(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Evaluate the log-logistic family.

    Parameters
    ----------
    p : ndarray, shape (..., 5)
        Parameter vectors ``(hill, bottom, top, log e, log s)``.
    x : ndarray, shape (..., n)
        Doses (>= 0), broadcast against ``p[..., None]``.

    Returns
    -------
    ndarray
        The responses.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([1.0, 0.0, 1.0, np.log(2.0), 0.0])
    >>> evaluate(p, np.array([0.0, 2.0]))
    array([1. , 0.5])
    """
    p = np.asarray(p, float)
    x = np.asarray(x, float)
    zero = x <= 0
    with np.errstate(divide="ignore"):
        logx = np.log(np.where(zero, 1.0, x))
    z = _z(p, logx, zero)
    s = np.exp(p[..., LOGS, None])
    g = np.exp(-s * np.logaddexp(0.0, z))  # (1 + u)^-s, stable for any z
    return p[..., BOTTOM, None] + (p[..., TOP, None] - p[..., BOTTOM, None]) * g


def evaluate_jac(
    p: np.ndarray, logx: np.ndarray, zero: np.ndarray, cols: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Responses and the analytic Jacobian with respect to the parameters ``cols``.

    Parameters
    ----------
    p : ndarray, shape (B, 5)
    logx : ndarray, shape (B, n)
        ``log(x)`` (any finite value where ``zero`` is True).
    zero : ndarray of bool, shape (B, n)
        Where the dose is 0.
    cols : tuple of int, optional
        Parameters (indices into `PARAMS`) whose derivatives are wanted, in this order;
        default all five. The solver asks only for the free ones: the 4PL's ``log s`` column
        alone (a ``logaddexp`` over every point) was a fifth of its time, and is never used.

    Returns
    -------
    f : ndarray, shape (B, n)
    jac : ndarray, shape (B, n, len(cols))
        Each column is computed exactly as when all five are asked for.
    """
    cols = tuple(range(5)) if cols is None else tuple(cols)
    z = _z(p, logx, zero)
    c = p[:, BOTTOM, None]
    span = p[:, TOP, None] - c
    jac = np.empty(z.shape + (len(cols),))
    at = {k: i for i, k in enumerate(cols)}
    ll4 = bool(np.all(p[:, LOGS] == 0.0))
    if ll4:  # 4PL/3PL: one exp instead of three logaddexp
        # in place (the same operations): temporaries of a large batch cost as much as the
        # arithmetic, and this runs at every solver iteration
        g = np.clip(z, -700.0, 700.0)
        with np.errstate(over="ignore"):
            np.exp(g, out=g)
        np.add(1.0, g, out=g)
        np.divide(1.0, g, out=g)
        v = np.subtract(1.0, g)
        dfdz = np.multiply(-span, g)
        np.multiply(dfdz, v, out=dfdz)
        if LOGS in at:
            with np.errstate(invalid="ignore"):
                dlogs = -span * g * np.logaddexp(0.0, z)
    else:
        s = np.exp(p[:, LOGS, None])
        sp = np.logaddexp(0.0, z)  # log(1 + u)
        g = np.exp(-s * sp)
        v = np.exp(-np.logaddexp(0.0, -z))  # u / (1 + u)
        dfdz = -span * s * g * v
        if LOGS in at:
            with np.errstate(invalid="ignore"):
                dlogs = -span * g * sp * s
    if LOGS in at:
        # at dose 0 with b < 0 (z = +inf) g log(1 + u) -> 0, not inf * 0
        jac[..., at[LOGS]] = np.where(np.isposinf(z), 0.0, dlogs)
    f = np.multiply(span, g)
    np.add(c, f, out=f)
    if HILL in at:
        t = np.subtract(logx, p[:, LOGE, None])
        np.multiply(dfdz, t, out=t)
        np.copyto(t, 0.0, where=zero)
        jac[..., at[HILL]] = t
    if BOTTOM in at:
        jac[..., at[BOTTOM]] = v if ll4 else 1.0 - g
    if TOP in at:
        jac[..., at[TOP]] = g
    if LOGE in at:
        t = np.negative(dfdz)
        np.multiply(t, p[:, HILL, None], out=t)
        np.copyto(t, 0.0, where=zero)
        jac[..., at[LOGE]] = t
    return f, jac


def halfway_dose(p: np.ndarray) -> np.ndarray:
    """Dose where the curve is halfway between top and bottom (the relative IC50).

    Equals ``e`` for the 4PL/3PL; ``e (2^{1/s} - 1)^{1/b}`` for the 5PL.
    """
    p = np.asarray(p, float)
    s = np.exp(p[..., LOGS])
    with np.errstate(all="ignore"):
        return np.exp(p[..., LOGE] + np.log(2.0 ** (1.0 / s) - 1.0) / p[..., HILL])


def dose_at_response(p: np.ndarray, level: float | np.ndarray) -> np.ndarray:
    """Dose where the curve crosses ``level`` (the absolute IC50 for ``level = 0.5``).

    NaN where the curve never crosses it (``level`` outside ``(bottom, top)``).
    """
    p = np.asarray(p, float)
    c, d, b = p[..., BOTTOM], p[..., TOP], p[..., HILL]
    s = np.exp(p[..., LOGS])
    with np.errstate(all="ignore"):
        frac = (level - c) / (d - c)  # = (1 + u)^-s in (0, 1)
        u = frac ** (-1.0 / s) - 1.0
        x = np.exp(p[..., LOGE] + np.log(u) / b)
    ok = (frac > 0) & (frac < 1) & (b != 0)
    return np.where(ok, x, np.nan)
