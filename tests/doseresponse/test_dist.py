"""The fits' F and t functions equal scipy.stats' bit for bit (they skip its import)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from napari_il6assay.doseresponse._dist import f_ppf, f_sf, t_ppf


def test_f_and_t_equal_scipy_stats() -> None:
    """Over the statistics, degrees of freedom and levels the fits use, and the edges:
    below the support, 0, inf and NaN."""
    rng = np.random.default_rng(0)
    x = np.r_[-3.0, -1e-12, 0.0, 1e-300, rng.lognormal(0, 2, 200), 1e6, np.inf, np.nan]
    q = np.r_[1e-12, rng.uniform(0, 1, 100), 0.5, 0.9, 0.95, 0.975, 0.995, 1 - 1e-12]
    for d1 in (1, 2, 3, 7):
        for d2 in (1, 2, 5, 26, 87, 1e5):
            assert np.array_equal(f_sf(x, d1, d2), stats.f.sf(x, d1, d2), equal_nan=True)
            assert np.array_equal(f_ppf(q, d1, d2), stats.f.ppf(q, d1, d2), equal_nan=True)
    for df in (1, 2, 5, 26, 87, 1e5):
        assert np.array_equal(t_ppf(q, df), stats.t.ppf(q, df))
    dof = np.array([1, 4, 26, 100])
    assert np.array_equal(f_ppf(0.95, 1, dof), stats.f.ppf(0.95, 1, dof))
    assert np.array_equal(t_ppf(0.975, dof), stats.t.ppf(0.975, dof))
