"""The F and t distribution functions of the fits, without importing ``scipy.stats``.

``scipy.stats`` takes about 0.6 s to import (its distributions module builds ~100 classes);
``f.sf``, ``f.ppf`` and ``t.ppf`` are thin wrappers of ``scipy.special``'s ``fdtrc``,
``fdtri`` and ``stdtrit``, which import in a third of that. Every ``il6assay fit`` paid the
difference, and so did each process of a fit split over processes (issue 13). The values are
the special functions' own, so they equal ``scipy.stats``' bit for bit (a test checks it);
below the F distribution's support ``sf`` is 1, as in ``scipy.stats``.
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
