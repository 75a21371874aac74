"""The profile CI's early stops (issue 13) against a search run to full convergence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse import _profile
from napari_il6assay.doseresponse._table import _codes_of_ranks, _ranks
from napari_il6assay.doseresponse.fit import fit_arrays


def _screen(n: int, seed: int = 3) -> list[tuple[np.ndarray, np.ndarray, None]]:
    """Curves as in benchmarks/bench_cmd_fit.py: 9 doses x 3 + 3 vehicle points, noise 0.05."""
    rng = np.random.default_rng(seed)
    doses = 1e-9 * 3.0 ** np.arange(9)
    x = np.r_[0.0, doses].repeat(3)
    log_ic50 = rng.uniform(np.log10(doses[1]), np.log10(doses[-2]), n)
    hill = rng.uniform(0.7, 2.5, n)
    bottom = rng.uniform(0.0, 0.3, n)
    with np.errstate(divide="ignore"):
        u = (x[None, :] / 10 ** log_ic50[:, None]) ** hill[:, None]
    y = bottom[:, None] + (1 - bottom[:, None]) / (1 + u) + rng.normal(0, 0.05, (n, x.size))
    return [(x, yi, None) for yi in y]


def test_early_stops_keep_the_converged_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    curves = _screen(300)
    fast = fit_arrays(curves, "4pl", ci_method="profile")
    # the former search: no Newton stop, the fit's own solver tolerances at every point
    monkeypatch.setattr(_profile, "_NEWTON_DONE", 0.0)
    monkeypatch.setattr(_profile, "_LM_FTOL", 1e-11)
    monkeypatch.setattr(_profile, "_LM_XTOL", 1e-10)
    full = fit_arrays(curves, "4pl", ci_method="profile")
    for end in ("ic50_ci_low", "ic50_ci_high"):
        a, b = np.log10(getattr(fast, end)), np.log10(getattr(full, end))
        assert np.array_equal(np.isfinite(a), np.isfinite(b))
        ok = np.isfinite(a)
        assert ok.sum() > 250
        assert np.max(np.abs(a[ok] - b[ok])) < 1e-3
        assert np.median(np.abs(a[ok] - b[ok])) < 1e-7
    # the estimates themselves do not depend on the CI
    assert np.array_equal(fast.params, full.params)
    assert np.array_equal(fast.ic50_se, full.ic50_se, equal_nan=True)


def test_group_codes_are_groupby_numbers() -> None:
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame(
        {
            "line": rng.choice(["b", "A", "", "a b", "é"], n).astype(object),
            "drug": rng.choice(["x", "10", "9", ""], n).astype(object),
            "cb": rng.choice([0.0, 2.5, 1.0, np.nan], n),
        }
    )
    for cols in (["line"], ["line", "drug"], ["line", "drug", "cb"], ["cb"]):
        ref = df.groupby(cols, sort=True, dropna=False).ngroup().to_numpy()
        codes = _codes_of_ranks([_ranks(df[c]) for c in cols], len(df))
        assert np.array_equal(codes, ref)
