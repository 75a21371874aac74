"""The fits' and plate QC's distribution functions equal scipy.stats' bit for bit (they skip
its import)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from napari_il6assay.doseresponse._dist import f_ppf, f_sf, norm_sf, t_ppf, t_sf, welch_p


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


def test_t_and_normal_tails_equal_scipy_stats() -> None:
    rng = np.random.default_rng(1)
    x = np.r_[-np.inf, -5.0, -1e-12, 0.0, 1e-300, rng.normal(0, 3, 200), 40.0, np.inf, np.nan]
    assert np.array_equal(norm_sf(x), stats.norm.sf(x), equal_nan=True)
    for df in (1, 2, 3.7, 26, 1e5):
        assert np.array_equal(t_sf(x, df), stats.t.sf(x, df), equal_nan=True)


def test_welch_p_equals_scipy_ttest_ind() -> None:
    """Random samples of 2-40 values (some rounded, with ties), and the degenerate ones."""
    rng = np.random.default_rng(2)
    for i in range(500):
        n1, n2 = rng.integers(2, 40, 2)
        a = rng.normal(rng.normal(), rng.lognormal(), n1)
        b = rng.normal(rng.normal(), rng.lognormal(), n2)
        if i % 5 == 0:
            a = np.round(a, 1)
        assert welch_p(a, b) == float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0  # no spread, different means
    assert welch_p([1.0, 2.0], [1.0, 2.0]) == 1.0
    assert np.isnan(welch_p([1.0, 1.0], [1.0, 1.0]))
    assert welch_p([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]) == float(
        stats.ttest_ind([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], equal_var=False).pvalue
    )
