"""Fold resistance: recovered ratio, CI, F test, >500-fold over wide dose ranges, censoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse import fit as fit_module
from napari_il6assay.doseresponse.fit import fit_curve_table, fit_curves
from napari_il6assay.doseresponse.fold import add_fold_resistance

X = np.r_[0.0, np.logspace(-12, -5, 15)]


def fit_with_fold(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """Fit the curves, then the fold step (as the fit command and the batch do)."""
    return add_fold_resistance(fit_curve_table(df, **kwargs))


def table(rng, lines, reps=3, sd=0.04) -> pd.DataFrame:
    rows = []
    for line, ic50, hill, parental in lines:
        for c in X:
            for _ in range(reps):
                v = 1 / (1 + (c / ic50) ** hill) + rng.normal(0, sd)
                rows.append(
                    {
                        "cell_line": line,
                        "drug": "eribulin",
                        "concentration_M": c,
                        "viability": v,
                        "parental": parental,
                        "well": f"W{len(rows)}",
                    }
                )
    return pd.DataFrame(rows)


def test_fold_over_500_recovered_with_ci_and_p() -> None:
    rng = np.random.default_rng(0)
    fits = fit_with_fold(
        table(
            rng, [("MDA-MB-231", 3e-10, 1.2, ""), ("MDA-MB-231E", 3e-10 * 800, 1.0, "MDA-MB-231")]
        )
    )
    r = fits.set_index("cell_line").loc["MDA-MB-231E"]
    assert r["fold_resistance"] == pytest.approx(800, rel=0.3)
    assert r["fold_ci_low"] < 800 < r["fold_ci_high"]
    assert r["fold_ci_low"] > 300 and r["p_value"] < 1e-10 and r["fold_censored"] == ""
    assert np.isnan(fits.set_index("cell_line").loc["MDA-MB-231", "fold_resistance"])


def test_fold_ci_covers_and_p_uniform_under_null() -> None:
    rng = np.random.default_rng(1)
    cover, pvals = [], []
    for _ in range(25):
        fits = fit_with_fold(table(rng, [("P", 1e-9, 1.0, ""), ("R", 1e-9, 1.0, "P")], reps=2,
                                sd=0.06)).set_index("cell_line")  # fmt: skip
        r = fits.loc["R"]
        cover.append(r["fold_ci_low"] <= 1.0 <= r["fold_ci_high"])
        pvals.append(r["p_value"])
    assert np.mean(cover) >= 0.84  # ~95 % nominal; 25 draws
    assert 0.2 < np.median(pvals) < 0.8


def test_censored_resistant_gives_a_bound() -> None:
    rng = np.random.default_rng(2)
    x_hi = X[-1]
    fits = fit_with_fold(table(rng, [("P", 1e-10, 1.2, ""), ("R", x_hi * 100, 1.2, "P")]))
    r = fits.set_index("cell_line").loc["R"]
    assert r["ic50_censored"] == ">" and r["fold_censored"] == ">"
    p_ic50 = fits.set_index("cell_line").loc["P", "ic50_rel_M"]
    assert r["fold_resistance"] == pytest.approx(x_hi / p_ic50)
    assert np.isnan(r["fold_ci_low"])  # a bound, not an interval pretending to be exact


def test_missing_parental_noted_others_fitted() -> None:
    rng = np.random.default_rng(3)
    fits = fit_with_fold(
        table(rng, [("P", 1e-9, 1.0, ""), ("R", 1e-8, 1.0, "P"), ("Q", 1e-8, 1.0, "not_in_plate")])
    ).set_index("cell_line")
    assert "parental line 'not_in_plate' not found" in fits.loc["Q", "note"]
    assert fits.loc["Q", "status"] == "ok" and np.isnan(fits.loc["Q", "fold_resistance"])
    assert fits.loc["R", "fold_resistance"] == pytest.approx(10, rel=0.3)


def test_fold_is_a_step_after_the_fits_and_fits_nothing_again(monkeypatch) -> None:
    """`fit_curves` leaves the fold columns empty; the fold step only adds them.

    It starts the joint fits from the fitted parameters: with `fit_arrays` broken after the
    fits, the fold step still works, and every other column is the fits' own.
    """
    rng = np.random.default_rng(4)
    df = table(rng, [("P", 1e-9, 1.0, ""), ("R", 3e-8, 1.0, "P")])
    fitted = fit_curve_table(df)
    plain = fit_curves(df)
    no_parental = fit_curve_table(df.assign(parental=""))
    pd.testing.assert_frame_equal(fitted.fits, plain)
    fold_cols = ["fold_resistance", "fold_ci_low", "fold_ci_high", "p_value"]
    assert plain[fold_cols].isna().all().all()
    assert (plain[["fold_censored", "fold_note"]] == "").all().all()

    def no_refit(*args, **kwargs):
        raise AssertionError("the fold step fitted a curve again")

    monkeypatch.setattr(fit_module, "fit_arrays", no_refit)
    fits = add_fold_resistance(fitted)
    r = fits.set_index("cell_line").loc["R"]
    assert r["fold_resistance"] == pytest.approx(30, rel=0.3)
    assert r["fold_ci_low"] < 30 < r["fold_ci_high"] and r["p_value"] < 1e-6
    others = [c for c in fits.columns if c not in (*fold_cols, "fold_censored", "fold_note")]
    pd.testing.assert_frame_equal(fits[others], plain[others])
    # a table without parentals comes back as it was
    assert add_fold_resistance(no_parental) is no_parental.fits
