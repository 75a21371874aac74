"""The F, t and normal distribution functions of the fits and plate QC, without ``scipy.stats``.

``scipy.stats`` takes about 0.6 s to import (its distributions module builds ~100 classes);
``f.sf``, ``f.ppf`` and ``t.ppf`` are thin wrappers of ``scipy.special``'s ``fdtrc``,
``fdtri`` and ``stdtrit``, which import in a third of that. Every ``il6assay fit`` paid the
difference, and so did each process of a fit split over processes (issue 13). The values are
the special functions' own, so they equal ``scipy.stats``' bit for bit (a test checks it);
below the F distribution's support ``sf`` is 1, as in ``scipy.stats``. A batch run's plate QC
(Welch's t-test of edge wells) and combination p-values use `t_sf`, `welch_p` and `norm_sf`,
so the tables after a batch's images need no ``scipy.stats`` either.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def preload() -> None:
    """Import the special functions now (0.2 s; `parallel.warm_workers`' ``warm``).

    A worker process started early for a large fit imports them while its parent still
    reads and splits the table.
    """
    import scipy.special  # noqa: F401


def f_sf(x: Any, dfn: Any, dfd: Any) -> Any:
    """Return ``scipy.stats.f.sf(x, dfn, dfd)``: the upper tail of the F distribution.

    Examples
    --------
    >>> float(f_sf(4.225201, 1, 26))  # the 5 % point of F(1, 26)
    0.0500000...
    >>> float(f_sf(-1.0, 1, 26)), bool(np.isnan(f_sf(np.nan, 1, 26)))
    (1.0, True)
    """
    from scipy.special import fdtrc

    x = np.asarray(x, float)
    return fdtrc(dfn, dfd, np.where(x < 0, 0.0, x))


def f_ppf(q: Any, dfn: Any, dfd: Any) -> Any:
    """Return ``scipy.stats.f.ppf(q, dfn, dfd)``: the F distribution's ``q`` quantile."""
    from scipy.special import fdtri

    return fdtri(dfn, dfd, q)


def t_ppf(q: Any, df: Any) -> Any:
    """Return ``scipy.stats.t.ppf(q, df)`` for ``0 < q < 1``: Student's t quantile.

    Examples
    --------
    >>> round(float(t_ppf(0.975, 26)), 6)
    2.055529
    """
    from scipy.special import stdtrit

    return stdtrit(df, q)


def t_sf(x: Any, df: Any) -> Any:
    """Return ``scipy.stats.t.sf(x, df)``: the upper tail of Student's t distribution.

    Examples
    --------
    >>> round(float(t_sf(2.055529, 26)), 6)
    0.025
    """
    from scipy.special import stdtr

    return stdtr(df, -np.asarray(x, float))


def norm_sf(x: Any) -> Any:
    """Return ``scipy.stats.norm.sf(x)``: the upper tail of the standard normal."""
    from scipy.special import ndtr

    return ndtr(-np.asarray(x, float))


def welch_p(a: Any, b: Any) -> float:
    """Return the two-sided p-value of Welch's t-test of equal means of ``a`` and ``b``.

    The value of ``scipy.stats.ttest_ind(a, b, equal_var=False).pvalue``, computed as it does
    (same operations in the same order), for samples of at least 2 values each.

    Examples
    --------
    >>> round(welch_p([1.0, 2.0, 3.0, 4.0], [3.0, 4.5, 5.0, 6.5]), 4)
    0.0597
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    n1, n2 = a.size, b.size
    with np.errstate(divide="ignore", invalid="ignore"):
        v1 = np.mean((a - np.mean(a, keepdims=True)) ** 2) * (float(n1) / (n1 - 1.0))
        v2 = np.mean((b - np.mean(b, keepdims=True)) ** 2) * (float(n2) / (n2 - 1.0))
        vn1, vn2 = v1 / n1, v2 / n2
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        df = np.where(np.isnan(df), 1.0, df)  # both variances 0: any df (scipy's choice)
        t = np.divide(np.mean(a) - np.mean(b), np.sqrt(vn1 + vn2))
    return float(2 * t_sf(np.abs(t), df))
